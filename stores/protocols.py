"""One interface per store of the seed diagrams, as ArmoniK.Core has ISessionTable, ITaskTable,
IResultTable, IPartitionTable, IPushQueueStorage and IObjectStorage; and the two stores that make
each arrow safe to retry, the database's transactions and the operations log.

Activities and the batch runner see the stores through these only. stores/ holds the
implementations on PostgreSQL, Redis and S3; the workflow tests run the same activities over
in-memory ones (tests/workflows/memory.py).

A `Tx` is a transaction a store method runs in: an asyncpg connection in a transaction for
PostgreSQL, an opaque token in memory. Methods that take one change (or lock) rows inside it;
methods that do not run on their own.
"""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from lifecycle.models import Guard, Session, StepProgress, TaskOptions
from lifecycle.statuses import Operation
from lifecycle.transitions import SessionTransition
from stores.keyset import Acked, Span
from stores.operations_log import AdmittedOperation
from stores.queue import QueuedTask
from stores.tasks_table import TaskRow

Tx = Any


class Database(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction: everything done in it commits together, or not at all."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Tx]:
        """A connection for statements that need no transaction of their own."""
        ...


class SessionsTable(Protocol):
    async def insert(
        self, tx: Tx, session_id: str, partition_ids: list[str], options: TaskOptions
    ) -> Session | None:
        """Insert a new RUNNING session; None if its id is taken."""
        ...

    async def get(self, session_id: str, tx: Tx | None = None) -> Session | None: ...

    async def lock(self, tx: Tx, session_id: str) -> Session | None:
        """The session, locked against every admission and batch until `tx` ends."""
        ...

    async def hold(self, tx: Tx, session_id: str, guard: Guard) -> bool:
        """Whether a batch under `guard` may commit; holds off admissions until `tx` ends."""
        ...

    async def admit(
        self,
        tx: Tx,
        session_id: str,
        transition: SessionTransition,
        *,
        stop_client: bool = False,
        stop_worker: bool = False,
    ) -> Session: ...

    async def finish(
        self, tx: Tx, session_id: str, transition: SessionTransition
    ) -> Session | None:
        """Write the transition's last step; None if the session is no longer where it ran."""
        ...

    async def delete(self, tx: Tx, session_id: str) -> None: ...


class SessionRows(Protocol):
    """What the TasksTable and the ResultsTable share: rows of one session, walked by spans of
    keys in order."""

    async def span(
        self, tx: Tx, session_id: str, after: str, until: str | None, limit: int
    ) -> Span: ...

    async def flip(
        self, tx: Tx, session_id: str, span: Span, from_statuses: list[int], to_status: int
    ) -> int:
        """Set the span's rows in `from_statuses` to `to_status`; how many changed."""
        ...

    async def delete_span(self, tx: Tx, session_id: str, span: Span) -> int: ...


class TasksTable(SessionRows, Protocol):
    async def rows(
        self, tx: Tx, session_id: str, span: Span, statuses: list[int] | None = None
    ) -> list[TaskRow]: ...


class ResultsTable(SessionRows, Protocol):
    async def objects_of_span(
        self,
        tx: Tx,
        session_id: str,
        span: Span,
        statuses: list[int] | None = None,
        skip_manual: bool = False,
    ) -> list[tuple[str, str | None]]:
        """Every result of the span in key order, with its object key if its object is one to
        delete (in `statuses`, if given), else None."""
        ...

    async def mark_deleted(
        self, tx: Tx, session_id: str, span: Span, from_statuses: list[int], to_status: int
    ) -> int:
        """Flip the span's purgeable results and forget their object keys."""
        ...


class PartitionsTable(Protocol):
    async def missing(self, partition_ids: list[str]) -> list[str]: ...


class Queue(Protocol):
    async def push(self, tasks: list[QueuedTask]) -> int:
        """Queue the tasks not queued yet (a queued one keeps its place); how many were added."""
        ...

    async def remove(self, tasks: list[QueuedTask]) -> int: ...


class ObjectStorage(Protocol):
    async def delete(self, keys: list[str]) -> None:
        """Delete the objects; a key with no object is no error."""
        ...

    async def delete_call(self, keys: list[str], proceed: Callable[[], bool] | None = None) -> bool:
        """One delete call of at most 1,000 keys, within the process's window of calls, unless
        `proceed()` says not to once its turn comes; whether it was made."""
        ...


class OperationsLog(Protocol):
    async def find(self, tx: Tx, op_id: str) -> AdmittedOperation | None: ...

    async def record(
        self,
        tx: Tx,
        op_id: str,
        session_id: str,
        operation: Operation,
        from_status: int | None,
        to_status: int | None,
        epoch: int,
        requested_by: str = "",
    ) -> None: ...

    async def finish(self, tx: Tx, op_id: str) -> None: ...

    async def forget_session(self, tx: Tx, session_id: str) -> None: ...

    async def count_batch_start(
        self, op_id: str, step: str, session_id: str, batches: int = 1, conn: Tx | None = None
    ) -> None:
        """Count batches (or calls) before they begin, outside their transaction."""
        ...

    async def lock_step(self, conn: Tx, op_id: str, step: str) -> None:
        """Hold the step for this connection until unlock_step or the connection's end: the
        attempts of a step that commits per call take turns this way."""
        ...

    async def unlock_step(self, conn: Tx, op_id: str, step: str) -> None: ...

    async def acknowledged(self, tx: Tx, op_id: str, step: str) -> Acked:
        """The spans beyond the step's cursor that its calls acknowledged."""
        ...

    async def acknowledge(
        self,
        tx: Tx,
        op_id: str,
        step: str,
        cursor: str,
        acked: Acked,
        scanned: int,
        changed: int,
        done: bool,
        calls: int = 1,
    ) -> None: ...

    async def record_total(self, op_id: str, step: str, session_id: str, total: int) -> None: ...

    async def checkpoint(self, tx: Tx, op_id: str, step: str) -> StepProgress:
        """The step's checkpoint, locked until `tx` ends."""
        ...

    async def advance(
        self,
        tx: Tx,
        op_id: str,
        step: str,
        cursor: str,
        scanned: int,
        changed: int,
        done: bool,
    ) -> None: ...


class StoreSet(Protocol):
    """Every store an activity may need, as stores/connect.py's Stores holds them."""

    db: Database
    partitions: PartitionsTable
    sessions: SessionsTable
    tasks: TasksTable
    results: ResultsTable
    operations: OperationsLog
    queue: Queue
    objects: ObjectStorage
