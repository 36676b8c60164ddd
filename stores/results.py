"""ResultsTable: the results of every session; their bytes live in the ObjectStorage."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from stores.database import Tx
from stores.keyset import Span
from stores.queries import Condition
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
    created_by: str = ""
    created_at: datetime | None = None


class ResultsTable(SessionRows, ResultReads, Protocol):
    async def insert(self, tx: Tx, results: list[ResultRow]) -> None: ...

    async def matching(
        self,
        session_id: str,
        filters: list[list[Condition]],
        result_ids: list[str] | None,
        after: str = "",
        limit: int = 1000,
    ) -> list[ResultRow]:
        """The session's results that match the filters (a ResultsQuery's): of `result_ids`,
        in id order; or with None, the next `limit` after the id `after`."""
        ...

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

    # Submission and the agents: set-based statements in the caller's transaction.

    async def insert_new(self, tx: Tx, results: list[ResultRow]) -> set[str]:
        """Insert the results not there yet (ON CONFLICT DO NOTHING); the ids inserted."""
        ...

    async def get_many(
        self, tx: Tx, session_id: str, result_ids: list[str], lock: str | None = None
    ) -> dict[str, ResultRow]:
        """The results that exist among `result_ids`, locked in key order if `lock` is "update"
        or "share"."""
        ...

    async def take_ownership(
        self, tx: Tx, session_id: str, owners: dict[str, str], from_owners: list[str]
    ) -> int:
        """Give each result (a key of `owners`) its owner task, if it has none or is owned by
        one of `from_owners`; how many changed."""
        ...

    async def complete(
        self,
        tx: Tx,
        session_id: str,
        data: dict[str, tuple[int, str | None]],
        owned_by: str | None = None,
    ) -> list[str]:
        """Complete the CREATED results of `data` (result id: (size, object key)), only those
        owned by `owned_by` if given; the ids completed."""
        ...

    async def abort(
        self, tx: Tx, session_id: str, result_ids: list[str], owned_by: list[str] | None = None
    ) -> list[str]:
        """ABORT the CREATED results among `result_ids` (only those owned by one of `owned_by`,
        or by none, if given); the ids aborted."""
        ...

    async def owned_by(
        self, tx: Tx, session_id: str, task_ids: list[str], statuses: list[int]
    ) -> list[ResultRow]:
        """The results the tasks own, in `statuses`."""
        ...

    async def mark_data_deleted(self, tx: Tx, session_id: str, result_ids: list[str]) -> list[str]:
        """The results DELETED, their object keys forgotten; the ids changed."""
        ...

    async def owner_faults(self, session_id: str) -> dict[str, list[str]]:
        """The session's breaches of the owner rules (SPEC §6, invariant 9), by invariant
        name; for checks."""
        ...
