"""ResultsTable: the results of every session; their bytes live in the ObjectStorage."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from stores.database import Tx
from stores.keyset import Span
from stores.result_reads import ResultReads
from stores.rows import SessionRows


@dataclass(frozen=True)
class ResultRow:
    session_id: str
    result_id: str
    name: str
    status: int
    owner_task_id: str | None = None
    size: int = 0
    opaque_id: str | None = None
    manual_deletion: bool = False
    completed_at: datetime | None = None
    created_at: datetime | None = None


class ResultsTable(SessionRows, ResultReads, Protocol):
    async def insert(self, tx: Tx, results: list[ResultRow]) -> None: ...

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
