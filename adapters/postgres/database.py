"""The PostgreSQL pool, and the versioned schema applied at start-up."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import asyncpg

from stores import failures

# PostgreSQL out of reach, as asyncpg says it (the API answers these UNAVAILABLE too).
POSTGRES_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # The server shutting down under a statement (a restart, a failover).
    asyncpg.AdminShutdownError,
)
failures.register(
    # PostgreSQL's statement_timeout and lock_timeout cancel the statement.
    timeouts=(asyncpg.QueryCanceledError, asyncpg.LockNotAvailableError),
    down=POSTGRES_DOWN,
)

# Any constant will do: it only keeps two processes from migrating at the same time.
MIGRATION_LOCK = 7_233_5432
# A migration may rewrite a large table, and waits for another process's: no store timeout.
MIGRATION_TIMEOUT = 3600.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PostgresDatabase:
    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @classmethod
    async def connect(cls, dsn: str, size: int, call_timeout: float) -> "PostgresDatabase":
        """A pool of `size` connections in which connecting, checking a connection out and
        running any statement (lock waits included) each fail after `call_timeout` seconds."""
        pool = await asyncpg.create_pool(
            dsn,
            # None at first: the pool opens connections as calls need them, so that a process
            # starts (and answers UNAVAILABLE) while PostgreSQL is down.
            min_size=0,
            max_size=size,
            init=_init_connection,
            command_timeout=call_timeout,
            timeout=call_timeout,
        )
        return cls(pool, call_timeout)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire(timeout=self.timeout) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    # One statement on a connection of its own, checked out under the same timeout.

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connection() as conn:
            return await conn.execute(query, *args)

    async def ping(self) -> None:
        await self.fetchval("SELECT 1")

    async def migrate(self) -> list[str]:
        """Apply the SQL files of stores/migrations not applied yet, in order. Safe to run from
        several processes at once, and on every start."""
        applied: list[str] = []
        wait = MIGRATION_TIMEOUT
        async with self.pool.acquire(timeout=wait) as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK, timeout=wait)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                rows = await conn.fetch("SELECT version FROM schema_migrations")
                done = {r["version"] for r in rows}
                for version, sql in migrations():
                    if version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql, timeout=wait)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version) VALUES ($1)", version
                        )
                    applied.append(version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        return applied


def migrations() -> list[tuple[str, str]]:
    folder = resources.files("adapters.postgres") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]
