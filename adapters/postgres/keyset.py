"""A span of a session's keys (stores/keyset.py) in SQL. Rows are never selected by status here,
so a status index is not needed (see migrations/001_tables.sql)."""

import asyncpg

from stores.keyset import Span


async def next_span(
    conn: asyncpg.Connection,
    table: str,
    key: str,
    session_id: str,
    after: str,
    until: str | None,
    limit: int,
) -> Span:
    row = await conn.fetchrow(
        f"SELECT max({key}) AS last, count(*) AS rows FROM ("
        f" SELECT {key} FROM {table} WHERE session_id = $1 AND {key} > $2"
        f" AND ($3::text IS NULL OR {key} <= $3) ORDER BY {key} LIMIT $4) span",
        session_id,
        after,
        until,
        limit,
    )
    rows = row["rows"]
    last = row["last"] if rows else after
    return Span(after=after, last=last, rows=rows, exhausted=rows < limit or last == until)


def in_span(key: str, first_param: int, alias: str = "") -> str:
    """The SQL condition for a row of the span, with session_id, after and last as parameters
    first_param, first_param+1 and first_param+2; `alias` ("t.") qualifies the columns."""
    p, a = first_param, alias
    return f"{a}session_id = ${p} AND {a}{key} > ${p + 1} AND {a}{key} <= ${p + 2}"
