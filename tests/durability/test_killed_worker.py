"""A worker SIGKILLed at random moments of each bulk operation: the operation completes, from
its last committed batch, and nothing is lost or duplicated."""

import asyncio
import random
import time

from admin.invariants import check
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.conftest import report_figure
from tests.durability.conftest import KILLS, RESULTS, SIZE
from tests.support import committed_batches, eventually, finished, new_session

# One session through its whole life; each operation is a bulk one.
LIFE = [Operation.PAUSE, Operation.RESUME, Operation.CANCEL, Operation.PURGE, Operation.DELETE]


async def test_operations_survive_a_killed_worker(chaos_client, spawn_worker):
    client = chaos_client
    rng = random.Random(SIZE * 1000 + KILLS)
    worker = spawn_worker()
    session_id = await new_session(
        client, mix={TaskStatus.SUBMITTED: SIZE}, results=RESULTS, objects=True
    )
    for operation in LIFE:
        started = time.monotonic()
        handle = await client.start(operation, session_id)
        kills = 0
        while kills < KILLS:
            # Let the new worker commit a few batches, then kill it at a random instant.
            target = await committed_batches(client, handle) + rng.randint(1, 3)
            await eventually(
                lambda h=handle, t=target: _progressed(client, h, t),
                within=120,
                what=f"{operation.value} to progress",
            )
            assert not await finished(handle), f"{operation.value} ended before kill {kills + 1}"
            await asyncio.sleep(rng.uniform(0, 0.03))  # a random instant, not a synchronisation
            worker.kill()
            kills += 1
            worker = spawn_worker()
        outcome = await handle.result()
        assert not outcome.superseded
        steps = outcome.progress.steps
        redone = sum(s.batches_started - s.batches_committed for s in steps)
        batches = sum(s.batches_committed for s in steps)
        report_figure(
            f"killed worker: {operation.value} survived {kills} kills, {batches} batches,"
            f" {redone} redone, {time.monotonic() - started:.1f} s,"
            f" {client.settings.sweep_ranges} range(s)"
        )
        report = await check(client.stores, [session_id])
        report_figure(
            f"killed worker: after {operation.value}, invariant violations:"
            f" {sum(report.counts().values())}"
        )
        # At most the batches in flight at each kill, one per range, were done twice.
        assert redone <= kills * client.settings.sweep_ranges
        assert report.ok, report.examples
        assert report.counts() == dict.fromkeys(report.counts(), 0)
    assert outcome.session.status == SessionStatus.DELETED
    assert await client.stores.sessions.get(session_id) is None
    # No operation was started twice, left running, or resumed after it ended: the session's
    # whole history is one completed execution per request.
    temporal = client.temporal
    expected = sorted(["create", *(op.value for op in LIFE)])

    async def executions():
        found = [w async for w in temporal.list_workflows(f'SessionId = "{session_id}"')]
        return found if len(found) >= len(expected) else None

    found = await eventually(executions, what="the session's executions to be listed")
    assert sorted(w.id.rsplit("-", 1)[1] for w in found) == expected
    assert {w.status.name for w in found} == {"COMPLETED"}


async def _progressed(client, handle, target: int) -> bool:
    return await committed_batches(client, handle) >= target or await finished(handle)
