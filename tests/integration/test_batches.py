"""Bounded, checkpointed batches on the real stack: a step over a session larger than a batch
runs several batches in several activity calls, and a step retried after a failure continues
after its last committed batch instead of starting again."""

import uuid
from dataclasses import dataclass, replace

import pytest
from temporalio.testing import ActivityEnvironment

from activities.batches import BatchRunner, StepFailed
from activities.tasks import TasksActivities
from adapters.postgres.tasks_table import PostgresTasksTable
from admin.seed import seed
from lifecycle.calls import Guard, StepCall
from lifecycle.domain import TaskOptions
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import TRANSITIONS
from stores.adaptive import batch_size
from stores.keyset import Span
from tests.integration.history import scheduled_activities
from tests.integration.snapshot import assert_invariants, take
from tests.support import StackClient, committed_batches, new_session, op_id

pytestmark = pytest.mark.stack

T = TaskStatus
TASKS = 450


def spans_for(rows: int, size: int) -> int:
    """Batches a step commits over `rows` rows: full spans, then one short (maybe empty) span
    that tells the range is exhausted."""
    return rows // size + 1


def calls_for(spans: int, per_call: int) -> int:
    return -(-spans // per_call)


async def test_a_step_larger_than_a_batch_runs_several_batches_and_calls(
    client, stores, settings, temporal, partitions
):
    session_id = await new_session(client, partitions=partitions, mix={T.SUBMITTED: TASKS})
    spans = spans_for(TASKS, settings.task_batch_size)
    calls = calls_for(spans, settings.batches_per_call)
    assert spans > settings.batches_per_call, "the sizes make a step need several calls"

    # One range: the batches and calls of one chain are what this counts (the workflow tests,
    # tests/workflows/test_ranges.py, count them per range).
    one_range = StackClient(stores, settings.model_copy(update={"sweep_ranges": 1}), temporal)
    for operation, activity in [
        (Operation.PAUSE, "update_tasks"),
        (Operation.RESUME, "update_tasks"),
    ]:
        handle = await one_range.start(operation, session_id)
        outcome = await handle.result()
        await assert_invariants(stores, session_id)

        steps = {s.step: s for s in outcome.progress.steps}
        assert set(steps) == {"tasks", "queue"}
        for step in steps.values():
            assert step.done and step.scanned == TASKS and step.changed == TASKS, step
            assert step.batches_committed == spans and step.batches_started == spans, step
            assert step.total == TASKS
        # The checkpoints in PostgreSQL say the same.
        stored = {c.step: c for c in await stores.operations.steps(op_id(handle))}
        assert set(stored) == {"tasks", "queue"}
        for checkpoint in stored.values():
            assert checkpoint.done and checkpoint.scanned == TASKS, checkpoint
            assert checkpoint.batches_committed == checkpoint.batches_started == spans
        assert await committed_batches(client, handle) == 2 * spans
        # And the workflow history shows one activity call per group of batches.
        scheduled = await scheduled_activities(temporal, handle.workflow_id)
        assert scheduled.count(activity) == calls > 1, scheduled
        follower = "dequeue_tasks" if operation == Operation.PAUSE else "enqueue_tasks"
        assert scheduled.count(follower) == calls, scheduled


@dataclass
class Flip:
    span: Span
    changed: int
    failed: bool


class Interrupted(Exception):
    pass


class FlakyTasks(PostgresTasksTable):
    """A TasksTable whose flip fails once, on its `fail_on`-th call, after it changed the rows:
    the batch's transaction rolls back, as when a worker dies mid-batch."""

    def __init__(self, db, fail_on: int) -> None:
        super().__init__(db)
        self.fail_on = fail_on
        self.flips: list[Flip] = []

    async def flip(self, conn, session_id, span, from_statuses, to_status):
        changed = await super().flip(conn, session_id, span, from_statuses, to_status)
        failed = len(self.flips) + 1 == self.fail_on
        self.flips.append(Flip(span, changed, failed))
        if failed:
            raise Interrupted(f"interrupted in batch {self.fail_on}")
        return changed


@pytest.mark.parametrize(
    ("committed_first", "with_heartbeat"),
    [(2, True), (3, False), (1, True)],
    ids=["after-2-heartbeat", "after-3-checkpoint-only", "after-1-heartbeat"],
)
async def test_a_retried_step_resumes_after_its_last_committed_batch(
    client, stores, partitions, committed_first, with_heartbeat
):
    rows, size = 350, 100
    spans = -(-rows // size)
    # A PAUSE sweep over a session just admitted to PAUSED whose tasks are still DISPATCHED:
    # the pause's admission is written as the workflow's first activity writes it, and its
    # sweep has not run yet (seeding DISPATCHED tasks queues nothing).
    session = await client.create(partitions, TaskOptions(max_duration=60))
    session_id = session.session_id
    await seed(stores, session_id, rows, T.DISPATCHED)
    transition = TRANSITIONS[Operation.PAUSE]
    async with stores.db.transaction() as tx:
        paused = await stores.sessions.admit(tx, session_id, transition)
    guard = Guard(statuses=sorted(transition.sweeps_while), epoch=paused.epoch)
    sweep = StepCall(
        op_id=f"test-{uuid.uuid4()}",
        session_id=session_id,
        step="tasks",
        guard=guard,
        from_statuses=[T.SUBMITTED, T.DISPATCHED],
        to_status=T.PAUSED,
    )
    flaky = FlakyTasks(stores.db, fail_on=committed_first + 1)
    runner = BatchRunner(
        stores.db, stores.sessions, stores.operations, 50, call_seconds=60, slow_batch_seconds=60
    )
    update_tasks = TasksActivities(flaky, runner, batch_size(size)).update_tasks

    # First attempt: k batches commit, the next one fails.
    first = ActivityEnvironment()
    beats: list[tuple] = []
    first.on_heartbeat = lambda *details: beats.append(details)
    with pytest.raises(StepFailed) as failed_call:
        await first.run(update_tasks, sweep)
    assert isinstance(failed_call.value.__cause__, Interrupted)
    # The failure tells what the step had committed before it, for the workflow's progress.
    assert failed_call.value.progress.batches_committed == committed_first

    [checkpoint] = await stores.operations.steps(sweep.op_id)
    assert checkpoint.batches_committed == committed_first
    assert checkpoint.batches_started == committed_first + 1
    assert checkpoint.cursor == flaky.flips[committed_first - 1].span.last
    assert checkpoint.scanned == committed_first * size and not checkpoint.done
    counts = await stores.tasks.count_by_status(session_id)
    assert counts == {T.PAUSED: committed_first * size, T.DISPATCHED: rows - committed_first * size}
    # Beats go out in the background, each with the last committed cursor, and one more as
    # the attempt ends: the retry learns exactly where the checkpoint is.
    committed_cursors = {"", *(f.span.last for f in flaky.flips[:committed_first])}
    assert {beat[0]["cursor"] for beat in beats} <= committed_cursors
    assert beats[-1][0]["cursor"] == checkpoint.cursor

    # The retry: the same input, as Temporal would send it, with the last heartbeat if any.
    retry = ActivityEnvironment()
    retry.info = replace(
        first.info, attempt=2, heartbeat_details=[beats[-1][0]] if with_heartbeat else []
    )
    progress = await retry.run(update_tasks, sweep)

    last_key = await stores.db.pool.fetchval(
        "SELECT max(task_id) FROM tasks WHERE session_id = $1", session_id
    )
    assert progress.done and not progress.superseded
    assert progress.cursor == last_key
    assert (progress.scanned, progress.changed) == (rows, rows)
    assert progress.batches_committed == spans
    [checkpoint] = await stores.operations.steps(sweep.op_id)
    assert checkpoint.done and checkpoint.cursor == last_key
    assert checkpoint.batches_committed == spans
    assert checkpoint.batches_started - checkpoint.batches_committed == 1
    # Only the interrupted batch was redone, over the same span; every row flipped once.
    failed = [f for f in flaky.flips if f.failed]
    committed = [f for f in flaky.flips if not f.failed]
    assert [flaky.flips.index(f) for f in failed] == [committed_first]
    assert flaky.flips[committed_first + 1].span == failed[0].span
    assert len(committed) == spans
    assert [f.span.after for f in committed] == ["", *(f.span.last for f in committed[:-1])]
    assert sum(f.span.rows for f in committed) == rows
    assert sum(f.changed for f in committed) == rows
    assert await stores.tasks.count_by_status(session_id) == {T.PAUSED: rows}
    assert (await take(stores, session_id)).session.status == SessionStatus.PAUSED
    await assert_invariants(stores, session_id)
