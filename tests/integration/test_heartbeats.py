"""A batch activity tells Temporal it is alive from its first instant to its last, whatever it
waits on; a sweep's plan counts a large session by bounded statements; and every store call is
bounded by a share of the heartbeat timeout."""

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

import activities.ranges
from activities.batches import BatchRunner
from activities.ranges import RangesActivities
from activities.tasks import TasksActivities
from adapters.connect import Stores
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.tasks_table import PostgresTasksTable
from lifecycle.calls import PlanRequest, StepCall
from lifecycle.statuses import Operation, TaskStatus
from lifecycle.transitions import TASK_FLIPS, TRANSITIONS, guard
from settings import Settings
from stores.adaptive import batch_size
from tests.support import eventually, new_session

HEARTBEAT = timedelta(seconds=0.4)  # beats every 0.1 s


class Spied(PostgresTasksTable):
    """The tasks table, with a record of every span it was asked for, in order with the beats."""

    def __init__(self, db, events: list) -> None:
        super().__init__(db)
        self.events = events

    async def span(self, conn, session_id, after, until, limit):
        span = await super().span(conn, session_id, after, until, limit)
        self.events.append(("span", limit, span.rows))
        return span


def _pause_sweep(session_id: str, epoch: int) -> StepCall:
    flip = TASK_FLIPS[Operation.PAUSE]
    return StepCall(
        op_id=f"test-{uuid.uuid4()}",
        session_id=session_id,
        step="tasks",
        guard=guard(Operation.PAUSE, epoch),
        from_statuses=sorted(flip.from_statuses),
        to_status=flip.to_status,
    )


async def _paused_admission(stores, session_id: str) -> int:
    async with stores.db.transaction() as tx:
        admitted = await stores.sessions.admit(tx, session_id, TRANSITIONS[Operation.PAUSE])
    return admitted.epoch


def _environment(events: list) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = replace(env.info, heartbeat_timeout=HEARTBEAT)
    env.on_heartbeat = lambda *details: events.append(("beat", details[0]))
    return env


async def test_the_plan_counts_by_bounded_chunks_after_its_first_beat_and_cuts_even_ranges(
    client, stores, monkeypatch
):
    monkeypatch.setattr(activities.ranges, "COUNT_CHUNK", 200)
    rows = 1_050
    session_id = await new_session(client, mix={TaskStatus.DISPATCHED: rows})
    events: list = []
    tables = {"tasks": Spied(stores.db, events)}
    plan_sweep = RangesActivities(stores.db, tables, stores.operations).plan_sweep
    request = PlanRequest(f"test-{uuid.uuid4()}", session_id, "tasks", "tasks", ranges=4)

    plan = await _environment(events).run(plan_sweep, request)

    counting = [e for e in events if e[0] == "span" and e[1] == 200]
    assert events[0][0] == "beat", "the activity beat before any statement"
    assert [e[2] for e in counting] == [200, 200, 200, 200, 200, 50]
    assert plan.total == rows
    assert [s.total for s in await stores.operations.steps(request.op_id)] == [rows]
    # Four ranges, end to end over the whole key space, of 262 or 263 rows each.
    keys = sorted([t.task_id async for chunk in stores.tasks.chunks(session_id) for t in chunk])
    assert plan.ranges[0].after == "" and plan.ranges[-1].until is None
    assert all(a.until == b.after for a, b in zip(plan.ranges, plan.ranges[1:], strict=False))
    sizes = [
        sum(1 for k in keys if r.after < k and (r.until is None or k <= r.until))
        for r in plan.ranges
    ]
    assert sizes == [262, 263, 262, 263]


async def test_a_batch_waiting_on_the_session_lock_keeps_beating(client, stores):
    session_id = await new_session(client, mix={TaskStatus.DISPATCHED: 300})
    sweep = _pause_sweep(session_id, await _paused_admission(stores, session_id))
    events: list = []
    runner = BatchRunner(
        stores.db, stores.sessions, stores.operations, 2, call_seconds=60, slow_batch_seconds=60
    )
    update_tasks = TasksActivities(stores.tasks, runner, batch_size(100)).update_tasks

    async with stores.db.transaction() as tx:
        # An admission in progress: the batch waits for it to commit.
        await tx.execute("SELECT 1 FROM sessions WHERE session_id = $1 FOR UPDATE", session_id)
        running = asyncio.create_task(_environment(events).run(update_tasks, sweep))

        async def beats() -> bool:
            return sum(e[0] == "beat" for e in events) >= 5

        await eventually(beats, within=10, what="beats while the batch waits on the lock")
        assert not running.done()
    progress = await running
    assert progress.scanned == 200


async def test_a_pool_checkout_gives_up_after_the_store_timeout(settings):
    db = await PostgresDatabase.connect(settings.postgres_dsn, 1, call_timeout=0.3)
    try:
        async with db.connection():
            checkout = asyncio.create_task(db.fetchval("SELECT 1"))
            done, _ = await asyncio.wait([checkout], timeout=10)
            assert done, "the checkout waited with no limit"
            with pytest.raises(TimeoutError):
                checkout.result()
    finally:
        await db.close()


async def test_every_store_timeout_derives_from_the_heartbeat_timeout(settings):
    tuned = Settings(**{**settings.model_dump(), "heartbeat_timeout": 8.0})
    assert tuned.store_timeout < tuned.heartbeat_timeout
    stores = await Stores.connect(tuned)
    try:
        timeout = tuned.store_timeout
        assert stores.db.timeout == timeout
        assert stores.objects.call_timeout == timeout
        assert stores.objects.s3.meta.config.connect_timeout <= timeout
        redis = stores.queue.redis.connection_pool.connection_kwargs
        # A command and its one retry, each bounded, stay within the store timeout.
        assert 2 * redis["socket_timeout"] <= timeout
        assert 2 * redis["socket_connect_timeout"] <= timeout
    finally:
        await stores.close()


def test_the_pool_is_as_large_as_the_activities_that_can_hold_a_connection():
    assert Settings(max_concurrent_activities=24).pool_size == 24
    assert Settings(max_concurrent_activities=24, postgres_pool_size=30).pool_size == 30
