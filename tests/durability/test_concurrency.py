"""Hundreds of operations fired at once at a few sessions: at quiescence each session is in a
state the lifecycle can produce from the requests it admitted, in the order it admitted them."""

import asyncio
import os
import random

from admin.invariants import check
from engine.operations import OperationHandle
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND
from lifecycle.statuses import (
    FINAL_TASK_STATUSES,
    Operation,
    ResultStatus,
    SessionStatus,
    TaskStatus,
)
from tests.conftest import report_figure
from tests.durability.model import Request, assert_replays, observe, send
from tests.support import eventually, finished, new_session, op_id

SESSIONS = int(os.environ.get("CHAOS_SESSIONS", "10"))
REQUESTS = int(os.environ.get("CHAOS_REQUESTS", "200"))
MIX = {
    TaskStatus.SUBMITTED: 150,
    TaskStatus.DISPATCHED: 40,
    TaskStatus.COMPLETED: 30,
    TaskStatus.PENDING: 20,
    TaskStatus.ERROR: 10,
}
# Delete is rarer, so that most sessions live long enough for the others to interleave.
WEIGHTED = [
    (Operation.PAUSE, 6),
    (Operation.RESUME, 6),
    (Operation.CANCEL, 3),
    (Operation.CLOSE, 3),
    (Operation.PURGE, 3),
    (Operation.STOP_SUBMISSION, 3),
    (Operation.DELETE, 1),
]
STOP_FLAGS = [(True, False), (False, True), (True, True)]


async def test_concurrent_operations_stay_within_the_spec(client):
    rng = random.Random(2026)
    sessions = [await new_session(client, mix=MIX, results=40) for _ in range(SESSIONS)]
    initial = {s: await observe(client.stores, s) for s in sessions}
    operations = [op for op, weight in WEIGHTED for _ in range(weight)]
    requests = []
    for _ in range(REQUESTS):
        flags = rng.choice(STOP_FLAGS)
        requests.append(
            Request(rng.choice(sessions), rng.choice(operations), *flags, rng.uniform(0, 3))
        )

    async def fire(request: Request) -> None:
        await asyncio.sleep(request.delay)  # spreads the requests in time; not a synchronisation
        await send(client, request)

    await asyncio.gather(*(fire(r) for r in requests))

    accepted = [r for r in requests if r.outcome is not None]
    refused = [r for r in requests if r.refused is not None]
    assert len(accepted) + len(refused) == REQUESTS
    assert {r.refused.kind for r in refused} <= {FAILED_PRECONDITION, NOT_FOUND}
    executions = {op_id(r.handle) for r in requests}
    report_figure(
        f"concurrency: {REQUESTS} requests on {SESSIONS} sessions: {len(accepted)} accepted,"
        f" {len(refused)} refused, {len(executions)} workflow executions"
    )
    for session_id in sessions:
        await assert_replays(client.stores, session_id, initial[session_id], requests)

    report = await check(client.stores, sessions)
    assert report.ok, report.examples


async def test_a_cancel_admitted_during_a_purge_takes_effect_before_it(client):
    """Purge is marked PURGED only by its last step: a Cancel admitted while the purge deletes
    data is accepted (from CLOSED), and the session ends as Cancel-then-Purge leaves it."""
    # Enough results that many batch calls remain once the purge is seen started (2,000 were
    # purged, now and then, in the moment between seeing it start and admitting the cancel).
    session_id = await new_session(client, mix=MIX, results=8000)
    await client.run(Operation.CLOSE, session_id)
    purge = await client.start(Operation.PURGE, session_id)
    await eventually(lambda: _scanned(purge), what="the purge to start")
    cancelled = await client.run(Operation.CANCEL, session_id)
    purged = await purge.result()

    assert cancelled.session.status == SessionStatus.CANCELLED
    assert purged.session.status == SessionStatus.PURGED and not purged.superseded
    model = await observe(client.stores, session_id)
    assert model.status == SessionStatus.PURGED
    assert set(model.tasks) <= FINAL_TASK_STATUSES
    assert {status for status, manual, _ in model.results if not manual} == {ResultStatus.DELETED}
    assert (await check(client.stores, [session_id])).ok


async def _scanned(handle: OperationHandle) -> bool:
    state = (await handle.look())[0]
    return any(step.scanned for step in state.steps) and not await finished(handle)
