"""The raw floor: each bulk operation's work done the shortest way the stores allow, with no
Temporal, no batches, no checkpoint and no guard. One set-based statement per table (UPDATE or
DELETE .. RETURNING what the queue needs), then the queue writes pipelined by 10,000 members, and
the object deletes at 1,000 keys a call with 32 calls in flight. It uses the same adapters for
Redis and S3 as the product, and the same PostgreSQL, so the two differ only by what the
product adds: durability, progress and ordering.
"""

import time

from adapters.connect import Stores
from lifecycle.statuses import Operation
from lifecycle.transitions import RESULT_FLIPS, TASK_FLIPS
from stores.queue import QueuedTask

QUEUE_CHUNK = 10_000
DELETES_IN_FLIGHT = 32


def _statuses(flip) -> list[int]:
    return sorted(int(s) for s in flip.from_statuses)


async def _queue(stores: Stores, session_id: str, rows, write) -> None:
    entries = [QueuedTask(session_id, r["task_id"], r["partition_id"], r["priority"]) for r in rows]
    for start in range(0, len(entries), QUEUE_CHUNK):
        await write(entries[start : start + QUEUE_CHUNK])


async def _delete_objects(stores: Stores, keys: list[str]) -> float:
    """The seconds the deletes took."""
    # The stores are connected with s3_deletes_in_flight = DELETES_IN_FLIGHT (bench/__main__.py).
    began = time.perf_counter()
    await stores.objects.delete(keys)
    return time.perf_counter() - began


async def _flip_tasks(stores: Stores, session_id: str, operation: Operation):
    flip = TASK_FLIPS[operation]
    return await stores.db.pool.fetch(
        "UPDATE tasks SET status = $3 WHERE session_id = $1 AND status = ANY($2::smallint[])"
        " RETURNING task_id, partition_id, priority",
        session_id,
        _statuses(flip),
        int(flip.to_status),
    )


async def pause(stores: Stores, session_id: str) -> None:
    rows = await _flip_tasks(stores, session_id, Operation.PAUSE)
    await _queue(stores, session_id, rows, stores.queue.remove)


async def resume(stores: Stores, session_id: str) -> None:
    rows = await _flip_tasks(stores, session_id, Operation.RESUME)
    await _queue(stores, session_id, rows, stores.queue.push)


async def cancel(stores: Stores, session_id: str) -> None:
    rows = await _flip_tasks(stores, session_id, Operation.CANCEL)
    await _queue(stores, session_id, rows, stores.queue.remove)
    flip = RESULT_FLIPS[Operation.CANCEL]
    await stores.db.pool.execute(
        "UPDATE results SET status = $3 WHERE session_id = $1 AND status = ANY($2::smallint[])",
        session_id,
        _statuses(flip),
        int(flip.to_status),
    )


async def purge(stores: Stores, session_id: str) -> float:
    """The seconds its object deletes took, of the whole."""
    flip = RESULT_FLIPS[Operation.PURGE]
    keys = await stores.db.pool.fetch(
        "SELECT opaque_id FROM results WHERE session_id = $1 AND status = ANY($2::smallint[])"
        " AND opaque_id IS NOT NULL AND NOT manual_deletion",
        session_id,
        _statuses(flip),
    )
    deleting = await _delete_objects(stores, [k["opaque_id"] for k in keys])
    await stores.db.pool.execute(
        "UPDATE results SET status = $3, opaque_id = NULL WHERE session_id = $1"
        " AND status = ANY($2::smallint[]) AND NOT manual_deletion",
        session_id,
        _statuses(flip),
        int(flip.to_status),
    )
    return deleting


async def delete(stores: Stores, session_id: str) -> None:
    rows = await stores.db.pool.fetch(
        "DELETE FROM tasks WHERE session_id = $1 RETURNING task_id, partition_id, priority",
        session_id,
    )
    await _queue(stores, session_id, rows, stores.queue.remove)
    keys = await stores.db.pool.fetch(
        "DELETE FROM results WHERE session_id = $1 RETURNING opaque_id", session_id
    )
    await _delete_objects(stores, [k["opaque_id"] for k in keys if k["opaque_id"]])
    await stores.db.pool.execute("DELETE FROM sessions WHERE session_id = $1", session_id)


FLOORS = {
    Operation.PAUSE: pause,
    Operation.RESUME: resume,
    Operation.CANCEL: cancel,
    Operation.PURGE: purge,
    Operation.DELETE: delete,
}
