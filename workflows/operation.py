"""What every session operation workflow shares: its identity, its admission, its batch sweeps,
its answer, progress, and continue-as-new."""

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from lifecycle.models import (
        Carried,
        Guard,
        OperationOutcome,
        OperationRequest,
        Progress,
        Refusal,
        Session,
        SessionUpdate,
        SessionWrite,
        StepProgress,
        Sweep,
        SweepProgress,
    )
    from lifecycle.refusals import REFUSAL_KINDS
    from lifecycle.statuses import Operation, SessionStatus
    from lifecycle.transitions import Flip, guard

# Stores come back after an outage: retry for as long as it takes, with backoff. Refusals are the
# only errors not worth a second try.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=REFUSAL_KINDS,
)
# A call that is not a batch makes a few statements, each bounded by the store timeout (half a
# heartbeat timeout): twice the heartbeat timeout is ample, and is how long a dead worker's call
# waits before its retry.
SHORT_CALL_HEARTBEATS = 2
# A batch call heartbeats in the background; this only bounds a call that is alive but stuck.
BATCH_CALL_TIMEOUT = timedelta(minutes=10)

# Search attributes the starter sets (SessionId, Operation) and the workflow's own (Outcome), so
# that the Temporal UI can list a session's operations and tell refusals from failures.
SESSION_ID = SearchAttributeKey.for_keyword("SessionId")
OPERATION = SearchAttributeKey.for_keyword("Operation")
OUTCOME = SearchAttributeKey.for_keyword("Outcome")


class Stopped(Exception):
    """Raised inside a workflow once its operation was refused: no further step runs."""


@dataclass(frozen=True)
class Stage:
    """One arrow of a sweep: an activity called over the range the sweep's first stage opened."""

    activity: str
    step: str
    flip: Flip | None = None
    statuses: frozenset[int] = frozenset()
    keep_manual: bool = False


def update_tasks(flip: Flip) -> Stage:
    return Stage("update_tasks", "tasks", flip=flip)


def delete_tasks() -> Stage:
    return Stage("delete_tasks", "tasks")


def enqueue_tasks() -> Stage:
    return Stage("enqueue_tasks", "queue")


def dequeue_tasks(statuses: frozenset[int] = frozenset()) -> Stage:
    """Take the tasks in `statuses` (every task if empty) out of their queue."""
    return Stage("dequeue_tasks", "queue", statuses=statuses)


def update_results(flip: Flip) -> Stage:
    return Stage("update_results", "results", flip=flip)


def delete_results() -> Stage:
    return Stage("delete_results", "results")


def delete_objects(statuses: frozenset[int] = frozenset(), keep_manual: bool = False) -> Stage:
    """Delete the objects of the results in `statuses` (every result if empty)."""
    return Stage("delete_objects", "objects", statuses=statuses, keep_manual=keep_manual)


def workflow_id(operation: Operation, session_id: str, variant: str = "") -> str:
    """One id per (session, operation), so that a repeated request joins the one running. A
    request that asks for something else (StopSubmission of other flags) has its own `variant`,
    so it is not folded into a request it does not repeat."""
    return f"session-{session_id}-{operation.value}" + (f"-{variant}" if variant else "")


