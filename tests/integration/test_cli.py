"""The `armonik-sessions` CLI as a user runs it: a subprocess against the real stack. Its session
and partition commands go through the gRPC API (the `api` fixture, or a server a test builds
for itself), the admin commands to the stores. The API and the worker live in this test's event
loop, which must keep turning while the CLI waits: hence asyncio's subprocesses."""

import asyncio
import contextlib
import dataclasses
import gzip
import json
import os
import re
import shlex
import signal
import socket
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from armonik.protogen.client.sessions_service_pb2_grpc import (
    SessionsStub,
    add_SessionsServicer_to_server,
)
from armonik.protogen.common.sessions_common_pb2 import GetSessionRequest, PauseSessionRequest
from temporalio.client import WorkflowExecutionStatus

from adapters.connect import Stores
from admin.invariants import INVARIANTS
from api.server import build_server
from api.sessions import SessionsService
from engine.operations import Engine, OperationHandle
from engine.workers import build_worker
from lifecycle.domain import TaskOptions
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.conftest import TEST_BATCHES
from tests.integration.gates import WITHIN, ActivityGates
from tests.integration.snapshot import assert_invariants, take
from tests.support import StackClient, new_session
from wire.messages import UNAVAILABLE_TRAILER
from workflows.identity import workflow_id

pytestmark = pytest.mark.stack

CLI = str(Path(sys.executable).parent / "armonik-sessions")
TIMEOUT = 120.0
OPTIONS = TaskOptions(max_duration=60)


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        lines = self.stdout.strip().splitlines()
        assert len(lines) == 1, self.stdout
        data = json.loads(lines[0])
        assert isinstance(data, dict)
        return data

    def shown(self, key: str) -> str:
        """A field of the session the command printed as a table."""
        found = re.search(rf"^\s*{key}\s+(\S+)\s*$", self.stdout, re.MULTILINE)
        assert found, self.stdout
        return found.group(1)


