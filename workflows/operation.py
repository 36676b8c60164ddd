"""What every session operation workflow shares: its identity, its admission, its batch sweeps,
its answer, progress, and continue-as-new.

The workflow modules import this one (and workflows/progress.py) through the sandbox, passed
through: it is deterministic code, shared by every run, and re-importing it for each new run cost
a third of the CPU of a Create (measured with py-spy on the API's worker)."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.object_storage import ObjectStorageActivities
    from activities.queue import QueueActivities
    from activities.ranges import RangesActivities
    from activities.results import ResultsActivities
    from activities.sessions import SessionsActivities
    from activities.tasks import TasksActivities
    from lifecycle.models import (
        Carried,
        Guard,
        OperationOutcome,
        OperationRequest,
        PlanRequest,
        Progress,
        Refusal,
        Session,
        SessionUpdate,
        SessionWrite,
        StepProgress,
        Sweep,
        SweepState,
        range_step,
    )
    from lifecycle.refusals import REFUSAL_KINDS
    from lifecycle.statuses import Operation, SessionStatus
    from lifecycle.transitions import Flip, guard
    from telemetry import metrics
    from workflows.progress import ProgressBoard

Arg = TypeVar("Arg")
Result = TypeVar("Result")
# A batch activity: a method of one of the activity classes, over a Sweep.
BatchActivity = Callable[[Any, Sweep], Awaitable[StepProgress]]

# Stores come back after an outage: retry for as long as it takes, with backoff. Refusals are the
# only errors not worth a second try.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=REFUSAL_KINDS,
)
# A call that is not a batch (an admission, a finish, a read) makes a few statements, each
# bounded by the store timeout (half a heartbeat timeout): twice the heartbeat timeout is ample.
# Such a call runs as a local activity, inside the workflow task of the worker that runs the
# workflow: no trip through Temporal's task queue (a Close completes in one workflow task), and
# it is recorded in the history all the same, so a replay does not run it again. A worker that
# dies mid-call loses its workflow task, which Temporal gives to another worker, where the call
# runs again: every one of them is idempotent.
SHORT_CALL_HEARTBEATS = 2
# A batch call heartbeats in the background; this only bounds a call that is alive but stuck.
BATCH_CALL_TIMEOUT = timedelta(minutes=10)
# A batch call's attempts before its failure reaches the workflow, which then records it (the
# range retrying, stalled once nothing commits for the request's stall_seconds) and calls again,
# RECALL_INTERVAL later: the workflow itself must see a step that does not move, and Temporal's
# retries are invisible to it.
CALL_ATTEMPTS = 3
BATCH_RETRY = RetryPolicy(
    initial_interval=RETRY.initial_interval,
    backoff_coefficient=RETRY.backoff_coefficient,
    maximum_interval=RETRY.maximum_interval,
    maximum_attempts=CALL_ATTEMPTS,
    non_retryable_error_types=REFUSAL_KINDS,
)
RECALL_INTERVAL = timedelta(seconds=10)

# Search attributes the starter sets (SessionId, Operation) and the workflow's own (Outcome), so
# that the Temporal UI can list a session's operations and tell refusals from failures.
SESSION_ID = SearchAttributeKey.for_keyword("SessionId")
OPERATION = SearchAttributeKey.for_keyword("Operation")
OUTCOME = SearchAttributeKey.for_keyword("Outcome")
REQUESTED_BY = SearchAttributeKey.for_keyword("RequestedBy")
# "true" while a bulk step of the operation is stalled (the stalled-operations gauge counts them).
STALLED = SearchAttributeKey.for_keyword("Stalled")


# The metric that counts an operation ended in each state but refused.
ENDED = {"done": metrics.OPERATIONS_COMPLETED, "superseded": metrics.OPERATIONS_SUPERSEDED}


class Stopped(Exception):
    """Raised inside a workflow once its operation was refused: no further step runs."""


@dataclass(frozen=True)
class Stage:
    """One arrow of a sweep: an activity called over the range the sweep's first stage opened."""

    activity: BatchActivity
    step: str
    rows: str  # the table whose rows it walks: "tasks" or "results"
    flip: Flip | None = None
    statuses: frozenset[int] = frozenset()
    keep_manual: bool = False


