"""PartitionsTable: the pools of workers a session may use."""

import asyncpg

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.list_queries import fetch_page
from lifecycle.domain import Partition
from stores.queries import PartitionsQuery

COLUMNS = (
    "partition_id, parent_partition_ids, pod_reserved, pod_max, preemption_percentage, priority,"
    " pod_configuration"
)


def _partition(row: asyncpg.Record) -> Partition:
    return Partition(**{**dict(row), "parent_partition_ids": list(row["parent_partition_ids"])})


class PostgresPartitionsTable:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def upsert(self, partition: Partition) -> Partition:
        row = await self.db.fetchrow(
            f"INSERT INTO partitions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (partition_id) DO UPDATE SET"
            " parent_partition_ids = EXCLUDED.parent_partition_ids,"
            " pod_reserved = EXCLUDED.pod_reserved, pod_max = EXCLUDED.pod_max,"
            " preemption_percentage = EXCLUDED.preemption_percentage,"
            " priority = EXCLUDED.priority, pod_configuration = EXCLUDED.pod_configuration"
            f" RETURNING {COLUMNS}",
            partition.partition_id,
            partition.parent_partition_ids,
            partition.pod_reserved,
            partition.pod_max,
            partition.preemption_percentage,
            partition.priority,
            partition.pod_configuration,
        )
        return _partition(row)

    async def ensure(self, partition: Partition) -> None:
        """Insert the partition unless one with its id exists."""
        await self.db.execute(
            "INSERT INTO partitions (partition_id, pod_configuration) VALUES ($1, $2)"
            " ON CONFLICT (partition_id) DO NOTHING",
            partition.partition_id,
            partition.pod_configuration,
        )

    async def get(self, partition_id: str) -> Partition | None:
        row = await self.db.fetchrow(
            f"SELECT {COLUMNS} FROM partitions WHERE partition_id = $1", partition_id
        )
        return _partition(row) if row else None

    async def query(self, query: PartitionsQuery) -> tuple[list[Partition], int]:
        """A page of the partitions that match `query`, and how many match in all."""
        rows, total = await fetch_page(self.db, query, COLUMNS)
        return [_partition(r) for r in rows], total

    async def missing(self, partition_ids: list[str]) -> list[str]:
        """The ids among `partition_ids` that name no partition."""
        rows = await self.db.fetch(
            "SELECT id FROM unnest($1::text[]) AS id"
            " WHERE NOT EXISTS (SELECT 1 FROM partitions p WHERE p.partition_id = id)",
            partition_ids,
        )
        return [r["id"] for r in rows]
