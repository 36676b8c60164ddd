"""A sweep cut into several ranges runs them side by side: each range is walked once, from its
own checkpoint, its second stage following its first over the same spans, across continue-as-new;
and the progress sums the ranges."""

from lifecycle.requests import OperationRequest
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import result_of, start, task_queue, worker
from tests.workflows.test_continue_as_new import run_lengths

TASKS = 60
RANGES = 3


async def test_a_resume_in_three_ranges_walks_each_once_and_sums_their_progress(env):
    # 60 tasks in three ranges of 20, one batch of 2 per call: ten calls a range.
    store = Scenario(status=SessionStatus.PAUSED, tasks=TASKS, batch_size=2, batches_per_call=1)
    request = OperationRequest(store.session_id, history_limit=60, sweep_ranges=RANGES)
    queue = task_queue()
    async with worker(env, store, queue):
        handle = await start(env, Operation.RESUME, request, queue)
        outcome = await result_of(handle)
        lengths = await run_lengths(env, handle.id, handle.result_run_id)

    [plan] = store.of("plan_sweep")
    bounds = [r.until for r in plan.result.ranges]
    assert bounds == [key(20), key(40), None]
    for n, (after, until) in enumerate([("", key(20)), (key(20), key(40)), (key(40), None)]):
        opened = [c for c in store.of("update_tasks") if c.step == f"tasks#{n + 1}"]
        followed = [c for c in store.of("enqueue_tasks") if c.step == f"queue#{n + 1}"]
        # The range's calls follow one another from its start to its end, never past it...
        assert opened[0].after == after and {c.until for c in opened} == {until}
        assert [c.after for c in opened[1:]] == [c.cursor for c in opened[:-1]]
        assert opened[-1].cursor == (until or key(TASKS))
        # ...and its queue stage follows each call over exactly what it walked.
        walked = [(c.after, c.cursor) for c in opened if c.cursor != c.after]
        assert [(c.after, c.until) for c in followed] == walked
    assert all(c.attempt == 1 for c in store.calls)
    assert len(lengths) >= 2, "the three ranges' calls made it continue as new"

    assert set(store.task_statuses().values()) == {TaskStatus.SUBMITTED}
    assert len(store.stores.queue.members()) == TASKS
    assert outcome.session.status == SessionStatus.RUNNING
    steps = {s.step: s for s in outcome.progress.steps}
    assert (steps["tasks"].scanned, steps["tasks"].total, steps["tasks"].done) == (60, 60, True)
    assert (steps["queue"].scanned, steps["queue"].changed, steps["queue"].done) == (60, 60, True)
    assert sorted(r.step for r in outcome.progress.ranges) == [
        "queue#1",
        "queue#2",
        "queue#3",
        "tasks#1",
        "tasks#2",
        "tasks#3",
    ]
