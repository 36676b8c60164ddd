"""Every store the control plane uses, connected from the settings: the one place where an
adapter is picked for each interface of stores/, by the scheme of the store's address. A second
backend is one module beside these and one entry in the tables below."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapters.postgres.audit_log import PostgresAuditLog
from adapters.postgres.auth_table import PostgresAuthTable
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.events import PostgresChangeFeed
from adapters.postgres.operations_log import PostgresOperationsLog
from adapters.postgres.partitions_table import PostgresPartitionsTable
from adapters.postgres.results_table import PostgresResultsTable
from adapters.postgres.sessions_table import PostgresSessionsTable
from adapters.postgres.tasks_table import PostgresTasksTable
from adapters.redis.leases import RedisLeases
from adapters.redis.queue import RedisQueue
from adapters.s3.object_storage import S3ObjectStorage
from settings import Settings
from stores.objects import ObjectStorage
from stores.queue import Queue
from stores.store_set import StoreSet
from telemetry.metrics import store_limit_gauge


async def _postgres(settings: Settings) -> dict:
    """The tables, which share one database (and so commit together)."""
    db = await PostgresDatabase.connect(
        settings.postgres_dsn, settings.pool_size, settings.store_timeout
    )
    return {
        "db": db,
        "partitions": PostgresPartitionsTable(db),
        "sessions": PostgresSessionsTable(db),
        "tasks": PostgresTasksTable(db),
        "results": PostgresResultsTable(db),
        "operations": PostgresOperationsLog(db),
        "audit": PostgresAuditLog(db),
        "auth": PostgresAuthTable(db),
        # Its one connection opens with the first subscription.
        "changes": PostgresChangeFeed(settings.postgres_dsn, settings.store_timeout),
    }


async def _redis(settings: Settings) -> Queue:
    gauge = store_limit_gauge("redis", "members_per_pipeline")
    return RedisQueue.connect(settings.redis_url, settings.store_timeout, gauge)


async def _s3(settings: Settings) -> ObjectStorage:
    return await S3ObjectStorage.connect(
        settings.s3_endpoint,
        settings.s3_bucket,
        settings.s3_access_key,
        settings.s3_secret_key,
        settings.s3_region,
        settings.store_timeout,
        settings.s3_deletes_in_flight,
        settings.s3_ca_bundle,
        deletes_floor=settings.s3_deletes_floor,
        on_window=store_limit_gauge("s3", "calls_in_flight"),
    )


# By the scheme of POSTGRES_DSN, REDIS_URL and S3_ENDPOINT.
DATABASES: dict[str, Callable[[Settings], Awaitable[dict]]] = {
    "postgresql": _postgres,
    "postgres": _postgres,
}
QUEUES: dict[str, Callable[[Settings], Awaitable[Queue]]] = {"redis": _redis, "rediss": _redis}
OBJECT_STORAGES: dict[str, Callable[[Settings], Awaitable[ObjectStorage]]] = {
    "http": _s3,
    "https": _s3,
}


class UnknownStore(ValueError):
    """A store address whose scheme no adapter serves."""


def _pick(table: dict, address: str, what: str):
    scheme = urlsplit(address).scheme
    if scheme not in table:
        raise UnknownStore(f"no {what} adapter for {address!r} (schemes: {', '.join(table)})")
    return table[scheme]


@dataclass
class Stores(StoreSet):
    @classmethod
    async def connect(cls, settings: Settings) -> "Stores":
        tables = await _pick(DATABASES, settings.postgres_dsn, "database")(settings)
        try:
            objects = await _pick(OBJECT_STORAGES, settings.s3_endpoint, "object storage")(settings)
            queue = await _pick(QUEUES, settings.redis_url, "queue")(settings)
        except BaseException:
            await tables["db"].close()
            raise
        # The leases live beside the queue, on its connection (both are Redis's).
        leases = RedisLeases(queue.redis) if isinstance(queue, RedisQueue) else None
        return cls(**tables, queue=queue, objects=objects, leases=leases)

    async def close(self) -> None:
        if self.changes is not None:
            await self.changes.close()
        await self.queue.close()  # type: ignore[attr-defined]
        await self.objects.close()  # type: ignore[attr-defined]
        await self.db.close()  # type: ignore[attr-defined]
