"""What the TasksTable and the ResultsTable share: rows owned by one session, walked in key
order by batches (see stores/keyset.py)."""

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable

import asyncpg

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.keyset import in_span, next_span
from stores.keyset import Span

# Rows per statement when a check reads a whole session.
WALK_CHUNK = 50_000


class PostgresSessionRows:
    table: str
    key: str
    columns: tuple[str, ...]

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def copy_in(self, conn: asyncpg.Connection, records: Iterable[tuple]) -> None:
        await conn.copy_records_to_table(self.table, records=records, columns=list(self.columns))

    async def span(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        after: str,
        until: str | None,
        limit: int,
    ) -> Span:
        return await next_span(conn, self.table, self.key, session_id, after, until, limit)

    def where_span(self) -> str:
        """Condition on a span, with session_id, after and last as $1, $2, $3."""
        return in_span(self.key, 1)

    async def flip(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        span: Span,
        from_statuses,
        to_status: int,
        *,
        also_set: str = "",
        only_if: str = "",
    ) -> int:
        """Set the span's rows in `from_statuses` to `to_status`; `also_set` and `only_if` are
        SQL fragments of the table's own columns, for a flip with more to it."""
        status = await conn.execute(
            f"UPDATE {self.table} SET status = $5{', ' + also_set if also_set else ''}"
            f" WHERE {self.where_span()} AND status = ANY($4::smallint[])"
            f"{' AND ' + only_if if only_if else ''}",
            session_id,
            span.after,
            span.last,
            [int(s) for s in from_statuses],
            int(to_status),
        )
        return int(status.split()[-1])

    async def select_span(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        span: Span,
        columns: str,
        statuses: list[int] | None,
        only_if: str = "",
    ) -> list[asyncpg.Record]:
        """The span's rows (those in `statuses` only, if given, and meeting `only_if`, a SQL
        fragment of the table's own columns)."""
        also = f" AND {only_if}" if only_if else ""
        return await conn.fetch(
            f"SELECT {columns} FROM {self.table} WHERE {self.where_span()}"
            f" AND ($4::smallint[] IS NULL OR status = ANY($4)){also}",
            session_id,
            span.after,
            span.last,
            [int(s) for s in statuses] if statuses is not None else None,
        )

    async def delete_span(self, conn: asyncpg.Connection, session_id: str, span: Span) -> int:
        status = await conn.execute(
            f"DELETE FROM {self.table} WHERE {self.where_span()}",
            session_id,
            span.after,
            span.last,
        )
        return int(status.split()[-1])

    async def count(self, session_id: str, conn: asyncpg.Connection | None = None) -> int:
        return await (conn or self.db).fetchval(
            f"SELECT count(*) FROM {self.table} WHERE session_id = $1", session_id
        )

    async def count_by_status(self, session_id: str) -> dict[int, int]:
        """How many of the session's rows are in each status, counted span by span: one
        statement stays well within the store timeout whatever the session's size."""
        counts: dict[int, int] = {}
        after = ""
        while True:
            async with self.db.connection() as conn:
                span = await self.span(conn, session_id, after, None, WALK_CHUNK)
                rows = await conn.fetch(
                    f"SELECT status, count(*) AS n FROM {self.table}"
                    f" WHERE {self.where_span()} GROUP BY status",
                    session_id,
                    span.after,
                    span.last,
                )
            for row in rows:
                counts[row["status"]] = counts.get(row["status"], 0) + row["n"]
            if span.exhausted:
                return counts
            after = span.last

    async def walk(
        self, session_id: str, chunk: int = WALK_CHUNK
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """Every row of the session, by chunks in key order (one statement each); for checks
        and tests, not for sweeps (which change rows as they go and checkpoint)."""
        after = ""
        while True:
            async with self.db.connection() as conn:
                rows = await conn.fetch(
                    f"SELECT {', '.join(self.columns)} FROM {self.table}"
                    f" WHERE session_id = $1 AND {self.key} > $2 ORDER BY {self.key} LIMIT $3",
                    session_id,
                    after,
                    chunk,
                )
            if rows:
                yield rows
            if len(rows) < chunk:
                return
            after = rows[-1][self.key]

    async def faults(self, session_id: str, query: str) -> dict[str, list[str]]:
        """A check's `query` (rows of fault and id, over a span as $1, $2, $3) run span by span
        over the session, as the other checks walk it: its findings by fault."""
        found: dict[str, list[str]] = defaultdict(list)
        after = ""
        while True:
            async with self.db.connection() as conn:
                span = await self.span(conn, session_id, after, None, WALK_CHUNK)
                rows = await conn.fetch(query, session_id, span.after, span.last)
            for row in rows:
                found[row["fault"]].append(row["id"])
            if span.exhausted:
                return dict(found)
            after = span.last
