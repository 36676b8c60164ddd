"""A store stopped in the middle of a bulk operation: the operation waits with backoff, shows
that it is retrying (not failed), and completes once the store is back, with nothing lost or
duplicated. Temporal itself restarting mid-operation is survived too."""

import asyncio
import time
from collections import Counter

from admin.invariants import check
from engine.operations import OperationHandle
from lifecycle.progress import Retrying
from lifecycle.statuses import Operation, ResultStatus, TaskStatus
from stores.queue import QueuedTask
from tests.conftest import report_figure
from tests.support import eventually, finished, new_session, result_rows
from workflows.policy import CALL_ATTEMPTS

TASKS = 20_000
# Each outage lasts this long, and the operation must be seen failing this many attempts in a
# row meanwhile (the retry policy backs off 1 s, 2 s, 4 s, ...).
OUTAGE_SECONDS = 10.0
ATTEMPTS_WHILE_DOWN = 4


async def _running_step(handle: OperationHandle, step: str) -> bool:
    state = (await handle.look())[0]
    return any(s.step == step and s.scanned > 0 for s in state.steps)


async def _retrying(handle: OperationHandle, attempts: int) -> Retrying | None:
    """The activity seen failing `attempts` attempts in a row, if one is: those of the call
    retrying now, after those of its calls that failed through (the workflow's `failing`)."""
    state = (await handle.look())[0]
    assert not await finished(handle), "the operation must wait for the store, not fail"
    failed_calls = {f.activity: f.calls for f in state.failing}
    for r in state.retrying:
        seen = r.attempt + CALL_ATTEMPTS * failed_calls.get(r.activity, 0)
        if seen >= attempts:
            return Retrying(r.activity, seen, r.last_failure)
    return None


async def _outage(server, handle: OperationHandle, step: str) -> str:
    await eventually(lambda: _running_step(handle, step), what=f"{step} to start")
    server.stop()
    down = time.monotonic()
    try:
        retrying = await eventually(
            lambda: _retrying(handle, ATTEMPTS_WHILE_DOWN), within=90, what="retries"
        )
        # The outage's length is the scenario, not a wait for something to happen.
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
        assert not await finished(handle)
    finally:
        server.start()
    return (
        f"down {time.monotonic() - down:.0f} s; progress showed {retrying.activity}"
        f" attempt {retrying.attempt}: {retrying.last_failure[:60]}"
    )


async def test_postgresql_outage_during_resume(stack, client):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
    await client.run(Operation.PAUSE, session_id)
    handle = await client.start(Operation.RESUME, session_id)
    seen = await _outage(stack.postgres, handle, "tasks")
    outcome = await handle.result()
    report_figure(f"outage: PostgreSQL down during resume, survived, {seen}")
    assert not outcome.superseded
    assert await client.stores.tasks.count_by_status(session_id) == {TaskStatus.SUBMITTED: TASKS}
    assert (await check(client.stores, [session_id])).ok


async def test_redis_outage_during_pause(stack, client):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
    handle = await client.start(Operation.PAUSE, session_id)
    seen = await _outage(stack.redis, handle, "queue")
    await handle.result()
    report_figure(f"outage: Redis down during pause, survived, {seen}")
    assert await client.stores.tasks.count_by_status(session_id) == {TaskStatus.PAUSED: TASKS}
    assert (await check(client.stores, [session_id])).ok


async def _queued(client, session_id: str) -> Counter:
    """The session's queue entries, as (partition, member), with how often each is queued."""
    queues = await client.stores.queue.all_members()
    return Counter(
        (partition_id, member)
        for partition_id, members in queues.items()
        for member in members
        if member.startswith(f"{session_id}/")
    )


async def test_redis_killed_during_resume(stack, client):
    """A SIGKILL, unlike a stop, gives Redis no chance to flush anything: every queue write it
    acknowledged before must still be there when it comes back, since the batches that wrote
    them are checkpointed and never redone."""
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
    await client.run(Operation.PAUSE, session_id)
    handle = await client.start(Operation.RESUME, session_id)
    await eventually(lambda: _running_step(handle, "queue"), what="queue step to push")
    acknowledged = await _queued(client, session_id)
    stack.redis.kill()
    killed = time.monotonic()
    stack.redis.start()
    back = time.monotonic() - killed
    kept = await _queued(client, session_id)
    assert 0 < len(acknowledged) < TASKS, "the kill must fall in the middle of the queue step"
    assert not acknowledged - kept, "a queue write acknowledged before the kill was lost"
    outcome = await handle.result()
    report_figure(
        f"outage: Redis SIGKILLed during resume, survived, {len(acknowledged)} of {TASKS}"
        f" tasks queued before the kill, all kept; back in {back:.1f} s, resume done"
        f" {time.monotonic() - killed:.0f} s after the kill"
    )
    assert not outcome.superseded
    assert await client.stores.tasks.count_by_status(session_id) == {TaskStatus.SUBMITTED: TASKS}
    assert (await check(client.stores, [session_id])).ok
    submitted = await client.stores.tasks.with_status(session_id, [TaskStatus.SUBMITTED])
    expected = Counter((t.partition_id, t.member) for t in map(QueuedTask.of, submitted))
    assert await _queued(client, session_id) == expected  # each one queued exactly once


async def test_s3_outage_during_purge(stack, client):
    session_id = await new_session(client, results=3000, objects=True)
    await client.run(Operation.CLOSE, session_id)
    handle = await client.start(Operation.PURGE, session_id)
    seen = await _outage(stack.s3, handle, "objects")
    outcome = await handle.result()
    report_figure(f"outage: S3 down during purge, survived, {seen}")
    assert outcome.session.status.name == "PURGED"
    results = await result_rows(client.stores, session_id)
    assert all(r.status == ResultStatus.DELETED for r in results if not r.manual_deletion)
    assert (await check(client.stores, [session_id])).ok


async def test_temporal_restart_during_resume(stack, client):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
    await client.run(Operation.PAUSE, session_id)
    handle = await client.start(Operation.RESUME, session_id)
    await eventually(lambda: _running_step(handle, "tasks"), what="resume to start")
    stack.temporal.restart()
    outcome = await eventually(handle.result, within=120, what="resume to complete")
    report_figure("outage: Temporal dev server restarted during resume, survived")
    assert not outcome.superseded
    assert await client.stores.tasks.count_by_status(session_id) == {TaskStatus.SUBMITTED: TASKS}
    assert (await check(client.stores, [session_id])).ok
