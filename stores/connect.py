"""Every store the control plane uses, connected from the settings."""

from dataclasses import dataclass

from settings import Settings
from stores.database import Database
from stores.object_storage import ObjectStorage
from stores.operations_log import OperationsLog
from stores.partitions_table import PartitionsTable
from stores.queue import Queue
from stores.results_table import ResultsTable
from stores.sessions_table import SessionsTable
from stores.tasks_table import TasksTable
from telemetry.metrics import store_limit_gauge


@dataclass
class Stores:
    db: Database
    partitions: PartitionsTable
    sessions: SessionsTable
    tasks: TasksTable
    results: ResultsTable
    operations: OperationsLog
    queue: Queue
    objects: ObjectStorage

    @classmethod
    async def connect(cls, settings: Settings) -> "Stores":
        timeout = settings.store_timeout
        db = await Database.connect(settings.postgres_dsn, settings.pool_size, timeout)
        objects = await ObjectStorage.connect(
            settings.s3_endpoint,
            settings.s3_bucket,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_region,
            timeout,
            settings.s3_deletes_in_flight,
            settings.s3_ca_bundle,
            deletes_floor=settings.s3_deletes_floor,
            on_window=store_limit_gauge("s3", "calls_in_flight"),
        )
        return cls(
            db=db,
            partitions=PartitionsTable(db),
            sessions=SessionsTable(db),
            tasks=TasksTable(db),
            results=ResultsTable(db),
            operations=OperationsLog(db),
            queue=Queue.connect(
                settings.redis_url, timeout, store_limit_gauge("redis", "members_per_pipeline")
            ),
            objects=objects,
        )

    async def close(self) -> None:
        await self.queue.close()
        await self.objects.close()
        await self.db.close()
