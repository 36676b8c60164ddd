"""Hundreds of operations fired at once at a few sessions: at quiescence each session is in a
state SPEC §2 can produce from the requests it admitted, in the order it admitted them."""

import asyncio
import os
import random
from dataclasses import dataclass

from client.invariants import check
from client.sessions import OperationHandle, OperationRefused
from lifecycle.models import OperationOutcome
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND
from lifecycle.statuses import (
    FINAL_TASK_STATUSES,
    Operation,
    ResultStatus,
    SessionStatus,
    TaskStatus,
)
from tests.conftest import report_figure
from tests.durability.model import SessionModel, observe
from tests.support import eventually, new_session, op_id

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


@dataclass
class Request:
    session_id: str
    operation: Operation
    client: bool = True
    worker: bool = True
    delay: float = 0.0
    handle: OperationHandle | None = None
    outcome: OperationOutcome | None = None
    refused: OperationRefused | None = None


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
        request.handle = await client.start(
            request.operation, request.session_id, client=request.client, worker=request.worker
        )
        try:
            request.outcome = await request.handle.result()
        except OperationRefused as refused:
            request.refused = refused

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
        mine = [r for r in requests if r.session_id == session_id]
        final = await observe(client.stores, session_id)
        if final.deleted:
            assert any(r.operation == Operation.DELETE and r.outcome for r in mine)
            continue
        # Replay what the session admitted, in the order its admissions (and the last steps
        # that carry an effect, Purge's) committed.
        log = await client.stores.operations.of_session(session_id)
        admitted = [a for a in log if a.operation != Operation.CREATE]
        by_op = {op_id(r.handle): r for r in mine}
        events = [(a.seq, "admit", a) for a in admitted]
        events += [(a.finished_seq, "finish", a) for a in admitted if a.finished_seq]
        model: SessionModel = initial[session_id]
        for _, event, admission in sorted(events, key=lambda e: e[0]):
            request = by_op[admission.op_id]
            assert request.outcome is not None, "an admitted request must not be refused"
            if event == "admit":
                model.admit(admission.operation, request.client, request.worker)
            else:
                model.finish(admission.operation)
        # Every accepted request was admitted (joined requests share one admission) and no
        # refused request left an admission behind.
        admitted_ids = {a.op_id for a in admitted}
        assert {op_id(r.handle) for r in mine if r.outcome} == admitted_ids
        assert not {op_id(r.handle) for r in mine if r.refused} & admitted_ids
        assert final == model, f"session {session_id}: {final} != {model}"

    report = await check(client.stores, sessions)
    assert report.ok, report.examples


async def test_a_cancel_admitted_during_a_purge_takes_effect_before_it(client):
    """Purge is marked PURGED only by its last step: a Cancel admitted while the purge deletes
    data is accepted (from CLOSED), and the session ends as Cancel-then-Purge leaves it."""
    session_id = await new_session(client, mix=MIX, results=2000)
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
    state = await handle.progress()
    return any(step.scanned for step in state.progress.steps) and not state.finished
