"""`make run`: the whole stack on this machine, then its workers, until Ctrl-C.

A server whose environment variable (TEMPORAL_ADDRESS, POSTGRES_DSN, REDIS_URL, S3_ENDPOINT)
points at something that already answers is used as it is; otherwise the stack starts its own
on that port (or on the default one when the variable is unset). State lives in
$ARMONIK_STATE_DIR, or in .state in the current directory (make run's is the repository's).

A worker that dies is restarted (see stack/supervisor.py); a server that dies stops the stack.
"""

import argparse
import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from security.tls import LOOPBACK_HOSTS
from stack import pid_files
from stack.lock import StackLock
from stack.ports import is_listening
from stack.probes import S3Check, check_postgres, check_redis, check_temporal
from stack.server import Server, ServerError
from stack.stack import Stack, StackError
from stack.state import default_state_dir
from stack.supervisor import Supervisor, display_path, exit_cause
from stack.temporal_server import SEARCH_ATTRIBUTES
from telemetry.metrics import METRICS_FILE

DEFAULT_PORTS_BY_SCHEME = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "https": 443}
# How often the servers are checked for an unexpected exit.
WATCH_INTERVAL = 0.5
# Each process of the stack serves Prometheus metrics on loopback: the API on this port, worker
# N on the N-th after it (METRICS_PORT=0: none). Where, for `armonik-sessions top`: METRICS_FILE.
METRICS_PORT_VARIABLE = "METRICS_PORT"
DEFAULT_METRICS_PORT = 9464
# Where `make run` serves gRPC-Web (and the Admin GUI, with GUI_DIR), unless GRPC_WEB_ADDRESS
# says otherwise.
DEFAULT_GRPC_WEB_ADDRESS = "127.0.0.1:5002"


@dataclass
class Component:
    name: str
    label: str
    variable: str
    endpoint: str

    @property
    def host_and_port(self) -> tuple[str | None, int]:
        if self.name == "temporal":
            host, _, port = self.endpoint.rpartition(":")
            return host, int(port)
        parts = urlsplit(self.endpoint)
        return parts.hostname, parts.port or DEFAULT_PORTS_BY_SCHEME.get(parts.scheme, 80)


def main() -> None:
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # No interpreter teardown: the Temporal SDK's runtime threads can crash it (sdk-python
    # issue 300), which would turn a clean stop into a failing exit code.
    os._exit(code)


def run(argv: list[str]) -> int:
    args = _parse(argv)
    state_dir: Path = args.state_dir.resolve()
    lock = StackLock(state_dir / "stack.lock")
    if not lock.acquire():
        holder = lock.holder()
        _say(
            f"a stack is already running with its state in {state_dir} (pid {holder}); "
            f"stop it first (Ctrl-C in its terminal, or kill {holder})",
            error=True,
        )
        return 1
    _interrupt_on(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    try:
        # Before anything answers "already running": those would be our own leftovers.
        leftovers = pid_files.stop_all_recorded(state_dir)
        if leftovers:
            names = ", ".join(f"{name} (pid {pid})" for name, pid in leftovers.items())
            _say(f"stopped what a killed previous run left running: {names}")
        agents = _agent_plan(args.agents, args.agent_partitions)
        return _serve(
            state_dir, workers=args.workers, tls=args.tls, agents=agents, worker=args.agent_worker
        )
    except KeyboardInterrupt:
        return 0
    finally:
        lock.release()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        help="where data, logs and the lock live (default: $ARMONIK_STATE_DIR or ./.state)",
    )
    workers = parser.add_mutually_exclusive_group()
    workers.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="how many worker processes, all on one task queue (default: 1)",
    )
    workers.add_argument(
        "--no-worker", dest="workers", action="store_const", const=0, help="run the servers only"
    )
    parser.add_argument(
        "--agents",
        type=int,
        default=2,
        metavar="N",
        help="how many polling agents, each with its worker (default: 2; 0 for none)",
    )
    parser.add_argument(
        "--agent-partitions",
        default="",
        metavar="P1,P2",
        help="the partitions the agents take tasks from, dealt in turn (default: the default one)",
    )
    parser.add_argument(
        "--agent-worker",
        default="",
        metavar="COMMAND",
        help="the worker command each agent launches (default: the sample, samples/worker.py)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve the API over mutual TLS, with development certificates in <state>/certs"
        " (made if missing) and the users admin, operator and reader",
    )
    return parser.parse_args(argv)


