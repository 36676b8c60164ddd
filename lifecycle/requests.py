"""The inputs and outputs of the operations' workflows: what a starter asks, what a run hands
to the next when it continues as new, and the outcome the caller gets (and the Create's insert,
which carries its request to the activity)."""

from dataclasses import dataclass

from lifecycle.calls import SessionWrite, SweepState
from lifecycle.domain import Session, TaskOptions
from lifecycle.progress import Progress

# How long a worker may go silent before its activity is retried elsewhere (settings/ derives
# every store timeout from it). It travels with each request, so that the workflow that
# schedules the activities and the worker that runs them agree on it.
DEFAULT_HEARTBEAT_TIMEOUT = 10.0
# An operation continues as new past this many history events (settings/).
DEFAULT_HISTORY_LIMIT = 400
# Ranges of a session's rows that each bulk step runs side by side (settings/).
DEFAULT_SWEEP_RANGES = 4
# A bulk step that retries this long without committing shows as stalled (settings/).
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
class Carried:
    """What a workflow hands to its next run when it continues as new."""

    op_id: str
    admitted: SessionWrite
    steps_done: list[str]
    sweep: SweepState | None
    progress: Progress


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
    sweep_ranges: int = DEFAULT_SWEEP_RANGES
    # The user who asked (api/auth.py), for the operations log.
    requested_by: str = ""
    # A bulk step that retries this long without committing shows as stalled (settings/).
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


@dataclass
class SessionInsert:
    op_id: str
    request: CreateRequest
