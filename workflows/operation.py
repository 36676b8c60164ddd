"""What every session operation workflow shares: its admission, its answer, its calls, progress,
metrics and continue-as-new; its sweeps are workflows/sweep.py's, its identity
workflows/identity.py's, its call policy workflows/policy.py's.

The workflow modules import this one (and workflows/progress.py) through the sandbox, passed
through: it is deterministic code, shared by every run, and re-importing it for each new run cost
a third of the CPU of a Create (measured with py-spy on the API's worker)."""

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.sessions import SessionsActivities
    from lifecycle.calls import (
        Guard,
        SessionUpdate,
        SessionWrite,
        StepCall,
        SweepState,
    )
    from lifecycle.domain import Session
    from lifecycle.progress import Progress, StepProgress
    from lifecycle.refusals import REFUSAL_KINDS
    from lifecycle.requests import Carried, OperationOutcome, OperationRequest, Refusal
    from lifecycle.statuses import Operation, SessionStatus
    from lifecycle.transitions import guard
    from telemetry import metrics
    from workflows.identity import OUTCOME, SESSION_ID, STALLED, op_id
    from workflows.policy import (
        BATCH_CALL_TIMEOUT,
        BATCH_RETRY,
        RECALL_INTERVAL,
        RETRY,
        SHORT_CALL_HEARTBEATS,
    )
    from workflows.progress import ProgressBoard
    from workflows.sweep import Sweeping

Arg = TypeVar("Arg")
Result = TypeVar("Result")
# A batch activity: a method of one of the activity classes, over a StepCall.
BatchActivity = Callable[[Any, StepCall], Awaitable[StepProgress]]

# The metric that counts an operation ended in each state but refused.
ENDED = {"done": metrics.OPERATIONS_COMPLETED, "superseded": metrics.OPERATIONS_SUPERSEDED}


class Stopped(Exception):
    """Raised inside a workflow once its operation was refused: no further step runs."""


class SessionOperation(Sweeping):
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
