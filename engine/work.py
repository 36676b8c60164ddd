"""Work in a session: results, submission, and what the agents report (SPEC §6). The API's
Results and Tasks servicers and the agents (issue 19) call these.

Each call is one PostgreSQL transaction, not a workflow (docs/design.md, "Work is not a
workflow"): it share-locks the session, so that no admission (Pause, Cancel, Close...) commits
while it runs and it lands wholly before or after one; it decides by lifecycle/work.py; and it
writes the rows and, for every task whose queue entry must change, a mark in the queue outbox.
After the commit the marks are relayed to Redis (relay()); a crash before that leaves the marks
for the next relay, which puts each entry where its task's status then says. Every call is safe
to repeat: ids are the caller's or derived from the request, inserts skip what exists, and each
change is conditional on the status it changes from.
"""

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace

from engine.reads import check_ids
from lifecycle.refusals import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import NON_FINAL_TASK_STATUSES, ResultStatus, SessionStatus, TaskStatus
from lifecycle.transitions import QUEUED_TASK_STATUS
from lifecycle.work import (
    RUN,
    SUBMITTABLE,
    WAITING,
    WRITABLE,
    ResultState,
    TaskRequest,
    after_failure,
    finalized_status,
    may_start,
    on_acquire,
    plan_submission,
    ready_status,
    referenced_results,
    retry_id,
    session_refusal,
)
from stores import failures
from stores.database import Tx
from stores.objects import object_key
from stores.queue import QueuedTask
from stores.results import ResultRow
from stores.store_set import StoreSet
from stores.task_reads import TaskData
from stores.tasks import TaskChange, TaskRecord, TaskRow

T, R = TaskStatus, ResultStatus
# Marks relayed per transaction by a drain of the outbox.
RELAY_BATCH = 1000
# How deep an abort may cascade through dependants in one call; deeper DAGs than this are not
# what ArmoniK runs, and a bound keeps a cycle of bad data from looping.
MAX_CASCADE = 10_000


def new_object_key(session_id: str) -> str:
    """An opaque id for a result's object: fresh for every write, so that a retried or late
    write never overwrites the object a completed result already points at."""
    return object_key(session_id, uuid.uuid4().hex)


