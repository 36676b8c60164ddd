"""How the admin commands reach the stores: directly, from the stores' settings (POSTGRES_DSN,
REDIS_URL, S3_*), never through the API. A store that cannot be reached, or goes away, is one
line on stderr that names it, and exit 3: stores/failures.py tells such a failure, as it does
for the retries metric.

The store clients are imported here only when a command runs: the API's commands never load
them."""

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeVar
from urllib.parse import urlsplit

from client.cli.output import one_line
from client.cli.runner import finish
from settings import Settings

if TYPE_CHECKING:
    from adapters.connect import Stores
    from adapters.postgres.database import PostgresDatabase

# Admin commands need the stores' settings; this says so when they cannot reach one.
STORES_HINT = "the admin commands talk to the stores directly (POSTGRES_DSN, REDIS_URL, S3_*)"
# Which store a failure came from, by the module of its class or of its traceback's frames.
ORIGINS = (
    ("asyncpg", "postgres"),
    ("redis", "redis"),
    ("adapters.redis", "redis"),
    ("aiobotocore", "s3"),
    ("aioboto3", "s3"),
    ("botocore", "s3"),
    ("aiohttp", "s3"),
    ("adapters.s3", "s3"),
    ("adapters.postgres", "postgres"),
)


def run_admin(command: Callable[[Settings], Awaitable[int | None]]) -> NoReturn:
    """Run one admin command, which opens the stores it needs from the settings."""
    from stores.failures import OTHER, failure_cause

    # While PostgreSQL is down, asyncpg logs each failed attempt to reconnect its pool (with a
    # traceback): the command's own error says it in one line.
    logging.getLogger("asyncpg.pool").setLevel(logging.CRITICAL)
    settings = Settings()

    async def main() -> int:
        return await command(settings) or 0

    finish(main, lambda e: failure_cause(e) != OTHER, lambda e: _store_failure(e, settings))


def all_stores(settings: Settings) -> AbstractAsyncContextManager["Stores"]:
    from adapters.connect import Stores

    return _opened(Stores.connect(settings))


def database(settings: Settings) -> AbstractAsyncContextManager["PostgresDatabase"]:
    """PostgreSQL alone, on one connection: for the commands that need no other store."""
    from adapters.postgres.database import PostgresDatabase

    return _opened(PostgresDatabase.connect(settings.postgres_dsn, 1, settings.store_timeout))


class _Closable(Protocol):
    async def close(self) -> None: ...


T = TypeVar("T", bound=_Closable)


@contextlib.asynccontextmanager
async def _opened(connecting: Awaitable[T]) -> AsyncIterator[T]:
    """The store once connected, closed on the way out: a store that went away must not hang
    the exit, nor hide the command's error."""
    store = await connecting
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), 5)


def _store_failure(error: BaseException, settings: Settings) -> str:
    """The one line that says which store failed, and how."""
    reason = one_line(str(error)) or type(error).__name__
    server = _server(_origin(error), settings)
    return f"error: cannot reach {server or 'a store'} ({reason}); {STORES_HINT}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _origin(error: BaseException) -> str | None:
    """The store a failure came from: the library of its class, or else of the deepest frame of
    its traceback that belongs to a known one."""

    def component(module: str) -> str | None:
        return next((c for prefix, c in ORIGINS if module.startswith(prefix)), None)

    for e in _chain(error):
        if found := component(type(e).__module__):
            return found
    for e in _chain(error):
        for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))):
            if found := component(frame.f_globals.get("__name__", "")):
                return found
    return None


def _server(origin: str | None, settings: Settings) -> str | None:
    def host_port(url: str) -> str:
        try:
            parts = urlsplit(url)
            return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        except ValueError:
            return "?"

    return {
        "postgres": f"PostgreSQL at {host_port(settings.postgres_dsn)}",
        "redis": f"Redis at {host_port(settings.redis_url)}",
        "s3": f"S3 at {settings.s3_endpoint}",
    }.get(origin or "")
