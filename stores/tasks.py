"""TasksTable: the tasks of every session."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from stores.database import Tx
from stores.keyset import Span
from stores.rows import SessionRows
from stores.task_reads import TaskReads


@dataclass(frozen=True)
class TaskRow:
    session_id: str
    task_id: str
    status: int
    priority: int
    partition_id: str


class TasksTable(SessionRows, TaskReads, Protocol):
    async def insert(self, tx: Tx, tasks: list[TaskRow]) -> None: ...

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
