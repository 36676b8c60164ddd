"""Leases: how the agents (issue 19) know that one of them is alive. An agent renews its lease
while it runs; one whose lease lapsed is dead (killed, or cut off), and what it held is reaped
by the agents of its partition."""

from typing import Protocol


class Leases(Protocol):
    async def renew(self, pod_id: str, partition_id: str, ttl: float) -> None:
        """The pod is alive for `ttl` seconds more, and known to its partition."""
        ...

    async def lapsed(self, partition_id: str) -> list[str]:
        """The pods known to the partition whose lease has lapsed."""
        ...

    async def alive(self, partition_id: str) -> list[str]:
        """The pods of the partition whose lease holds."""
        ...

    async def forget(self, pod_id: str, partition_id: str) -> None:
        """The pod's holdings were reaped (or it stopped cleanly): no longer known."""
        ...