class SessionOperation:
    operation: Operation

    def __init__(self) -> None:
        self.request: OperationRequest
        self.op_id = ""
        self.written: SessionWrite | None = None
        self.steps_done: list[str] = []
        self.superseded = False
        self.refusal: Refusal | None = None
        # The session as the operation leaves it, once read back after its sweeps.
        self.final: Session | None = None
        self._progress: Progress | None = None

    @workflow.query
    def progress(self) -> Progress:
        return self._progress or Progress(self.operation, "")

    # --- the steps every operation is made of --------------------------------------------------

    @asynccontextmanager
    async def performing(self, request: OperationRequest) -> AsyncIterator[None]:
        """Run the steps of the operation; a refusal ends them, and the workflow then completes
        with the refusal as its outcome (see outcome())."""
        self.begin(request)
        try:
            yield
        except Stopped:
            pass

    def begin(self, request: OperationRequest) -> None:
        self.request = request
        carried = request.carried
        if carried is not None:
            self.op_id = carried.op_id
            self.written = carried.admitted
            self.steps_done = list(carried.steps_done)
            self._progress = carried.progress
        else:
            info = workflow.info()
            self.op_id = f"{info.workflow_id}/{info.first_execution_run_id or info.run_id}"
            self._progress = Progress(self.operation, request.session_id)
        self._show()

    async def update_session(self, *, finish: bool = False) -> None:
        """SessionsTable: the operation's admission (or, with `finish`, its last write)."""
        step = "finish" if finish else "admit"
        if step in self.steps_done or self.superseded:
            return
        self._at(step)
        write = await self._call(
            "update_session",
            SessionUpdate(
                self.op_id,
                self.request.session_id,
                self.operation,
                finish=finish,
                client=self.request.client,
                worker=self.request.worker,
            ),
            SessionWrite,
        )
        if write.superseded:
            self.superseded = True
        if write.session is not None:
            self.written = write
        self.final = write.session
        self.steps_done.append(step)

    async def sweep(self, *stages: Stage) -> None:
        """Walk the session's rows in ranges of many batches: the first stage opens each range,
        the others follow it over the same range, in the diagram's order."""
        name = stages[0].step
        if name in self.steps_done or self.superseded:
            return
        self.final = None
        carried = self.request.carried
        cursor = carried.cursor if carried is not None and carried.step == name else ""
        while True:
            opened = await self._stage(stages[0], after=cursor, until=None)
            for stage in stages[1:]:
                if self.superseded or opened.cursor == cursor:
                    break
                await self._stage(stage, after=cursor, until=opened.cursor, over=stages[0])
            if self.superseded:
                return
            cursor = opened.cursor
            if opened.done:
                break
            self._continue_as_new_if_long(name, cursor)
        self.steps_done.append(name)

    async def read_session(self) -> None:
        """SessionsTable: the session as the operation leaves it, for the caller. After a sweep
        another operation may have moved it on (a Close during a Resume): the caller learns
        where it is now."""
        if self.final is not None:
            return
        self._at("read")
        self.final = await self._call("get_session", self.request.session_id, Session)
        if self.final is None:
            # Deleted meanwhile, row and all.
            assert self.written is not None and self.written.session is not None
            self.final = dataclasses.replace(self.written.session, status=SessionStatus.DELETED)

    async def delete_session(self) -> None:
        if "delete" in self.steps_done or self.superseded:
            return
        self._at("delete")
        await self._call(
            "delete_session",
            SessionUpdate(self.op_id, self.request.session_id, self.operation),
            None,
        )
        self.steps_done.append("delete")

    def outcome(self) -> OperationOutcome:
        progress = self.progress()
        if self.refusal is not None:
            progress.state = "refused"
            self._finish_with("refused")
            return OperationOutcome(None, progress=progress, refusal=self.refusal)
        session = self.final or (self.written.session if self.written else None)
        assert session is not None
        progress.state = "superseded" if self.superseded else "done"
        self._finish_with(progress.state)
        return OperationOutcome(session, self.superseded, progress)

    # --- helpers -------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.written.epoch if self.written else 0

    def guard(self) -> Guard:
        return guard(self.operation, self.epoch)

    async def _stage(
        self, stage: Stage, after: str, until: str | None, over: Stage | None = None
    ) -> SweepProgress:
        sweep = Sweep(
            op_id=self.op_id,
            session_id=self.request.session_id,
            step=stage.step,
            guard=self.guard(),
            after=after,
            until=until,
            from_statuses=sorted(stage.flip.from_statuses if stage.flip else stage.statuses),
            to_status=stage.flip.to_status if stage.flip else None,
            keep_manual=stage.keep_manual,
        )
        self._at(stage.step)
        result = await self._call(stage.activity, sweep, SweepProgress, batch=True)
        self._record(stage.step, result, over.step if over else None)
        if result.superseded:
            self.superseded = True
        return result

    async def _call(self, activity: str, arg: Any, result_type: Any, *, batch: bool = False):
        """Run one activity, retried until its store answers. A refusal stops the operation."""
        heartbeat = timedelta(seconds=self.request.heartbeat_timeout)
        try:
            if batch:
                return await workflow.execute_activity(
                    activity,
                    arg,
                    result_type=result_type,
                    start_to_close_timeout=BATCH_CALL_TIMEOUT,
                    heartbeat_timeout=heartbeat,
                    retry_policy=RETRY,
                )
            return await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                start_to_close_timeout=heartbeat * SHORT_CALL_HEARTBEATS,
                retry_policy=RETRY,
            )
        except ActivityError as error:
            refusal = _refusal_of(error)
            if refusal is None:
                raise
            self.refusal = refusal
            raise Stopped from None

    def _continue_as_new_if_long(self, step: str, cursor: str) -> None:
        info = workflow.info()
        limit = self.request.history_limit
        if info.is_continue_as_new_suggested() or info.get_current_history_length() > limit:
            assert self.written is not None and self._progress is not None
            carried = Carried(
                self.op_id, self.written, self.steps_done, step, cursor, self._progress
            )
            workflow.continue_as_new(dataclasses.replace(self.request, carried=carried))

    def _finish_with(self, outcome: str) -> None:
        """Tag the execution with how it ended, where the starter tagged it (the time-skipping
        test server knows no custom search attribute)."""
        self._show()
        if workflow.info().typed_search_attributes.get(SESSION_ID) is not None:
            workflow.upsert_search_attributes([OUTCOME.value_set(outcome)])

    # --- progress ------------------------------------------------------------------------------

    def _at(self, step: str) -> None:
        progress = self.progress()
        progress.state = "running"
        progress.step = step
        self._show()

    def _record(self, step: str, result: SweepProgress, opened_by: str | None) -> None:
        """Keep the step's figures; a step that follows another over its ranges has the same
        total as the step that opened them."""
        entry = self._step_progress(step)
        if result.total is not None:
            entry.total = result.total
        elif opened_by is not None:
            entry.total = self._step_progress(opened_by).total
        entry.scanned = result.scanned
        entry.changed = result.changed
        entry.done = result.done
        entry.batches_started = result.batches_started
        entry.batches_committed = result.batches_committed
        self._show()

    def _step_progress(self, step: str) -> StepProgress:
        progress = self.progress()
        entry = next((s for s in progress.steps if s.step == step), None)
        if entry is None:
            entry = StepProgress(step)
            progress.steps.append(entry)
        return entry

    def _show(self) -> None:
        """The workflow's current details in the Temporal UI."""
        p = self.progress()
        lines = [f"**{p.operation.value}** session `{p.session_id}`: {p.state} ({p.step})"]
        if self.refusal is not None:
            lines.append(f"refused, {self.refusal.kind}: {self.refusal.message}")
        for s in p.steps:
            total = f" / {s.total:,}" if s.total is not None else ""
            lines.append(
                f"- {s.step}: {s.scanned:,}{total} scanned, {s.changed:,} changed,"
                f" {s.batches_committed:,} batches{' (done)' if s.done else ''}"
            )
        workflow.set_current_details("\n".join(lines))


def _refusal_of(error: BaseException | None) -> Refusal | None:
    """The refusal at the root of an activity's failure, if it was one."""
    while error is not None:
        if isinstance(error, ApplicationError) and error.type in REFUSAL_KINDS:
            return Refusal(error.type, error.message)
        error = error.__cause__
    return None
