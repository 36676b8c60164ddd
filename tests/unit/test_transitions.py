"""The transition table against the lifecycle of docs/lifecycle.md."""

import pytest

from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND
from lifecycle.statuses import (
    FINAL_TASK_STATUSES,
    Operation,
    ResultStatus,
    SessionStatus,
    TaskStatus,
)
from lifecycle.transitions import (
    RESULT_FLIPS,
    TASK_FLIPS,
    TRANSITIONS,
    guard,
    refusal,
    superseded,
)

S = SessionStatus
ACCEPTED_FROM = {
    Operation.CANCEL: {S.RUNNING, S.PAUSED, S.CLOSED},
    Operation.PAUSE: {S.RUNNING},
    Operation.RESUME: {S.PAUSED, S.RUNNING},
    Operation.CLOSE: {S.RUNNING, S.PAUSED},
    Operation.PURGE: {S.CLOSED, S.CANCELLED},
    Operation.DELETE: {S.RUNNING, S.CANCELLED, S.PAUSED, S.CLOSED, S.PURGED},
    Operation.STOP_SUBMISSION: {S.RUNNING, S.CANCELLED, S.PAUSED, S.CLOSED, S.PURGED},
}
LIVE = [S.RUNNING, S.CANCELLED, S.PAUSED, S.CLOSED, S.PURGED]


@pytest.mark.parametrize("operation", list(ACCEPTED_FROM))
@pytest.mark.parametrize("status", LIVE)
def test_each_operation_is_accepted_or_refused_as_the_spec_says(operation, status):
    answer = refusal(operation, "s-1", status)
    if status in ACCEPTED_FROM[operation]:
        assert answer is None
    else:
        assert answer is not None and answer[0] == FAILED_PRECONDITION


@pytest.mark.parametrize("operation", list(ACCEPTED_FROM))
@pytest.mark.parametrize("status", [None, S.DELETED])
def test_a_missing_or_deleted_session_is_not_found(operation, status):
    kind, message = refusal(operation, "s-1", status)
    assert kind == NOT_FOUND
    assert "s-1" in message


def test_statuses_keep_armonik_numeric_values():
    assert [int(s) for s in S] == [0, 1, 2, 3, 4, 5, 6]
    assert TaskStatus.PAUSED == 13 and TaskStatus.PENDING == 12 and TaskStatus.RETRIED == 11
    assert ResultStatus.NOTFOUND == 127 and ResultStatus.DELETED == 4


def test_cancel_flips_every_unfinished_task_and_no_final_one():
    flip = TASK_FLIPS[Operation.CANCEL]
    assert flip.to_status == TaskStatus.CANCELLED
    assert flip.from_statuses.isdisjoint(FINAL_TASK_STATUSES)
    assert flip.from_statuses | FINAL_TASK_STATUSES == set(TaskStatus)


def test_pause_and_resume_move_tasks_in_opposite_directions():
    pause, resume = TASK_FLIPS[Operation.PAUSE], TASK_FLIPS[Operation.RESUME]
    assert pause.from_statuses == {TaskStatus.SUBMITTED, TaskStatus.DISPATCHED}
    assert pause.to_status == TaskStatus.PAUSED
    assert resume.from_statuses == {TaskStatus.PAUSED}
    assert resume.to_status == TaskStatus.SUBMITTED
    # Only the latest of them may move tasks: each admission takes them over.
    assert TRANSITIONS[Operation.PAUSE].takes_over_tasks
    assert TRANSITIONS[Operation.RESUME].takes_over_tasks


def test_result_flips():
    assert RESULT_FLIPS[Operation.CANCEL].from_statuses == {ResultStatus.CREATED}
    assert RESULT_FLIPS[Operation.CANCEL].to_status == ResultStatus.ABORTED
    purge = RESULT_FLIPS[Operation.PURGE]
    assert purge.from_statuses == {
        ResultStatus.COMPLETED,
        ResultStatus.CREATED,
        ResultStatus.ABORTED,
    }
    assert purge.to_status == ResultStatus.DELETED


def test_purge_is_marked_purged_only_by_its_last_step():
    purge = TRANSITIONS[Operation.PURGE]
    assert purge.admits_to is None
    assert purge.finishes_to == S.PURGED
    assert purge.finish_stamps == "purged_at"


@pytest.mark.parametrize(
    ("operation", "status", "stamp"),
    [
        (Operation.CANCEL, S.CANCELLED, "cancelled_at"),
        (Operation.CLOSE, S.CLOSED, "closed_at"),
        (Operation.DELETE, S.DELETED, "deleted_at"),
        (Operation.PAUSE, S.PAUSED, None),
        (Operation.RESUME, S.RUNNING, None),
    ],
)
def test_admission_writes_the_status_and_its_date(operation, status, stamp):
    transition = TRANSITIONS[operation]
    assert transition.admits_to == status
    assert transition.stamps == stamp


