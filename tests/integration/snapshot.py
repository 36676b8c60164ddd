"""Everything the stores hold about one session, taken before and after an operation, so that a
test can say exactly what changed (and that a refusal changed nothing)."""

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.connect import Stores
from adapters.redis.queue import PREFIX
from admin.invariants import INVARIANTS, check
from lifecycle.domain import Session
from stores.results import ResultRow
from tests.support import result_rows


@dataclass(frozen=True)
class QueueEntry:
    partition_id: str
    task_id: str
    score: float


@dataclass
class Snapshot:
    session_id: str
    # The raw row, tombstone included; None once the row is gone.
    session: Session | None
    # task_id -> (status, partition_id)
    tasks: dict[str, tuple[int, str]]
    # result_id -> the full row, opaque id included
    results: dict[str, ResultRow]
    # Every queue entry of the session, on every partition.
    queued: frozenset[QueueEntry]
    objects: frozenset[str]
    # task_id -> priority
    priorities: dict[str, int] = field(default_factory=dict)
    # The operations log and the checkpoints of the session.
    operations: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task_counts(self) -> Counter:
        return Counter(status for status, _ in self.tasks.values())

    @property
    def result_counts(self) -> Counter:
        return Counter(r.status for r in self.results.values())

    def tasks_in(self, *statuses: int) -> dict[str, tuple[int, str]]:
        wanted = {int(s) for s in statuses}
        return {t: v for t, v in self.tasks.items() if v[0] in wanted}

    @property
    def queued_tasks(self) -> Counter:
        """(task_id, partition_id) -> how many times it is queued."""
        return Counter((e.task_id, e.partition_id) for e in self.queued)

    def queue_order(self, partition_id: str) -> list[str]:
        """The session's tasks queued on the partition, in the order they will be served."""
        entries = sorted(
            (e.score, e.task_id) for e in self.queued if e.partition_id == partition_id
        )
        return [task_id for _, task_id in entries]

    def without_epoch(self) -> "Snapshot":
        """The same snapshot with the session's epoch zeroed (an internal counter that every
        admitted Pause or Resume bumps)."""
        session = replace(self.session, epoch=0) if self.session is not None else None
        return replace(self, session=session, operations=[], steps=[])


async def take(stores: Stores, session_id: str) -> Snapshot:
    session = await stores.sessions.get(session_id)
    pool = stores.db.pool
    tasks = await pool.fetch(
        "SELECT task_id, status, partition_id, priority FROM tasks WHERE session_id = $1",
        session_id,
    )
    results = await result_rows(stores, session_id)
    queued: set[QueueEntry] = set()
    prefix = f"{session_id}/"
    async for key in stores.queue.redis.scan_iter(match=PREFIX + "*", count=1000):
        for member, score in await stores.queue.redis.zrange(key, 0, -1, withscores=True):
            if member.startswith(prefix):
                queued.add(QueueEntry(key.removeprefix(PREFIX), member.removeprefix(prefix), score))
    objects = await stores.objects.keys(prefix)
    operations = await pool.fetch(
        "SELECT op_id, seq, operation, from_status, to_status, epoch, finished_at"
        " FROM operations WHERE session_id = $1 ORDER BY seq",
        session_id,
    )
    steps = await pool.fetch(
        "SELECT op_id, step, cursor, done, scanned, changed, batches_started, batches_committed"
        " FROM operation_steps WHERE session_id = $1 ORDER BY op_id, step",
        session_id,
    )
    return Snapshot(
        session_id=session_id,
        session=session,
        tasks={r["task_id"]: (r["status"], r["partition_id"]) for r in tasks},
        results={r.result_id: r for r in results},
        queued=frozenset(queued),
        objects=frozenset(objects),
        priorities={r["task_id"]: r["priority"] for r in tasks},
        operations=[dict(r) for r in operations],
        steps=[dict(r) for r in steps],
    )


async def assert_invariants(stores: Stores, *session_ids: str) -> None:
    """SPEC §3's invariants 1 to 6 hold for the sessions (deleted ones included)."""
    report = await check(stores, list(session_ids))
    assert report.ok, (dict(report.violations), dict(report.examples))
    assert report.counts() == dict.fromkeys(INVARIANTS, 0)