@pytest.fixture(scope="module")
def cli_env(stack, settings, api) -> dict[str, str]:
    return {
        **os.environ,
        **stack.env(),
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "API_ADDRESS": api,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    async def spawn(self, *args: str, env: dict[str, str] | None = None):
        return await asyncio.create_subprocess_exec(
            CLI,
            *args,
            env={**self.env, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    @staticmethod
    async def finish(process) -> Ran:
        try:
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return Ran(process.returncode, out.decode(), err.decode())

    async def __call__(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        return await self.finish(await self.spawn(*args, env=env))


@pytest.fixture
def cli(cli_env) -> Cli:
    return Cli(cli_env)


@contextlib.contextmanager
def nowhere() -> Iterator[str]:
    """An address bound but not listening: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def stores_at(address: str) -> dict[str, str]:
    """Every store and Temporal at `address`."""
    return {
        "POSTGRES_DSN": f"postgresql://postgres@{address}/postgres",
        "REDIS_URL": f"redis://{address}/0",
        "S3_ENDPOINT": f"http://{address}",
        "TEMPORAL_ADDRESS": address,
    }


@contextlib.asynccontextmanager
async def serving_api(client: Engine) -> AsyncIterator[str]:
    """The whole API over `client`, on a free port: its address."""
    server, port = await build_server(client, "127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@contextlib.asynccontextmanager
async def serving(*services: Callable[[grpc.aio.Server], None]) -> AsyncIterator[str]:
    """A gRPC server with only these services: its address."""
    server = grpc.aio.server()
    for add in services:
        add(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


class Recording(StackClient):
    """A client that keeps every operation it started (or joined) for the API's callers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started: list[OperationHandle] = []

    async def start(self, operation: Operation, session_id: str, **flags: bool):
        handle = await super().start(operation, session_id, **flags)
        self.started.append(handle)
        return handle


async def session_rows(stores) -> int:
    return await stores.db.pool.fetchval("SELECT count(*) FROM sessions")


def refusal_line(ran: Ran, kind: str) -> None:
    """A refusal: exit 1, nothing on stdout, one line on stderr that names the kind."""
    assert ran.code == 1, ran
    assert ran.stdout == ""
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {kind}: "), ran.stderr


def one_error_line(ran: Ran, code: int = 3) -> str:
    """An API that cannot be reached or was lost: exit 3, nothing on stdout, exactly one line
    on stderr and no traceback."""
    assert ran.code == code, ran
    assert ran.stdout == ""
    assert "Traceback" not in ran.stderr, ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    return lines[0]


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `condition` until it holds, for at most TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


class GrpcRequests:
    """The gRPC messages in one client's HTTP/2 byte stream, decompressed: what it asked for."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self) -> None:
        self.pending = bytearray()
        self.preface_left = len(self.PREFACE)
        self.streams: dict[int, bytearray] = defaultdict(bytearray)
        self.messages: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.pending += data
        skipped = min(self.preface_left, len(self.pending))
        del self.pending[:skipped]
        self.preface_left -= skipped
        while len(self.pending) >= 9:
            length = int.from_bytes(self.pending[:3], "big")
            kind, flags = self.pending[3], self.pending[4]
            stream = int.from_bytes(self.pending[5:9], "big") & 0x7FFFFFFF
            if len(self.pending) < 9 + length:
                return
            payload = bytes(self.pending[9 : 9 + length])
            del self.pending[: 9 + length]
            if kind != 0:  # only DATA frames carry messages
                continue
            if flags & 0x8:  # PADDED
                payload = payload[1 : len(payload) - payload[0]]
            buffer = self.streams[stream]
            buffer += payload
            # Each message: a compressed flag, a 4-byte length, then the (gzipped) message.
            while len(buffer) >= 5 and len(buffer) >= 5 + int.from_bytes(buffer[1:5], "big"):
                size = int.from_bytes(buffer[1:5], "big")
                message = bytes(buffer[5 : 5 + size])
                self.messages.append(gzip.decompress(message) if buffer[0] else message)
                del buffer[: 5 + size]


class Relay:
    """A TCP relay to a gRPC server, that the test can cut: every connection through it dropped,
    and new ones refused. It reads what the clients ask for on the way."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.target = (host, int(port))
        self.requests: list[GrpcRequests] = []
        self.writers: list[asyncio.StreamWriter] = []

    def asked(self, message: bytes) -> bool:
        """Whether a client sent exactly this request message."""
        return any(message in requests.messages for requests in self.requests)

    async def __aenter__(self) -> "Relay":
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.cut()
        await self.server.wait_closed()

    def cut(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.append(up_writer)
        requests = GrpcRequests()
        self.requests.append(requests)
        await asyncio.gather(self._pump(reader, up_writer, requests), self._pump(up_reader, writer))

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        requests: GrpcRequests | None = None,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if requests is not None:
                    requests.feed(data)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


# --- sessions through the API ------------------------------------------------------------------


async def test_create_and_pause_print_the_session_as_json(cli, client, stores, partitions):
    first, second = partitions
    created = await cli("session", "create", "-p", first, "-p", second, "--priority", "3", "--json")

    assert created.code == 0, created
    data = created.json()
    session_id = data["session_id"]
    assert data["status"] == "RUNNING"
    assert (data["client_submission"], data["worker_submission"]) == (True, True)
    assert data["partition_ids"] == [first, second]
    assert data["options"]["partition_id"] == first
    assert (data["options"]["priority"], data["options"]["max_retries"]) == (3, 2)
    assert data["options"]["max_duration"] == 3600.0
    assert data["created_at"] and data["closed_at"] is None and data["duration"] is None
    assert data == (await client.get(session_id)).to_json()
    await assert_invariants(stores, session_id)

    paused = await cli("session", "pause", session_id, "--json")

    assert paused.code == 0, paused
    data = paused.json()
    assert data.pop("superseded") is False
    assert data["status"] == "PAUSED"
    assert data == (await client.get(session_id)).to_json()
    await assert_invariants(stores, session_id)
    got = await cli("session", "get", session_id, "--json")
    assert got.code == 0, got
    assert got.json() == data
    shown = await cli("session", "get", session_id)
    assert shown.code == 0, shown
    assert (shown.shown("session_id"), shown.shown("status")) == (session_id, "PAUSED")
    listed = await cli("session", "list", "--status", "paused", "--page-size", "1000", "--json")
    assert listed.code == 0, listed
    assert data in listed.json()["sessions"]
    assert {s["status"] for s in listed.json()["sessions"]} == {"PAUSED"}

    before = await take(stores, session_id)
    again = await cli("session", "pause", session_id, "--json")
    refusal_line(again, "FailedPrecondition")
    assert session_id in again.stderr
    assert await take(stores, session_id) == before
    await assert_invariants(stores, session_id)


async def test_every_operation_with_and_without_json(cli, client, stores, partitions):
    """Each operation, once with --json (the session as one object, with "superseded") and
    once without (the session as a table, the progress on stderr)."""
    first = await new_session(client, mix={TaskStatus.SUBMITTED: 300}, results=30)
    second = await new_session(client, mix={TaskStatus.SUBMITTED: 200}, results=20)
    third = await new_session(client, mix={TaskStatus.SUBMITTED: 100})
    steps = [
        (first, ["pause", "--json"], "PAUSED"),
        (first, ["resume"], "RUNNING"),
        (first, ["pause"], "PAUSED"),
        (first, ["resume", "--json"], "RUNNING"),
        (first, ["stop-submission", "--client", "--json"], "RUNNING"),
        (first, ["stop-submission", "--worker"], "RUNNING"),
        (first, ["close"], "CLOSED"),
        (first, ["purge", "--json"], "PURGED"),
        (first, ["delete"], "DELETED"),
        (second, ["close", "--json"], "CLOSED"),
        (second, ["cancel"], "CANCELLED"),
        (second, ["purge"], "PURGED"),
        (second, ["delete", "--json"], "DELETED"),
        (third, ["cancel", "--json"], "CANCELLED"),
        (third, ["stop-submission", "--json"], "CANCELLED"),
    ]
    for session_id, (operation, *flags), status in steps:
        ran = await cli("session", operation, session_id, *flags)

        assert ran.code == 0, (operation, ran)
        if "--json" in flags:
            data = ran.json()
            assert data.pop("superseded") is False, (operation, data)
            assert data["session_id"] == session_id and data["status"] == status, data
            if status != "DELETED":
                assert data == (await client.get(session_id)).to_json()
        else:
            assert ran.shown("session_id") == session_id
            assert ran.shown("status") == status, (operation, ran)
        assert "error" not in ran.stderr and "note" not in ran.stderr, ran.stderr
        if operation == "stop-submission":
            session = await client.find(session_id)
            expected = {"--client": (False, True), "--worker": (False, False)}
            flags_now = (session.client_submission, session.worker_submission)
            assert flags_now == expected.get(flags[0], (False, False)), (flags, flags_now)
    for session_id in (first, second, third):
        await assert_invariants(stores, session_id)


async def test_session_list_filters_sorts_and_pages(cli, client, partitions):
    # At the top of a descending sort, whatever else the database holds.
    priorities = [98, 97, 99]
    ours = [
        await client.create(partitions, TaskOptions(max_duration=60, priority=p))
        for p in priorities
    ]
    await client.run(Operation.PAUSE, ours[1].session_id)
    await client.run(Operation.CLOSE, ours[2].session_id)

    async def listed(*args: str) -> tuple[list[dict], int]:
        ran = await cli("session", "list", "--page-size", "1000", "--json", *args)
        assert ran.code == 0, ran
        data = ran.json()
        return data["sessions"], data["total"]

    by_priority, total = await listed("--sort", "options.priority", "--desc")
    assert total >= 3
    priority_order = [s["options"]["priority"] for s in by_priority]
    assert priority_order == sorted(priority_order, reverse=True)
    mine = [s["session_id"] for s in by_priority if s["session_id"] in {o.session_id for o in ours}]
    assert mine == [ours[2].session_id, ours[0].session_id, ours[1].session_id]

    running_or_paused, _ = await listed(
        "-s", "running", "--status", "paused", "--sort", "status", "--desc"
    )
    statuses = [s["status"] for s in running_or_paused]
    assert set(statuses) == {"RUNNING", "PAUSED"}
    assert statuses == sorted(statuses, key=lambda name: SessionStatus[name], reverse=True)
    ids = {s["session_id"] for s in running_or_paused}
    assert ours[1].session_id in ids and ours[2].session_id not in ids

    by_id, total = await listed("--sort", "session_id")
    assert [s["session_id"] for s in by_id] == sorted(s["session_id"] for s in by_id)
    pages = []
    for page in (0, 1):
        ran = await cli(
            "session", "list", "--sort", "session_id", "--page", str(page), "--page-size", "2",
            "--json",
        )  # fmt: skip
        assert ran.code == 0, ran
        assert ran.json()["total"] == total
        pages += ran.json()["sessions"]
    assert pages == by_id[:4]

    newest = await cli("session", "list", "--desc", "--page-size", "1")
    assert newest.code == 0, newest
    assert ours[2].session_id in newest.stdout and f"total: {total}" in newest.stdout


async def test_session_list_shows_whole_ids_in_an_80_column_terminal(cli, client, partitions):
    sessions = [await client.create(partitions, OPTIONS) for _ in range(2)]

    listed = await cli("session", "list", "--desc", "--page-size", "10", env={"COLUMNS": "80"})

    assert listed.code == 0, listed
    for session in sessions:
        assert session.session_id in listed.stdout, listed.stdout
    assert "\u2026" not in listed.stdout


async def test_partition_list_and_get(cli, client, partitions):
    listed = await cli("partition", "list", "--json")

    assert listed.code == 0, listed
    rows = listed.json()["items"]
    ids = [row["partition_id"] for row in rows]
    assert {"default", *partitions} <= set(ids)
    assert ids == sorted(ids)
    expected = dataclasses.asdict(await client.get_partition(partitions[0]))
    assert expected in rows

    got = await cli("partition", "get", partitions[0], "--json")
    assert got.code == 0, got
    assert got.json() == {"items": [expected]}
    shown = await cli("partition", "get", partitions[1])
    assert shown.code == 0, shown
    assert partitions[1] in shown.stdout


async def test_progress_bars_are_drawn_from_the_api(cli, client, stores):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 3_000})

    paused = await cli("session", "pause", session_id)

    assert paused.code == 0, paused
    assert paused.shown("status") == "PAUSED"
    # The bars as the stream left them: the tasks step walked every task, counted server-side.
    bar = [line for line in paused.stderr.splitlines() if line.startswith("pause tasks")]
    assert len(bar) == 1 and "3000/3000" in bar[0], paused.stderr
    assert await stores.tasks.count_by_status(session_id) == {TaskStatus.PAUSED: 3_000}
    await assert_invariants(stores, session_id)


async def test_session_and_partition_commands_connect_to_the_api_only(
    cli, client, stores, partitions
):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 500})
    with nowhere() as address:
        env = stores_at(address)
        runs = [
            await cli(*args, env=env)
            for args in [
                ("session", "create", "-p", partitions[0], "--json"),
                ("session", "get", session_id, "--json"),
                ("session", "list", "--status", "running", "--json"),
                ("session", "pause", session_id),
                ("session", "resume", session_id, "--json"),
                ("session", "stop-submission", session_id, "--worker", "--json"),
                ("partition", "list", "--json"),
                ("partition", "get", partitions[0], "--json"),
            ]
        ]
        # The same settings do point nowhere: an admin command cannot reach its stores.
        admin = await cli("queue", "stats", env=env)

    for ran in runs:
        assert ran.code == 0, ran
        assert "error" not in ran.stderr, ran.stderr
    assert (await client.get(session_id)).status == SessionStatus.RUNNING
    assert (await client.get(runs[0].json()["session_id"])).status == SessionStatus.RUNNING
    line = one_error_line(admin)
    assert line.startswith("error: cannot reach ") and address in line, line
    await assert_invariants(stores, session_id)


# --- operations overtaken, and a server without progress ---------------------------------------


@pytest.fixture(scope="module")
async def gates() -> ActivityGates:
    return ActivityGates()


@pytest.fixture(scope="module")
async def gated(stack, stores, temporal, gates) -> AsyncIterator[tuple[StackClient, str]]:
    """A client whose operations run on a worker of their own, behind the gates, and an API
    over it: its address."""
    settings = stack.client_settings(temporal_task_queue=f"gated-{uuid.uuid4()}", **TEST_BATCHES)
    gated_client = StackClient(stores, settings, temporal)
    async with build_worker(temporal, stores, settings, [gates]), serving_api(gated_client) as at:
        yield gated_client, at


@pytest.mark.parametrize("as_json", [True, False])
async def test_a_pause_overtaken_by_a_resume_says_superseded(cli, gated, gates, stores, as_json):
    gated_client, address = gated
    session_id = await new_session(gated_client, mix={TaskStatus.SUBMITTED: 2_000})
    gate = gates.hold(workflow_id(Operation.PAUSE, session_id), "update_tasks", call=2)
    json_flag = ["--json"] if as_json else []
    pausing = asyncio.ensure_future(
        cli("session", "pause", session_id, *json_flag, env={"API_ADDRESS": address})
    )
    await gate.reached(WITHIN)
    assert not pausing.done()
    resumed = await gated_client.run(Operation.RESUME, session_id)
    assert resumed.session.status == SessionStatus.RUNNING
    gate.release()

    paused = await pausing

    assert paused.code == 0, paused
    if as_json:
        data = paused.json()
        assert (data["status"], data["superseded"]) == ("RUNNING", True)
    else:
        assert paused.shown("status") == "RUNNING"
        assert "note: a later operation took the session elsewhere" in paused.stderr
    await assert_invariants(stores, session_id)


async def test_a_pause_that_sweeps_on_through_a_close_is_not_superseded(cli, gated, gates, stores):
    """The answer's status is not the pause's (CLOSED), yet nothing overtook the pause: the
    CLI reads superseded from the operation's end, not from the status."""
    gated_client, address = gated
    session_id = await new_session(gated_client, mix={TaskStatus.SUBMITTED: 2_000})
    gate = gates.hold(workflow_id(Operation.PAUSE, session_id), "dequeue_tasks", call=2)
    env = {"API_ADDRESS": address}
    pausing = asyncio.ensure_future(cli("session", "pause", session_id, "--json", env=env))
    await gate.reached(WITHIN)
    closed = await gated_client.run(Operation.CLOSE, session_id)
    assert closed.session.status == SessionStatus.CLOSED
    gate.release()

    paused = await pausing

    assert paused.code == 0, paused
    assert (paused.json()["status"], paused.json()["superseded"]) == ("CLOSED", False)
    await assert_invariants(stores, session_id)


async def test_without_the_operations_service_the_answer_still_decides(cli, client, stores):
    """ArmoniK's Sessions service alone (as ArmoniK's own control plane serves it): the watch
    fails, no bar is drawn, and the operation's answer decides; --json cannot say whether it
    was superseded."""
    first = await new_session(client, mix={TaskStatus.SUBMITTED: 300})
    second = await new_session(client, mix={TaskStatus.SUBMITTED: 300})

    def sessions_only(server: grpc.aio.Server) -> None:
        add_SessionsServicer_to_server(SessionsService(client), server)

    async with serving(sessions_only) as address:
        env = {"API_ADDRESS": address}
        plain = await cli("session", "pause", first, env=env)
        as_json = await cli("session", "pause", second, "--json", env=env)

    assert plain.code == 0, plain
    assert plain.shown("status") == "PAUSED"
    assert plain.stderr == ""
    assert as_json.code == 0, as_json
    assert (as_json.json()["status"], as_json.json()["superseded"]) == ("PAUSED", None)
    for session_id in (first, second):
        await assert_invariants(stores, session_id)


# --- exit codes --------------------------------------------------------------------------------


async def test_bad_arguments_exit_2_and_start_nothing(cli, client, stores, partitions):
    session = await client.create(partitions, OPTIONS)
    before = await take(stores, session.session_id)
    rows = await session_rows(stores)

    # Refused by the API: INVALID_ARGUMENT.
    answered = await asyncio.gather(
        cli("session", "create", "--priority", "0", "--json"),
        cli("session", "create", "--max-retries", "0"),
        cli("session", "get", "a/b"),
    )
    # Refused before any call: the endpoint is never asked.
    with nowhere() as address:
        local = await asyncio.gather(
            *(
                cli(*args, env={"API_ADDRESS": address})
                for args in [
                    ("seed", session.session_id, "--tasks", "-1"),
                    ("session", "list", "--status", "nope"),
                    ("session", "list", "--page-size", "0"),
                    ("session", "list", "--sort", "nope"),
                    ("session", "stop-submission", session.session_id, "--everyone"),
                ]
            )
        )

    for ran in [*answered, *local]:
        assert ran.code == 2, ran
        assert ran.stdout == ""
        assert ran.stderr.strip()
        assert "Traceback" not in ran.stderr
    for ran in answered:
        assert ran.stderr.startswith("error: InvalidArgument: "), ran.stderr
    assert "priority" in answered[0].stderr
    assert "cannot sort sessions by 'nope'" in local[3].stderr
    assert await session_rows(stores) == rows
    assert await take(stores, session.session_id) == before
    await assert_invariants(stores, session.session_id)


async def test_missing_session_or_partition_exits_1_with_a_not_found_line(cli, stores, worker):
    missing = f"missing-{uuid.uuid4()}"
    rows = await session_rows(stores)

    got, paused, created, partition = await asyncio.gather(
        cli("session", "get", missing, "--json"),
        cli("session", "pause", missing),
        cli("session", "create", "-p", f"nowhere-{uuid.uuid4()}", "--json"),
        cli("partition", "get", f"nowhere-{uuid.uuid4()}"),
    )

    for ran in (got, paused, created, partition):
        refusal_line(ran, "NotFound")
    assert missing in got.stderr
    assert missing in paused.stderr
    assert (await take(stores, missing)).session is None
    assert await session_rows(stores) == rows


async def test_any_other_status_the_server_answers_exits_1(cli):
    async with serving() as address:
        ran = await cli("session", "get", "any", env={"API_ADDRESS": address})

    line = one_error_line(ran, code=1)
    assert line.startswith("error: Unimplemented: "), line


async def test_an_endpoint_where_nothing_listens_is_one_line_and_exit_3(cli, client, stores):
    session = await client.create([], OPTIONS)
    before = await take(stores, session.session_id)

    with nowhere() as address:
        runs = await asyncio.gather(
            cli("session", "pause", session.session_id, env={"API_ADDRESS": address}),
            cli("--endpoint", address, "session", "list"),
            cli("--endpoint", address, "partition", "list", "--json"),
        )

    for ran in runs:
        line = one_error_line(ran)
        assert line.startswith(f"error: cannot reach the control plane at {address} ("), line
        # Nothing was sent, so nothing goes on.
        assert "server-side" not in line
    assert await take(stores, session.session_id) == before


async def test_a_server_answering_unavailable_is_one_line_and_exit_3(cli, client, settings):
    with nowhere() as address:
        down = settings.model_copy(update={"postgres_dsn": stores_at(address)["POSTGRES_DSN"]})
        without_postgres = Engine(down, client.temporal, await Stores.connect(down))
        try:
            async with serving_api(without_postgres) as api_address:
                ran = await cli("session", "get", "any", env={"API_ADDRESS": api_address})
                async with grpc.aio.insecure_channel(api_address) as channel:
                    with pytest.raises(grpc.aio.AioRpcError) as raised:
                        await SessionsStub(channel).GetSession(GetSessionRequest(session_id="any"))
        finally:
            await without_postgres.stores.close()

    line = one_error_line(ran)
    assert line.startswith(f"error: the control plane at {api_address} is unavailable ("), line
    assert "a store is unavailable" in line
    # What tells the CLI the server answered, rather than a connection lost.
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (UNAVAILABLE_TRAILER, "store") in tuple(raised.value.trailing_metadata())


async def test_a_server_lost_mid_operation_is_one_line_and_the_operation_goes_on(
    cli, client, stores, temporal, stack, partitions
):
    session = await client.create(partitions, OPTIONS)
    session_id = session.session_id
    # No worker serves this queue yet: the pause waits for one, as long as the test needs.
    unserved = stack.client_settings(temporal_task_queue=f"unserved-{uuid.uuid4()}", **TEST_BATCHES)
    api = Recording(stores, unserved, temporal)
    workflow = temporal.get_workflow_handle(workflow_id(Operation.PAUSE, session_id))
    request = PauseSessionRequest(session_id=session_id).SerializeToString()

    async with serving_api(api) as address:
        async with Relay(address) as relay:
            running = asyncio.ensure_future(
                cli("session", "pause", session_id, env={"API_ADDRESS": relay.address})
            )

            async def in_flight() -> bool:
                """The CLI's PauseSession went through the relay, and the server started the
                pause for it and now waits for its end."""
                assert not running.done(), running.result()
                return relay.asked(request) and len(api.started) == 1

            await eventually(in_flight, "the CLI's pause is in flight")
            relay.cut()
            ran = await running

        line = one_error_line(ran)
        assert line.startswith(f"error: lost the control plane at {relay.address} ("), line
        again = f"armonik-sessions session pause {session_id}"
        assert line.endswith(
            f'the pause of session {session_id} goes on server-side: run "{again}" again to'
            " follow it"
        ), line
        first = await workflow.describe()
        assert first.status == WorkflowExecutionStatus.RUNNING

        # As the line says: the same command joins that very run, once a worker serves it.
        rejoined = asyncio.ensure_future(cli(*shlex.split(again)[1:], env={"API_ADDRESS": address}))

        async def joined() -> bool:
            assert not rejoined.done(), rejoined.result()
            return len(api.started) == 2

        await eventually(joined, "the command run again joins the pause")
        async with build_worker(temporal, stores, unserved):
            ran_again = await rejoined

    assert ran_again.code == 0, ran_again
    assert ran_again.shown("status") == "PAUSED"
    finished = await workflow.describe()
    assert (finished.run_id, finished.status) == (first.run_id, WorkflowExecutionStatus.COMPLETED)
    assert api.started[1].handle.first_execution_run_id == first.run_id
    assert (await client.get(session_id)).status == SessionStatus.PAUSED
    await assert_invariants(stores, session_id)


async def test_ctrl_c_mid_operation_is_one_line_and_exit_130(
    cli, client, stores, temporal, stack, partitions
):
    session = await client.create(partitions, OPTIONS)
    session_id = session.session_id
    unserved = stack.client_settings(temporal_task_queue=f"unserved-{uuid.uuid4()}", **TEST_BATCHES)
    api = Recording(stores, unserved, temporal)
    workflow = temporal.get_workflow_handle(workflow_id(Operation.PAUSE, session_id))

    async with serving_api(api) as address:
        process = await cli.spawn(
            "session", "pause", session_id, "--json", env={"API_ADDRESS": address}
        )

        async def in_flight() -> bool:
            assert process.returncode is None
            return len(api.started) == 1

        await eventually(in_flight, "the CLI's pause is in flight")
        process.send_signal(signal.SIGINT)
        ran = await cli.finish(process)

    line = one_error_line(ran, code=130)
    again = f"armonik-sessions session pause {session_id} --json"
    assert line == (
        f'interrupted; the pause of session {session_id} goes on server-side: run "{again}"'
        " again to follow it"
    ), line
    assert (await workflow.describe()).status == WorkflowExecutionStatus.RUNNING
    # Nothing serves its queue: it would wait forever.
    await workflow.terminate("test over")


# --- admin commands: the stores, directly ------------------------------------------------------


async def test_seed_then_queue_stats_and_check(cli, client, stores, partitions):
    session = await client.create(partitions, OPTIONS)
    session_id = session.session_id

    seeded = await cli("seed", session_id, "--tasks", "40", "--results", "6", "--objects", "--json")

    assert seeded.code == 0, seeded
    assert seeded.json() == {
        "items": [{"session_id": session_id, "tasks": 40, "queued": 40, "results": 6, "objects": 6}]
    }
    snapshot = await take(stores, session_id)
    assert len(snapshot.tasks) == 40 and len(snapshot.queued) == 40
    assert {p: sum(1 for e in snapshot.queued if e.partition_id == p) for p in partitions} == {
        p: 20 for p in partitions
    }
    assert len(snapshot.objects) == 6

    stats, checked = await asyncio.gather(
        cli("queue", "stats", "--json"), cli("check", session_id, "--json")
    )

    assert stats.code == 0, stats
    depths = {row["partition_id"]: row["depth"] for row in stats.json()["items"]}
    assert depths == await stores.queue.depths()
    assert all(depths[p] >= 20 for p in partitions)
    assert checked.code == 0, checked
    assert checked.json() == {"ok": True, "violations": dict.fromkeys(INVARIANTS, 0)}
    await assert_invariants(stores, session_id)


async def test_delete_then_check_reports_nothing_left(cli, client, stores, partitions):
    session = await client.create(partitions, OPTIONS)
    seeded = await cli("seed", session.session_id, "--tasks", "10", "--results", "3", "--objects")
    assert seeded.code == 0, seeded

    deleted = await cli("session", "delete", session.session_id, "--json")

    assert deleted.code == 0, deleted
    data = deleted.json()
    assert data["status"] == SessionStatus.DELETED.name and data["deleted_at"]
    checked = await cli("check", session.session_id, "--json")
    assert checked.code == 0, checked
    assert checked.json()["violations"] == dict.fromkeys(INVARIANTS, 0)
    await assert_invariants(stores, session.session_id)


async def test_partition_create_and_migrate_talk_to_the_stores(cli, client):
    partition_id = f"part-cli-{uuid.uuid4()}"
    created = await cli(
        "partition", "create", partition_id, "--priority", "2", "--pod-max", "50", "--json"
    )
    migrated = await cli("migrate")

    assert created.code == 0, created
    stored = await client.get_partition(partition_id)
    assert (stored.priority, stored.pod_max) == (2, 50)
    assert created.json() == {"items": [dataclasses.asdict(stored)]}
    assert migrated.code == 0, migrated
    assert migrated.stdout.strip() == "the schema is up to date"


async def test_an_admin_command_that_cannot_reach_its_stores_is_one_line_and_exit_3(cli):
    with nowhere() as address:
        ran = await cli("check", "any", env=stores_at(address))

    line = one_error_line(ran)
    assert line.startswith("error: cannot reach ") and address in line, line
