"""What crosses between a workflow and its activities: the inputs of one activity call and what
it answers (a sweep's plan, a session write), and the guard a batch commits under."""

from dataclasses import dataclass, field

from lifecycle.domain import Session
from lifecycle.statuses import Operation, SessionStatus


@dataclass
class Range:
    """A part of a session's key space, (after, until]; `until` None is the end of it."""

    after: str = ""
    until: str | None = None


@dataclass
class SweepPlan:
    """How a sweep walks its rows: the ranges it runs side by side, and how many rows it walks."""

    total: int
    ranges: list[Range]


@dataclass
class SweepState:
    """Where a sweep stands between two rounds: its plan, and each range's last key done by
    every stage."""

    step: str
    plan: SweepPlan
    cursors: list[str]
    done: list[bool]
    # A range's first stage runs one span ahead of the others: the key its last call reached,
    # and whether that call ended the range. None in a state carried from a sweep that ran the
    # stages in turn, whose first stage was never ahead.
    opened: list[str] | None = None
    opened_done: list[bool] | None = None


@dataclass
class PlanRequest:
    """Count the rows a sweep walks, and cut them into `ranges` parts of about equal size."""

    op_id: str
    session_id: str
    step: str
    rows: str  # "tasks" or "results"
    ranges: int


@dataclass
class SessionUpdate:
    """An operation's write to its session's row: its admission, or its last step."""

    op_id: str
    session_id: str
    operation: Operation
    # StopSubmission only.
    client: bool = True
    worker: bool = True
    requested_by: str = ""


@dataclass
class SessionWrite:
    """The session as an operation's write left it."""

    session: Session | None
    # The epoch this operation was admitted with: the guard of its Pause or Resume batches.
    epoch: int
    # The last step found that a later operation had moved the session elsewhere.
    superseded: bool = False


@dataclass
class Guard:
    """A batch commits only while the session is in one of `statuses` (and, for Pause and Resume,
    while its epoch is still the one they were admitted with)."""

    statuses: list[SessionStatus]
    epoch: int | None = None

    def allows(self, status: int, epoch: int) -> bool:
        return status in self.statuses and (self.epoch is None or self.epoch == epoch)


@dataclass
class StepCall:
    """One call of a batch step: it runs batches from its checkpoint and hands back progress."""

    op_id: str
    session_id: str
    step: str  # the checkpoint's name within the operation
    guard: Guard
    after: str = ""  # keys are compared bytewise (COLLATE "C"); "" is before every key
    until: str | None = None  # the last key of the range; None: the end of the session's keys
    # A step that follows another walks up to `until` whatever it takes; a step that opens the
    # range walks a call's worth of batches (settings.batches_per_call, call_seconds).
    follows: bool = False
    # Rows in these statuses are the ones changed; empty means every row.
    from_statuses: list[int] = field(default_factory=list)
    to_status: int | None = None
    # Leave results marked for manual deletion alone (Purge).
    keep_manual: bool = False
