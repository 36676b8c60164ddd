"""In-memory stores behind the interfaces of stores/protocols.py, so that the workflow tests run
the real activities, the real admission and the real batch runner, with no server at all.

One lock stands for PostgreSQL's row locks: a transaction holds it from its start to its end, so
transactions run one at a time, and one that fails leaves every table as it found it. The queue
and the object storage are not transactional, as Redis and S3 are not.
"""

import asyncio
import copy
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lifecycle.calls import Guard
from lifecycle.domain import Partition, Session, TaskOptions
from lifecycle.progress import StepProgress
from lifecycle.statuses import Operation, SessionStatus
from lifecycle.transitions import SessionTransition
from stores.database import Tx
from stores.keyset import Acked, Span
from stores.operations import AdmittedOperation
from stores.queue import QueuedTask
from stores.results import ResultRow
from stores.tasks import TaskRow

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Tables:
    sessions: dict[str, Session] = field(default_factory=dict)
    tasks: dict[str, dict[str, TaskRow]] = field(default_factory=lambda: defaultdict(dict))
    results: dict[str, dict[str, ResultRow]] = field(default_factory=lambda: defaultdict(dict))
    partitions: dict[str, Partition] = field(default_factory=dict)
    operations: dict[str, AdmittedOperation] = field(default_factory=dict)
    steps: dict[tuple[str, str], StepProgress] = field(default_factory=dict)
    acked: dict[tuple[str, str], Acked] = field(default_factory=dict)
    seq: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class MemoryDatabase:
    def __init__(self) -> None:
        self.tables = Tables()
        self._lock = asyncio.Lock()
        # The steps' locks (OperationsLog.lock_step), by step.
        self.step_locks: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            before = copy.deepcopy(self.tables)
            try:
                yield self
            except BaseException:
                self.tables = before
                raise

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Tx]:
        connection = MemoryConnection(self)
        try:
            yield connection
        finally:
            # As a PostgreSQL session's advisory locks end with it.
            for held in connection.held:
                held.release()


