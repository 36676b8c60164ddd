"""Queue: one priority queue per partition, on Redis.

Each partition's queue is a sorted set whose members are "session_id/task_id". The score puts a
higher priority first and, among equal priorities, the earlier push first. Pushing a task that
is already queued keeps its entry and its place (ZADD NX), so a retried batch never queues a task
twice.
"""

import time
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as redis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from lifecycle.options import MAX_PRIORITY, MIN_PRIORITY
from stores import failures
from stores.adaptive import AdaptiveSize, OnChange
from stores.queue import QueuedTask

failures.register(timeouts=(redis_errors.TimeoutError,), down=(redis_errors.ConnectionError,))

PREFIX = "armonik:queue:"
# In-flight sets, by holder and partition: outside PREFIX, so that no check takes them for
# queues.
IN_FLIGHT = "armonik:in-flight:"
# ZPOPMIN into the holder's set, keeping each entry's score, atomically.
TAKE = """
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do
  redis.call('ZADD', KEYS[2], popped[i + 1], popped[i])
end
return popped
"""
SEQUENCE = "armonik:queue-sequence"
# Scores are doubles: priority rank times 2**40, plus a sequence number below 2**40, stays exact.
SEQUENCE_SPAN = 2**40


def queue_key(partition_id: str) -> str:
    return PREFIX + partition_id


def in_flight_key(holder: str, partition_id: str) -> str:
    return f"{IN_FLIGHT}{holder}:{partition_id}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _rank(priority: int) -> int:
    return MAX_PRIORITY - max(MIN_PRIORITY, min(MAX_PRIORITY, priority))


# Members one pipeline carries at most: a batch's push or removal is cut into pipelines of the
# size that follows Redis (stores/adaptive.py), from this down to a hundredth of it.
PIPELINE_MEMBERS = 10_000


