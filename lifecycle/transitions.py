"""The one transition table: what each operation accepts, what it writes, and what its batches
may touch. Workflows, activities and tests read it; no status rule lives anywhere else."""

from dataclasses import dataclass

from lifecycle.calls import Guard
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND
from lifecycle.statuses import (
    NON_FINAL_TASK_STATUSES,
    Operation,
    ResultStatus,
    SessionStatus,
    TaskStatus,
)

S = SessionStatus

# Every status a stored session can have. DELETED is a tombstone: the row is on its way out and
# every operation treats it as missing.
LIVE = frozenset({S.RUNNING, S.CANCELLED, S.PAUSED, S.CLOSED, S.PURGED})

# The rows a sweep walks. The queue goes with the tasks: every sweep of tasks also puts each task
# it walks where its status says (in its queue if SUBMITTED, out of it otherwise).
TASKS, RESULTS = "tasks", "results"


@dataclass(frozen=True)
class SessionTransition:
    # Admitted from these statuses; any other live status is refused with FAILED_PRECONDITION.
    accepts: frozenset[SessionStatus]
    # Written at admission, in the same transaction as the check, so that the first request to be
    # admitted orders every later one. None leaves the status as it is.
    admits_to: SessionStatus | None = None
    # Date column written at admission.
    stamps: str | None = None
    stops_submission: bool = False
    # Pause and Resume move the same tasks in opposite directions: each admission takes the tasks
    # over (bumps the session's epoch) and a sweep of an older one stops at its next batch.
    takes_over_tasks: bool = False
    # The rows the operation's sweeps walk after its admission.
    sweeps: frozenset[str] = frozenset()
    # A batch of this operation commits only while the session is in one of these statuses; a
    # later operation that moves the session elsewhere supersedes the rest of the sweep. A sweep
    # may be stopped only by an operation that sweeps the same rows again, or it could leave a
    # range half done (flipped but not queued): a Pause or a Resume therefore sweeps on through a
    # Close and a Purge, which touch no task.
    sweeps_while: frozenset[SessionStatus] = frozenset()
    # Written by the operation's last step (Purge marks PURGED only once the data is gone).
    finishes_to: SessionStatus | None = None
    finish_stamps: str | None = None


TRANSITIONS: dict[Operation, SessionTransition] = {
    # Create inserts a new row: there is no status to accept from.
    Operation.CREATE: SessionTransition(accepts=frozenset(), admits_to=S.RUNNING),
    # Cancel is admitted first (the diagram draws it last) so that submission stops and no other
    # operation can slip in behind the sweep; the sweep then runs under CANCELLED.
    Operation.CANCEL: SessionTransition(
        accepts=frozenset({S.RUNNING, S.PAUSED, S.CLOSED}),
        admits_to=S.CANCELLED,
        stamps="cancelled_at",
        stops_submission=True,
        sweeps=frozenset({TASKS, RESULTS}),
        sweeps_while=frozenset({S.CANCELLED, S.PURGED}),
    ),
    Operation.PAUSE: SessionTransition(
        accepts=frozenset({S.RUNNING}),
        admits_to=S.PAUSED,
        takes_over_tasks=True,
        sweeps=frozenset({TASKS}),
        sweeps_while=frozenset({S.PAUSED, S.CLOSED, S.PURGED}),
    ),
    Operation.RESUME: SessionTransition(
        accepts=frozenset({S.PAUSED, S.RUNNING}),
        admits_to=S.RUNNING,
        takes_over_tasks=True,
        sweeps=frozenset({TASKS}),
        sweeps_while=frozenset({S.RUNNING, S.CLOSED, S.PURGED}),
    ),
    Operation.CLOSE: SessionTransition(
        accepts=frozenset({S.RUNNING, S.PAUSED}),
        admits_to=S.CLOSED,
        stamps="closed_at",
        stops_submission=True,
    ),
    Operation.PURGE: SessionTransition(
        accepts=frozenset({S.CLOSED, S.CANCELLED}),
        sweeps=frozenset({RESULTS}),
        sweeps_while=frozenset({S.CLOSED, S.CANCELLED}),
        finishes_to=S.PURGED,
        finish_stamps="purged_at",
    ),
    Operation.DELETE: SessionTransition(
        accepts=LIVE,
        admits_to=S.DELETED,
        stamps="deleted_at",
        stops_submission=True,
        sweeps=frozenset({TASKS, RESULTS}),
        sweeps_while=frozenset({S.DELETED}),
    ),
    # The flags to clear come with the request.
    Operation.STOP_SUBMISSION: SessionTransition(accepts=LIVE),
}


@dataclass(frozen=True)
class Flip:
    """A bulk status change of the rows of one session."""

    from_statuses: frozenset[int]
    to_status: int


TASK_FLIPS: dict[Operation, Flip] = {
    Operation.PAUSE: Flip(
        frozenset({TaskStatus.SUBMITTED, TaskStatus.DISPATCHED}), TaskStatus.PAUSED
    ),
    Operation.RESUME: Flip(frozenset({TaskStatus.PAUSED}), TaskStatus.SUBMITTED),
    Operation.CANCEL: Flip(NON_FINAL_TASK_STATUSES, TaskStatus.CANCELLED),
}

RESULT_FLIPS: dict[Operation, Flip] = {
    Operation.CANCEL: Flip(frozenset({ResultStatus.CREATED}), ResultStatus.ABORTED),
    # Results marked for manual deletion are left alone by a purge.
    Operation.PURGE: Flip(
        frozenset({ResultStatus.COMPLETED, ResultStatus.CREATED, ResultStatus.ABORTED}),
        ResultStatus.DELETED,
    ),
}

# The tasks that belong in their partition's queue, whatever the session's status.
QUEUED_TASK_STATUS = TaskStatus.SUBMITTED

# Task statuses a session never holds, once the operations on it have ended, by its status.
FORBIDDEN_TASK_STATUSES: dict[SessionStatus, frozenset[TaskStatus]] = {
    S.PAUSED: frozenset({TaskStatus.SUBMITTED, TaskStatus.DISPATCHED}),
    S.RUNNING: frozenset({TaskStatus.PAUSED}),
    S.CANCELLED: frozenset(NON_FINAL_TASK_STATUSES),
}


def refusal(
    operation: Operation, session_id: str, status: SessionStatus | None
) -> tuple[str, str] | None:
    """Why `operation` may not be admitted on a session in `status` (None: missing), as
    (refusal kind, message), or None when it may."""
    if status is None or status not in LIVE:
        return NOT_FOUND, f"session {session_id} not found"
    if status not in TRANSITIONS[operation].accepts:
        return (
            FAILED_PRECONDITION,
            f"cannot {operation.value} session {session_id}: it is {status.name}",
        )
    return None


def guard(operation: Operation, epoch: int) -> Guard:
    """What a batch of `operation`, admitted with `epoch`, requires of its session to commit."""
    transition = TRANSITIONS[operation]
    return Guard(
        statuses=sorted(transition.sweeps_while),
        epoch=epoch if transition.takes_over_tasks else None,
    )


def superseded(
    operation: Operation,
    admitted_epoch: int,
    finished: bool,
    current: tuple[SessionStatus, int] | None,
) -> bool:
    """Whether a later admission has taken the session away from an admitted operation, whose
    sweep then stops at its next batch. `current` is the session's (status, epoch), None once it
    is gone. An operation with nothing to sweep, or whose last step committed, is complete once
    admitted: nothing can supersede it."""
    transition = TRANSITIONS[operation]
    if not transition.sweeps or finished or operation == Operation.DELETE:
        return False
    return current is None or not guard(operation, admitted_epoch).allows(*current)
