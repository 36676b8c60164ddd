"""TasksTable: the tasks of every session."""

from collections.abc import AsyncIterator

import asyncpg

from adapters.postgres.session_rows import PostgresSessionRows
from adapters.postgres.task_reads import PostgresTaskReads
from stores.keyset import Span
from stores.tasks import TaskRow


class PostgresTasksTable(PostgresSessionRows, PostgresTaskReads):
    table = "tasks"
    key = "task_id"
    columns = ("session_id", "task_id", "status", "priority", "partition_id")

    async def insert(self, conn: asyncpg.Connection, tasks: list[TaskRow]) -> None:
        await self.copy_in(
            conn,
            ((t.session_id, t.task_id, t.status, t.priority, t.partition_id) for t in tasks),
        )

    async def rows(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        span: Span,
        statuses: list[int] | None = None,
    ) -> list[TaskRow]:
        """The tasks of the span, those in `statuses` only if given."""
        rows = await self.select_span(conn, session_id, span, ", ".join(self.columns), statuses)
        return [TaskRow(**dict(r)) for r in rows]

    async def with_status(self, session_id: str, statuses: list[int]) -> list[TaskRow]:
        """Every task of the session in `statuses`; for checks and tests, not for sweeps."""
        wanted = {int(s) for s in statuses}
        return [
            task
            async for chunk in self.chunks(session_id)
            for task in chunk
            if task.status in wanted
        ]

    async def chunks(self, session_id: str) -> AsyncIterator[list[TaskRow]]:
        """Every task of the session, by chunks in key order; for checks and tests."""
        async for chunk in self.walk(session_id):
            yield [TaskRow(**dict(r)) for r in chunk]
