"""Fill a session with tasks and results: the tool for demos, tests and the bench.

Tasks are spread over the session's partitions with mixed priorities; SUBMITTED tasks are pushed
to their partition's queue, as a submitter would. Rows go in with COPY, by chunks, so a million
tasks take seconds.
"""

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from adapters.connect import Stores
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND, Refused
from lifecycle.statuses import ResultStatus, SessionStatus, TaskStatus
from lifecycle.transitions import FORBIDDEN_TASK_STATUSES, QUEUED_TASK_STATUS
from stores.objects import object_key
from stores.queue import QueuedTask
from stores.results import ResultRow
from stores.tasks import TaskRow

CHUNK = 50_000
UPLOADS_IN_FLIGHT = 64
# Results get this mix of statuses, in turn: a purge must tell them apart.
RESULT_STATUS_CYCLE = (
    [ResultStatus.COMPLETED] * 6 + [ResultStatus.CREATED] * 3 + [ResultStatus.ABORTED]
)
# One result in MANUAL_EVERY is kept for manual deletion, which a purge must leave alone; the
# number is prime to the status cycle's length, so every status has some.
MANUAL_EVERY = 13
# A seeded PENDING task must wait on something (invariant 7): on this result, which the seed
# does not create, so that the sessions' result counts stay what the tests seeded.
SEED_DEPENDENCY = "seed-dependency"


@dataclass
class SeedReport:
    session_id: str
    tasks: int
    queued: int
    results: int
    objects: int


async def seed(
    stores: Stores,
    session_id: str,
    tasks: int,
    task_status: TaskStatus = TaskStatus.SUBMITTED,
    results: int = 0,
    objects: bool = False,
    seed_value: int = 0,
    upload_every: int = 1,
) -> SeedReport:
    """`objects`: each result gets an object key, and every `upload_every`-th of them its
    object (a scale test of deletes needs the keys more than the bytes: S3 deletes a missing
    key as it deletes an object)."""
    session = await stores.sessions.get_live(session_id)
    if session is None:
        raise Refused(NOT_FOUND, f"session {session_id} not found")
    if session.status in (SessionStatus.PURGED, SessionStatus.CANCELLED):
        raise Refused(FAILED_PRECONDITION, f"cannot seed a session that is {session.status.name}")
    # Seeded data must be data the invariants allow.
    if tasks and task_status in FORBIDDEN_TASK_STATUSES.get(session.status, ()):
        raise Refused(
            FAILED_PRECONDITION,
            f"a {session.status.name} session holds no {task_status.name} task",
        )
    rng = random.Random(seed_value)
    partitions = session.partition_ids
    queued = 0
    task_ids = spread_ids(tasks)
    for start in range(0, tasks, CHUNK):
        rows = [
            TaskRow(
                session_id,
                next(task_ids),
                int(task_status),
                rng.randint(1, 9),
                partitions[(start + i) % len(partitions)],
            )
            for i in range(min(CHUNK, tasks - start))
        ]
        async with stores.db.transaction() as tx:
            await stores.tasks.insert(tx, rows)
            if task_status == TaskStatus.PENDING:
                waits = [(r.task_id, SEED_DEPENDENCY) for r in rows]
                await stores.tasks.insert_waits(tx, session_id, waits)
        if task_status == QUEUED_TASK_STATUS:
            queued += await stores.queue.push([QueuedTask.of(r) for r in rows])
    uploaded = 0
    result_ids = spread_ids(results)
    for start in range(0, results, CHUNK):
        rows = []
        for i in range(start, min(results, start + CHUNK)):
            result_id = next(result_ids)
            rows.append(
                ResultRow(
                    session_id,
                    result_id,
                    name=f"result-{i}",
                    status=int(RESULT_STATUS_CYCLE[i % len(RESULT_STATUS_CYCLE)]),
                    size=64 if objects else 0,
                    opaque_id=object_key(session_id, result_id) if objects else None,
                    manual_deletion=i % MANUAL_EVERY == MANUAL_EVERY - 1,
                )
            )
        if objects:
            keys = [r.opaque_id for r in rows if r.opaque_id]
            uploaded += await _upload(stores, keys[::upload_every])
        # Objects first: a row never points at an object that was not written.
        async with stores.db.transaction() as tx:
            await stores.results.insert(tx, rows)
    return SeedReport(session_id, tasks, queued, results, uploaded)


async def _upload(stores: Stores, keys: list[str]) -> int:
    semaphore = asyncio.Semaphore(UPLOADS_IN_FLIGHT)

    async def put(key: str) -> None:
        async with semaphore:
            await stores.objects.put(key, key.encode().ljust(64, b"."))

    await asyncio.gather(*(put(k) for k in keys))
    return len(keys)


def spread_ids(n: int) -> Iterator[str]:
    """n random UUIDs, spread evenly over the whole space and drawn in increasing order: the
    primary key then grows at its end as chunks go in, instead of taking writes all over an
    index that outgrows memory (10,000,000 tasks: minutes instead of half an hour)."""
    draw = random.Random()  # not the seeded one: two seeds of one session never collide
    width = (1 << 128) // max(n, 1)
    for i in range(n):
        yield str(uuid.UUID(int=i * width + draw.randrange(width)))
