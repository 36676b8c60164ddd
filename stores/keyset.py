"""Batches over a session's rows, walked in primary-key order.

A batch is the span of keys (after, last] holding at most `limit` rows: the caller changes the
rows of the span in the same transaction and records `last` as its checkpoint. Rows are never
selected by status here, so a status index is not needed (see migrations/001_tables.sql).
"""

from dataclasses import dataclass

import asyncpg


@dataclass
class Span:
    after: str
    last: str  # equals `after` when the span is empty
    rows: int
    exhausted: bool  # no key of the range lies beyond `last`


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


def in_span(key: str, first_param: int) -> str:
    """The SQL condition for a row of the span, with session_id, after and last as parameters
    first_param, first_param+1 and first_param+2."""
    p = first_param
    return f"session_id = ${p} AND {key} > ${p + 1} AND {key} <= ${p + 2}"


# Spans (after, last] acknowledged beyond a step's cursor, in key order (see
# migrations/006_acknowledged_spans.sql).
Acked = list[tuple[str, str]]


def acknowledge(cursor: str, acked: Acked, after: str, last: str) -> tuple[str, Acked]:
    """Add the span (after, last] to what is done beyond `cursor`: the spans that touch merge,
    and the cursor moves over every span that now reaches it."""
    merged: Acked = []
    for a, b in sorted([*acked, (after, last)]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    while merged and merged[0][0] <= cursor:
        cursor = max(cursor, merged.pop(0)[1])
    return cursor, merged


def is_acked(key: str, acked: Acked) -> bool:
    return any(a < key <= b for a, b in acked)
