"""The `progress` query shows a running operation: which one, which step, how far; the outcome
carries the final figures."""

import pytest

from lifecycle.progress import Progress
from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario
from tests.workflows.support import one_range, pause_holding, result_of, start, task_queue, worker
from workflows.pause import PauseSession


async def query_while_held(env, store: Scenario, activity_name: str, call: int) -> Progress:
    """The progress a Pause reports while the given sweep call is in flight."""
    progress, _ = await pause_holding(env, store, (activity_name, call))
    return progress


async def test_progress_reports_the_operation_and_counts_while_sweeping(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)

    # Held in the second range: the first one (4 of 10 tasks) is reported.
    progress = await query_while_held(env, store, "update_tasks", call=2)

    assert progress.operation == Operation.PAUSE
    assert progress.session_id == store.session_id
    assert progress.state == "running"
    tasks = progress.steps[0]
    assert (tasks.step, tasks.scanned, tasks.total, tasks.done) == ("tasks", 4, 10, False)


async def test_progress_names_the_step_in_flight(env):
    # Held in the second flip, beside the first span's dequeue: the step shown is the sweep's
    # front, the flip's ("tasks"), not the one that last reported ("queue").
    progress = await query_while_held(
        env, Scenario(status=SessionStatus.RUNNING, tasks=10), "update_tasks", call=2
    )
    assert progress.step == "tasks"

    # Held in the last dequeue, once the flip reached the end of the range.
    progress = await query_while_held(
        env, Scenario(status=SessionStatus.RUNNING, tasks=10), "dequeue_tasks", call=3
    )
    assert progress.step == "queue"


async def test_progress_before_the_first_batch_names_the_step_and_its_total(env):
    progress = await query_while_held(
        env, Scenario(status=SessionStatus.RUNNING, tasks=10), "update_tasks", call=1
    )

    assert (progress.state, progress.step) == ("running", "tasks")
    # The sweep's plan counted the rows that both of its steps walk; nothing is done yet.
    assert [(s.step, s.total, s.scanned, s.batches_committed) for s in progress.steps] == [
        ("tasks", 10, 0, 0),
        ("queue", 10, 0, 0),
    ]


async def test_outcome_progress_is_done_with_per_step_counts(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    queue = task_queue()
    async with worker(env, store, queue):
        handle = await start(env, Operation.PAUSE, one_range(store.session_id), queue)
        outcome = await result_of(handle)
        # After the end, the query (answered by replaying on a worker) agrees with the outcome.
        queried = await handle.query(PauseSession.progress)

    progress = outcome.progress
    assert progress.state == "done"
    counts = {s.step: (s.scanned, s.total, s.done) for s in progress.steps}
    assert counts == {"tasks": (10, 10, True), "queue": (10, 10, True)}
    # Done: nothing left, at whatever rate it went.
    assert all(s.eta_seconds == 0 and s.rate > 0 for s in progress.steps)
    assert queried == progress


async def test_progress_shows_the_rate_and_the_time_left_at_that_rate(env):
    # Held in the third flip: the first two ranges (8 of 10 tasks) are reported.
    progress = await query_while_held(
        env, Scenario(status=SessionStatus.RUNNING, tasks=10), "update_tasks", call=3
    )

    tasks = progress.steps[0]
    assert tasks.step == "tasks" and tasks.scanned == 8 and not tasks.done
    assert tasks.started_at is not None
    assert tasks.rate is not None and tasks.rate > 0
    assert tasks.eta_seconds == pytest.approx((tasks.total - tasks.scanned) / tasks.rate)


async def test_a_step_that_follows_is_not_done_before_the_range_it_follows_ends(env):
    # Held in the third flip and, beside it, the second dequeue: the queue step caught up
    # with the first call of the flip, and the range has six tasks more to walk.
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    progress, _ = await pause_holding(env, store, ("update_tasks", 3), ("dequeue_tasks", 2))
    steps = {s.step: s for s in progress.steps}
    assert (steps["queue"].scanned, steps["queue"].done) == (4, False)
    assert (steps["tasks"].scanned, steps["tasks"].done) == (8, False)