class Work:
    def __init__(self, stores: StoreSet, download_chunk: int = 2**20) -> None:
        self.stores = stores
        self.download_chunk = download_chunk

    # Results.

    async def create_results_metadata(
        self,
        session_id: str,
        names: list[str],
        *,
        manual_deletion: bool = False,
        created_by: str = "",
        result_ids: list[str] | None = None,
    ) -> list[ResultRow]:
        """CREATED results. `result_ids`, if given, make a retry insert nothing twice."""
        ids = result_ids or [str(uuid.uuid4()) for _ in names]
        rows = self._new_results(session_id, ids, names, manual_deletion, created_by)
        async with self.stores.db.transaction() as tx:
            session = await self._session(tx, session_id)
            _require(session, SUBMITTABLE if not created_by else WRITABLE, "create results in")
            await self.stores.results.insert_new(tx, rows)
            return list((await self.stores.results.get_many(tx, session_id, ids)).values())

    async def create_results(
        self,
        session_id: str,
        items: list[tuple[str, bytes]],
        *,
        manual_deletion: bool = False,
        created_by: str = "",
        result_ids: list[str] | None = None,
    ) -> list[ResultRow]:
        """COMPLETED results with their data: the objects are written first, so that no row
        ever points at an object that is not there; refused ones are deleted again."""
        await self._writable(session_id, SUBMITTABLE if not created_by else WRITABLE)
        ids = result_ids or [str(uuid.uuid4()) for _ in items]
        keys = [new_object_key(session_id) for _ in items]
        rows = self._new_results(
            session_id, ids, [n for n, _ in items], manual_deletion, created_by
        )
        data = {rid: (len(d), key) for rid, key, (_, d) in zip(ids, keys, items, strict=True)}
        # Any failure, of a put as of the commit, deletes every object this call wrote (a key
        # not written is deleted as a no-op); only a kill in between leaves one (docs/design.md).
        try:
            for key, (_, content) in zip(keys, items, strict=True):
                await self.stores.objects.put(key, content)
            async with self.stores.db.transaction() as tx:
                session = await self._session(tx, session_id)
                _require(session, SUBMITTABLE if not created_by else WRITABLE, "create results in")
                await self.stores.results.insert_new(tx, rows)
                done, seqs = await self._complete_results(tx, session_id, session.status, data)
        except BaseException:  # a cancelled call (its client gone) too
            await self.stores.objects.delete(keys)
            raise
        # A retry's results were completed by its first attempt: its own objects go.
        await self.stores.objects.delete([k for rid, (_, k) in data.items() if rid not in done])
        await self.relay(seqs)
        return await self._results(session_id, ids)

    async def upload_result_data(
        self, session_id: str, result_id: str, chunks: AsyncIterable[bytes]
    ) -> ResultRow:
        """Stream the data to a fresh object, then complete the result with its size; that can
        make tasks waiting on it ready. A result no longer CREATED by then is refused and the
        object deleted."""
        await self._writable(session_id, WRITABLE)
        found = await self._results(session_id, [result_id])
        if not found:
            raise Refused(NOT_FOUND, f"result {result_id} not found in session {session_id}")
        _require_created(found[0])
        key = new_object_key(session_id)
        try:
            # A stream that fails leaves no part (put_stream aborts its multipart upload), and
            # one that ends but is refused at the commit no object.
            size = await self.stores.objects.put_stream(key, chunks)
            async with self.stores.db.transaction() as tx:
                session = await self._session(tx, session_id)
                _require(session, WRITABLE, "upload to")
                done, seqs = await self._complete_results(
                    tx, session_id, session.status, {result_id: (size, key)}
                )
                if not done:
                    row = (await self.stores.results.get_many(tx, session_id, [result_id]))[
                        result_id
                    ]
                    _require_created(row)
        except BaseException:  # a cancelled call (its client gone) too
            await self.stores.objects.delete([key])
            raise
        await self.relay(seqs)
        return (await self._results(session_id, [result_id]))[0]

    async def import_results_data(
        self, session_id: str, opaque_ids: dict[str, str]
    ) -> list[ResultRow]:
        """Complete CREATED results with objects already in object storage (ArmoniK's
        ImportResultsData): each object must be there, and under the session's prefix, so that
        no import makes a result of one session name (and its deletion delete) another's data.
        NOT_FOUND for a missing result, INVALID_ARGUMENT for an object outside the prefix,
        NOT_FOUND for a missing object, FAILED_PRECONDITION for a result not CREATED; all or
        nothing."""
        ids = sorted(check_ids("result", list(opaque_ids)))
        await self._writable(session_id, WRITABLE)
        found = await self._results(session_id, ids)
        missing = sorted(set(ids) - {r.result_id for r in found})
        if missing:
            raise Refused(NOT_FOUND, f"results not found in session {session_id}: {missing[:10]}")
        prefix = object_key(session_id, "")
        outside = sorted(k for k in opaque_ids.values() if not k.startswith(prefix) or k == prefix)
        if outside:
            raise Refused(
                INVALID_ARGUMENT,
                f"opaque ids outside session {session_id}'s objects: {outside[:10]}",
            )
        sizes = {k: await self.stores.objects.size(k) for k in sorted(set(opaque_ids.values()))}
        absent = sorted(k for k, size in sizes.items() if size is None)
        if absent:
            raise Refused(NOT_FOUND, f"opaque ids not found in object storage: {absent[:10]}")
        for row in found:
            _require_created(row)
        data = {r: (sizes[k] or 0, k) for r, k in opaque_ids.items()}
        async with self.stores.db.transaction() as tx:
            session = await self._session(tx, session_id)
            _require(session, WRITABLE, "import into")
            done, seqs = await self._complete_results(tx, session_id, session.status, data)
            if len(done) < len(ids):
                rows = await self.stores.results.get_many(tx, session_id, ids)
                for row in rows.values():
                    _require_created(row)
        await self.relay(seqs)
        return await self._results(session_id, ids)

    async def download(self, session_id: str, result_id: str) -> AsyncIterator[bytes]:
        """The result's data in chunks of at most `download_chunk`: checked before the first."""
        if session_refusal(await self.stores.sessions.get(session_id), session_id):
            raise Refused(NOT_FOUND, f"session {session_id} not found")
        found = await self._results(session_id, [result_id])
        if not found:
            raise Refused(NOT_FOUND, f"result {result_id} not found in session {session_id}")
        if found[0].status != R.COMPLETED or not found[0].opaque_id:
            raise Refused(
                FAILED_PRECONDITION,
                f"result {result_id} has no data: it is {ResultStatus(found[0].status).name}",
            )
        return self.stores.objects.get_stream(found[0].opaque_id, self.download_chunk)

    async def delete_results_data(self, session_id: str, result_ids: list[str]) -> list[str]:
        """Delete the results' objects, then mark them DELETED (objects first: a crash between
        leaves a row whose retry deletes again, never an object no row names)."""
        if session_refusal(await self.stores.sessions.get(session_id), session_id):
            raise Refused(NOT_FOUND, f"session {session_id} not found")
        found = await self._results(session_id, result_ids)
        missing = sorted(set(result_ids) - {r.result_id for r in found})
        if missing:
            raise Refused(NOT_FOUND, f"results not found in session {session_id}: {missing[:10]}")
        await self.stores.objects.delete([r.opaque_id for r in found if r.opaque_id])
        async with self.stores.db.transaction() as tx:
            await self._session(tx, session_id)
            await self.stores.results.mark_data_deleted(tx, session_id, result_ids)
        return sorted(set(result_ids))

    # Tasks.

    async def submit_tasks(
        self,
        session_id: str,
        requests: list[TaskRequest],
        *,
        parent_task_id: str = "",
    ) -> list[TaskRecord]:
        """Create the tasks (SPEC §6, "Submission"), or refuse them all and change nothing. A
        retried submission finds its tasks and answers them. `parent_task_id`: subtasks from
        that task's worker, CREATING until it completes."""
        referenced = referenced_results(requests)
        outputs = sorted({o for q in requests for o in q.expected_output_ids})
        async with self.stores.db.transaction() as tx:
            session = await self.stores.sessions.share(tx, session_id)
            refusal = session_refusal(session, session_id)
            if refusal:
                raise refusal
            # Outputs are locked against a second owner; dependencies share-locked so that none
            # completes unseen between this read and the commit of the waits on it (its
            # completion then waits for this commit, and resolves the waits it then sees).
            results = await self.stores.results.get_many(tx, session_id, outputs, "update")
            inputs = sorted(referenced - set(outputs))
            results |= await self.stores.results.get_many(tx, session_id, inputs, "share")
            lineage: tuple[str, ...] = ()
            if parent_task_id:
                parents = await self.stores.tasks.get_many(tx, session_id, [parent_task_id])
                if not parents or parents[0].status != T.PROCESSING:
                    raise Refused(FAILED_PRECONDITION, f"task {parent_task_id} is not processing")
                lineage = parents[0].parent_task_ids
            owners = sorted({r.owner_task_id for r in results.values() if r.owner_task_id})
            owning = await self.stores.tasks.get_many(tx, session_id, owners)
            plan = plan_submission(
                session,
                session_id,
                requests,
                {k: ResultState(r.status, r.owner_task_id) for k, r in results.items()},
                parent=parent_task_id,
                parent_lineage=lineage,
                known={t.task_id: t.data_dependencies for t in owning},
            )
            records = [
                TaskRecord(
                    session_id,
                    p.task_id,
                    int(p.status),
                    p.options.priority,
                    p.options.partition_id,
                    p.options,
                    p.payload_id,
                    p.expected_output_ids,
                    p.data_dependencies,
                    p.parent_task_ids,
                    created_by=p.created_by,
                )
                for p in plan.tasks
            ]
            inserted = await self.stores.tasks.insert_new(
                tx, records, {p.task_id: p.unresolved for p in plan.tasks}
            )
            # A subtask's outputs stay its parent's until the parent completes.
            if not parent_task_id:
                await self.stores.results.take_ownership(
                    tx,
                    session_id,
                    {o: p.task_id for p in plan.tasks for o in p.expected_output_ids},
                    [],
                )
            seqs = await self.stores.tasks.mark_for_queue(
                tx,
                session_id,
                [r.task_id for r in records if r.task_id in inserted and r.status == T.SUBMITTED],
            )
            found = {
                t.task_id: t for t in await self.stores.tasks.get_many(tx, session_id, plan.order)
            }
        await self.relay(seqs)
        return [found[t] for t in plan.order]

    async def cancel_tasks(self, session_id: str, task_ids: list[str]) -> list[TaskRow]:
        """The tasks not final yet are CANCELLED and dequeued, their outputs ABORTED, and the
        tasks waiting on those CANCELLED in turn (ResultLifeCycleHelper's cascade)."""
        async with self.stores.db.transaction() as tx:
            await self._session(tx, session_id)
            found = await self.stores.tasks.get_many(tx, session_id, task_ids, lock=True)
            missing = sorted(set(task_ids) - {t.task_id for t in found})
            if missing:
                raise Refused(NOT_FOUND, f"tasks not found in session {session_id}: {missing[:10]}")
            changed = await self._end(
                tx, session_id, [t.task_id for t in found], NON_FINAL_TASK_STATUSES, T.CANCELLED
            )
            seqs = await self.stores.tasks.mark_for_queue(
                tx, session_id, [t.task_id for t in changed]
            )
        await self.relay(seqs)
        return changed

    async def cancel_tasks_by_id(self, task_ids: list[str]) -> list[TaskData]:
        """CancelTasks as ArmoniK's wire asks it: by task ids alone, each found in its session;
        an unknown id is NOT_FOUND, before anything is cancelled. Every task asked for, as it
        is after the cancel (one already final stays as it was), as ArmoniK answers."""
        sessions = await self.stores.tasks.sessions_of(task_ids)
        missing = sorted(set(task_ids) - set(sessions))
        if missing:
            raise Refused(NOT_FOUND, f"tasks not found: {missing[:10]}")
        by_session: dict[str, list[str]] = {}
        for task_id, session_id in sorted(sessions.items()):
            by_session.setdefault(session_id, []).append(task_id)
        for session_id, ids in by_session.items():
            await self.cancel_tasks(session_id, ids)
        return await self.stores.tasks.get_tasks(task_ids)

    # The agents (issue 19). `pod_id` names the agent; each call changes a task only while that
    # agent owns it, so a late or repeated report of an agent that lost the task changes nothing.

    async def acquire(self, session_id: str, task_id: str, pod_id: str) -> TaskRecord | None:
        """Take a task popped from the queue: SUBMITTED -> DISPATCHED, owned by `pod_id`. The
        session is checked first (ArmoniK #940): paused, the task goes PAUSED; unable to run
        anything more, CANCELLED with its outputs ABORTED. None when the agent must not run it
        (settled so, or no longer SUBMITTED: taken, cancelled, final)."""
        async with self.stores.db.transaction() as tx:
            status, task = await self._task_of(tx, session_id, task_id)
            if task is None:
                return None
            if task.status == T.DISPATCHED and task.owner_pod_id == pod_id:
                return task
            what, to = on_acquire(status, TaskStatus(task.status))
            taken: TaskRecord | None = None
            if what == RUN:
                change = TaskChange(T.DISPATCHED, frozenset({T.SUBMITTED}), owner=pod_id)
                changed = await self.stores.tasks.change(
                    tx, session_id, [task_id], replace(change, stamp="acquired_at")
                )
                taken = (await self.stores.tasks.get_many(tx, session_id, [task_id]))[0]
                taken = taken if changed else None
            elif to is not None:
                await self._end(tx, session_id, [task_id], frozenset({T.SUBMITTED}), to)
            # The entry is out of the queue already if the agent took it; the mark also
            # clears one left by any other way of finding the task.
            seqs = await self.stores.tasks.mark_for_queue(tx, session_id, [task_id])
        await self.relay(seqs)
        return taken

    async def take(self, partition_id: str, n: int, pod_id: str) -> list[TaskRecord]:
        """An agent's next tasks: taken from the queue into its in-flight set, then acquired
        one by one; those it may not run are settled and skipped."""
        acquired = []
        for session_id, task_id in await self.stores.queue.take(partition_id, n, pod_id):
            task = await self.acquire(session_id, task_id, pod_id)
            # Settled only once the acquisition committed: a crash before leaves the entry in
            # the agent's in-flight set, for give_back.
            member = QueuedTask(session_id, task_id, partition_id)
            await self.stores.queue.settle(pod_id, partition_id, [member])
            if task is not None:
                acquired.append(task)
        return acquired

    async def give_back(self, pod_id: str, partition_id: str) -> int:
        """What an agent took and never settled (it died between its take and its acquisition,
        or before settling): each entry is marked and relayed, so it goes back to the queue if
        its task is still SUBMITTED, then forgotten. For the lapse of the agent's lease."""
        held = await self.stores.queue.held(pod_id, partition_id)
        by_session: dict[str, list[str]] = {}
        for session_id, task_id in held:
            by_session.setdefault(session_id, []).append(task_id)
        for session_id, task_ids in by_session.items():
            async with self.stores.db.transaction() as tx:
                seqs = await self.stores.tasks.mark_for_queue(tx, session_id, task_ids)
            await self.relay(seqs)
        members = [QueuedTask(s, t, partition_id) for s, t in held]
        await self.stores.queue.settle(pod_id, partition_id, members)
        return len(held)

    async def start(self, session_id: str, task_id: str, pod_id: str) -> bool:
        """DISPATCHED -> PROCESSING, only in a RUNNING session: once a Pause is admitted, its
        sweep makes the task PAUSED and no agent starts it. Whether the agent may run it."""
        async with self.stores.db.transaction() as tx:
            status, task = await self._task_of(tx, session_id, task_id)
            if task is None or task.owner_pod_id != pod_id:
                return False
            if task.status == T.PROCESSING:
                return True
            if may_start(status, TaskStatus(task.status), owned=True):
                change = TaskChange(
                    T.PROCESSING, frozenset({T.DISPATCHED}), owned_by=pod_id, stamp="started_at"
                )
                return bool(await self.stores.tasks.change(tx, session_id, [task_id], change))
            if task.status == T.DISPATCHED:
                _, to = on_acquire(status, T.SUBMITTED)
                if to is not None and to != T.DISPATCHED:
                    await self._end(tx, session_id, [task_id], frozenset({T.DISPATCHED}), to)
            return False

    async def complete(
        self,
        session_id: str,
        task_id: str,
        pod_id: str,
        outputs: dict[str, tuple[int, str]],
    ) -> bool:
        """The worker succeeded. Its outputs (result id: (size, object key), objects written
        already) are COMPLETED, its subtasks finalized and given the outputs they took over,
        any expected output it neither produced nor handed on ABORTED (with what waits on it),
        the task COMPLETED, and the dependants made ready. False if the agent no longer owns a
        PROCESSING task (cancelled meanwhile): nothing changes, and the agent deletes its
        objects."""
        async with self.stores.db.transaction() as tx:
            status, task = await self._task_of(tx, session_id, task_id)
            if task is None or task.owner_pod_id != pod_id:
                return False
            if task.status == T.COMPLETED:
                return True
            if task.status != T.PROCESSING or status not in WRITABLE:
                return False
            _, seqs = await self._complete_results(
                tx, session_id, status, outputs, owned_by=task_id
            )
            seqs += await self._finalize_children(tx, session_id, status, task_id)
            change = TaskChange(
                T.COMPLETED, frozenset({T.PROCESSING}), owned_by=pod_id, stamp="ended_at"
            )
            await self.stores.tasks.change(tx, session_id, [task_id], change)
            left = await self.stores.results.owned_by(tx, session_id, [task_id], [R.CREATED])
            await self._abort_results(
                tx, session_id, [r.result_id for r in left], [task_id], T.ERROR, "not produced"
            )
        await self.relay(seqs)
        return True

    async def fail(
        self,
        session_id: str,
        task_id: str,
        pod_id: str,
        error: str,
        *,
        retriable: bool,
        timed_out: bool = False,
    ) -> TaskRecord | None:
        """The worker call failed. A crash with retries left: the task is RETRIED and its retry
        (`<initial>###n`) created, queued, and given the outputs. Otherwise ERROR (TIMEOUT past
        the deadline), its outputs ABORTED with what waits on them. The task as it is now, or
        None if the agent no longer owns it."""
        async with self.stores.db.transaction() as tx:
            status, task = await self._task_of(tx, session_id, task_id)
            if task is None or task.owner_pod_id != pod_id:
                return None
            running = frozenset({T.DISPATCHED, T.PROCESSING})
            if task.status not in running:
                return task if task.status in (T.RETRIED, T.ERROR, T.TIMEOUT) else None
            to = (
                T.TIMEOUT
                if timed_out
                else after_failure(len(task.retry_of_ids), task.options.max_retries, retriable)
            )
            seqs: list[int] = []
            change = TaskChange(to, running, owned_by=pod_id, stamp="ended_at", error=error)
            await self.stores.tasks.change(tx, session_id, [task_id], change)
            children = await self.stores.tasks.children(tx, session_id, task_id, [T.CREATING])
            await self._end(
                tx, session_id, [c.task_id for c in children], frozenset({T.CREATING}), T.CANCELLED
            )
            if to == T.RETRIED:
                seqs = await self._retry(tx, session_id, status, task)
            else:
                await self._abort_results(
                    tx, session_id, list(task.expected_output_ids), [task_id], to, error
                )
            now = await self.stores.tasks.get_many(tx, session_id, [task_id])
        await self.relay(seqs)
        return now[0]

    async def status_of(self, session_id: str, task_id: str) -> TaskStatus | None:
        """The task's status as committed (None if gone): what a running task's agent polls to
        learn that it was cancelled (issue 19)."""
        async with self.stores.db.connection() as conn:
            found = await self.stores.tasks.get_many(conn, session_id, [task_id])
        return TaskStatus(found[0].status) if found else None

    async def release(self, session_id: str, task_id: str, pod_id: str) -> bool:
        """Give back a DISPATCHED task not started (an agent stopping, a lease lapsed): it goes
        where a ready task of its session goes (SUBMITTED and queued; PAUSED in a PAUSED
        session, ArmoniK #832), unowned. Whether it was released."""
        async with self.stores.db.transaction() as tx:
            session = await self.stores.sessions.share(tx, session_id)
            status = session.status if session else SessionStatus.DELETED
            to = ready_status(status)
            dispatched = frozenset({T.DISPATCHED})
            if to == T.CANCELLED:
                changed = await self._end(tx, session_id, [task_id], dispatched, to, pod_id)
            else:
                change = TaskChange(to, dispatched, owned_by=pod_id, owner="", stamp="submitted_at")
                changed = await self.stores.tasks.change(tx, session_id, [task_id], change)
            seqs = await self.stores.tasks.mark_for_queue(tx, session_id, [task_id])
        await self.relay(seqs)
        return bool(changed)

    async def reap(self, pod_id: str, partition_id: str) -> int:
        """What a dead agent (its lease lapsed) held: the entries it took and never settled go
        back (give_back), its DISPATCHED tasks are released, its PROCESSING ones failed as a
        crash (RETRIED while retries remain). Safe to repeat, and to run in several reapers at
        once: each change is conditional on the dead agent still owning the task. How many
        tasks it held."""
        await self.give_back(pod_id, partition_id)
        held = await self.stores.tasks.held_by([pod_id])
        for task in held:
            if task.status == T.DISPATCHED and await self.release(
                task.session_id, task.task_id, pod_id
            ):
                continue
            await self.fail(
                task.session_id, task.task_id, pod_id, "its agent's lease lapsed", retriable=True
            )
        return len(held)

    # The queue outbox.

    async def relay(self, seqs: list[int] | None = None, limit: int = RELAY_BATCH) -> int:
        """Put the marked tasks' queue entries where their status says, and clear the marks:
        the tasks stay share-locked meanwhile, so no Pause or Cancel batch flips one between
        its read and its queue write. `seqs`: these marks only (a call's own, after its
        commit); else the oldest `limit` marks no one else holds. How many were relayed."""
        if seqs is not None and not seqs:
            return 0
        async with self.stores.db.transaction() as tx:
            marks = await self.stores.tasks.claim_marks(tx, len(seqs) if seqs else limit, seqs)
            if not marks:
                return 0
            keys = sorted({(s, t) for _, s, t in marks})
            rows = await self.stores.tasks.lock_for_queue(tx, keys)
            queued = [QueuedTask.of(r) for r in rows if r.status == QUEUED_TASK_STATUS]
            await self.stores.queue.push(queued)
            await self.stores.queue.remove(
                [QueuedTask.of(r) for r in rows if r.status != QUEUED_TASK_STATUS]
            )
            await self.stores.tasks.clear_marks(tx, [seq for seq, _, _ in marks])
        return len(marks)

    async def drain(self) -> int:
        """Relay every mark (after a crash, at start-up, or from a periodic drain)."""
        total = 0
        while relayed := await self.relay():
            total += relayed
        return total

    async def relay_forever(self, interval: float) -> None:
        """Drain the outbox every `interval` seconds, for the marks a killed process left
        (each call relays its own marks at once; this is only the safety net). Run it in every
        process that serves work, as a task cancelled at shutdown; a store down delays it."""
        while True:
            try:
                await self.drain()
            except Exception as error:
                if not (failures.is_down(error) or failures.is_timeout(error)):
                    raise
            await asyncio.sleep(interval)

    # The steps the calls above share, inside their transaction.

    @staticmethod
    def _new_results(
        session_id: str, ids: list[str], names: list[str], manual: bool, created_by: str
    ) -> list[ResultRow]:
        """A worker's results are its own until a subtask takes one over; a client's are no
        one's until a task expects them."""
        return [
            ResultRow(
                session_id,
                result_id,
                name,
                int(R.CREATED),
                owner_task_id=created_by or None,
                manual_deletion=manual,
                created_by=created_by,
            )
            for result_id, name in zip(ids, names, strict=True)
        ]

    async def _task_of(
        self, tx: Tx, session_id: str, task_id: str
    ) -> tuple[SessionStatus, TaskRecord | None]:
        """The session's status (share-locked; DELETED if gone) and the task, locked."""
        session = await self.stores.sessions.share(tx, session_id)
        found = await self.stores.tasks.get_many(tx, session_id, [task_id], lock=True)
        return (session.status if session else SessionStatus.DELETED), (found[0] if found else None)

    async def _session(self, tx: Tx, session_id: str):
        session = await self.stores.sessions.share(tx, session_id)
        refusal = session_refusal(session, session_id)
        if refusal:
            raise refusal
        return session

    async def _writable(self, session_id: str, statuses) -> None:
        session = await self.stores.sessions.get(session_id)
        refusal = session_refusal(session, session_id)
        if refusal:
            raise refusal
        _require(session, statuses, "write to")

    async def _results(self, session_id: str, result_ids: list[str]) -> list[ResultRow]:
        async with self.stores.db.connection() as conn:
            found = await self.stores.results.get_many(conn, session_id, result_ids)
        return [found[r] for r in result_ids if r in found]

    async def _complete_results(
        self,
        tx: Tx,
        session_id: str,
        status: SessionStatus,
        data: dict[str, tuple[int, str | None]],
        owned_by: str | None = None,
    ) -> tuple[list[str], list[int]]:
        """Complete the results and resolve what waits on them; (completed ids, queue marks)."""
        done = await self.stores.results.complete(tx, session_id, data, owned_by)
        if not done:
            return [], []
        ready = await self.stores.tasks.resolve(tx, session_id, done, ready_status(status))
        seqs = await self.stores.tasks.mark_for_queue(
            tx, session_id, [t.task_id for t in ready if t.status == T.SUBMITTED]
        )
        return done, seqs

    async def _finalize_children(
        self, tx: Tx, session_id: str, status: SessionStatus, parent: str
    ) -> list[int]:
        """The subtasks of a completed task leave CREATING, and take over the parent's outputs
        they expect (ArmoniK submits children only once their parent succeeded)."""
        children = await self.stores.tasks.children(tx, session_id, parent, [T.CREATING])
        if not children:
            return []
        await self.stores.results.take_ownership(
            tx,
            session_id,
            {o: c.task_id for c in children for o in c.expected_output_ids},
            [parent],
        )
        waiting = await self.stores.tasks.unresolved(tx, session_id, [c.task_id for c in children])
        ready: list[str] = []
        for waits in (True, False):
            ids = [c.task_id for c in children if (c.task_id in waiting) == waits]
            to = finalized_status(status, waits)
            if to == T.CANCELLED:
                await self._end(tx, session_id, ids, frozenset({T.CREATING}), to)
                continue
            stamp = "submitted_at" if to == T.SUBMITTED else None
            change = TaskChange(to, frozenset({T.CREATING}), stamp=stamp)
            changed = await self.stores.tasks.change(tx, session_id, ids, change)
            ready += [t.task_id for t in changed if t.status == T.SUBMITTED]
        return await self.stores.tasks.mark_for_queue(tx, session_id, ready)

    async def _retry(
        self, tx: Tx, session_id: str, status: SessionStatus, task: TaskRecord
    ) -> list[int]:
        initial = task.initial_task_id or task.task_id
        retry = replace(
            task,
            task_id=retry_id(initial, len(task.retry_of_ids)),
            status=int(ready_status(status)),
            initial_task_id=initial,
            retry_of_ids=(*task.retry_of_ids, task.task_id),
            owner_pod_id=None,
            output_error="",
        )
        await self.stores.tasks.insert_new(tx, [retry], {})
        await self.stores.results.take_ownership(
            tx, session_id, dict.fromkeys(task.expected_output_ids, retry.task_id), [task.task_id]
        )
        if retry.status == T.CANCELLED:
            await self._abort_results(
                tx, session_id, list(task.expected_output_ids), [retry.task_id], T.CANCELLED, ""
            )
        return await self.stores.tasks.mark_for_queue(tx, session_id, [retry.task_id])

    async def _end(
        self,
        tx: Tx,
        session_id: str,
        task_ids: list[str],
        from_statuses: frozenset,
        to: TaskStatus,
        owned_by: str | None = None,
        reason: str = "",
    ) -> list[TaskRow]:
        """Move the tasks to `to`; if that ends them (CANCELLED), their outputs are ABORTED and
        the tasks waiting on those end the same way."""
        if not task_ids:
            return []
        ending = to in (T.CANCELLED, T.ERROR, T.TIMEOUT)
        change = TaskChange(
            to,
            from_statuses,
            owned_by=owned_by,
            stamp="ended_at" if ending else None,
            error=reason or None,
        )
        changed = await self.stores.tasks.change(tx, session_id, task_ids, change)
        if ending and changed:
            ids = [t.task_id for t in changed]
            records = await self.stores.tasks.get_many(tx, session_id, ids)
            outputs = sorted({o for r in records for o in r.expected_output_ids})
            await self._abort_results(tx, session_id, outputs, ids, to, reason)
        return changed

    async def _abort_results(
        self,
        tx: Tx,
        session_id: str,
        result_ids: list[str],
        owners: list[str],
        status: TaskStatus,
        reason: str,
    ) -> None:
        """ResultLifeCycleHelper.TerminateTasksAndResults: the CREATED results (owned by
        `owners` or by none) are ABORTED; the tasks still waiting (CREATING or PENDING) on one
        end in `status`; their own outputs are ABORTED in turn, and so on."""
        why = reason or "a result it depends on was aborted"
        for _ in range(MAX_CASCADE):
            aborted = await self.stores.results.abort(tx, session_id, result_ids, owners)
            if not aborted:
                return
            waiting = await self.stores.tasks.dependants(tx, session_id, aborted)
            change = TaskChange(status, WAITING, stamp="ended_at", error=why)
            ended = await self.stores.tasks.change(tx, session_id, waiting, change)
            owners = [t.task_id for t in ended]
            records = await self.stores.tasks.get_many(tx, session_id, owners)
            result_ids = sorted({o for r in records for o in r.expected_output_ids})
            if not result_ids:
                return
        raise Refused(INVALID_ARGUMENT, f"the dependencies of session {session_id} cycle")


def _require(session, statuses, what: str) -> None:
    if session.status not in statuses:
        raise Refused(
            FAILED_PRECONDITION,
            f"cannot {what} session {session.session_id}: it is {session.status.name}",
        )


def _require_created(result: ResultRow) -> None:
    if result.status != R.CREATED:
        raise Refused(
            FAILED_PRECONDITION,
            f"result {result.result_id} is {ResultStatus(result.status).name}, not CREATED",
        )
