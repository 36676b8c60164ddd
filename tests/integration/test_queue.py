"""The Queue on the real Redis (SPEC §2, "The queue"): one queue per partition, a higher
priority served first, first-in first-out among equal priorities, and a task pushed twice
queued once, keeping its place. Each test uses partitions of its own."""

import uuid

import pytest

from adapters.redis.queue import queue_key
from stores.queue import QueuedTask
from tests.integration.snapshot import assert_invariants

pytestmark = pytest.mark.stack


@pytest.fixture
async def fresh(stores):
    """Partition names no other test uses; their queues are dropped at the end."""
    made: list[str] = []

    def make() -> str:
        made.append(f"queue-test-{uuid.uuid4()}")
        return made[-1]

    yield make
    if made:
        await stores.queue.redis.delete(*(queue_key(p) for p in made))


def tasks(partition: str, priorities: list[int], session: str = "s") -> list[QueuedTask]:
    return [QueuedTask(session, f"t{i}", partition, p) for i, p in enumerate(priorities)]


async def test_each_partition_has_its_own_queue(stores, fresh):
    gpu, cpu = fresh(), fresh()
    await stores.queue.push(tasks(gpu, [1, 1]) + tasks(cpu, [1, 1, 1], session="other"))

    depths = await stores.queue.depths()
    assert (depths[gpu], depths[cpu]) == (2, 3)
    assert await stores.queue.members(gpu) == ["s/t0", "s/t1"]
    assert await stores.queue.pop(gpu, 10) == [("s", "t0"), ("s", "t1")]
    # Taking everything from one partition leaves the other as it was.
    assert await stores.queue.members(cpu) == ["other/t0", "other/t1", "other/t2"]
    assert await stores.queue.pop(gpu, 10) == []


async def test_higher_priority_is_served_first(stores, fresh):
    partition = fresh()
    await stores.queue.push(tasks(partition, [1, 5, 99, 3, 50]))

    popped = await stores.queue.pop(partition, 5)

    assert [t for _, t in popped] == ["t2", "t4", "t1", "t3", "t0"]


async def test_equal_priorities_are_first_in_first_out(stores, fresh):
    partition = fresh()
    # In one push, then across pushes, interleaved with another priority.
    await stores.queue.push(tasks(partition, [4, 4, 4]))
    await stores.queue.push([QueuedTask("s", "late-low", partition, 2)])
    await stores.queue.push([QueuedTask("s", "late", partition, 4)])
    await stores.queue.push([QueuedTask("s", "later", partition, 4)])

    popped = await stores.queue.pop(partition, 10)

    assert [t for _, t in popped] == ["t0", "t1", "t2", "late", "later", "late-low"]


async def test_pushing_a_queued_task_again_leaves_one_entry_in_its_place(stores, fresh):
    partition = fresh()
    first = tasks(partition, [3, 3, 3])
    assert await stores.queue.push(first) == 3

    # The first task again, alone and within a batch, then the whole batch again.
    assert await stores.queue.push([first[0]]) == 0
    assert await stores.queue.push([*first, QueuedTask("s", "new", partition, 3)]) == 1
    assert await stores.queue.push(first) == 0

    assert await stores.queue.members(partition) == ["s/t0", "s/t1", "s/t2", "s/new"]
    await assert_invariants(stores)  # no task queued twice, anywhere
    assert await stores.queue.pop(partition, 10) == [
        ("s", "t0"),
        ("s", "t1"),
        ("s", "t2"),
        ("s", "new"),
    ]


async def test_pop_returns_session_and_task_ids_in_order_and_removes_them(stores, fresh):
    partition = fresh()
    queued = [QueuedTask(f"session-{i}", f"task/{i}", partition, 10 - i) for i in range(5)]
    await stores.queue.push(queued)

    assert await stores.queue.pop(partition, 2) == [
        ("session-0", "task/0"),
        ("session-1", "task/1"),
    ]
    assert await stores.queue.members(partition) == [t.member for t in queued[2:]]
    assert await stores.queue.pop(partition) == [("session-2", "task/2")]
    assert await stores.queue.pop(partition, 10) == [
        ("session-3", "task/3"),
        ("session-4", "task/4"),
    ]
    assert await stores.queue.pop(partition, 10) == []
    assert partition not in await stores.queue.depths()
