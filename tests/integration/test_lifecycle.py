"""SPEC §2 on the real stack, row by row: every operation from every starting status. An
accepted operation has exactly the effects of its row, in full; a refused one answers the right
kind and leaves every store as it was. SPEC §3's invariants hold after every operation."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.domain import Session
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND, Refused
from lifecycle.requests import OperationOutcome
from lifecycle.statuses import Operation, ResultStatus, SessionStatus, TaskStatus
from tests.integration.snapshot import Snapshot, assert_invariants, take
from tests.integration.states import (
    DELETED,
    MISSING,
    STARTS,
    TASKS,
    session_in,
    start_name,
)

pytestmark = pytest.mark.stack

S = SessionStatus
T = TaskStatus
R = ResultStatus
O = Operation  # noqa: E741

LIVE = {S.RUNNING, S.PAUSED, S.CLOSED, S.CANCELLED, S.PURGED}
# SPEC §2, "accepted from", written out again here rather than read from lifecycle/.
ACCEPTS: dict[Operation, set[SessionStatus]] = {
    O.CANCEL: {S.RUNNING, S.PAUSED, S.CLOSED},
    O.PAUSE: {S.RUNNING},
    O.RESUME: {S.PAUSED, S.RUNNING},
    O.CLOSE: {S.RUNNING, S.PAUSED},
    O.PURGE: {S.CLOSED, S.CANCELLED},
    O.DELETE: LIVE,
    O.STOP_SUBMISSION: LIVE,
}
FINAL = {T.COMPLETED, T.ERROR, T.TIMEOUT, T.RETRIED, T.CANCELLED}
OPERATIONS = list(ACCEPTS)
# A clock skew allowance between this process and PostgreSQL's now() (same machine).
SKEW = timedelta(seconds=2)

ACCEPTED = [(op, start) for op in OPERATIONS for start in STARTS if start in ACCEPTS[op]]
REFUSED = [
    (op, start, FAILED_PRECONDITION if start in LIVE else NOT_FOUND)
    for op in OPERATIONS
    for start in STARTS
    if start not in ACCEPTS[op]
]


def case_id(op: Operation, start: object, *_: object) -> str:
    return f"{op.value}-from-{start_name(start)}"


# --- expected effects, one function per row of the table ----------------------------------------


def stamped(value: datetime | None, since: datetime, until: datetime) -> bool:
    return value is not None and since - SKEW <= value <= until + SKEW


def expect_session(before: Session, **changes) -> Session:
    return replace(before, **changes)


def check_dates(after: Session, before: Session, stamp: str | None, since, until) -> None:
    """`stamp` is newly set; every other date is as it was."""
    for name in ("created_at", "cancelled_at", "closed_at", "purged_at", "deleted_at"):
        if name == stamp:
            assert getattr(before, name) is None, name
            assert stamped(getattr(after, name), since, until), (name, getattr(after, name))
        else:
            assert getattr(after, name) == getattr(before, name), name


def same_except_session(before: Snapshot, after: Snapshot) -> None:
    assert after.tasks == before.tasks
    assert after.results == before.results
    assert after.queued == before.queued
    assert after.objects == before.objects


def submitted_queued_once(after: Snapshot) -> None:
    """Every SUBMITTED task is queued once, on its partition, a higher priority first."""
    submitted = {(t, p) for t, (s, p) in after.tasks.items() if s == T.SUBMITTED}
    assert dict(after.queued_tasks) == dict.fromkeys(submitted, 1)
    for partition_id in {p for _, p in submitted}:
        served = [after.priorities[t] for t in after.queue_order(partition_id)]
        assert served == sorted(served, reverse=True), partition_id


def effect_cancel(before: Snapshot, after: Snapshot, since, until) -> None:
    b, a = before.session, after.session
    check_dates(a, b, "cancelled_at", since, until)
    assert a == expect_session(
        b,
        status=S.CANCELLED,
        client_submission=False,
        worker_submission=False,
        cancelled_at=a.cancelled_at,
    )
    assert after.tasks == {
        t: (s if s in FINAL else int(T.CANCELLED), p) for t, (s, p) in before.tasks.items()
    }
    assert after.results == {
        r: replace(row, status=int(R.ABORTED)) if row.status == R.CREATED else row
        for r, row in before.results.items()
    }
    assert after.queued == frozenset()
    assert after.objects == before.objects


def effect_pause(before: Snapshot, after: Snapshot, since, until) -> None:
    b, a = before.session, after.session
    check_dates(a, b, None, since, until)
    assert a == expect_session(b, status=S.PAUSED, epoch=a.epoch)
    assert a.epoch > b.epoch
    paused = {T.SUBMITTED, T.DISPATCHED}
    assert after.tasks == {
        t: (int(T.PAUSED) if s in paused else s, p) for t, (s, p) in before.tasks.items()
    }
    assert after.results == before.results
    assert after.queued == frozenset()
    assert after.objects == before.objects


def effect_resume(before: Snapshot, after: Snapshot, since, until) -> None:
    b, a = before.session, after.session
    check_dates(a, b, None, since, until)
    assert a == expect_session(b, status=S.RUNNING, epoch=a.epoch)
    assert after.tasks == {
        t: (int(T.SUBMITTED) if s == T.PAUSED else s, p) for t, (s, p) in before.tasks.items()
    }
    submitted_queued_once(after)
    assert after.results == before.results
    assert after.objects == before.objects
    if b.status == S.RUNNING:
        # Idempotent: nothing moves, and the queued tasks keep their place.
        assert after.without_epoch() == before.without_epoch()


def effect_close(before: Snapshot, after: Snapshot, since, until) -> None:
    b, a = before.session, after.session
    check_dates(a, b, "closed_at", since, until)
    assert a == expect_session(
        b, status=S.CLOSED, client_submission=False, worker_submission=False, closed_at=a.closed_at
    )
    assert a.duration == a.closed_at - a.created_at
    assert a.duration > timedelta(0)
    same_except_session(before, after)


def effect_purge(before: Snapshot, after: Snapshot, since, until) -> None:
    b, a = before.session, after.session
    check_dates(a, b, "purged_at", since, until)
    assert a == expect_session(
        b, status=S.PURGED, client_submission=False, worker_submission=False, purged_at=a.purged_at
    )
    purged = {
        r
        for r, row in before.results.items()
        if row.status in (R.COMPLETED, R.CREATED, R.ABORTED) and not row.manual_deletion
    }
    assert purged, "the session has purgeable results"
    assert after.results == {
        r: replace(row, status=int(R.DELETED), opaque_id=None) if r in purged else row
        for r, row in before.results.items()
    }
    gone = {before.results[r].opaque_id for r in purged}
    assert after.objects == before.objects - gone
    kept = {row.opaque_id for row in before.results.values() if row.manual_deletion}
    assert kept and after.objects == kept
    assert after.tasks == before.tasks
    assert after.queued == before.queued


def effect_delete(before: Snapshot, after: Snapshot, since, until) -> None:
    assert after.session is None
    assert after.tasks == {} and after.results == {}
    assert after.queued == frozenset() and after.objects == frozenset()
    assert after.operations == [] and after.steps == []


def effect_stop_submission(before: Snapshot, after: Snapshot, since, until) -> None:
    b, a = before.session, after.session
    check_dates(a, b, None, since, until)
    assert a == expect_session(b, client_submission=False, worker_submission=False)
    same_except_session(before, after)


EFFECTS = {
    O.CANCEL: effect_cancel,
    O.PAUSE: effect_pause,
    O.RESUME: effect_resume,
    O.CLOSE: effect_close,
    O.PURGE: effect_purge,
    O.DELETE: effect_delete,
    O.STOP_SUBMISSION: effect_stop_submission,
}


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "start"), ACCEPTED, ids=[case_id(*c) for c in ACCEPTED])
async def test_accepted_operation_has_exactly_the_effects_of_its_row(
    client, stores, partitions, operation, start
):
    session_id = await session_in(client, partitions, start)
    before = await take(stores, session_id)
    assert len(before.tasks) == TASKS

    since = datetime.now(UTC)
    outcome: OperationOutcome = await client.run(operation, session_id)
    until = datetime.now(UTC)

    after = await take(stores, session_id)
    await assert_invariants(stores, session_id)
    EFFECTS[operation](before, after, since, until)
    assert not outcome.superseded
    if operation == O.DELETE:
        # The answer is the last state, with status DELETED and deleted_at...
        answer = outcome.session
        check_dates(answer, before.session, "deleted_at", since, until)
        assert answer.status == S.DELETED
        for name in ("session_id", "partition_ids", "options", "created_at"):
            assert getattr(answer, name) == getattr(before.session, name)
        # ...and from then on the session is not found, by Get nor by any operation.
        await assert_not_found_by_anything(client, session_id)
        assert await take(stores, session_id) == after
        await assert_invariants(stores, session_id)
    else:
        assert outcome.session == after.session


async def assert_not_found_by_anything(client, session_id: str) -> None:
    with pytest.raises(Refused) as refused:
        await client.get(session_id)
    assert refused.value.kind == NOT_FOUND

    async def refusal(operation: Operation) -> str:
        try:
            await client.run(operation, session_id)
        except Refused as e:
            return e.kind
        return "accepted"

    kinds = await asyncio.gather(*(refusal(op) for op in OPERATIONS))
    assert dict(zip(OPERATIONS, kinds, strict=True)) == dict.fromkeys(OPERATIONS, NOT_FOUND)


async def test_resume_on_a_running_session_is_idempotent(client, stores, partitions):
    session_id = await session_in(client, partitions, S.RUNNING)
    before = await take(stores, session_id)
    submitted_queued_once(before)

    for _ in range(2):
        outcome = await client.run(O.RESUME, session_id)
        await assert_invariants(stores, session_id)
        assert outcome.session.status == S.RUNNING

    after = await take(stores, session_id)
    # The same tasks, the same results, and every queued task in the very same place.
    assert after.without_epoch() == before.without_epoch()


# --- refused -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def sessions_by_start(client, partitions) -> dict[object, str]:
    """One session per starting status, shared by the refusal tests: a refusal changes nothing,
    and each test compares with its own snapshot."""
    ids = await asyncio.gather(*(session_in(client, partitions, start) for start in STARTS))
    return dict(zip(STARTS, ids, strict=True))


@pytest.mark.parametrize(
    ("operation", "start", "kind"), REFUSED, ids=[case_id(*c) for c in REFUSED]
)
async def test_refused_operation_answers_its_kind_and_changes_nothing(
    client, stores, sessions_by_start, operation, start, kind
):
    session_id = sessions_by_start[start]
    before = await take(stores, session_id)

    with pytest.raises(Refused) as refused:
        await client.run(operation, session_id)

    assert refused.value.kind == kind, refused.value.message
    assert await take(stores, session_id) == before
    await assert_invariants(stores, session_id)
    if start in (MISSING, DELETED):
        assert before.session is None and before.tasks == {} and before.objects == frozenset()


# --- StopSubmission flags go one way -------------------------------------------------------------


async def test_stop_submission_client_then_worker_flags_only_ever_go_to_false(
    client, stores, partitions
):
    session_id = await session_in(client, partitions, S.RUNNING, results=10)
    first = await take(stores, session_id)

    flags = []
    for stop_client, stop_worker in [(True, False), (True, False), (False, True), (True, True)]:
        outcome = await client.run(
            O.STOP_SUBMISSION, session_id, client=stop_client, worker=stop_worker
        )
        await assert_invariants(stores, session_id)
        session = outcome.session
        assert session == await client.get(session_id)
        flags.append((session.client_submission, session.worker_submission))

    assert flags == [(False, True), (False, True), (False, False), (False, False)]
    last = await take(stores, session_id)
    assert last.session == replace(first.session, client_submission=False, worker_submission=False)
    same_except_session(first, last)


async def test_stop_submission_worker_only_leaves_the_client_flag(client, stores, partitions):
    session_id = await session_in(client, partitions, S.PAUSED, results=0)
    outcome = await client.run(O.STOP_SUBMISSION, session_id, client=False, worker=True)
    await assert_invariants(stores, session_id)
    assert (outcome.session.client_submission, outcome.session.worker_submission) == (True, False)
    assert outcome.session.status == S.PAUSED
    # Resume does not open submission again.
    resumed = await client.run(O.RESUME, session_id)
    await assert_invariants(stores, session_id)
    assert (resumed.session.client_submission, resumed.session.worker_submission) == (True, False)


# --- paths the table allows that cross two rows ---------------------------------------------------


async def test_cancel_from_closed_cancels_tasks_paused_before_the_close(client, stores, partitions):
    session_id = await session_in(client, partitions, S.PAUSED)
    await client.run(O.CLOSE, session_id)
    await assert_invariants(stores, session_id)
    before = await take(stores, session_id)
    assert before.session.status == S.CLOSED
    assert before.task_counts[T.PAUSED] > 0

    since = datetime.now(UTC)
    await client.run(O.CANCEL, session_id)
    after = await take(stores, session_id)
    await assert_invariants(stores, session_id)
    effect_cancel(before, after, since, datetime.now(UTC))
    assert after.task_counts[T.PAUSED] == 0


async def test_purge_after_cancel_from_closed_deletes_aborted_results_objects(
    client, stores, partitions
):
    session_id = await session_in(client, partitions, S.CLOSED)
    await client.run(O.CANCEL, session_id)
    await assert_invariants(stores, session_id)
    before = await take(stores, session_id)
    assert before.result_counts[R.CREATED] == 0 and before.result_counts[R.ABORTED] > 0

    since = datetime.now(UTC)
    await client.run(O.PURGE, session_id)
    after = await take(stores, session_id)
    await assert_invariants(stores, session_id)
    effect_purge(before, after, since, datetime.now(UTC))
