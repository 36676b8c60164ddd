"""How far an operation got: each step's figures as its checkpoint and its calls report them,
the activities retrying, the ranges failing, and the whole, which the workflow's `progress`
query answers and its current details show."""

from dataclasses import dataclass, field

from lifecycle.statuses import Operation

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