def test_submission_stops_when_a_session_leaves_running_for_good():
    for operation in (Operation.CANCEL, Operation.CLOSE, Operation.DELETE):
        assert TRANSITIONS[operation].stops_submission
    for operation in (Operation.PAUSE, Operation.RESUME):
        assert not TRANSITIONS[operation].stops_submission


def test_each_sweep_runs_only_while_its_operation_still_holds():
    """A later operation that moves the session out of these statuses supersedes the sweep."""
    assert TRANSITIONS[Operation.PAUSE].sweeps_while == {S.PAUSED, S.CLOSED, S.PURGED}
    assert TRANSITIONS[Operation.RESUME].sweeps_while == {S.RUNNING, S.CLOSED, S.PURGED}
    assert TRANSITIONS[Operation.CANCEL].sweeps_while == {S.CANCELLED, S.PURGED}
    assert TRANSITIONS[Operation.PURGE].sweeps_while == {S.CLOSED, S.CANCELLED}
    assert TRANSITIONS[Operation.DELETE].sweeps_while == {S.DELETED}


def _moves(later: Operation, status: SessionStatus) -> list[SessionStatus]:
    """The statuses `later`, admitted on a session in `status`, leaves it in along the way."""
    transition = TRANSITIONS[later]
    admitted = transition.admits_to or status
    return [admitted] + ([transition.finishes_to] if transition.finishes_to else [])


@pytest.mark.parametrize("running", [op for op in TRANSITIONS if TRANSITIONS[op].sweeps])
@pytest.mark.parametrize("later", list(TRANSITIONS))
def test_a_sweep_is_stopped_only_by_an_operation_that_sweeps_its_rows_again(running, later):
    """Stopping a sweep between its two arrows over a range (tasks flipped, not yet queued) is
    safe only if the operation that stops it walks the same rows again and puts each where its
    status says. Any other operation admitted meanwhile must let the sweep run on."""
    sweep = TRANSITIONS[running]
    for status in sweep.sweeps_while & TRANSITIONS[later].accepts:
        stops = any(s not in sweep.sweeps_while for s in _moves(later, status)) or (
            sweep.takes_over_tasks and TRANSITIONS[later].takes_over_tasks
        )
        if stops:
            assert sweep.sweeps <= TRANSITIONS[later].sweeps, (
                f"{later.value} from {status.name} stops a {running.value} sweep"
                f" but does not sweep its {sorted(sweep.sweeps)} again"
            )


@pytest.mark.parametrize("operation", [op for op in TRANSITIONS if TRANSITIONS[op].sweeps])
def test_an_operation_sweeps_in_the_status_its_admission_leaves(operation):
    transition = TRANSITIONS[operation]
    for status in transition.accepts:
        assert (transition.admits_to or status) in transition.sweeps_while


def test_the_guard_carries_the_epoch_only_for_operations_that_take_tasks_over():
    assert guard(Operation.PAUSE, 7).epoch == 7
    assert guard(Operation.RESUME, 7).allows(S.RUNNING, 7)
    assert not guard(Operation.RESUME, 7).allows(S.RUNNING, 8)
    assert guard(Operation.CANCEL, 7).epoch is None
    assert guard(Operation.CANCEL, 7).allows(S.PURGED, 99)
    assert not guard(Operation.PURGE, 0).allows(S.DELETED, 0)


@pytest.mark.parametrize(
    ("operation", "epoch", "finished", "current", "expected"),
    [
        # A Pause (admitted with epoch 2) is overtaken by a Resume (epoch 3)...
        (Operation.PAUSE, 2, False, (S.RUNNING, 3), True),
        # ...but not by a Close or a Purge, which touch no task.
        (Operation.PAUSE, 2, False, (S.CLOSED, 2), False),
        (Operation.PAUSE, 2, False, (S.PURGED, 2), False),
        (Operation.RESUME, 3, False, (S.PAUSED, 4), True),
        (Operation.RESUME, 3, False, (S.CANCELLED, 3), True),
        (Operation.RESUME, 3, False, None, True),
        # A Purge whose last step committed is complete, PURGED as it left the session.
        (Operation.PURGE, 0, True, (S.PURGED, 0), False),
        (Operation.PURGE, 0, False, (S.DELETED, 0), True),
        # Nothing overtakes what has no sweep, nor a Delete.
        (Operation.CLOSE, 0, False, (S.CANCELLED, 0), False),
        (Operation.STOP_SUBMISSION, 0, False, None, False),
        (Operation.DELETE, 0, False, None, False),
    ],
)
def test_superseded(operation, epoch, finished, current, expected):
    assert superseded(operation, epoch, finished, current) is expected