class RedisQueue:
    def __init__(
        self, client: redis.Redis, slow_after: float = 1.0, on_pipeline: OnChange | None = None
    ) -> None:
        self.redis = client
        # A pipeline that times out or answers slower than `slow_after` halves the next ones.
        self.pipeline = AdaptiveSize(
            PIPELINE_MEMBERS // 100, PIPELINE_MEMBERS, on_pipeline or (lambda _: None)
        )
        self.slow_after = slow_after

    @classmethod
    def connect(cls, url: str, timeout: float, on_pipeline: OnChange | None = None) -> "RedisQueue":
        """A client whose every command, its one retry included, fails within `timeout`."""
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout / 3,
            socket_connect_timeout=timeout / 3,
            # After a Redis restart every pooled connection is dead; without a retry the
            # first command on each fails. Every command here is safe to repeat.
            retry=Retry(ExponentialBackoff(cap=timeout / 6, base=0.05), 1),
            retry_on_error=[
                redis_errors.ConnectionError,
                redis_errors.TimeoutError,
                ConnectionResetError,
            ],
        )
        return cls(client, slow_after=timeout / 6, on_pipeline=on_pipeline)

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> None:
        await self.redis.ping()

    async def push(self, tasks: list[QueuedTask]) -> int:
        """Queue the tasks not queued yet; answers how many were added."""
        if not tasks:
            return 0
        last = await self.redis.incrby(SEQUENCE, len(tasks))
        first = last - len(tasks)
        commands = [
            (
                queue_key(t.partition_id),
                t.member,
                _rank(t.priority) * SEQUENCE_SPAN + (first + i) % SEQUENCE_SPAN,
            )
            for i, t in enumerate(tasks)
        ]

        def zadd(pipe, key: str, part: list[tuple[str, str, int]]) -> None:
            pipe.zadd(key, {member: score for _, member, score in part}, nx=True)

        return await self._pipelined(commands, zadd)

    async def remove(self, tasks: list[QueuedTask]) -> int:
        if not tasks:
            return 0
        commands = [(queue_key(t.partition_id), t.member, 0) for t in tasks]

        def zrem(pipe, key: str, part: list[tuple[str, str, int]]) -> None:
            pipe.zrem(key, *(member for _, member, _ in part))

        return await self._pipelined(commands, zrem)

    async def _pipelined(self, commands: list[tuple[str, str, int]], command) -> int:
        """Run `command` over (key, member, score) triples, one command per queue key within a
        pipeline, in pipelines of the adaptive size; the sum of what the commands answer. Every
        command here is safe to repeat, so a pipeline that failed is redone whole by the retry
        of its batch."""
        added = 0
        while commands:
            generation, size = self.pipeline.generation, self.pipeline.value
            part, commands = commands[:size], commands[size:]
            by_key: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
            for entry in part:
                by_key[entry[0]].append(entry)
            began = time.monotonic()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, entries in by_key.items():
                        command(pipe, key, entries)
                    added += sum(await pipe.execute())
            except redis_errors.TimeoutError:
                self.pipeline.congested(generation)
                raise
            if time.monotonic() - began > self.slow_after:
                self.pipeline.congested(generation)
            else:
                self.pipeline.succeeded()
        return added

    async def pop(self, partition_id: str, n: int = 1) -> list[tuple[str, str]]:
        """Take the n first tasks of the partition's queue, as (session_id, task_id)."""
        popped = await self.redis.zpopmin(queue_key(partition_id), n)
        return [tuple(member.split("/", 1)) for member, _ in popped]  # type: ignore[misc]

    async def take(self, partition_id: str, n: int, holder: str) -> list[tuple[str, str]]:
        popped = await self.redis.eval(
            TAKE, 2, queue_key(partition_id), in_flight_key(holder, partition_id), n
        )
        return [tuple(member.split("/", 1)) for member in popped[::2]]  # type: ignore[misc]

    async def settle(self, holder: str, partition_id: str, tasks: list[QueuedTask]) -> None:
        if tasks:
            await self.redis.zrem(in_flight_key(holder, partition_id), *(t.member for t in tasks))

    async def held(self, holder: str, partition_id: str) -> list[tuple[str, str]]:
        members = await self.redis.zrange(in_flight_key(holder, partition_id), 0, -1)
        return [tuple(m.split("/", 1)) for m in members]  # type: ignore[misc]

    async def depths(self) -> dict[str, int]:
        """The number of tasks queued on each partition that has a queue."""
        return await self._per_queue(lambda pipe, key: pipe.zcard(key))

    async def queued(self, tasks: list[QueuedTask]) -> list[bool]:
        """Whether each task is in its partition's queue; for checks and tests."""
        by_partition: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(tasks):
            by_partition[t.partition_id].append(i)
        found = [False] * len(tasks)
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition_id, indexes in by_partition.items():
                pipe.zmscore(queue_key(partition_id), [tasks[i].member for i in indexes])
            answers = await pipe.execute()
        for indexes, scores in zip(by_partition.values(), answers, strict=True):
            for i, score in zip(indexes, scores, strict=True):
                found[i] = score is not None
        return found

    async def members_of(self, session_id: str) -> AsyncIterator[tuple[str, str]]:
        """Every queue entry of the session's tasks, as (partition, member), however many; for
        checks and tests."""
        pattern = _glob_escape(session_id) + "/*"
        async for key in self._queue_keys():
            async for member, _ in self.redis.zscan_iter(key, match=pattern, count=10_000):
                yield key.removeprefix(PREFIX), member

    async def members(self, partition_id: str) -> list[str]:
        """Every member of the partition's queue; for checks and tests."""
        return await self.redis.zrange(queue_key(partition_id), 0, -1)

    async def all_members(self) -> dict[str, list[str]]:
        """Every member of every queue, by partition; for checks and tests."""
        return await self._per_queue(lambda pipe, key: pipe.zrange(key, 0, -1))

    def _queue_keys(self) -> AsyncIterator[str]:
        """The key of every partition's queue."""
        return self.redis.scan_iter(match=PREFIX + "*", count=1000)

    async def _per_queue(self, command) -> dict:
        """One pipelined command per partition queue, answered by partition."""
        keys = [k async for k in self._queue_keys()]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                command(pipe, key)
            answers = await pipe.execute()
        return {k.removeprefix(PREFIX): a for k, a in zip(keys, answers, strict=True)}
