"""An in-memory stand-in for every store, and fakes of every activity over it.

Each fake has the name and signature of the real activity (see activities/registry.py), so the
production workflows run unchanged against it. The store keeps one session (status and epoch) and
two tables of rows keyed by zero-padded strings, walks them in batches the way
activities/batches.py does, and records every call in order, so a test can read back exactly what
a workflow asked for. Tests script it: fail a call a few times, hold a call on a gate, or change
the session just before a call (a concurrent operation).
"""

import asyncio
import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from temporalio import activity

from lifecycle.models import (
    CreateRequest,
    Guard,
    Session,
    SessionInsert,
    SessionUpdate,
    SessionWrite,
    Sweep,
    SweepProgress,
    TaskOptions,
)
from lifecycle.options import resolve_create
from lifecycle.refusals import NOT_FOUND, Refused
from lifecycle.statuses import Operation, SessionStatus
from lifecycle.transitions import TRANSITIONS, refusal

DEFAULT_PARTITION = "default"
NOW = datetime(2024, 1, 1, tzinfo=UTC)

# The table each sweep activity walks.
TABLE_OF = {
    "update_tasks": "tasks",
    "delete_tasks": "tasks",
    "enqueue_tasks": "tasks",
    "dequeue_tasks": "tasks",
    "update_results": "results",
    "delete_results": "results",
    "delete_objects": "results",
}


def key(i: int) -> str:
    """The i-th row's key: zero-padded, so string order is row order."""
    return f"{i:06d}"


def options() -> TaskOptions:
    return TaskOptions(max_duration=60.0, max_retries=2, priority=1)


@dataclass
class Call:
    """One attempt of one activity, as the workflow made it."""

    activity: str
    attempt: int
    arg: Any  # the activity's input
    result: Any = None  # what the fake answered; None if it raised (or returns nothing)

    # The fields of a sweep, for short assertions.
    @property
    def step(self) -> str:
        return self.arg.step

    @property
    def after(self) -> str:
        return self.arg.after

    @property
    def until(self) -> str | None:
        return self.arg.until

    @property
    def from_statuses(self) -> list[int]:
        return self.arg.from_statuses

    @property
    def to_status(self) -> int | None:
        return self.arg.to_status

    @property
    def guard(self) -> Guard:
        return self.arg.guard

    @property
    def cursor(self) -> str:
        return self.result.cursor


