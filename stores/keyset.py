"""Batches over a session's rows, walked in primary-key order.

A batch is the span of keys (after, last] holding at most `limit` rows: the caller changes the
rows of the span in the same transaction and records `last` as its checkpoint. Keys compare
bytewise, "" before every key.
"""

from dataclasses import dataclass


@dataclass
class Span:
    after: str
    last: str  # equals `after` when the span is empty
    rows: int
    exhausted: bool  # no key of the range lies beyond `last`


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
