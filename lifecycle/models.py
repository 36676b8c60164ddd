"""The data that crosses Temporal and the stores: plain dataclasses, so the default converter
carries them and the workflow sandbox can import them."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lifecycle.statuses import Operation, SessionStatus


@dataclass
class TaskOptions:
    """A session's default task options, as ArmoniK's TaskOptions carries them."""

    max_duration: float | None = None  # seconds
    max_retries: int = 1
    priority: int = 1
    partition_id: str = ""
    application_name: str = ""
    application_version: str = ""
    application_namespace: str = ""
    application_service: str = ""
    engine_type: str = ""
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Session:
    session_id: str
    status: SessionStatus
    client_submission: bool
    worker_submission: bool
    partition_ids: list[str]
    options: TaskOptions
    created_at: datetime
    cancelled_at: datetime | None = None
    closed_at: datetime | None = None
    purged_at: datetime | None = None
    deleted_at: datetime | None = None
    # Bumped by each admitted Pause or Resume; see lifecycle.transitions.
    epoch: int = 0

    @property
    def duration(self) -> timedelta | None:
        return self.closed_at - self.created_at if self.closed_at else None

    def to_json(self) -> dict[str, Any]:
        def date(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        duration = self.duration
        return {
            "session_id": self.session_id,
            "status": SessionStatus(self.status).name,
            "client_submission": self.client_submission,
            "worker_submission": self.worker_submission,
            "partition_ids": list(self.partition_ids),
            "options": {**self.options.__dict__, "options": dict(self.options.options)},
            "created_at": date(self.created_at),
            "cancelled_at": date(self.cancelled_at),
            "closed_at": date(self.closed_at),
            "purged_at": date(self.purged_at),
            "deleted_at": date(self.deleted_at),
            "duration": duration.total_seconds() if duration is not None else None,
        }


@dataclass
class Partition:
    partition_id: str
    parent_partition_ids: list[str] = field(default_factory=list)
    pod_reserved: int = 1
    pod_max: int = 100
    preemption_percentage: int = 50
    priority: int = 1
    pod_configuration: dict[str, str] = field(default_factory=dict)


# --- Workflow inputs and outputs ---------------------------------------------------------------


# How long a worker may go silent before its activity is retried elsewhere (settings.py derives
# every store timeout from it). It travels with each request, so that the workflow that
# schedules the activities and the worker that runs them agree on it.
DEFAULT_HEARTBEAT_TIMEOUT = 10.0
# An operation continues as new past this many history events (settings.py).
DEFAULT_HISTORY_LIMIT = 400
# A bulk step that retries this long without committing shows as stalled (settings.py).
DEFAULT_STALL_SECONDS = 60.0


@dataclass
class CreateRequest:
    session_id: str
    partition_ids: list[str]
    options: TaskOptions
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # The user who asked (api/auth.py), for the operations log.
    requested_by: str = ""


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
    """Where a sweep stands between two rounds: its plan, and each range's last key done."""

    step: str
    plan: SweepPlan
    cursors: list[str]
    done: list[bool]


@dataclass
class Carried:
    """What a workflow hands to its next run when it continues as new."""

    op_id: str
    admitted: "SessionWrite"
    steps_done: list[str]
    sweep: SweepState | None
    progress: "Progress"


@dataclass
class OperationRequest:
    session_id: str
    # StopSubmission only: which flags to clear.
    client: bool = True
    worker: bool = True
    # Continue as new once the history grows past this many events.
    history_limit: int = DEFAULT_HISTORY_LIMIT
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # Ranges of a session's rows that each bulk step runs side by side (settings.sweep_ranges).
    sweep_ranges: int = 1
    # The user who asked (api/auth.py), for the operations log.
    requested_by: str = ""
    # A bulk step that retries this long without committing shows as stalled (settings.py).
    stall_seconds: float = DEFAULT_STALL_SECONDS
    carried: Carried | None = None


@dataclass
class Refusal:
    kind: str  # lifecycle.refusals: the gRPC status the caller gets
    message: str


@dataclass
class OperationOutcome:
    # The session as the operation leaves it; None when the operation was refused.
    session: Session | None
    # Set when a later operation took the session elsewhere before this one's sweep ended: the
    # session is then as that later operation left it.
    superseded: bool = False
    progress: "Progress | None" = None
    # A refused operation changed nothing, and its workflow completes with the refusal.
    refusal: Refusal | None = None


# A step that runs in several ranges keeps one checkpoint per range, named after both.
RANGE_MARK = "#"


def range_step(step: str, index: int, ranges: int) -> str:
    """The name of a range's own checkpoint and figures: the step's, when it runs in one range
    ("tasks"), else the step's and the range's number ("tasks#2")."""
    return f"{step}{RANGE_MARK}{index + 1}" if ranges > 1 else step


def step_of(name: str) -> str:
    """The step a range's checkpoint belongs to ("tasks#2": "tasks")."""
    return name.split(RANGE_MARK, 1)[0]


@dataclass
class StepProgress:
    """How far one batch step of an operation got: its checkpoint as the operations log keeps
    it, what each call of the step answers, and a line of the operation's progress."""

    step: str
    cursor: str = ""  # the last key done; keys compare bytewise, "" is before every key
    scanned: int = 0
    total: int | None = None  # the rows the step walks, once counted
    changed: int = 0
    done: bool = False
    # Over every call of the step: started minus committed is the work a crash redid.
    batches_started: int = 0
    batches_committed: int = 0
    # The call found that a later operation had taken the session elsewhere.
    superseded: bool = False
    # Kept by the workflow for its progress: when the step's walk began (workflow time, epoch
    # seconds), rows scanned a second since then, and the seconds left at that rate.
    started_at: float | None = None
    rate: float | None = None
    eta_seconds: float | None = None


@dataclass
class Retrying:
    """An activity of the operation that failed and waits for its next attempt (a store outage
    shows this way, with its cause, not as a failure)."""

    activity: str
    attempt: int
    last_failure: str


@dataclass
class Failing:
    """A range of a bulk step whose calls fail, as the workflow saw them: since when nothing
    it knows of committed (workflow time, epoch seconds), how many calls failed since, and the
    last failure. Past the operation's stall_seconds it is stalled."""

    step: str
    activity: str
    last_failure: str
    since: float
    calls: int = 1
    stalled: bool = False


@dataclass
class Progress:
    """What the `progress` query answers, and the workflow's current details show."""

    operation: Operation
    session_id: str
    state: str = "starting"  # starting, running, done, superseded, refused
    step: str = ""
    steps: list[StepProgress] = field(default_factory=list)
    # Each range's own figures, when a step runs in several (named "step#n"); `steps` sums them.
    ranges: list[StepProgress] = field(default_factory=list)
    # Filled by the client from the server's description of the execution, not by the workflow.
    retrying: list[Retrying] = field(default_factory=list)
    # The ranges whose calls failed, each until one commits again (kept by the workflow).
    failing: list[Failing] = field(default_factory=list)

    @property
    def stalled(self) -> bool:
        return any(f.stalled for f in self.failing)


# --- Activity inputs and outputs ---------------------------------------------------------------


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
class SessionInsert:
    op_id: str
    request: CreateRequest


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
class Sweep:
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
