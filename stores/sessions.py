"""SessionsTable: one row per session, and the lock that orders the operations on it."""

from typing import Protocol

from lifecycle.calls import Guard
from lifecycle.domain import Session, TaskOptions
from lifecycle.transitions import SessionTransition
from stores.database import Tx
from stores.queries import ListQuery


class SessionsTable(Protocol):
    async def insert(
        self, tx: Tx, session_id: str, partition_ids: list[str], options: TaskOptions
    ) -> Session | None:
        """Insert a new RUNNING session; None if its id is taken."""
        ...

    async def get(self, session_id: str, tx: Tx | None = None) -> Session | None:
        """The stored row, tombstone (DELETED) included."""
        ...

    async def get_live(self, session_id: str) -> Session | None:
        """The session, or None if it is missing or deleted."""
        ...

    async def lock(self, tx: Tx, session_id: str) -> Session | None:
        """The session, locked against every admission and batch until `tx` ends."""
        ...

    async def share(self, tx: Tx, session_id: str) -> Session | None:
        """The stored row (tombstone included), share-locked until `tx` ends: no admission
        commits meanwhile, while batches and other submissions run beside it."""
        ...

    async def hold(self, tx: Tx, session_id: str, guard: Guard) -> bool:
        """Whether a batch under `guard` may commit; holds off admissions until `tx` ends."""
        ...

    async def admit(
        self,
        tx: Tx,
        session_id: str,
        transition: SessionTransition,
        *,
        stop_client: bool = False,
        stop_worker: bool = False,
    ) -> Session: ...

    async def finish(
        self, tx: Tx, session_id: str, transition: SessionTransition
    ) -> Session | None:
        """Write the transition's last step; None if the session is no longer where it ran."""
        ...

    async def delete(self, tx: Tx, session_id: str) -> None: ...

    async def query(self, query: ListQuery) -> tuple[list[Session], int]:
        """A page of the live sessions that match, and how many match in all."""
        ...
