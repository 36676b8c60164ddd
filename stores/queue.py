"""Queue: one priority queue per partition. A higher priority is served first, equal priorities
first in first out; pushing a task that is queued already keeps its entry and its place."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from lifecycle.options import MIN_PRIORITY


@dataclass(frozen=True)
class QueuedTask:
    session_id: str
    task_id: str
    partition_id: str
    priority: int = MIN_PRIORITY

    @classmethod
    def of(cls, task) -> "QueuedTask":
        """The queue entry of a task row (anything with the four fields)."""
        return cls(task.session_id, task.task_id, task.partition_id, task.priority)

    @property
    def member(self) -> str:
        return f"{self.session_id}/{self.task_id}"


class Queue(Protocol):
    async def ping(self) -> None:
        """A round trip that reads nothing (HealthChecks); raises if the queue does not
        answer."""
        ...

    async def push(self, tasks: list[QueuedTask]) -> int:
        """Queue the tasks not queued yet (a queued one keeps its place); how many were added."""
        ...

    async def remove(self, tasks: list[QueuedTask]) -> int:
        """Take the tasks out of their queues; how many were there."""
        ...

    async def pop(self, partition_id: str, n: int = 1) -> list[tuple[str, str]]:
        """Take the n first tasks of the partition's queue, as (session_id, task_id)."""
        ...

    async def take(self, partition_id: str, n: int, holder: str) -> list[tuple[str, str]]:
        """Pop the n first tasks of the partition's queue into `holder`'s in-flight set, in one
        atomic step, as (session_id, task_id): an agent killed before it acquires them leaves
        them there, for give-back when its lease lapses, instead of losing them."""
        ...

    async def settle(self, holder: str, partition_id: str, tasks: list[QueuedTask]) -> None:
        """Forget the tasks from `holder`'s in-flight set (acquired, or given back)."""
        ...

    async def held(self, holder: str, partition_id: str) -> list[tuple[str, str]]:
        """What `holder` took from the partition and has not settled."""
        ...

    async def depths(self) -> dict[str, int]:
        """The number of tasks queued on each partition that has a queue."""
        ...

    # For checks and tests.

    async def queued(self, tasks: list[QueuedTask]) -> list[bool]: ...

    def members_of(self, session_id: str) -> AsyncIterator[tuple[str, str]]:
        """Every entry of the session's tasks, as (partition, member)."""
        ...

    async def members(self, partition_id: str) -> list[str]: ...

    async def all_members(self) -> dict[str, list[str]]: ...