@dataclass
class Gate:
    """Holds a call until the test releases it."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class FakeStore:
    def __init__(
        self,
        *,
        status: SessionStatus | None = SessionStatus.RUNNING,
        epoch: int = 0,
        tasks: int = 0,
        results: int = 0,
        batch_size: int = 2,
        batches_per_call: int = 2,
        partitions: tuple[str, ...] = (DEFAULT_PARTITION,),
    ) -> None:
        self.session_id = f"s-{uuid4().hex[:12]}"
        # None: no such session.
        self.session: Session | None = None
        if status is not None:
            self.session = Session(
                session_id=self.session_id,
                status=status,
                client_submission=True,
                worker_submission=True,
                partition_ids=[DEFAULT_PARTITION],
                options=options(),
                created_at=NOW,
                epoch=epoch,
            )
        self.rows = {
            "tasks": [key(i) for i in range(1, tasks + 1)],
            "results": [key(i) for i in range(1, results + 1)],
        }
        self.batch_size = batch_size
        self.batches_per_call = batches_per_call
        self.partitions = set(partitions)
        self.calls: list[Call] = []
        self._numbers: Counter[str] = Counter()  # logical calls (first attempts) per activity
        self._batches: Counter[tuple[str, str]] = Counter()  # per (op_id, step)
        self._failures: dict[tuple[str, int], int] = {}
        self._gates: dict[tuple[str, int], Gate] = {}
        self._hooks: dict[tuple[str, int], Callable[[], None]] = {}

    # --- scripting -------------------------------------------------------------------------------
    # `call` numbers the logical calls of one activity from 1; retries of a call share its number.

    def fail(self, activity_name: str, *, call: int = 1, times: int) -> None:
        """The first `times` attempts of that call raise a plain (retriable) RuntimeError."""
        self._failures[(activity_name, call)] = times

    def gate(self, activity_name: str, *, call: int = 1) -> Gate:
        """That call waits, once entered, until the test releases the gate."""
        gate = self._gates[(activity_name, call)] = Gate()
        return gate

    def before(self, activity_name: str, call: int, change: Callable[[], None]) -> None:
        """Run `change` just before that call does its work (another operation got in first)."""
        self._hooks[(activity_name, call)] = change

    # --- reading back ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        return [c.activity for c in self.calls]

    def of(self, *activity_names: str) -> list[Call]:
        return [c for c in self.calls if c.activity in activity_names]

    def trace(self) -> list[tuple]:
        """Every attempt in order: (activity, after, until) for a sweep, ("update_session",
        "admit" or "finish") for a session write, (activity,) for the others."""
        trace: list[tuple] = []
        for c in self.calls:
            if isinstance(c.arg, Sweep):
                trace.append((c.activity, c.after, c.until))
            elif c.activity == "update_session":
                trace.append((c.activity, "finish" if c.arg.finish else "admit"))
            else:
                trace.append((c.activity,))
        return trace

    def sweeps(self) -> list[Call]:
        return [c for c in self.calls if isinstance(c.arg, Sweep)]

    # --- the activities --------------------------------------------------------------------------

    def activities(self) -> list[Callable]:
        return [
            self.check_partitions,
            self.insert_session,
            self.update_session,
            self.get_session,
            self.delete_session,
            self.update_tasks,
            self.delete_tasks,
            self.enqueue_tasks,
            self.dequeue_tasks,
            self.update_results,
            self.delete_results,
            self.delete_objects,
        ]

    @activity.defn(name="check_partitions")
    async def check_partitions(self, request: CreateRequest) -> CreateRequest:
        call = await self._enter("check_partitions", request)
        partition_ids, resolved = resolve_create(
            request.partition_ids, request.options, DEFAULT_PARTITION
        )
        missing = [p for p in partition_ids if p not in self.partitions]
        if missing:
            raise Refused(NOT_FOUND, f"unknown partition(s): {', '.join(missing)}")
        call.result = CreateRequest(request.session_id, partition_ids, resolved)
        return call.result

    @activity.defn(name="insert_session")
    async def insert_session(self, insert: SessionInsert) -> SessionWrite:
        call = await self._enter("insert_session", insert)
        request = insert.request
        self.session = Session(
            session_id=request.session_id,
            status=SessionStatus.RUNNING,
            client_submission=True,
            worker_submission=True,
            partition_ids=list(request.partition_ids),
            options=request.options,
            created_at=NOW,
        )
        call.result = SessionWrite(self._snapshot(), epoch=0)
        return call.result

    @activity.defn(name="update_session")
    async def update_session(self, update: SessionUpdate) -> SessionWrite:
        """Admission (or finish) by the transition table, as activities/sessions.py does it."""
        call = await self._enter("update_session", update)
        transition = TRANSITIONS[update.operation]
        session = self.session
        if update.finish:
            if session is None or session.status not in transition.sweeps_while:
                call.result = SessionWrite(self._snapshot(), session.epoch if session else 0, True)
                return call.result
            session.status = transition.finishes_to
            call.result = SessionWrite(self._snapshot(), session.epoch)
            return call.result
        refused = refusal(update.operation, update.session_id, session.status if session else None)
        if refused:
            raise Refused(*refused)
        assert session is not None
        if transition.admits_to is not None:
            session.status = transition.admits_to
        if transition.takes_over_tasks:
            session.epoch += 1
        if transition.stops_submission:
            session.client_submission = session.worker_submission = False
        if update.operation == Operation.STOP_SUBMISSION:
            session.client_submission &= not update.client
            session.worker_submission &= not update.worker
        call.result = SessionWrite(self._snapshot(), session.epoch)
        return call.result

    @activity.defn(name="get_session")
    async def get_session(self, session_id: str) -> Session | None:
        call = await self._enter("get_session", session_id)
        call.result = self._snapshot()
        return call.result

    @activity.defn(name="delete_session")
    async def delete_session(self, update: SessionUpdate) -> None:
        await self._enter("delete_session", update)
        self.session = None

    @activity.defn(name="update_tasks")
    async def update_tasks(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("update_tasks", sweep)

    @activity.defn(name="delete_tasks")
    async def delete_tasks(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("delete_tasks", sweep)

    @activity.defn(name="enqueue_tasks")
    async def enqueue_tasks(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("enqueue_tasks", sweep)

    @activity.defn(name="dequeue_tasks")
    async def dequeue_tasks(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("dequeue_tasks", sweep)

    @activity.defn(name="update_results")
    async def update_results(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("update_results", sweep)

    @activity.defn(name="delete_results")
    async def delete_results(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("delete_results", sweep)

    @activity.defn(name="delete_objects")
    async def delete_objects(self, sweep: Sweep) -> SweepProgress:
        return await self._sweep("delete_objects", sweep)

    # --- machinery -------------------------------------------------------------------------------

    async def _enter(self, name: str, arg: Any) -> Call:
        """Record the attempt, then play whatever the test scripted for this call."""
        attempt = activity.info().attempt
        if attempt == 1:
            self._numbers[name] += 1
        number = self._numbers[name]
        call = Call(name, attempt, arg)
        self.calls.append(call)
        if attempt <= self._failures.get((name, number), 0):
            raise RuntimeError(f"{name}: store outage (attempt {attempt})")
        hook = self._hooks.pop((name, number), None)
        if hook is not None:
            hook()
        gate = self._gates.get((name, number))
        if gate is not None:
            gate.entered.set()
            await gate.released.wait()
        return call

    async def _sweep(self, name: str, sweep: Sweep) -> SweepProgress:
        """Batches over the range as activities/batches.py runs them: a step that opens a range
        runs `batches_per_call` batches from `after`; one that follows runs up to `until`."""
        call = await self._enter(name, sweep)
        keys = self.rows[TABLE_OF[name]]

        def scanned(cursor: str) -> int:
            return sum(k <= cursor for k in keys)

        if not self._holds(sweep.guard):
            call.result = SweepProgress(
                sweep.after, scanned(sweep.after), 0, done=False, superseded=True
            )
            return call.result
        max_batches = self.batches_per_call if sweep.until is None else None
        cursor, batches = sweep.after, 0
        while True:
            span = [k for k in keys if k > cursor and (sweep.until is None or k <= sweep.until)]
            span = span[: self.batch_size]
            cursor = span[-1] if span else cursor
            done = len(span) < self.batch_size or cursor == sweep.until
            batches += 1
            if done or (max_batches is not None and batches >= max_batches):
                break
        self._batches[(sweep.op_id, sweep.step)] += batches
        count = self._batches[(sweep.op_id, sweep.step)]
        first_call = sweep.after == "" and sweep.until is None
        call.result = SweepProgress(
            cursor=cursor,
            scanned=scanned(cursor),
            changed=scanned(cursor),
            done=done,
            total=len(keys) if first_call else None,
            batches_started=count,
            batches_committed=count,
        )
        return call.result

    def _holds(self, guard: Guard) -> bool:
        session = self.session
        return (
            session is not None
            and session.status in guard.statuses
            and (guard.epoch is None or guard.epoch == session.epoch)
        )

    def _snapshot(self) -> Session | None:
        return copy.deepcopy(self.session)
