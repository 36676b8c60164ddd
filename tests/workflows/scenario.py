"""One session in in-memory stores, the real activities bound to them, and a script of faults:
what a workflow test runs a production workflow against.

The session's tasks and results have zero-padded keys (key(i)), so that key order is row
order, and statuses its status allows: SUBMITTED tasks (queued) in a RUNNING or CLOSED session,
PAUSED ones in a PAUSED session, and so on. Tests read back every attempt of every activity, in
order, and script faults on any of them (tests/workflows/faults.py).
"""

from collections.abc import Callable
from uuid import uuid4

from temporalio.worker import Interceptor

from activities.failure_interceptor import FailureInterceptor
from activities.registry import activities
from lifecycle.domain import Partition, Session, TaskOptions
from lifecycle.statuses import ResultStatus, SessionStatus, TaskStatus
from settings import Settings
from stores.objects import object_key
from stores.queue import QueuedTask
from stores.results import ResultRow
from stores.tasks import TaskRow
from tests.workflows.faults import Call, Gate, Script, is_sweep
from tests.workflows.memory import NOW, MemoryStores

DEFAULT_PARTITION = "default"

TASK_STATUS_IN = {
    SessionStatus.RUNNING: TaskStatus.SUBMITTED,
    SessionStatus.PAUSED: TaskStatus.PAUSED,
    SessionStatus.CLOSED: TaskStatus.SUBMITTED,
    SessionStatus.CANCELLED: TaskStatus.CANCELLED,
    SessionStatus.PURGED: TaskStatus.COMPLETED,
    SessionStatus.DELETED: TaskStatus.SUBMITTED,
}


def key(i: int) -> str:
    """The i-th row's key: zero-padded, so string order is row order."""
    return f"{i:06d}"


def options() -> TaskOptions:
    return TaskOptions(max_duration=60.0, max_retries=2, priority=1)


class Scenario:
    def __init__(
        self,
        *,
        status: SessionStatus | None = SessionStatus.RUNNING,
        epoch: int = 0,
        tasks: int = 0,
        results: int = 0,
        batch_size: int = 2,
        batches_per_call: int = 2,
        partitions: tuple[str, ...] = (DEFAULT_PARTITION,),
    ) -> None:
        self.stores = MemoryStores()
        self.script = Script()
        self.session_id = f"s-{uuid4().hex[:12]}"
        self.settings = Settings(
            task_batch_size=batch_size,
            result_batch_size=batch_size,
            object_batch_size=batch_size,
            batches_per_call=batches_per_call,
            default_partition=DEFAULT_PARTITION,
            temporal_search_attributes=False,
        )
        tables = self.stores.db.tables
        for partition_id in partitions:
            tables.partitions[partition_id] = Partition(partition_id)
        if status is None:  # no such session
            return
        tables.sessions[self.session_id] = Session(
            session_id=self.session_id,
            status=status,
            client_submission=True,
            worker_submission=True,
            partition_ids=[DEFAULT_PARTITION],
            options=options(),
            created_at=NOW,
            epoch=epoch,
        )
        task_status = TASK_STATUS_IN[status]
        for i in range(1, tasks + 1):
            row = TaskRow(self.session_id, key(i), task_status, 1, DEFAULT_PARTITION)
            tables.tasks[self.session_id][row.task_id] = row
            if task_status == TaskStatus.SUBMITTED:
                self.stores.queue.queues[DEFAULT_PARTITION][QueuedTask.of(row).member] = i
        for i in range(1, results + 1):
            opaque_id = object_key(self.session_id, key(i))
            tables.results[self.session_id][key(i)] = ResultRow(
                self.session_id, key(i), f"result-{i}", ResultStatus.COMPLETED, opaque_id=opaque_id
            )
            self.stores.objects.objects.add(opaque_id)

    # --- the session, live --------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The stored session itself: a test changes it to play another operation's effect."""
        return self.stores.db.tables.sessions.get(self.session_id)

    @session.setter
    def session(self, session: Session | None) -> None:
        if session is None:
            self.stores.db.tables.sessions.pop(self.session_id, None)
        else:
            self.stores.db.tables.sessions[self.session_id] = session

    def task_statuses(self) -> dict[str, int]:
        return {k: r.status for k, r in self.stores.db.tables.tasks[self.session_id].items()}

    # --- the worker's part ---------------------------------------------------------------------

    def activities(self) -> list[Callable]:
        return activities(self.stores, self.settings)

    def interceptors(self) -> list[Interceptor]:
        return [FailureInterceptor(), self.script]

    # --- scripting (see faults.Script) ---------------------------------------------------------

    def fail(self, activity_name: str, *, call: int = 1, times: int) -> None:
        self.script.fail(activity_name, call=call, times=times)

    def gate(self, activity_name: str, *, call: int = 1) -> Gate:
        return self.script.gate(activity_name, call=call)

    def before(self, activity_name: str, call: int, change: Callable[[], None]) -> None:
        self.script.before(activity_name, call, change)

    # --- reading back --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        return self.script.calls

    def names(self) -> list[str]:
        return [c.activity for c in self.calls]

    def of(self, *activity_names: str) -> list[Call]:
        return [c for c in self.calls if c.activity in activity_names]

    def trace(self) -> list[tuple]:
        """Every attempt in order: (activity, after, until) for a sweep, (activity,) else."""
        return [
            (c.activity, c.after, c.until) if is_sweep(c) else (c.activity,) for c in self.calls
        ]

    def sweeps(self) -> list[Call]:
        return [c for c in self.calls if is_sweep(c)]

    def spans(self, activity_name: str) -> list[tuple[str, str | None]]:
        """The (after, until) of each attempt of one sweep activity, in order: a stage's calls
        follow one another, whatever the other stages beside them do."""
        return [(c.after, c.until) for c in self.of(activity_name)]

    def outline(self) -> list[str]:
        """The activities in order, each run of sweep calls as one "sweep": the operation's
        arrows outside its sweeps, and where the sweeps fall among them."""
        names: list[str] = []
        for c in self.calls:
            name = "sweep" if is_sweep(c) else c.activity
            if not (name == "sweep" and names and names[-1] == "sweep"):
                names.append(name)
        return names