class MemoryConnection:
    """A connection of the MemoryDatabase: its transactions are the database's, and it holds
    the step locks taken on it until it is given back."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        self.held: list[asyncio.Lock] = []

    def transaction(self):
        return self.db.transaction()


class MemorySessionsTable:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    @property
    def rows(self) -> dict[str, Session]:
        return self.db.tables.sessions

    async def insert(
        self, tx: Tx, session_id: str, partition_ids: list[str], options: TaskOptions
    ) -> Session | None:
        if session_id in self.rows:
            return None
        self.rows[session_id] = Session(
            session_id=session_id,
            status=SessionStatus.RUNNING,
            client_submission=True,
            worker_submission=True,
            partition_ids=list(partition_ids),
            options=options,
            created_at=NOW,
        )
        return copy.deepcopy(self.rows[session_id])

    async def get(self, session_id: str, tx: Tx | None = None) -> Session | None:
        return copy.deepcopy(self.rows.get(session_id))

    async def lock(self, tx: Tx, session_id: str) -> Session | None:
        return copy.deepcopy(self.rows.get(session_id))

    async def hold(self, tx: Tx, session_id: str, guard: Guard) -> bool:
        session = self.rows.get(session_id)
        return session is not None and guard.allows(session.status, session.epoch)

    async def admit(
        self,
        tx: Tx,
        session_id: str,
        transition: SessionTransition,
        *,
        stop_client: bool = False,
        stop_worker: bool = False,
    ) -> Session:
        session = self.rows[session_id]
        self._apply(
            session,
            transition.admits_to,
            transition.stamps,
            stop_client or transition.stops_submission,
            stop_worker or transition.stops_submission,
        )
        if transition.takes_over_tasks:
            session.epoch += 1
        return copy.deepcopy(session)

    async def finish(
        self, tx: Tx, session_id: str, transition: SessionTransition
    ) -> Session | None:
        session = self.rows.get(session_id)
        if session is None or session.status not in transition.sweeps_while:
            return None
        self._apply(session, transition.finishes_to, transition.finish_stamps, True, True)
        return copy.deepcopy(session)

    async def delete(self, tx: Tx, session_id: str) -> None:
        self.rows.pop(session_id, None)

    @staticmethod
    def _apply(session: Session, status, stamp, stop_client: bool, stop_worker: bool) -> None:
        if status is not None:
            session.status = status
        if stamp is not None:
            setattr(session, stamp, NOW)
        session.client_submission &= not stop_client
        session.worker_submission &= not stop_worker


class MemoryRows:
    """Rows of one session, by key, walked in key order (Python compares keys bytewise on
    ASCII, as PostgreSQL does with COLLATE "C")."""

    table: str

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    def of(self, session_id: str) -> dict:
        return getattr(self.db.tables, self.table)[session_id]

    def in_span(self, session_id: str, span: Span) -> list:
        rows = self.of(session_id)
        return [rows[k] for k in sorted(rows) if span.after < k <= span.last]

    async def span(
        self, tx: Tx, session_id: str, after: str, until: str | None, limit: int
    ) -> Span:
        keys = [k for k in sorted(self.of(session_id)) if k > after]
        keys = [k for k in keys if until is None or k <= until][:limit]
        last = keys[-1] if keys else after
        return Span(after, last, len(keys), exhausted=len(keys) < limit or last == until)

    async def flip(
        self, tx: Tx, session_id: str, span: Span, from_statuses: list[int], to_status: int
    ) -> int:
        rows = self.of(session_id)
        changed = 0
        for row in self.in_span(session_id, span):
            if row.status in from_statuses:
                rows[self._key(row)] = dataclasses.replace(row, status=to_status)
                changed += 1
        return changed

    async def delete_span(self, tx: Tx, session_id: str, span: Span) -> int:
        rows = self.of(session_id)
        gone = [k for k in rows if span.after < k <= span.last]
        for k in gone:
            del rows[k]
        return len(gone)

    def _key(self, row) -> str:
        raise NotImplementedError


class MemoryTasksTable(MemoryRows):
    table = "tasks"

    def _key(self, row: TaskRow) -> str:
        return row.task_id

    async def rows(
        self, tx: Tx, session_id: str, span: Span, statuses: list[int] | None = None
    ) -> list[TaskRow]:
        found = self.in_span(session_id, span)
        return [r for r in found if statuses is None or r.status in statuses]


class MemoryResultsTable(MemoryRows):
    table = "results"

    def _key(self, row: ResultRow) -> str:
        return row.result_id

    async def objects_of_span(
        self,
        tx: Tx,
        session_id: str,
        span: Span,
        statuses: list[int] | None = None,
        skip_manual: bool = False,
    ) -> list[tuple[str, str | None]]:
        return [
            (
                r.result_id,
                r.opaque_id
                if (statuses is None or r.status in statuses)
                and not (skip_manual and r.manual_deletion)
                else None,
            )
            for r in self.in_span(session_id, span)
        ]

    async def mark_deleted(
        self, tx: Tx, session_id: str, span: Span, from_statuses: list[int], to_status: int
    ) -> int:
        rows = self.of(session_id)
        changed = 0
        for row in self.in_span(session_id, span):
            if row.status in from_statuses and not row.manual_deletion:
                rows[row.result_id] = dataclasses.replace(row, status=to_status, opaque_id=None)
                changed += 1
        return changed


class MemoryPartitionsTable:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def missing(self, partition_ids: list[str]) -> list[str]:
        return [p for p in partition_ids if p not in self.db.tables.partitions]


class MemoryOperationsLog:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    @property
    def tables(self) -> Tables:
        return self.db.tables

    async def find(self, tx: Tx, op_id: str) -> AdmittedOperation | None:
        return copy.deepcopy(self.tables.operations.get(op_id))

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
    ) -> None:
        assert op_id not in self.tables.operations, "op_id is the operations' primary key"
        self.tables.operations[op_id] = AdmittedOperation(
            op_id,
            self.tables.next_seq(),
            session_id,
            operation,
            from_status,
            to_status,
            epoch,
            finished=False,
            finished_seq=None,
            requested_by=requested_by,
        )

    async def finish(self, tx: Tx, op_id: str) -> None:
        admitted = self.tables.operations[op_id]
        admitted.finished = True
        admitted.finished_seq = self.tables.next_seq()

    async def forget_session(self, tx: Tx, session_id: str) -> None:
        tables = self.tables
        tables.operations = {
            k: v for k, v in tables.operations.items() if v.session_id != session_id
        }
        tables.steps = {k: v for k, v in tables.steps.items() if k[0] in tables.operations}

    async def count_batch_start(
        self, op_id: str, step: str, session_id: str, batches: int = 1, conn=None
    ) -> None:
        checkpoint = self._step(op_id, step)
        checkpoint.batches_started += batches

    async def lock_step(self, conn: "MemoryConnection", op_id: str, step: str) -> None:
        lock = self.db.step_locks[(op_id, step)]
        await lock.acquire()
        conn.held.append(lock)

    async def unlock_step(self, conn: "MemoryConnection", op_id: str, step: str) -> None:
        lock = self.db.step_locks[(op_id, step)]
        if lock in conn.held:
            conn.held.remove(lock)
            lock.release()

    async def acknowledged(self, tx: Tx, op_id: str, step: str) -> Acked:
        return list(self.tables.acked.get((op_id, step), []))

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
    ) -> None:
        checkpoint = self.tables.steps[(op_id, step)]
        checkpoint.cursor = cursor
        checkpoint.scanned += scanned
        checkpoint.changed += changed
        checkpoint.done = done
        checkpoint.batches_committed += calls
        self.tables.acked[(op_id, step)] = list(acked)

    async def record_total(self, op_id: str, step: str, session_id: str, total: int) -> None:
        self._step(op_id, step).total = total

    async def checkpoint(self, tx: Tx, op_id: str, step: str) -> StepProgress:
        return copy.deepcopy(self.tables.steps[(op_id, step)])

    async def advance(
        self,
        tx: Tx,
        op_id: str,
        step: str,
        cursor: str,
        scanned: int,
        changed: int,
        done: bool,
    ) -> None:
        checkpoint = self.tables.steps[(op_id, step)]
        checkpoint.cursor = cursor
        checkpoint.scanned += scanned
        checkpoint.changed += changed
        checkpoint.done = done
        checkpoint.batches_committed += 1

    def _step(self, op_id: str, step: str) -> StepProgress:
        return self.tables.steps.setdefault((op_id, step), StepProgress(step))


class MemoryQueue:
    def __init__(self) -> None:
        # partition -> member -> the order it was pushed in; priorities are the Redis queue's
        # business, not the workflows'.
        self.queues: dict[str, dict[str, int]] = defaultdict(dict)
        self._pushed = 0

    async def push(self, tasks: list[QueuedTask]) -> int:
        added = 0
        for task in tasks:
            queue = self.queues[task.partition_id]
            if task.member not in queue:
                self._pushed += 1
                queue[task.member] = self._pushed
                added += 1
        return added

    async def remove(self, tasks: list[QueuedTask]) -> int:
        removed = 0
        for task in tasks:
            removed += self.queues[task.partition_id].pop(task.member, None) is not None
        return removed

    def members(self) -> set[tuple[str, str]]:
        """Every entry, as (partition, member)."""
        return {(p, m) for p, queue in self.queues.items() for m in queue}


class MemoryObjectStorage:
    def __init__(self) -> None:
        self.objects: set[str] = set()

    async def delete(self, keys: list[str]) -> None:
        self.objects.difference_update(keys)

    async def delete_call(self, keys: list[str], proceed=None) -> bool:
        if proceed is not None and not proceed():
            return False
        self.objects.difference_update(keys)
        return True


class MemoryStores:
    """Every store, in memory: what activities/registry.py binds the activities to."""

    def __init__(self) -> None:
        self.db = MemoryDatabase()
        self.partitions = MemoryPartitionsTable(self.db)
        self.sessions = MemorySessionsTable(self.db)
        self.tasks = MemoryTasksTable(self.db)
        self.results = MemoryResultsTable(self.db)
        self.operations = MemoryOperationsLog(self.db)
        self.queue = MemoryQueue()
        self.objects = MemoryObjectStorage()
