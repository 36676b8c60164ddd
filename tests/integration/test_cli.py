"""The `armonik-sessions` CLI as a user runs it: a subprocess against the real stack, its
operations served by the in-process worker (same task queue). Run with asyncio's subprocesses:
the worker lives on this test's event loop, which must keep turning while the CLI waits."""

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from client.invariants import INVARIANTS
from lifecycle.models import TaskOptions
from lifecycle.statuses import SessionStatus
from tests.integration.snapshot import assert_invariants, take

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
    async def run(*args: str) -> Ran:
        process = await asyncio.create_subprocess_exec(
            CLI,
            *args,
            env=cli_env,
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
    assert paused.json()["status"] == "PAUSED"
    assert paused.json() == (await client.get(session_id)).to_json()
    await assert_invariants(stores, session_id)
    listed = await cli("session", "list", "--status", "paused", "--page-size", "1000", "--json")
    assert listed.code == 0, listed
    assert paused.json() in listed.json()["sessions"]
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


async def test_missing_session_or_partition_exits_1_with_a_not_found_line(cli, stores):
    missing = f"missing-{uuid.uuid4()}"
    rows = await session_rows(stores)

    got, created = await asyncio.gather(
        cli("session", "get", missing, "--json"),
        cli("session", "create", "-p", f"nowhere-{uuid.uuid4()}", "--json"),
    )

    refusal_line(got, "NotFound")
    refusal_line(created, "NotFound")
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
