"""PartitionsTable: the pools of workers sessions run on."""

from typing import Protocol

from lifecycle.domain import Partition
from stores.queries import PartitionsQuery


class PartitionsTable(Protocol):
    async def missing(self, partition_ids: list[str]) -> list[str]:
        """Those of the ids that name no partition."""
        ...

    async def get(self, partition_id: str) -> Partition | None: ...

    async def query(self, query: PartitionsQuery) -> tuple[list[Partition], int]:
        """The query's page, and how many partitions match in all."""
        ...

    async def upsert(self, partition: Partition) -> Partition: ...

    async def ensure(self, partition: Partition) -> None:
        """Insert the partition unless one has its id."""
        ...
