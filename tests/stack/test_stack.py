"""The stack package against the real servers: each answers its protocol, keeps its data
across restarts and kills, and leaves nothing behind once stopped; `python -m stack` reuses
running servers, starts its own, and refuses to run twice on one state folder."""

import asyncio
import glob
import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aioboto3
import asyncpg
import grpc
import psutil
import pytest
import redis.asyncio as aioredis
from armonik.common.channel import create_channel
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import sessions_common_pb2 as pb
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus

from api.grpcweb_framing import MESSAGE, frame
from stack import (
    SEARCH_ATTRIBUTES,
    Redis,
    Server,
    ServerError,
    Stack,
    ephemeral_stack,
    free_port,
    free_ports,
    pid_files,
)
from stack.ports import is_listening
from stack.probes import check_temporal
from stack.supervisor import Backoff, Supervisor, display_path
from stack.temporal_server import Temporal
from tests.stack_process import PROCESS_TIMEOUT, REPO_ROOT, SERVERS, StackProcess, own_servers_env

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """This module's own stack, not the session one of tests/conftest.py: these tests restart
    and kill its servers."""
    with ephemeral_stack() as started:
        yield started


def s3_client(stack: Stack):
    env = stack.env()
    return aioboto3.Session().client(
        "s3",
        endpoint_url=env["S3_ENDPOINT"],
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
        region_name=env["S3_REGION"],
    )


# Each server answers by its own protocol.


async def test_postgres_answers_sql_as_postgres_over_tcp(stack: Stack) -> None:
    assert stack.postgres.dsn.startswith("postgresql://postgres@127.0.0.1:")
    connection = await asyncpg.connect(stack.postgres.dsn)
    try:
        user, version = await connection.fetchrow("SELECT current_user, version()")
    finally:
        await connection.close()
    assert user == "postgres"
    assert "PostgreSQL 16" in version