def update_tasks(flip: Flip) -> Stage:
    return Stage(TasksActivities.update_tasks, "tasks", "tasks", flip=flip)


def delete_tasks() -> Stage:
    return Stage(TasksActivities.delete_tasks, "tasks", "tasks")


def enqueue_tasks() -> Stage:
    return Stage(QueueActivities.enqueue_tasks, "queue", "tasks")


def dequeue_tasks(statuses: frozenset[int] = frozenset()) -> Stage:
    """Take the tasks in `statuses` (every task if empty) out of their queue."""
    return Stage(QueueActivities.dequeue_tasks, "queue", "tasks", statuses=statuses)


def update_results(flip: Flip) -> Stage:
    return Stage(ResultsActivities.update_results, "results", "results", flip=flip)


def delete_results() -> Stage:
    return Stage(ResultsActivities.delete_results, "results", "results")


def delete_objects(statuses: frozenset[int] = frozenset(), keep_manual: bool = False) -> Stage:
    """Delete the objects of the results in `statuses` (every result if empty)."""
    delete = ObjectStorageActivities.delete_objects
    return Stage(delete, "objects", "results", statuses=statuses, keep_manual=keep_manual)


def workflow_id(operation: Operation, session_id: str, variant: str = "") -> str:
    """One id per (session, operation), so that a repeated request joins the one running. A
    request that asks for something else (StopSubmission of other flags) has its own `variant`,
    so it is not folded into a request it does not repeat."""
    return f"session-{session_id}-{operation.value}" + (f"-{variant}" if variant else "")


