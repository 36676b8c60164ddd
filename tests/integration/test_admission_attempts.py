"""Two attempts of one session write running at once, as happens when Temporal retries an attempt
that outlived its timeout while the worker presumed dead still runs it: both answer the same
outcome, and the write happens once.

The test holds the lock each write takes first (the session's row, or for a Create the new
row's key) until both attempts wait behind it, then lets them go.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from temporalio.testing import ActivityEnvironment

from activities.sessions import SessionsActivities
from lifecycle.calls import SessionUpdate, SessionWrite
from lifecycle.requests import CreateRequest, SessionInsert
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.support import OPTIONS, eventually, new_session

LOCK_HOLDER = "-- held by the test"


@pytest.fixture
def sessions(stores, settings) -> SessionsActivities:
    return SessionsActivities(
        stores.db, stores.partitions, stores.sessions, stores.operations, settings.default_partition
    )


async def _waiting(stores, statement: str) -> int:
    """How many connections wait on a lock while running `statement`."""
    return await stores.db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE $1 AND query NOT LIKE $2",
        f"%{statement}%",
        f"%{LOCK_HOLDER}%",
    )


async def _overlapping(
    stores, lock: str, args: list, statement: str, attempt: Callable[[], Awaitable]
) -> list:
    """Run two attempts of `attempt` at once, both made to wait behind `lock` (SQL run in a
    transaction of the test's) on `statement`, then released together. A lock whose transaction
    rolls back (an insert that only holds a key) releases them just the same."""

    class Release(Exception):
        pass

    attempts: list[asyncio.Task] = []
    with pytest.raises(Release):
        async with stores.db.transaction() as tx:
            await tx.execute(f"{lock} {LOCK_HOLDER}", *args)
            attempts = [asyncio.create_task(attempt()) for _ in range(2)]
            await eventually(
                lambda: _at_least(stores, statement, 2), what="both attempts to wait on the lock"
            )
            raise Release
    return await asyncio.gather(*attempts)


async def _at_least(stores, statement: str, n: int) -> bool:
    return await _waiting(stores, statement) >= n


def _run(activity, arg) -> Callable[[], Awaitable]:
    return lambda: ActivityEnvironment().run(activity, arg)


async def _log_of(stores, session_id: str, op_id: str) -> list:
    return [a for a in await stores.operations.of_session(session_id) if a.op_id == op_id]


def _same(answers: list[SessionWrite]) -> SessionWrite:
    first, second = answers
    assert first == second
    assert not first.superseded
    return first


@pytest.mark.parametrize(
    ("operation", "status"),
    [(Operation.PAUSE, SessionStatus.PAUSED), (Operation.DELETE, SessionStatus.DELETED)],
)
async def test_two_attempts_of_an_admission_admit_it_once(
    client, stores, sessions, operation, status
):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 10})
    update = SessionUpdate(f"test-{uuid.uuid4()}", session_id, operation)

    answers = await _overlapping(
        stores,
        "SELECT 1 FROM sessions WHERE session_id = $1 FOR UPDATE",
        [session_id],
        "FOR UPDATE",
        _run(sessions.admit, update),
    )

    admitted = _same(answers)
    assert admitted.session.status == status
    assert len(await _log_of(stores, session_id, update.op_id)) == 1
    assert (await stores.sessions.get(session_id)).status == status


async def test_two_attempts_of_a_purge_finish_both_finish_it(client, stores, sessions):
    session_id = await new_session(client, mix={TaskStatus.COMPLETED: 10}, results=10)
    await client.run(Operation.CLOSE, session_id)
    op_id = f"test-{uuid.uuid4()}"
    admission = SessionUpdate(op_id, session_id, Operation.PURGE)
    await ActivityEnvironment().run(sessions.admit, admission)

    answers = await _overlapping(
        stores,
        "SELECT 1 FROM sessions WHERE session_id = $1 FOR UPDATE",
        [session_id],
        "FOR UPDATE",
        _run(sessions.finish, admission),
    )

    assert _same(answers).session.status == SessionStatus.PURGED
    [logged] = await _log_of(stores, session_id, op_id)
    assert logged.finished


async def test_two_attempts_of_a_create_insert_it_once(stores, sessions, partitions):
    session_id = str(uuid.uuid4())
    request = CreateRequest(session_id, partitions, OPTIONS)
    insert = SessionInsert(f"test-{uuid.uuid4()}", request)

    answers = await _overlapping(
        stores,
        "INSERT INTO sessions (session_id, status, partition_ids, options)"
        " VALUES ($1, 1, '{}', '{}')",
        [session_id],
        "INSERT INTO sessions",
        _run(sessions.insert_session, insert),
    )

    created = _same(answers)
    assert created.session.session_id == session_id
    assert created.session.status == SessionStatus.RUNNING
    assert len(await _log_of(stores, session_id, insert.op_id)) == 1
