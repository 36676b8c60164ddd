"""Stack: PostgreSQL, Redis, S3 and Temporal started together, and the workers bound to them."""

import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from stack.ports import free_ports
from stack.postgres_server import Postgres
from stack.redis_server import Redis
from stack.s3_server import INTERNAL_PORTS as S3_INTERNAL_PORTS
from stack.s3_server import S3
from stack.server import Server, StartAborted
from stack.temporal_server import Temporal
from stack.worker_process import AGENT_READY_LINE, API_READY_LINE, ControlPlaneProcess

if TYPE_CHECKING:
    from settings import Settings

# The ports of `make run`, the ones settings/ defaults to.
DEFAULT_PORTS = {
    "temporal": 7233,
    "temporal_ui": 8233,
    "postgres": 5432,
    "redis": 6379,
    "s3": 8333,
}
# Ports nobody connects to from outside: always chosen free, unless given.
INTERNAL_PORTS = (
    "temporal_http",
    "temporal_metrics",
    *(f"s3_{name}" for name in S3_INTERNAL_PORTS),
)
COMPONENTS = ("postgres", "redis", "s3", "temporal")


class StackError(RuntimeError):
    """Some server of the stack failed to start; every other one was stopped."""


class Stack:
    def __init__(
        self,
        state_dir: Path,
        *,
        ephemeral: bool = False,
        ui: bool | None = None,
        ports: dict[str, int] | None = None,
        external: dict[str, str] | None = None,
    ) -> None:
        """A stack keeping its data, logs and pid files under `state_dir`.

        ephemeral: for tests. Every port is chosen free and durability against a machine
            crash is traded for speed; data still survives `restart()` and killed servers.
        ui: the Temporal web UI; by default on for `make run`, off for tests.
        ports: ports to use, by name (see DEFAULT_PORTS and INTERNAL_PORTS).
        external: servers already running elsewhere, by component name ("postgres",
            "redis", "s3", "temporal") to their endpoint as written in the environment
            (DSN, URL, address); the stack does not start those and points env() at them.
        """
        from settings import Settings

        self.state_dir = Path(state_dir).resolve()
        self.ephemeral = ephemeral
        self.ui = (not ephemeral) if ui is None else ui
        self.external = dict(external or {})
        unknown = set(self.external) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; known: {COMPONENTS}")
        self.ports = self._choose_ports(ports or {})
        self.settings = Settings()
        self.workers: list[ControlPlaneProcess] = []
        self.start_seconds: float | None = None

        durable = not ephemeral
        port = self.ports
        self.postgres = Postgres(self.state_dir, port=port["postgres"], durable=durable)
        self.redis = Redis(self.state_dir, port=port["redis"], durable=durable)
        self.s3 = S3(
            self.state_dir,
            port=port["s3"],
            internal_ports={name: port[f"s3_{name}"] for name in S3_INTERNAL_PORTS},
            access_key=self.settings.s3_access_key,
            secret_key=self.settings.s3_secret_key,
            region=self.settings.s3_region,
        )
        self.temporal = Temporal(
            self.state_dir,
            port=port["temporal"],
            http_port=port["temporal_http"],
            metrics_port=port["temporal_metrics"],
            ui_port=port["temporal_ui"] if self.ui else None,
            namespace=self.settings.temporal_namespace,
            durable=durable,
        )

    @property
    def servers(self) -> list[Server]:
        """The servers this stack runs itself, in start order."""
        every = (self.postgres, self.redis, self.s3, self.temporal)
        return [server for server in every if server.name not in self.external]

    def env(self) -> dict[str, str]:
        """The environment variables of settings/, pointing at this stack's servers."""
        settings = self.settings
        return {
            "TEMPORAL_ADDRESS": self.external.get("temporal", self.temporal.address),
            "TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "POSTGRES_DSN": self.external.get("postgres", self.postgres.dsn),
            "REDIS_URL": self.external.get("redis", self.redis.url),
            "S3_ENDPOINT": self.external.get("s3", self.s3.endpoint),
            "S3_BUCKET": settings.s3_bucket,
            "S3_ACCESS_KEY": settings.s3_access_key,
            "S3_SECRET_KEY": settings.s3_secret_key,
            "S3_REGION": settings.s3_region,
            "DEFAULT_PARTITION": settings.default_partition,
        }

    def client_settings(self, **overrides: object) -> "Settings":
        """The settings of a client of this stack (a test's, a bench's), with `overrides`."""
        from settings import Settings

        return Settings(**{name.lower(): value for name, value in self.env().items()} | overrides)

    def start(self, include_worker: bool = False) -> None:
        """Start the servers in parallel and return once each answers; then a worker if asked.

        On any failure, everything already started is stopped before the error is raised.
        """
        began = time.monotonic()
        try:
            _start_all(self.servers)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        if include_worker:
            try:
                self.worker().start()
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """Stop the workers, then the servers; every one of them, whatever fails."""
        failures = _in_parallel(self.workers, Server.stop)
        failures += _in_parallel(reversed(self.servers), Server.stop)
        if failures:
            raise StackError("\n\n".join(str(error) for error in failures))

    def start_workers(
        self,
        count: int,
        *,
        command: list[str] | None = None,
        metrics_ports: list[int] | None = None,
        **extra_env: object,
    ) -> list[ControlPlaneProcess]:
        """Start `count` new workers in parallel, all on the stack's task queue; return them
        once each polls it. One failing to start stops the others' starts and raises
        StackError; stop() stops whichever run. `metrics_ports`: one per worker, where it
        serves its metrics on loopback."""
        ports: list[int | None] = list(metrics_ports or [None] * count)
        workers = [
            self.worker(
                command=command,
                **extra_env,
                **({"METRICS_ADDRESS": f"127.0.0.1:{port}"} if port else {}),
            )
            for port in ports
        ]
        _start_all(workers)
        return workers

    def worker(
        self, *, command: list[str] | None = None, **extra_env: object
    ) -> ControlPlaneProcess:
        """A new, not yet started, worker bound to this stack.

        extra_env: more environment variables (TASK_BATCH_SIZE=10, ...).
        command: instead of `python -m worker` (a stand-in for tests).
        """
        env = self.env() | {name: str(value) for name, value in extra_env.items()}
        name = f"worker-{len(self.workers) + 1}"
        worker = ControlPlaneProcess(self.state_dir, env=env, name=name, command=command)
        self.workers.append(worker)
        return worker

    def agent(
        self, partition_id: str = "", worker: str = "", **extra_env: object
    ) -> ControlPlaneProcess:
        """A new, not yet started, polling agent (`python -m agent`) on `partition_id` (unset:
        the default one), launching the worker command `worker` (unset: the sample worker).
        It is stopped with the workers. Each start is a new pod (its id host and pid): what a
        killed one held is reaped once its lease lapses, never taken up by its restart."""
        name = f"agent-{sum(p.name.startswith('agent-') for p in self.workers) + 1}"
        env = self.env() | {
            "AGENT_PARTITION": partition_id,
            "AGENT_WORKER": worker,
            "ARMONIK_STATE_DIR": str(self.state_dir),
        }
        env |= {key: str(value) for key, value in extra_env.items()}
        agent = ControlPlaneProcess(
            self.state_dir,
            env=env,
            name=name,
            command=[sys.executable, "-m", "agent"],
            ready_line=AGENT_READY_LINE,
        )
        self.workers.append(agent)
        return agent

    def api(self, address: str, **extra_env: object) -> ControlPlaneProcess:
        """A new, not yet started, gRPC API server bound to this stack, listening on
        `address`. It is stopped with the workers."""
        env = self.env() | {"API_ADDRESS": address}
        env |= {name: str(value) for name, value in extra_env.items()}
        api = ControlPlaneProcess(
            self.state_dir,
            env=env,
            name="api",
            command=[sys.executable, "-m", "api"],
            ready_line=API_READY_LINE,
        )
        self.workers.append(api)
        return api

    def __enter__(self) -> "Stack":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _choose_ports(self, requested: dict[str, int]) -> dict[str, int]:
        names = [*DEFAULT_PORTS, *INTERNAL_PORTS]
        unknown = set(requested) - set(names)
        if unknown:
            raise ValueError(f"unknown ports {sorted(unknown)}; known: {names}")
        ports = dict(requested) if self.ephemeral else DEFAULT_PORTS | requested
        missing = [name for name in names if name not in ports]
        # A free port may happen to be one requested for a server not started yet: skip those.
        candidates = [p for p in free_ports(2 * len(missing)) if p not in ports.values()]
        return ports | dict(zip(missing, candidates, strict=False))


