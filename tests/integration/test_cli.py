"""The `armonik-sessions` CLI as a user runs it: a subprocess against the real stack, its
operations served by the in-process worker (same task queue). Run with asyncio's subprocesses:
the worker lives on this test's event loop, which must keep turning while the CLI waits."""

import asyncio
import gzip
import json
import os
import shlex
import socket
import sys
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from admin.invariants import INVARIANTS
from lifecycle.models import TaskOptions
from lifecycle.statuses import SessionStatus
from tests.integration.snapshot import assert_invariants, take
from worker import build_worker

pytestmark = pytest.mark.stack

CLI = str(Path(sys.executable).parent / "armonik-sessions")
TIMEOUT = 120.0


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


@pytest.fixture(scope="module")
def cli_env(stack, settings) -> dict[str, str]:
    return {
        **os.environ,
        **stack.env(),
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


@pytest.fixture
def cli(cli_env):
    async def run(*args: str, env: dict[str, str] | None = None) -> Ran:
        process = await asyncio.create_subprocess_exec(
            CLI,
            *args,
            env={**cli_env, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return Ran(process.returncode, out.decode(), err.decode())

    return run


async def session_rows(stores) -> int:
    return await stores.db.pool.fetchval("SELECT count(*) FROM sessions")


def refusal_line(ran: Ran, kind: str) -> None:
    """A refusal: exit 1, nothing on stdout, one line on stderr that names the kind."""
    assert ran.code == 1, ran
    assert ran.stdout == ""
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and kind in lines[0], ran.stderr


def one_error_line(ran: Ran) -> str:
    """A stack that cannot be reached or was lost: exit 3, nothing on stdout, exactly one line on
    stderr and no traceback."""
    assert ran.code == 3, ran
    assert ran.stdout == ""
    assert "Traceback" not in ran.stderr, ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.stderr
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
        self.messages = bytearray()

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
                self.messages += gzip.decompress(message) if buffer[0] else message
                del buffer[: 5 + size]


class Relay:
    """A TCP relay to a gRPC server, that the test can cut: every connection through it dropped,
    and new ones refused. It reads what the clients ask for on the way."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.target = (host, int(port))
        self.requests: list[GrpcRequests] = []
        self.writers: list[asyncio.StreamWriter] = []

    def asked(self, text: str) -> bool:
        """Whether a client sent a request that holds `text`."""
        return any(text.encode() in requests.messages for requests in self.requests)

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
    listed = await cli("session", "list", "--status", "paused", "--page-size", "1000", "--json")
    assert listed.code == 0, listed
    assert data in listed.json()["sessions"]
    assert {s["status"] for s in listed.json()["sessions"]} == {"PAUSED"}

    before = await take(stores, session_id)
    again = await cli("session", "pause", session_id, "--json")
    refusal_line(again, "FailedPrecondition")
    assert await take(stores, session_id) == before
    await assert_invariants(stores, session_id)


async def test_bad_arguments_exit_2_and_start_nothing(cli, client, stores, partitions):
    session = await client.create(partitions, TaskOptions(max_duration=60))
    before = await take(stores, session.session_id)
    rows = await session_rows(stores)

    runs = await asyncio.gather(
        cli("session", "create", "--priority", "0", "--json"),
        cli("session", "create", "--max-retries", "0"),
        cli("seed", session.session_id, "--tasks", "-1"),
        cli("session", "list", "--status", "nope"),
        cli("session", "list", "--page-size", "0"),
    )

    for ran in runs:
        assert ran.code == 2, ran
        assert ran.stdout == ""
        assert ran.stderr.strip()
    assert "priority" in runs[0].stderr
    assert await session_rows(stores) == rows
    assert await take(stores, session.session_id) == before
    await assert_invariants(stores, session.session_id)


async def test_seed_then_queue_stats_and_check(cli, client, stores, partitions):
    session = await client.create(partitions, TaskOptions(max_duration=60))
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


async def test_missing_session_or_partition_exits_1_with_a_not_found_line(cli, stores, worker):
    missing = f"missing-{uuid.uuid4()}"
    rows = await session_rows(stores)

    got, paused, created = await asyncio.gather(
        cli("session", "get", missing, "--json"),
        cli("session", "pause", missing),
        cli("session", "create", "-p", f"nowhere-{uuid.uuid4()}", "--json"),
    )

    refusal_line(got, "NotFound")
    refusal_line(paused, "NotFound")
    refusal_line(created, "NotFound")
    assert missing in got.stderr
    # The message comes from the worker's admission (lifecycle/transitions.py refusal()).
    assert missing in paused.stderr
    assert (await take(stores, missing)).session is None
    assert await session_rows(stores) == rows


async def test_delete_then_check_reports_nothing_left(cli, client, stores, partitions):
    session = await client.create(partitions, TaskOptions(max_duration=60))
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


async def test_session_list_shows_whole_ids_in_an_80_column_terminal(cli, client, partitions):
    sessions = [await client.create(partitions, TaskOptions(max_duration=60)) for _ in range(2)]

    listed = await cli("session", "list", "--desc", "--page-size", "10", env={"COLUMNS": "80"})

    assert listed.code == 0, listed
    for session in sessions:
        assert session.session_id in listed.stdout, listed.stdout
    assert "\u2026" not in listed.stdout


async def test_an_unreachable_temporal_is_one_line_and_exit_3(cli, client, stores, partitions):
    session = await client.create(partitions, TaskOptions(max_duration=60))
    before = await take(stores, session.session_id)

    # Bound but not listening: every connection to it is refused.
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{nobody.getsockname()[1]}"
        ran = await cli("session", "pause", session.session_id, env={"TEMPORAL_ADDRESS": address})

    line = one_error_line(ran)
    assert line.startswith(f"error: cannot reach the control plane (Temporal at {address}: "), line
    assert await take(stores, session.session_id) == before


async def test_temporal_lost_mid_operation_is_one_line_and_the_operation_goes_on(
    cli, client, stores, temporal, settings, partitions
):
    session = await client.create(partitions, TaskOptions(max_duration=60))
    session_id = session.session_id
    # No worker serves this queue yet: the pause waits for one, as long as the test needs.
    queue = f"unserved-{uuid.uuid4()}"
    env = {"TEMPORAL_TASK_QUEUE": queue}
    workflow = temporal.get_workflow_handle(f"session-{session_id}-pause")
    runs: list[str] = []

    async def following(relay: Relay, running: asyncio.Future) -> bool:
        """Whether the CLI follows the pause's run: it asks for the run's result by its run id,
        which it learnt from the answer to its start."""
        assert not running.done(), running.result()
        if not runs:
            try:
                runs.append((await workflow.describe()).run_id)
            except RPCError:  # not started yet
                return False
        return relay.asked(runs[0])

    async with Relay(settings.temporal_address) as relay:
        running = asyncio.ensure_future(
            cli("session", "pause", session_id, env={**env, "TEMPORAL_ADDRESS": relay.address})
        )
        await eventually(lambda: following(relay, running), "the CLI follows the pause")
        relay.cut()
        ran = await running

    line = one_error_line(ran)
    assert line.startswith(f"error: lost the control plane (Temporal at {relay.address}: "), line
    again = f"armonik-sessions session pause {session_id}"
    assert f'goes on server-side: run "{again}" again to follow it' in line
    assert (await workflow.describe()).status == WorkflowExecutionStatus.RUNNING

    # As the line says: the same command follows that very run, once a worker serves it.
    async with Relay(settings.temporal_address) as relay:
        env_again = {**env, "TEMPORAL_ADDRESS": relay.address}
        rejoined = asyncio.ensure_future(cli(*shlex.split(again)[1:], env=env_again))
        await eventually(lambda: following(relay, rejoined), "the command run again follows it")
        served = settings.model_copy(update={"temporal_task_queue": queue})
        async with build_worker(temporal, stores, served):
            ran_again = await rejoined

    assert ran_again.code == 0, ran_again
    assert "PAUSED" in ran_again.stdout
    finished = await workflow.describe()
    assert (finished.run_id, finished.status) == (runs[0], WorkflowExecutionStatus.COMPLETED)
    assert (await client.get(session_id)).status == SessionStatus.PAUSED
    await assert_invariants(stores, session_id)