def op_id(workflow_id: str, first_run_id: str) -> str:
    """The id an operation's admission and checkpoints are recorded under: its execution's,
    kept by every run that continues it as new."""
    return f"{workflow_id}/{first_run_id}"


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
        self.board = ProgressBoard(Progress(self.operation, ""))

    @workflow.query
    def progress(self) -> Progress:
        return self.board.progress

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
            self.board = ProgressBoard(carried.progress)
        else:
            info = workflow.info()
            self.op_id = op_id(info.workflow_id, info.first_execution_run_id or info.run_id)
            self.board = ProgressBoard(Progress(self.operation, request.session_id))
            self.count(metrics.OPERATIONS_STARTED)
        self.board.show()

    async def admit(self) -> None:
        """SessionsTable: the operation's admission, which checks and writes its first effect."""
        await self._write_session("admit", SessionsActivities.admit)

    async def finish(self) -> None:
        """SessionsTable: the operation's last write (Purge: PURGED)."""
        await self._write_session("finish", SessionsActivities.finish)

    async def sweep(self, *stages: Stage) -> None:
        """Walk the session's rows: cut them into ranges (one, or `sweep_ranges`) that run side by
        side, each in calls of many batches. In each range the first stage opens a span of
        batches and the others follow it over the same span, in the diagram's order."""
        name = stages[0].step
        if name in self.steps_done or self.superseded:
            return
        self.final = None
        carried = self.request.carried
        state = carried.sweep if carried is not None else None
        if state is None or state.step != name:
            self.board.at(name)
            request = PlanRequest(
                self.op_id, self.request.session_id, name, stages[0].rows, self.request.sweep_ranges
            )
            plan = await self._call(RangesActivities.plan_sweep, request, batch=True)
            state = SweepState(
                name, plan, [r.after for r in plan.ranges], [False] * len(plan.ranges)
            )
            self.board.planned([s.step for s in stages], plan.total, len(plan.ranges))
        while not all(state.done):
            walking = [i for i, done in enumerate(state.done) if not done]
            await asyncio.gather(*(self._walk_range(stages, state, i) for i in walking))
            if self.superseded:
                return
            self._continue_as_new_if_long(state)
        self.steps_done.append(name)

    async def _walk_range(self, stages: tuple[Stage, ...], state: SweepState, i: int) -> None:
        """One call of the range's first stage, then the others over what it walked."""
        cursor, until = state.cursors[i], state.plan.ranges[i].until
        ranges = len(state.cursors)
        opened = await self._stage(stages[0], i, ranges, after=cursor, until=until)
        for stage in stages[1:]:
            if self.superseded or opened.cursor == cursor:
                break
            await self._stage(
                stage, i, ranges, after=cursor, until=opened.cursor, follows=True, ends=opened.done
            )
        if opened.done and not self.superseded:
            # Followers are done with the range once it ended, even when its last call walked
            # nothing for them to follow.
            for stage in stages[1:]:
                self.board.range_done(range_step(stage.step, i, ranges))
        state.cursors[i], state.done[i] = opened.cursor, opened.done

    async def read_session(self) -> None:
        """SessionsTable: the session as the operation leaves it, for the caller. After a sweep
        another operation may have moved it on (a Close during a Resume): the caller learns
        where it is now."""
        if self.final is not None:
            return
        self.board.at("read")
        self.final = await self._call(SessionsActivities.get_session, self.request.session_id)
        if self.final is None:
            # Deleted meanwhile, row and all.
            assert self.written is not None and self.written.session is not None
            self.final = dataclasses.replace(self.written.session, status=SessionStatus.DELETED)

    async def delete_session(self) -> None:
        if "delete" in self.steps_done or self.superseded:
            return
        self.board.at("delete")
        await self._call(SessionsActivities.delete_session, self._update())
        self.steps_done.append("delete")

    def outcome(self) -> OperationOutcome:
        if self.refusal is not None:
            progress = self._end("refused")
            return OperationOutcome(None, progress=progress, refusal=self.refusal)
        session = self.final or (self.written.session if self.written else None)
        assert session is not None
        progress = self._end("superseded" if self.superseded else "done")
        return OperationOutcome(session, self.superseded, progress)

    # --- helpers -------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.written.epoch if self.written else 0

    def guard(self) -> Guard:
        return guard(self.operation, self.epoch)

    def _update(self) -> SessionUpdate:
        return SessionUpdate(
            self.op_id,
            self.request.session_id,
            self.operation,
            client=self.request.client,
            worker=self.request.worker,
            requested_by=self.request.requested_by,
        )

    async def _write_session(
        self,
        step: str,
        activity: Callable[[SessionsActivities, SessionUpdate], Awaitable[SessionWrite]],
    ) -> None:
        if step in self.steps_done or self.superseded:
            return
        self.board.at(step)
        write = await self._call(activity, self._update())
        if write.superseded:
            self.superseded = True
        elif step == "admit":
            self.count(metrics.OPERATIONS_ADMITTED)
        if write.session is not None:
            self.written = write
        self.final = write.session
        self.steps_done.append(step)

    async def _stage(
        self,
        stage: Stage,
        index: int,
        ranges: int,
        after: str,
        until: str | None,
        follows: bool = False,
        ends: bool = True,
    ) -> StepProgress:
        """One call of `stage`. A stage that follows another is done with its range only when
        the call it follows reached the range's end (`ends`), not when it caught up with it."""
        sweep = Sweep(
            op_id=self.op_id,
            session_id=self.request.session_id,
            step=range_step(stage.step, index, ranges),
            guard=self.guard(),
            after=after,
            until=until,
            follows=follows,
            from_statuses=sorted(stage.flip.from_statuses if stage.flip else stage.statuses),
            to_status=stage.flip.to_status if stage.flip else None,
            keep_manual=stage.keep_manual,
        )
        self.board.at(stage.step)
        result = await self._call(stage.activity, sweep, batch=True, step=sweep.step)
        if follows and not ends:
            result = dataclasses.replace(result, done=False)
        self.board.record(result)
        if result.superseded:
            self.superseded = True
        return result

    async def _call(
        self,
        activity: Callable[[Any, Arg], Awaitable[Result]],
        arg: Arg,
        *,
        batch: bool = False,
        step: str = "",
    ) -> Result:
        """Run one activity, retried until its stores answer. A refusal stops the operation."""
        if batch:
            return await self._batch_call(activity, arg, step or self.board.progress.step)
        heartbeat = timedelta(seconds=self.request.heartbeat_timeout)
        try:
            return await workflow.execute_local_activity_method(
                activity,
                arg,
                start_to_close_timeout=heartbeat * SHORT_CALL_HEARTBEATS,
                retry_policy=RETRY,
            )
        # A failed activity raises ActivityError, its cause the activity's error; a failed
        # local activity raises that error itself.
        except (ActivityError, ApplicationError) as error:
            refusal = _refusal_of(error)
            if refusal is None:
                raise
            self.refusal = refusal
            raise Stopped from None

    async def _batch_call(
        self, activity: Callable[[Any, Arg], Awaitable[Result]], arg: Arg, step: str
    ) -> Result:
        """A batch call, called again for as long as its stores fail: each failure that gets
        through its attempts is recorded on the progress board, and a range that commits
        nothing for stall_seconds shows as stalled until it commits again."""
        while True:
            try:
                result = await workflow.execute_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=BATCH_CALL_TIMEOUT,
                    heartbeat_timeout=timedelta(seconds=self.request.heartbeat_timeout),
                    retry_policy=BATCH_RETRY,
                )
            except ActivityError as error:
                refusal = _refusal_of(error)
                if refusal is not None:
                    self.refusal = refusal
                    raise Stopped from None
                failure, committed = _failure_of(error)
                stalled = self.board.failed(
                    step, activity.__name__, failure, committed, self.request.stall_seconds
                )
                self._tag_stalled(stalled)
                await workflow.sleep(RECALL_INTERVAL)
                continue
            self._tag_stalled(self.board.recovered(step))
            return result

    def _tag_stalled(self, stalled: bool) -> None:
        """Keep the Stalled search attribute as the board says, where the starter tagged the
        execution (the time-skipping test server knows no custom search attribute)."""
        if workflow.info().typed_search_attributes.get(SESSION_ID) is None:
            return
        value = "true" if stalled else None
        if workflow.info().typed_search_attributes.get(STALLED) != value:
            update = STALLED.value_set("true") if stalled else STALLED.value_unset()
            workflow.upsert_search_attributes([update])

    def count(self, name: str, **labels: str) -> None:
        """One event of the operation's life, in the metrics of the worker that runs it."""
        metrics.count_operation(name, self.operation.value, **labels)

    def _continue_as_new_if_long(self, sweep: SweepState) -> None:
        info = workflow.info()
        limit = self.request.history_limit
        if info.is_continue_as_new_suggested() or info.get_current_history_length() > limit:
            assert self.written is not None
            carried = Carried(self.op_id, self.written, self.steps_done, sweep, self.board.progress)
            workflow.continue_as_new(dataclasses.replace(self.request, carried=carried))

    def _end(self, state: str) -> Progress:
        """Close the progress, and tag the execution with how it ended where the starter tagged
        it (the time-skipping test server knows no custom search attribute)."""
        progress = self.board.end(state, self.refusal)
        if self.refusal is not None:
            code = metrics.status_code_name(self.refusal.kind)
            self.count(metrics.OPERATIONS_REFUSED, code=code)
        else:
            self.count(ENDED[state])
        if workflow.info().typed_search_attributes.get(SESSION_ID) is not None:
            workflow.upsert_search_attributes([OUTCOME.value_set(state)])
        return progress


def _failure_of(error: ActivityError) -> tuple[str, StepProgress | None]:
    """A failed batch call's last failure, and the figures its step had committed by then
    (activities/failure_interceptor.py sends them along)."""
    cause = error.cause
    if not isinstance(cause, ApplicationError):
        return str(cause or error), None
    committed = None
    if cause.details and isinstance(cause.details[0], dict):
        fields = {f.name for f in dataclasses.fields(StepProgress)}
        committed = StepProgress(**{k: v for k, v in cause.details[0].items() if k in fields})
    return cause.message, committed


def _refusal_of(error: BaseException | None) -> Refusal | None:
    """The refusal at the root of an activity's failure, if it was one."""
    while error is not None:
        if isinstance(error, ApplicationError) and error.type in REFUSAL_KINDS:
            return Refusal(error.type, error.message)
        error = error.__cause__
    return None
