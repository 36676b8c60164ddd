"""TasksTable: the tasks of every session."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from lifecycle.domain import TaskOptions
from stores.database import Tx
from stores.keyset import Span
from stores.queries import Condition
from stores.rows import SessionRows
from stores.task_reads import TaskReads


@dataclass(frozen=True)
class TaskRow:
    session_id: str
    task_id: str
    status: int
    priority: int
    partition_id: str


@dataclass(frozen=True)
class TaskRecord:
    """A task with what submission and the agents need of it (the sweeps need only TaskRow)."""

    session_id: str
    task_id: str
    status: int
    priority: int
    partition_id: str
    options: TaskOptions
    payload_id: str
    expected_output_ids: tuple[str, ...] = ()
    data_dependencies: tuple[str, ...] = ()
    parent_task_ids: tuple[str, ...] = ()
    initial_task_id: str = ""
    retry_of_ids: tuple[str, ...] = ()
    created_by: str = ""
    owner_pod_id: str | None = None
    output_error: str = ""

    @property
    def row(self) -> TaskRow:
        return TaskRow(self.session_id, self.task_id, self.status, self.priority, self.partition_id)


@dataclass(frozen=True)
class TaskChange:
    """A conditional change of tasks: those of `task_ids` in `from_statuses` (and owned by
    `owned_by`, if given) go to `to_status`; `stamp` is the date column set to now()."""

    to_status: int
    from_statuses: frozenset[int]
    owned_by: str | None = None
    # The new owner: a pod id, "" to clear it, None to leave it.
    owner: str | None = None
    stamp: str | None = None
    error: str | None = None


class WorkTasks(Protocol):
    """What submission and the agents do to tasks, beside the sweeps: set-based statements in
    the caller's transaction, each safe to repeat."""

    async def insert_new(
        self, tx: Tx, tasks: list[TaskRecord], unresolved: dict[str, tuple]
    ) -> set[str]:
        """Insert the tasks not there yet (ON CONFLICT DO NOTHING) and the unresolved
        dependencies of those inserted; the ids inserted."""
        ...

    async def insert_waits(self, tx: Tx, session_id: str, waits: list[tuple[str, str]]) -> None:
        """Record that each task waits on a result, as (task_id, result_id), in bulk (the seed
        tool's)."""
        ...

    async def sessions_of(self, task_ids: list[str]) -> dict[str, str]:
        """The session of each task that exists among `task_ids` (ids are unique across
        sessions, as ArmoniK's)."""
        ...

    async def get_many(
        self, tx: Tx, session_id: str, task_ids: list[str], lock: bool = False
    ) -> list[TaskRecord]:
        """The tasks that exist among `task_ids`, locked FOR UPDATE in key order if `lock`."""
        ...

    async def change(
        self, tx: Tx, session_id: str, task_ids: list[str], change: TaskChange
    ) -> list[TaskRow]:
        """Apply a conditional change; the rows it changed, as they are now."""
        ...

    async def resolve(
        self, tx: Tx, session_id: str, result_ids: list[str], ready: int
    ) -> list[TaskRow]:
        """The completed results' dependants lose those dependencies; those left with none that
        were PENDING go to `ready`. The tasks made ready."""
        ...

    async def dependants(self, tx: Tx, session_id: str, result_ids: list[str]) -> list[str]:
        """The tasks that wait on the results; their waits on them are dropped."""
        ...

    async def children(
        self, tx: Tx, session_id: str, parent_task_id: str, statuses: list[int]
    ) -> list[TaskRecord]:
        """The subtasks the task submitted, in `statuses`."""
        ...

    async def held_by(self, pod_ids: list[str]) -> list[TaskRecord]:
        """The DISPATCHED and PROCESSING tasks that these agents own, in every session. No
        index serves it (an index on the owner would make each status flip a non-HOT update):
        it scans, and is for the rare lapse of a lease only."""
        ...

    async def unresolved(self, tx: Tx, session_id: str, task_ids: list[str]) -> set[str]:
        """Those of the tasks that still wait on a result."""
        ...

    # The queue outbox: written in the transaction that changes a task's status.

    async def mark_for_queue(self, tx: Tx, session_id: str, task_ids: list[str]) -> list[int]:
        """Record that these tasks' queue entries must follow their status; the marks' ids."""
        ...

    async def claim_marks(
        self, tx: Tx, limit: int, seqs: list[int] | None = None
    ) -> list[tuple[int, str, str]]:
        """Lock up to `limit` marks no one else holds (those of `seqs` only, if given), oldest
        first, as (seq, session_id, task_id)."""
        ...

    async def lock_for_queue(self, tx: Tx, keys: list[tuple[str, str]]) -> list[TaskRow]:
        """The tasks that exist among (session_id, task_id) keys, share-locked until `tx` ends
        so that no flip of them commits between their read and their queue write."""
        ...

    async def clear_marks(self, tx: Tx, seqs: list[int]) -> None: ...

    async def marks(self, session_id: str | None = None) -> int:
        """How many marks are waiting (of the session, if given); for checks and tests."""
        ...

    async def work_rows(self, session_id: str) -> int:
        """The session's waits and queue marks; for checks of a deleted session."""
        ...

    async def dependency_faults(self, session_id: str) -> dict[str, list[str]]:
        """The session's breaches of the dependency rules (SPEC §3, invariant 7), by
        invariant name, each with the tasks or results at fault; for checks."""
        ...


class TasksTable(SessionRows, WorkTasks, TaskReads, Protocol):
    async def insert(self, tx: Tx, tasks: list[TaskRow]) -> None: ...

    async def matching(
        self,
        session_id: str,
        filters: list[list[Condition]],
        task_ids: list[str] | None,
        after: str = "",
        limit: int = 1000,
    ) -> list[TaskRecord]:
        """The session's tasks that match the filters (a TasksQuery's): of `task_ids`, in id
        order; or with None, the next `limit` after the id `after`."""
        ...

    async def rows(
        self, tx: Tx, session_id: str, span: Span, statuses: list[int] | None = None
    ) -> list[TaskRow]:
        """The tasks of the span, those in `statuses` only if given."""
        ...

    async def with_status(self, session_id: str, statuses: list[int]) -> list[TaskRow]:
        """Every task of the session in `statuses`; for checks and tests, not for sweeps."""
        ...

    def chunks(self, session_id: str) -> AsyncIterator[list[TaskRow]]:
        """Every task of the session, by chunks in key order; for checks and tests."""
        ...