async def test_redis_answers_ping(stack: Stack) -> None:
    client = aioredis.from_url(stack.redis.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()


async def test_s3_creates_and_lists_a_bucket(stack: Stack) -> None:
    bucket = f"stack-test-{uuid.uuid4().hex[:8]}"
    async with s3_client(stack) as s3:
        await s3.create_bucket(Bucket=bucket)
        listed = await s3.list_buckets()
    assert bucket in {b["Name"] for b in listed["Buckets"]}


async def test_temporal_answers_with_the_search_attributes(stack: Stack) -> None:
    client = await Client.connect(stack.temporal.address)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert described.namespace_info.name == "default"
    attributes = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for name in SEARCH_ATTRIBUTES:
        assert attributes.custom_attributes[name] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    # A visibility query on them is accepted (an unknown attribute would be refused).
    found = [w async for w in client.list_workflows("SessionId = 'none' AND Operation = 'x'")]
    assert found == []


def test_a_temporal_state_from_an_earlier_version_gets_the_search_attributes_it_lacks(
    tmp_path: Path,
) -> None:
    """start-dev registers its --search-attribute flags in a new database only: a state made
    before an attribute existed gets it from the stack's check, and keeps working."""
    port, http, metrics = free_ports(3)
    older = Temporal(tmp_path, port=port, http_port=http, metrics_port=metrics, ui_port=None)
    original = older.command

    def without_requested_by() -> list[str]:
        command = original()
        at = command.index("RequestedBy=Keyword")
        return command[: at - 1] + command[at + 1 :]

    older.command = without_requested_by  # type: ignore[method-assign]
    older.check = lambda: check_temporal(older.address, older.namespace)  # type: ignore[method-assign]
    older.start()
    try:
        assert "RequestedBy" not in check_temporal(older.address, older.namespace)
    finally:
        older.stop()

    current = Temporal(tmp_path, port=port, http_port=http, metrics_port=metrics, ui_port=None)
    current.start()
    try:
        assert set(SEARCH_ATTRIBUTES) <= check_temporal(current.address, current.namespace)
    finally:
        current.stop()


def test_env_points_at_the_servers(stack: Stack) -> None:
    env = stack.env()
    assert env["TEMPORAL_ADDRESS"] == stack.temporal.address
    assert env["POSTGRES_DSN"] == stack.postgres.dsn
    assert env["REDIS_URL"] == stack.redis.url
    assert env["S3_ENDPOINT"] == stack.s3.endpoint
    for name in ("TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "S3_BUCKET", "DEFAULT_PARTITION"):
        assert env[name]
    # Tests choose every port free, and run no UI unless asked.
    assert stack.temporal.ui_url is None
    assert not set(stack.ports.values()) & {7233, 8233, 5432, 6379, 8333}


# Data outlives restarts and kills.


async def test_restart_keeps_ports_and_data(stack: Stack) -> None:
    key = uuid.uuid4().hex
    endpoints_before = stack.env()

    connection = await asyncpg.connect(stack.postgres.dsn)
    await connection.execute("CREATE TABLE IF NOT EXISTS kept (key text PRIMARY KEY)")
    await connection.execute("INSERT INTO kept VALUES ($1)", key)
    await connection.close()
    async with s3_client(stack) as s3:
        await s3.create_bucket(Bucket=f"kept-{key[:8]}")
        await s3.put_object(Bucket=f"kept-{key[:8]}", Key=key, Body=b"kept bytes")
    client = aioredis.from_url(stack.redis.url)
    await client.set(key, "kept value")
    await client.aclose()
    temporal = await Client.connect(stack.temporal.address)
    # No worker polls this queue: the workflow simply stays open, in the server's database.
    await temporal.start_workflow("Nothing", id=key, task_queue=f"nobody-{key}")

    await asyncio.to_thread(_in_parallel, [s.restart for s in stack.servers])

    assert stack.env() == endpoints_before
    connection = await asyncpg.connect(stack.postgres.dsn)
    assert await connection.fetchval("SELECT key FROM kept WHERE key = $1", key) == key
    await connection.close()
    async with s3_client(stack) as s3:
        response = await s3.get_object(Bucket=f"kept-{key[:8]}", Key=key)
        async with response["Body"] as body:
            assert await body.read() == b"kept bytes"
    client = aioredis.from_url(stack.redis.url)
    assert await client.get(key) == b"kept value"
    await client.aclose()
    temporal = await Client.connect(stack.temporal.address)
    described = await temporal.get_workflow_handle(key).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING


async def test_killed_postgres_recovers_committed_rows(stack: Stack) -> None:
    key = uuid.uuid4().hex
    connection = await asyncpg.connect(stack.postgres.dsn)
    await connection.execute("CREATE TABLE IF NOT EXISTS crashed (key text PRIMARY KEY)")
    await connection.execute("INSERT INTO crashed VALUES ($1)", key)
    await connection.close()

    stack.postgres.kill()
    assert not stack.postgres.running
    await asyncio.to_thread(stack.postgres.start)

    connection = await asyncpg.connect(stack.postgres.dsn)
    assert await connection.fetchval("SELECT key FROM crashed WHERE key = $1", key) == key
    await connection.close()


# Workers: started with the stack's environment, killed or stopped on demand.

FAKE_WORKER = """
import os, signal, sys, time
print("worker started", os.environ["POSTGRES_DSN"], os.environ.get("EXTRA"))
if sys.argv[1] == "ignore-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.argv[1] == "crash":
    print("boom")
    sys.exit(3)
if sys.argv[1] == "exit-on-sigusr1":
    signal.signal(signal.SIGUSR1, lambda *_: sys.exit(3))
if sys.argv[1] == "ready-once":
    # Started again, it never answers: its restart stays under way.
    if os.path.exists(sys.argv[2]):
        while True:
            signal.pause()
    open(sys.argv[2], "w").close()
print("worker ready")
while True:
    signal.pause()
"""


def fake_worker(behaviour: str = "plain", *args: str) -> list[str]:
    return [sys.executable, "-c", FAKE_WORKER, behaviour, *args]


def test_worker_starts_with_the_stack_env_and_can_be_killed(stack: Stack) -> None:
    worker = stack.worker(command=fake_worker(), EXTRA=42)
    worker.start()
    assert worker.running
    assert f"worker started {stack.postgres.dsn} 42" in worker.log_since_start()

    process = psutil.Process(worker.pid)
    worker.kill()
    assert not worker.running
    assert not process.is_running()


def test_worker_stop_escalates_to_sigkill(stack: Stack) -> None:
    worker = stack.worker(command=fake_worker("ignore-sigterm"))
    worker.stop_grace = 0.5
    worker.start()
    process = psutil.Process(worker.pid)
    began = time.monotonic()
    worker.stop()
    assert not process.is_running()
    assert time.monotonic() - began < 5
    worker.stop()  # idempotent


def test_worker_that_exits_while_starting_raises_with_its_log(stack: Stack) -> None:
    worker = stack.worker(command=fake_worker("crash"))
    with pytest.raises(ServerError, match=r"(?s)exited with code 3.*boom"):
        worker.start()
    assert not worker.running


# Supervised workers: a dead one is restarted after a backoff, the rest of the stack untouched.


@pytest.mark.parametrize(
    ("behaviour", "signum", "cause"),
    [
        ("plain", signal.SIGKILL, "killed by SIGKILL"),
        ("exit-on-sigusr1", signal.SIGUSR1, "exited with code 3"),
    ],
)
def test_a_supervised_worker_that_dies_is_restarted_and_its_death_reported(
    stack: Stack, behaviour: str, signum: signal.Signals, cause: str
) -> None:
    victim, bystander = stack.start_workers(2, command=fake_worker(behaviour))
    said: queue.Queue[str] = queue.Queue()
    supervisor = Supervisor(
        [victim, bystander], say=said.put, new_backoff=lambda: Backoff(first=0.1)
    )
    supervisor.start()
    try:
        dead, bystander_pid = victim.pid, bystander.pid
        os.kill(dead, signum)

        assert _next(said) == (
            f"{victim.name} died ({cause}); restarting in 0.1 s "
            f"(log: {display_path(victim.log_path)})"
        )
        back = _next(said)
        assert re.fullmatch(rf"{victim.name} back up in \d+\.\d s \(pid {victim.pid}\)", back)
        assert victim.running and victim.pid != dead
        assert _banners(victim) == 2
        assert bystander.running and bystander.pid == bystander_pid
        assert all(server.running for server in stack.servers)
        assert said.empty()
    finally:
        supervisor.stop()
        victim.stop()
        bystander.stop()


def test_stopping_during_the_restart_backoff_starts_no_worker(stack: Stack) -> None:
    (worker,) = stack.start_workers(1, command=fake_worker())
    said: queue.Queue[str] = queue.Queue()
    supervisor = Supervisor([worker], say=said.put, new_backoff=lambda: Backoff(first=60))
    supervisor.start()
    try:
        os.kill(worker.pid, signal.SIGKILL)
        assert "restarting in 60 s" in _next(said)

        began = time.monotonic()
        supervisor.stop()
        assert time.monotonic() - began < 5
        assert worker.pid is None
        assert _banners(worker) == 1
        assert said.empty()
    finally:
        supervisor.stop()
        worker.stop()


def test_stopping_during_a_restart_kills_the_worker_starting(stack: Stack, tmp_path: Path) -> None:
    (worker,) = stack.start_workers(1, command=fake_worker("ready-once", str(tmp_path / "once")))
    said: queue.Queue[str] = queue.Queue()
    supervisor = Supervisor([worker], say=said.put, new_backoff=lambda: Backoff(first=0.1))
    supervisor.start()
    try:
        dead = worker.pid
        os.kill(dead, signal.SIGKILL)
        assert "restarting in 0.1 s" in _next(said)
        starting = _poll(lambda: (pid := worker.pid) not in (None, dead) and pid)
        process = psutil.Process(starting)

        began = time.monotonic()
        supervisor.stop()
        assert time.monotonic() - began < 5
        assert not _alive(process)
        assert worker.pid is None
        assert said.empty()
    finally:
        supervisor.stop()
        worker.stop()


def _next(said: queue.Queue[str]) -> str:
    try:
        return said.get(timeout=PROCESS_TIMEOUT)
    except queue.Empty:
        pytest.fail(f"nothing said within {PROCESS_TIMEOUT:.0f} s")


def _poll(condition):
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail("the condition did not hold in time")
        time.sleep(0.02)
    return value


def _banners(worker) -> int:
    return worker.log_path.read_text().count(f"===== {worker.name} starting at")


# Stopping leaves nothing behind.


def test_stop_leaves_no_process_and_no_listening_port(stack: Stack) -> None:
    # S3 comes from the module's stack: weed's stop is already covered by the restarts above
    # and by `python -m stack` below, and it is the slow one to start and stop.
    with tempfile.TemporaryDirectory(prefix="armonik-stack-") as state_dir:
        own = Stack(Path(state_dir), ephemeral=True, external={"s3": stack.s3.endpoint})
        own.start()
        worker = own.worker(command=fake_worker())
        worker.start()
        processes = _process_groups([*own.servers, worker])
        ports = _listening_ports(processes)
        assert {own.ports["postgres"], own.ports["redis"], own.ports["temporal"]} <= ports

        own.stop()

        assert [p for p in processes if _alive(p)] == []
        assert [port for port in ports if is_listening("127.0.0.1", port)] == []
        own.stop()  # idempotent


def test_a_server_a_killed_run_left_running_is_stopped_before_a_new_start() -> None:
    with tempfile.TemporaryDirectory(prefix="armonik-stack-") as state_dir:
        port = free_port()
        # As after a SIGKILL of `make run`: the server outlives the object that started it.
        left_running = Redis(Path(state_dir), port=port)
        left_running.start()
        orphan = psutil.Process(left_running.pid)

        again = Redis(Path(state_dir), port=port)
        again.start()  # on the same port: it could not bind if the orphan still ran
        assert not _alive(orphan)

        assert pid_files.stop_all_recorded(Path(state_dir)) == {"redis": again.pid}
        assert not is_listening("127.0.0.1", port)
        for server in (left_running, again):
            server.kill()  # reaps the exit status


# `python -m stack`, the `make run` entry point.


def test_python_m_stack_reuses_running_servers_restarts_a_killed_worker_and_runs_once(
    stack: Stack, tmp_path: Path
) -> None:
    (web_port,) = free_ports(1)
    env = os.environ | stack.env() | {"ARMONIK_STATE_DIR": str(tmp_path)}
    env["GRPC_WEB_ADDRESS"] = f"127.0.0.1:{web_port}"
    first = StackProcess(env, "--workers", "2")
    try:
        for label, endpoint in [
            ("Temporal", stack.temporal.address),
            ("PostgreSQL", stack.postgres.dsn),
            ("Redis", stack.redis.url),
            ("S3", stack.s3.endpoint),
        ]:
            first.wait_for(f"using {label} at {endpoint}, already running")
        first.wait_for("2 workers ready in")
        pids = {}
        for name in ("worker-1", "worker-2"):
            line = first.wait_for(f"  {name} ")
            pids[name] = int(re.search(r"pid (\d+)", line)[1])
            assert f"log {tmp_path}/logs/{name}.log" in line
            assert psutil.Process(pids[name]).cmdline()[1:] == ["-m", "worker"]
        first.wait_for("Ctrl-C to stop")

        second = subprocess.run(
            [sys.executable, "-m", "stack", "--no-worker"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
        )
        assert second.returncode != 0
        assert f"a stack is already running with its state in {tmp_path}" in second.stderr
        assert str(first.process.pid) in second.stderr

        os.kill(pids["worker-2"], signal.SIGKILL)
        first.wait_for(
            "worker-2 died (killed by SIGKILL); restarting in 1 s "
            f"(log: {tmp_path}/logs/worker-2.log)"
        )
        back = first.wait_for("worker-2 back up in")
        restarted = int(re.search(r"\(pid (\d+)\)", back)[1])
        assert restarted != pids["worker-2"]
        workers = [psutil.Process(pids["worker-1"]), psutil.Process(restarted)]
        assert all(_alive(worker) for worker in workers)

        assert first.interrupt(signal.SIGINT) == 0
    finally:
        first.close()
    assert [worker for worker in workers if _alive(worker)] == []
    # The servers it reused are not its own: they still run.
    assert all(server.running for server in stack.servers)


def test_python_m_stack_tls_serves_mutual_tls_with_development_users(
    stack: Stack, tmp_path: Path
) -> None:
    """`make run TLS=1`: certificates made in <state>/certs, and the API over mutual TLS only,
    where the development users may do what their roles grant, over gRPC-Web as natively."""
    api_port, web_port = free_ports(2)
    address = f"127.0.0.1:{api_port}"
    env = os.environ | stack.env() | {"ARMONIK_STATE_DIR": str(tmp_path), "API_ADDRESS": address}
    env["GRPC_WEB_ADDRESS"] = f"127.0.0.1:{web_port}"
    running = StackProcess(env, "--workers", "1", "--tls")
    try:
        running.wait_for(f"API (ArmoniK's gRPC Sessions, Partitions, Versions) on {address}")
        running.wait_for(
            f"gRPC-Web (the same services, for browsers) on https://127.0.0.1:{web_port}"
        )
        running.wait_for(f"mutual TLS: CA {tmp_path}/certs/ca.crt")
        certs = tmp_path / "certs"
        assert {p.name for p in certs.iterdir()} == {
            "ca.crt",
            "server.crt",
            "server.key",
            *(f"{u}.{e}" for u in ("admin", "operator", "reader") for e in ("crt", "key")),
        }

        def call_as(user: str, method: str, request) -> grpc.StatusCode:
            with create_channel(
                f"https://{address}",
                certificate_authority=str(certs / "ca.crt"),
                client_certificate=str(certs / f"{user}.crt"),
                client_key=str(certs / f"{user}.key"),
            ) as channel:
                try:
                    getattr(SessionsStub(channel), method)(request, timeout=30)
                except grpc.RpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

        unknown = pb.PurgeSessionRequest(session_id=str(uuid.uuid4()))
        nowhere = pb.GetSessionRequest(session_id=unknown.session_id)
        assert call_as("reader", "GetSession", nowhere) == grpc.StatusCode.NOT_FOUND
        assert call_as("reader", "PurgeSession", unknown) == grpc.StatusCode.PERMISSION_DENIED
        assert call_as("operator", "PurgeSession", unknown) == grpc.StatusCode.PERMISSION_DENIED
        assert call_as("admin", "PurgeSession", unknown) == grpc.StatusCode.NOT_FOUND
        with grpc.insecure_channel(address) as plain:
            with pytest.raises(grpc.RpcError) as refused:
                SessionsStub(plain).GetSession(nowhere, timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        def web_call_as(user: str, method: str, request) -> str:
            """The grpc-status of a gRPC-Web call, as a browser with `user`'s certificate."""
            context = ssl.create_default_context(cafile=certs / "ca.crt")
            context.load_cert_chain(certs / f"{user}.crt", certs / f"{user}.key")
            sent = urllib.request.Request(
                f"https://127.0.0.1:{web_port}/armonik.api.grpc.v1.sessions.Sessions/{method}",
                data=frame(MESSAGE, request.SerializeToString()),
                headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
            )
            with urllib.request.urlopen(sent, context=context, timeout=30) as answer:
                # A refusal answers trailers-only: its status is in the headers.
                return answer.headers["grpc-status"]

        code = {c.name: str(c.value[0]) for c in grpc.StatusCode}
        assert web_call_as("reader", "GetSession", nowhere) == code["NOT_FOUND"]
        assert web_call_as("reader", "PurgeSession", unknown) == code["PERMISSION_DENIED"]
        assert web_call_as("admin", "PurgeSession", unknown) == code["NOT_FOUND"]
        assert running.interrupt(signal.SIGINT) == 0
    finally:
        running.close()


def test_python_m_stack_refuses_zero_workers() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "stack", "--workers", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert refused.returncode == 2
    assert "--workers: must be at least 1, not 0" in refused.stderr


def test_python_m_stack_starts_its_own_servers_and_stops_them_on_sigterm() -> None:
    with tempfile.TemporaryDirectory(prefix="armonik-stack-") as state_dir:
        env, ports = own_servers_env(state_dir)
        temporal, ui, postgres, redis, s3 = (ports[name] for name in SERVERS[:5])
        running = StackProcess(env)
        try:
            running.wait_for("ready in")
            running.wait_for(f"Temporal UI  http://127.0.0.1:{ui}")
            running.wait_for("Ctrl-C to stop")
            pid_files = {path.stem for path in Path(state_dir, "run").glob("*.pid")}
            assert pid_files == {"postgres", "redis", "s3", "temporal"}
            processes = _process_groups_from_pid_files(Path(state_dir))
            ports = _listening_ports(processes)
            assert {temporal, ui, postgres, redis, s3} <= ports
            # weed's unix sockets in /tmp, which its SIGKILL leaves behind.
            leftovers = json.loads(Path(state_dir, "run", "s3.pid").read_text())["leftovers"]
            assert _matching(leftovers)

            assert running.interrupt(signal.SIGTERM) == 0
        finally:
            running.close()
        assert [p for p in processes if _alive(p)] == []
        assert [port for port in ports if is_listening("127.0.0.1", port)] == []
        assert not list(Path(state_dir, "run").glob("*.pid"))
        assert _matching(leftovers) == []


def _in_parallel(actions: list) -> None:
    with ThreadPoolExecutor(len(actions)) as pool:
        for future in [pool.submit(action) for action in actions]:
            future.result()


def _process_groups(servers: list[Server]) -> list[psutil.Process]:
    """Every process of each server: its main process and what it spawned."""
    processes = []
    for server in servers:
        main = psutil.Process(server.pid)
        processes += [main, *main.children(recursive=True)]
    return processes


def _process_groups_from_pid_files(state_dir: Path) -> list[psutil.Process]:
    """The processes of the servers `python -m stack` started, found by their pid files."""
    processes = []
    for pid_file in sorted((state_dir / "run").glob("*.pid")):
        main = psutil.Process(json.loads(pid_file.read_text())["pid"])
        processes += [main, *main.children(recursive=True)]
    return processes


def _listening_ports(processes: list[psutil.Process]) -> set[int]:
    return {
        connection.laddr.port
        for process in processes
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    }


def _matching(patterns: list[str]) -> list[str]:
    return [path for pattern in patterns for path in glob.glob(pattern)]


def _alive(process: psutil.Process) -> bool:
    # is_running() compares creation times, so a recycled pid does not count.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