def _start_all(servers: list[Server]) -> None:
    """Start the servers in parallel; one failing to start aborts the others' starts, and
    StackError names the failures that were not such aborts."""
    failures = _in_parallel(servers, _start_or_abort_others(servers))
    if failures:
        root_causes = [e for e in failures if not isinstance(e, StartAborted)] or failures
        raise StackError("\n\n".join(str(error) for error in root_causes))


def _start_or_abort_others(servers: list[Server]) -> Callable[[Server], None]:
    def start(server: Server) -> None:
        try:
            server.start()
        except BaseException:
            # One failure dooms the stack: the others need not finish starting.
            for other in servers:
                if other is not server:
                    other.abort()
            raise

    return start


def _in_parallel(
    servers: Iterable[Server], action: Callable[[Server], None]
) -> list[BaseException]:
    """Run `action` on each server in its own thread; return what they raised.

    Ctrl-C while waiting aborts the pending starts and still waits for every thread, so that
    no server is spawned after the caller went on to stop the stack.
    """
    servers = list(servers)
    failures: list[BaseException] = []

    def run(server: Server) -> None:
        try:
            action(server)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(s,), name=f"stack-{s.name}") for s in servers]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        for server in servers:
            server.abort()
        for thread in threads:
            thread.join()
        raise
    return failures
