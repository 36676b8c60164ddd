"""The invariant checker (SPEC §3): what must hold of a session once every operation on it has
finished. Tests, the chaos runs and `armonik-sessions check` all use it."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from lifecycle.statuses import NON_FINAL_TASK_STATUSES, ResultStatus, SessionStatus, TaskStatus
from stores.connect import Stores

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


async def check(stores: Stores, session_ids: list[str]) -> Report:
    """Check the sessions (ids of deleted sessions included) and the queues as a whole."""
    report = Report()
    queues = await stores.queue.all_members()
    seen: Counter = Counter(m for members in queues.values() for m in members)
    for member, n in seen.items():
        if n > 1:
            report.add("6_task_queued_twice", member, n - 1)
    queued_by_session: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for partition_id, members in queues.items():
        for member in members:
            session_id, task_id = member.split("/", 1)
            queued_by_session[session_id].add((task_id, partition_id))
    for session_id in session_ids:
        await _check_session(stores, session_id, queued_by_session[session_id], report)
    return report


async def _check_session(
    stores: Stores, session_id: str, queued: set[tuple[str, str]], report: Report
) -> None:
    session = await stores.sessions.get(session_id)
    if session is None or session.status == SessionStatus.DELETED:
        rows = await stores.tasks.count(session_id) + await stores.results.count(session_id)
        report.add("5_deleted_left_a_row", session_id, rows + (session is not None))
        report.add("5_deleted_left_a_row", f"{session_id} queued", len(queued))
        objects = await stores.objects.keys(f"{session_id}/")
        report.add("5_deleted_left_an_object", session_id, len(objects))
        return
    tasks = await stores.tasks.count_by_status(session_id)
    status = session.status
    if status == SessionStatus.PAUSED:
        n = tasks.get(TaskStatus.SUBMITTED, 0) + tasks.get(TaskStatus.DISPATCHED, 0)
        report.add("1_paused_has_no_submitted_or_dispatched_task", session_id, n)
    if status == SessionStatus.RUNNING:
        report.add("2_running_has_no_paused_task", session_id, tasks.get(TaskStatus.PAUSED, 0))
    # Every SUBMITTED task, whatever the session's status, is queued exactly once on its own
    # partition, and nothing else of the session is queued.
    submitted = {
        (t.task_id, t.partition_id)
        for t in await stores.tasks.with_status(session_id, [TaskStatus.SUBMITTED])
    }
    for task_id, _ in sorted(submitted - queued):
        report.add("2_submitted_task_not_queued", f"{session_id}/{task_id}")
    for task_id, _ in sorted(queued - submitted):
        report.add("2_queued_task_not_submitted", f"{session_id}/{task_id}")
    if status == SessionStatus.CANCELLED:
        unfinished = sum(tasks.get(s, 0) for s in NON_FINAL_TASK_STATUSES)
        report.add("3_cancelled_has_unfinished_task", session_id, unfinished)
        results = await stores.results.count_by_status(session_id)
        report.add(
            "3_cancelled_has_created_result", session_id, results.get(ResultStatus.CREATED, 0)
        )
    if status == SessionStatus.PURGED:
        rows = await stores.results.all_rows(session_id)
        for r in rows:
            if not r.manual_deletion and r.status != ResultStatus.DELETED:
                report.add("4_purged_has_undeleted_result", f"{session_id}/{r.result_id}")
        kept = {r.opaque_id for r in rows if r.opaque_id}
        for key in await stores.objects.keys(f"{session_id}/"):
            if key not in kept:
                report.add("4_purged_left_an_object", key)
