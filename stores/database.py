"""The Database: transactions over every table of stores/ but the Queue and the ObjectStorage.

A `Tx` is what a store method runs in: a connection in a transaction (PostgreSQL), an opaque token
in memory. Methods that take one change (or lock) rows inside it; methods that do not run on their
own.
"""

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Tx = Any


class Database(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction: everything done in it commits together, or not at all."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Tx]:
        """A connection for statements that need no transaction of their own."""
        ...

    async def ping(self) -> None:
        """A round trip that reads nothing (HealthChecks); raises if the database does not
        answer."""
        ...

    async def migrate(self) -> list[str]:
        """Bring the schema up to date (safe from several processes at once); the versions
        applied."""
        ...