def _agent_plan(count: int, partitions: str) -> list[str]:
    """Each agent's partition ("" for the default one), the given ones dealt in turn."""
    given = [p.strip() for p in partitions.split(",") if p.strip()] or [""]
    return [given[n % len(given)] for n in range(max(count, 0))]


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers") from None
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"must be at least 1, not {count} (--no-worker runs the servers only)"
        )
    return count


def _serve(
    state_dir: Path, *, workers: int, tls: bool, agents: list[str] = (), worker: str = ""
) -> int:
    from settings import Settings

    settings = Settings()
    external, ports, problems = _plan(settings)
    if problems:
        for problem in problems:
            _say(problem, error=True)
        return 1
    stack = Stack(state_dir, ephemeral=False, ui=True, ports=ports, external=external)
    try:
        return _run_stack(stack, workers=workers, tls=tls, agents=list(agents), worker=worker)
    finally:
        # A second Ctrl-C must not cut the stop short and leave servers behind.
        _ignore(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        if stack.servers or stack.workers:
            _say("stopping...")
        stack.stop()
        _say("stopped")


def _plan(settings) -> tuple[dict[str, str], dict[str, int], list[str]]:
    """Which servers to reuse (by endpoint), which to start (by port), and what prevents it."""
    components = [
        Component("temporal", "Temporal", "TEMPORAL_ADDRESS", settings.temporal_address),
        Component("postgres", "PostgreSQL", "POSTGRES_DSN", settings.postgres_dsn),
        Component("redis", "Redis", "REDIS_URL", settings.redis_url),
        Component("s3", "S3", "S3_ENDPOINT", settings.s3_endpoint),
    ]
    with ThreadPoolExecutor(len(components)) as pool:
        failures = list(pool.map(lambda c: _check(c, settings), components))

    external: dict[str, str] = {}
    ports: dict[str, int] = {}
    problems: list[str] = []
    for component, failure in zip(components, failures, strict=True):
        host, port = component.host_and_port
        if failure is None:
            external[component.name] = component.endpoint
            _say(f"using {component.label} at {component.endpoint}, already running")
        elif host not in LOOPBACK_HOSTS:
            problems.append(
                f"{component.variable}={component.endpoint} does not answer ({failure}), "
                "and the stack only starts servers on this machine"
            )
        elif is_listening(host, port):
            problems.append(
                f"port {port} of {component.variable}={component.endpoint} is taken by "
                f"something that does not answer as {component.label} ({failure})"
            )
        else:
            ports[component.name] = port
    if "temporal" in ports:
        # The dev server's own convention: the UI on the gRPC port + 1000.
        ports["temporal_ui"] = int(os.environ.get("TEMPORAL_UI_PORT", ports["temporal"] + 1000))
    return external, ports, problems


def _run_stack(
    stack: Stack, *, workers: int, tls: bool, agents: list[str] = (), worker: str = ""
) -> int:
    if stack.servers:
        _say(f"starting {', '.join(server.name for server in stack.servers)}...")
    try:
        stack.start()
    except StackError as error:
        _say(f"the stack failed to start:\n{error}", error=True)
        return 1
    if stack.servers:
        timings = ", ".join(f"{s.name} {s.last_start_seconds:.1f} s" for s in stack.servers)
        _say(f"ready in {stack.start_seconds:.1f} s ({timings})")
    _print_endpoints(stack)

    if not workers:
        _say("Ctrl-C to stop")
        return _watch(stack.servers)
    metrics = _metrics_ports(workers)
    taken = [port for port in metrics.values() if is_listening("127.0.0.1", port)]
    if taken:
        _say(
            f"the metrics ports {taken} are taken: set {METRICS_PORT_VARIABLE} to another first"
            f" port (the API takes it, worker N the N-th after it), or to 0 for no metrics",
            error=True,
        )
        return 1
    began = time.monotonic()
    try:
        # A worker that cannot start even once is a bug to read about, not to retry.
        ports = [metrics[f"worker-{n}"] for n in range(1, workers + 1)] if metrics else None
        started = stack.start_workers(workers, metrics_ports=ports, **_shared_bounds(workers))
    except StackError as error:
        _say(f"a worker failed to start:\n{error}", error=True)
        return 1
    noun = "worker" if workers == 1 else f"{workers} workers"
    _say(f"{noun} ready in {time.monotonic() - began:.1f} s")
    certs = stack.state_dir / "certs"
    if tls:
        try:
            _install_dev_users(stack, certs)
        except Exception as error:
            _say(f"could not set up the development users: {error}", error=True)
            return 1
    api_env = _tls_env(certs) if tls else {}
    if metrics:
        api_env["METRICS_ADDRESS"] = f"127.0.0.1:{metrics['api']}"
    grpc_web = stack.settings.grpc_web_address or DEFAULT_GRPC_WEB_ADDRESS
    api_env["GRPC_WEB_ADDRESS"] = grpc_web
    api = stack.api(stack.settings.api_address, **api_env)
    try:
        api.start()
    except ServerError as error:
        _say(f"the API server failed to start:\n{error}", error=True)
        return 1
    _say(f"API (ArmoniK's gRPC Sessions, Partitions, Versions) on {stack.settings.api_address}")
    if tls:
        shown = display_path(certs)
        _say(
            f"  mutual TLS: CA {shown}/ca.crt; users admin, operator, reader with"
            f" {shown}/<user>.crt and .key; the CLI: API_CA={shown}/ca.crt"
            f" API_CLIENT_CERT={shown}/admin.crt API_CLIENT_KEY={shown}/admin.key"
        )
    web_url = f"{'https' if tls else 'http'}://{grpc_web}"
    _say(f"gRPC-Web (the same services, for browsers) on {web_url}")
    if stack.settings.gui_dir:
        _say(f"  ArmoniK Admin GUI on {web_url}/admin/")
    polling = [stack.agent(partition, worker) for partition in agents]
    try:
        # Each agent prints its ready line once its worker answers and it polls its queue.
        _start_all_agents(polling)
    except ServerError as error:
        _say(f"an agent failed to start:\n{error}", error=True)
        return 1
    for process in [*started, api, *polling]:
        _say(f"  {process.name:<12} pid {process.pid}, log {display_path(process.log_path)}")
    if polling:
        _say(
            f"  {len(polling)} agents on {', '.join(sorted({p or 'default' for p in agents}))};"
            f" their workers log to {display_path(stack.state_dir / 'logs')}/<pod>-worker.log"
        )
    endpoints = _publish_metrics(stack.state_dir, metrics)
    for name, url in endpoints.items():
        _say(f"  {name + ' metrics':<20} {url}")
    if endpoints:
        _say("  armonik-sessions top   the same figures, live in the terminal")
    supervisor = Supervisor([*started, api, *polling], say=_say)
    try:
        supervisor.start()
        _say("a worker, agent or the API server that dies is restarted; Ctrl-C to stop")
        return _watch(stack.servers)
    finally:
        # As for the servers in _serve: a second Ctrl-C must not leave a restart under way.
        _ignore(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        supervisor.stop()
        (stack.state_dir / METRICS_FILE).unlink(missing_ok=True)


def _start_all_agents(agents: list) -> None:
    """Start the agents side by side; the first failure is raised once all have tried."""
    if not agents:
        return
    with ThreadPoolExecutor(len(agents)) as pool:
        starts = [pool.submit(agent.start) for agent in agents]
    for start in starts:
        start.result()


def _shared_bounds(workers: int) -> dict[str, int]:
    """The one S3 server is shared by every worker: unless S3_DELETES_IN_FLIGHT says otherwise,
    the workers share the default bound of delete calls rather than each taking all of it (two
    workers at 32 each made SeaweedFS's calls outlast the store timeout, and purges retry)."""
    if "S3_DELETES_IN_FLIGHT" in os.environ or workers < 2:
        return {}
    from settings import Settings

    default = Settings.model_fields["s3_deletes_in_flight"].default
    return {"S3_DELETES_IN_FLIGHT": max(1, default // workers)}


def _metrics_ports(workers: int) -> dict[str, int]:
    """The loopback port of each process's metrics: the API's first, then each worker's."""
    first = int(os.environ.get(METRICS_PORT_VARIABLE, DEFAULT_METRICS_PORT))
    if not first:
        return {}
    names = ["api", *(f"worker-{n}" for n in range(1, workers + 1))]
    return {name: first + i for i, name in enumerate(names)}


def _publish_metrics(state_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    """Write where each process serves its metrics, for `armonik-sessions top`."""
    endpoints = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
    if endpoints:
        (state_dir / METRICS_FILE).write_text(json.dumps(endpoints, indent=2) + "\n")
    return endpoints


def _install_dev_users(stack: Stack, certs: Path) -> None:
    import asyncio

    from adapters.postgres.auth_table import PostgresAuthTable
    from adapters.postgres.database import PostgresDatabase
    from security.dev import install_dev_users

    async def install() -> None:
        db = await PostgresDatabase.connect(stack.env()["POSTGRES_DSN"], 1, 10.0)
        try:
            await install_dev_users(PostgresAuthTable(db), certs)
        finally:
            await db.close()

    asyncio.run(install())


def _tls_env(certs: Path) -> dict[str, str]:
    return {
        "API_TLS_CERT": str(certs / "server.crt"),
        "API_TLS_KEY": str(certs / "server.key"),
        "API_TLS_CLIENT_CA": str(certs / "ca.crt"),
    }


def _watch(servers: list[Server]) -> int:
    """Wait for Ctrl-C; a server that exits before is reported, and stops the stack.

    Servers are not restarted, unlike workers: a worker is killed on purpose, to watch the
    operations survive it, while a server exiting by itself means something is wrong (a full
    disk, a crash) that a restart would hide, or repeat.
    """
    while True:
        for server in servers:
            if not server.running:
                _say(
                    f"{server.name} exited unexpectedly ({exit_cause(server.exit_code)}); "
                    f"last lines of {server.log_path}:\n{server.log_tail()}",
                    error=True,
                )
                return 1
        time.sleep(WATCH_INTERVAL)


def _check(component: Component, settings) -> str | None:
    """None if the component answers at its endpoint, else why not."""
    try:
        if component.name == "temporal":
            known = check_temporal(component.endpoint, settings.temporal_namespace)
            missing = sorted(set(SEARCH_ATTRIBUTES) - known)
            if missing:
                _say(f"warning: Temporal at {component.endpoint} lacks search attributes {missing}")
        elif component.name == "postgres":
            check_postgres(component.endpoint)
        elif component.name == "redis":
            check_redis(component.endpoint)
        else:
            S3Check(
                component.endpoint,
                settings.s3_access_key,
                settings.s3_secret_key,
                settings.s3_region,
            )()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def _print_endpoints(stack: Stack) -> None:
    env = stack.env()
    ui = stack.temporal.ui_url if "temporal" not in stack.external else "(not managed here)"
    rows = [
        ("Temporal", env["TEMPORAL_ADDRESS"]),
        ("Temporal UI", ui),
        ("namespace", env["TEMPORAL_NAMESPACE"]),
        ("task queue", env["TEMPORAL_TASK_QUEUE"]),
        ("PostgreSQL", env["POSTGRES_DSN"]),
        ("Redis", env["REDIS_URL"]),
        ("S3", env["S3_ENDPOINT"]),
        ("bucket", env["S3_BUCKET"]),
        ("state", str(stack.state_dir)),
    ]
    for label, value in rows:
        _say(f"  {label:<12} {value}")


def _interrupt_on(*signals: signal.Signals) -> None:
    # SIGTERM and SIGHUP take Ctrl-C's path, so every exit goes through the same clean stop.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in signals:
        signal.signal(signum, interrupt)


def _ignore(*signals: signal.Signals) -> None:
    for signum in signals:
        signal.signal(signum, signal.SIG_IGN)


def _say(message: str, *, error: bool = False) -> None:
    print(message, file=sys.stderr if error else sys.stdout, flush=True)


if __name__ == "__main__":
    main()
