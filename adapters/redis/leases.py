"""Leases in Redis: a key per pod with the lease's TTL (Redis expires it, so a lapse needs no
clock of ours), and a set per partition of the pods that ever renewed, for the reapers to find
the dead among."""

import redis.asyncio as redis

LEASE_PREFIX = "armonik:agent:lease:"
PODS_PREFIX = "armonik:agent:pods:"


class RedisLeases:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    async def renew(self, pod_id: str, partition_id: str, ttl: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(LEASE_PREFIX + pod_id, partition_id, px=max(1, int(ttl * 1000)))
            pipe.sadd(PODS_PREFIX + partition_id, pod_id)
            await pipe.execute()

    async def _split(self, partition_id: str) -> tuple[list[str], list[str]]:
        pods = sorted(await self.redis.smembers(PODS_PREFIX + partition_id))
        if not pods:
            return [], []
        held = await self.redis.mget([LEASE_PREFIX + p for p in pods])
        alive = [p for p, v in zip(pods, held, strict=True) if v is not None]
        return alive, [p for p, v in zip(pods, held, strict=True) if v is None]

    async def lapsed(self, partition_id: str) -> list[str]:
        return (await self._split(partition_id))[1]

    async def alive(self, partition_id: str) -> list[str]:
        return (await self._split(partition_id))[0]

    async def forget(self, pod_id: str, partition_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(PODS_PREFIX + partition_id, pod_id)
            pipe.delete(LEASE_PREFIX + pod_id)
            await pipe.execute()
