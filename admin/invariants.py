"""The invariant checker: what must hold of a session once every operation on it has finished
(docs/lifecycle.md, "Invariants", lists them under these names). Tests, the chaos runs and
`armonik-sessions check` all use it."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from adapters.connect import Stores
from lifecycle.statuses import ResultStatus, SessionStatus
from lifecycle.transitions import FORBIDDEN_TASK_STATUSES, QUEUED_TASK_STATUS
from stores.queue import QueuedTask

INVARIANTS = {
    "1_paused_has_no_submitted_or_dispatched_task": "session PAUSED: a task SUBMITTED/DISPATCHED",
    "2_running_has_no_paused_task": "session RUNNING: a task PAUSED",
    "2_submitted_task_not_queued": "a SUBMITTED task is not in its partition's queue",
    "2_queued_task_not_submitted": "a queued task is not SUBMITTED (or not in the session)",
    "3_cancelled_has_unfinished_task": "session CANCELLED: a task in a non-final status",
    "3_cancelled_has_created_result": "session CANCELLED: a result CREATED",
    "4_purged_has_undeleted_result": "session PURGED: a non-manual result not DELETED",
    "4_purged_left_an_object": "session PURGED: the object of a deleted result is still there",
    "5_deleted_left_a_row": "session deleted: a row of it is left",
    "5_deleted_left_an_object": "session deleted: an object of it is left",
    "6_task_queued_twice": "a task is in the queues more than once",
    "7_pending_task_ready": "a PENDING task waits on no result",
    "7_queued_task_not_ready": "a SUBMITTED, DISPATCHED or PROCESSING task still waits on a result",
    "7_wait_on_completed_result": "a task still waits on a COMPLETED result",
    "9_completed_output_of_unfinished_task": "a result COMPLETED whose owner task is not",
    "9_output_owner_missing": "a result's owner task does not exist",
    "10_queue_mark_not_relayed": "a queue mark of the outbox is still waiting",
}


@dataclass
class Report:
    violations: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, invariant: str, example: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.violations[invariant] += n
        if len(self.examples[invariant]) < 5:
            self.examples[invariant].append(example)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        """Every invariant with its count of violations, zeros included."""
        return {name: self.violations.get(name, 0) for name in INVARIANTS}


# By session status, the invariant that a task in a status the session forbids breaks.
FORBIDDEN_BY = {
    SessionStatus.PAUSED: "1_paused_has_no_submitted_or_dispatched_task",
    SessionStatus.RUNNING: "2_running_has_no_paused_task",
    SessionStatus.CANCELLED: "3_cancelled_has_unfinished_task",
}


async def check(stores: Stores, session_ids: list[str]) -> Report:
    """Check the sessions (ids of deleted sessions included). Given no session, check the queues
    as a whole: no task in them twice. Sessions are read by chunks, so that a session of ten
    million tasks is checked in bounded statements and memory."""
    report = Report()
    if not session_ids:
        await _check_no_task_queued_twice(stores, report)
    for session_id in session_ids:
        await _check_session(stores, session_id, report)
    return report


async def _check_no_task_queued_twice(stores: Stores, report: Report) -> None:
    queues = await stores.queue.all_members()
    seen: Counter = Counter(m for members in queues.values() for m in members)
    for member, n in seen.items():
        if n > 1:
            report.add("6_task_queued_twice", member, n - 1)


async def _check_session(stores: Stores, session_id: str, report: Report) -> None:
    session = await stores.sessions.get(session_id)
    queued = 0
    async for _ in stores.queue.members_of(session_id):
        queued += 1
    if session is None or session.status == SessionStatus.DELETED:
        rows = await stores.tasks.count(session_id) + await stores.results.count(session_id)
        rows += await stores.tasks.work_rows(session_id)
        report.add("5_deleted_left_a_row", session_id, rows + (session is not None))
        report.add("5_deleted_left_a_row", f"{session_id} queued", queued)
        objects = await stores.objects.keys(f"{session_id}/")
        report.add("5_deleted_left_an_object", session_id, len(objects))
        return
    await _check_work(stores, session_id, report)
    status = session.status
    tasks: Counter = Counter()
    submitted_and_queued = 0
    # Every SUBMITTED task, whatever the session's status, is queued exactly once on its own
    # partition, and nothing else of the session is queued.
    async for chunk in stores.tasks.chunks(session_id):
        tasks.update(t.status for t in chunk)
        submitted = [QueuedTask.of(t) for t in chunk if t.status == QUEUED_TASK_STATUS]
        for task, found in zip(submitted, await stores.queue.queued(submitted), strict=True):
            if found:
                submitted_and_queued += 1
            else:
                report.add("2_submitted_task_not_queued", task.member)
    if queued > submitted_and_queued:
        await _name_the_extra_entries(stores, session_id, report)
    forbidden = FORBIDDEN_TASK_STATUSES.get(status, frozenset())
    if status in FORBIDDEN_BY:
        report.add(FORBIDDEN_BY[status], session_id, sum(tasks[s] for s in forbidden))
    if status == SessionStatus.CANCELLED:
        results = await stores.results.count_by_status(session_id)
        report.add(
            "3_cancelled_has_created_result", session_id, results.get(ResultStatus.CREATED, 0)
        )
    if status == SessionStatus.PURGED:
        kept: set[str] = set()
        async for chunk in stores.results.walk(session_id):
            for r in chunk:
                if not r["manual_deletion"] and r["status"] != ResultStatus.DELETED:
                    report.add("4_purged_has_undeleted_result", f"{session_id}/{r['result_id']}")
                if r["opaque_id"]:
                    kept.add(r["opaque_id"])
        for key in await stores.objects.keys(f"{session_id}/"):
            if key not in kept:
                report.add("4_purged_left_an_object", key)


async def _check_work(stores: Stores, session_id: str, report: Report) -> None:
    """Dependencies, owners and the outbox (SPEC §6, invariants 7 and 9)."""
    faults = {
        **await stores.tasks.dependency_faults(session_id),
        **await stores.results.owner_faults(session_id),
    }
    for fault, examples in faults.items():
        name = next(n for n in INVARIANTS if n.split("_", 1)[1] == fault)
        for example in examples:
            report.add(name, f"{session_id}/{example}")
    report.add("10_queue_mark_not_relayed", session_id, await stores.tasks.marks(session_id))


async def _name_the_extra_entries(stores: Stores, session_id: str, report: Report) -> None:
    """The session's queue entries that are not its SUBMITTED tasks on their own partition, or
    that are there twice. Only reached when some are: it holds the session in memory."""
    submitted = {
        (t.task_id, t.partition_id)
        for t in await stores.tasks.with_status(session_id, [QUEUED_TASK_STATUS])
    }
    entries: Counter = Counter()
    async for partition_id, member in stores.queue.members_of(session_id):
        entries[member] += 1
        task_id = member.split("/", 1)[1]
        if (task_id, partition_id) not in submitted:
            report.add("2_queued_task_not_submitted", member)
    for member, n in entries.items():
        if n > 1:
            report.add("6_task_queued_twice", member, n - 1)
