"""What the TasksTable and the ResultsTable share: rows of one session, walked by spans of keys
in order (stores/keyset.py)."""

from collections.abc import AsyncIterator
from typing import Any, Protocol

from stores.database import Tx
from stores.keyset import Span


class SessionRows(Protocol):
    async def span(
        self, tx: Tx, session_id: str, after: str, until: str | None, limit: int
    ) -> Span: ...

    async def flip(
        self, tx: Tx, session_id: str, span: Span, from_statuses: list[int], to_status: int
    ) -> int:
        """Set the span's rows in `from_statuses` to `to_status`; how many changed."""
        ...

    async def delete_span(self, tx: Tx, session_id: str, span: Span) -> int: ...

    # For checks, the admin tools and tests (a sweep walks spans and checkpoints instead).

    async def count(self, session_id: str, tx: Tx | None = None) -> int: ...

    async def count_by_status(self, session_id: str) -> dict[int, int]: ...

    def walk(self, session_id: str, chunk: int = ...) -> AsyncIterator[list[Any]]:
        """Every row of the session, by chunks in key order."""
        ...
