"""ResultsTable: the results of every session; their bytes live in object storage."""

import asyncpg

from adapters.postgres.result_reads import PostgresResultReads
from adapters.postgres.session_rows import PostgresSessionRows
from stores.keyset import Span
from stores.results import ResultRow


class PostgresResultsTable(PostgresSessionRows, PostgresResultReads):
    table = "results"
    key = "result_id"
    columns = (
        "session_id",
        "result_id",
        "name",
        "status",
        "owner_task_id",
        "size",
        "opaque_id",
        "manual_deletion",
        "completed_at",
    )

    async def insert(self, conn: asyncpg.Connection, results: list[ResultRow]) -> None:
        await self.copy_in(conn, (tuple(getattr(r, c) for c in self.columns) for r in results))

    async def objects_of_span(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        span: Span,
        statuses: list[int] | None = None,
        skip_manual: bool = False,
    ) -> list[tuple[str, str | None]]:
        """Every result of the span in key order, with its object key if its object is one to
        delete (in `statuses`, if given), else None: a step that cuts the span into calls
        needs every key to know where each call's part of the span ends."""
        deletable = "opaque_id IS NOT NULL" + (" AND NOT manual_deletion" if skip_manual else "")
        rows = await conn.fetch(
            f"SELECT result_id, CASE WHEN {deletable}"
            " AND ($4::smallint[] IS NULL OR status = ANY($4)) THEN opaque_id END AS key"
            f" FROM results WHERE {self.where_span()} ORDER BY result_id",
            session_id,
            span.after,
            span.last,
            [int(s) for s in statuses] if statuses is not None else None,
        )
        return [(r["result_id"], r["key"]) for r in rows]

    async def mark_deleted(
        self, conn: asyncpg.Connection, session_id: str, span: Span, from_statuses, to_status: int
    ) -> int:
        """Flip the span's purgeable results to `to_status` and forget their object keys; results
        kept for manual deletion stay as they are."""
        return await self.flip(
            conn,
            session_id,
            span,
            from_statuses,
            to_status,
            also_set="opaque_id = NULL",
            only_if="NOT manual_deletion",
        )
