"""ResumeSession: the session is set to Running, then its Paused tasks are set to Submitted and
pushed to their queue, range by range: each push covers exactly the range just flipped."""

from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import TASK_FLIPS
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import assert_in_diagram_order, assert_sweeps_guarded, execute


async def test_resume_admits_then_flips_and_enqueues_range_by_range(env):
    # 8 tasks, 2 per batch, 2 batches per call: the third call finds an empty range, which is
    # the end of the sweep and has nothing to enqueue.
    store = Scenario(status=SessionStatus.PAUSED, epoch=3, tasks=8)

    outcome = await execute(env, store, Operation.RESUME)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    assert store.spans("update_tasks") == [("", None), (key(4), None), (key(8), None)]
    assert store.spans("enqueue_tasks") == [("", key(4)), (key(4), key(8))]
    assert_in_diagram_order(store)
    assert outcome.session.status == SessionStatus.RUNNING
    assert not outcome.superseded
    assert set(store.task_statuses().values()) == {TaskStatus.SUBMITTED}
    assert {member for _, member in store.stores.queue.members()} == {
        f"{store.session_id}/{key(i)}" for i in range(1, 9)
    }


async def test_each_enqueue_covers_exactly_the_range_the_preceding_update_opened(env):
    store = Scenario(status=SessionStatus.PAUSED, tasks=11, batch_size=3, batches_per_call=1)

    await execute(env, store, Operation.RESUME)

    cursor = ""
    opens = store.of("update_tasks")
    for opened, pushed in zip(opens, store.of("enqueue_tasks"), strict=True):
        assert opened.after == cursor
        assert (pushed.after, pushed.until) == (cursor, opened.cursor)
        cursor = opened.cursor
    assert cursor == key(11)
    assert_in_diagram_order(store)
    assert [c.cursor for c in store.of("enqueue_tasks")] == [key(i) for i in (3, 6, 9, 11)]


async def test_resume_sweeps_carry_the_resume_flip_and_the_admitted_epoch(env):
    store = Scenario(status=SessionStatus.PAUSED, epoch=3, tasks=8)

    await execute(env, store, Operation.RESUME)

    flip = TASK_FLIPS[Operation.RESUME]
    for call in store.of("update_tasks"):
        assert (call.from_statuses, call.to_status) == (sorted(flip.from_statuses), flip.to_status)
    for call in store.of("enqueue_tasks"):
        assert (call.step, call.to_status) == ("queue", None)
    assert store.of("admit")[0].result.epoch == 4
    assert_sweeps_guarded(store, Operation.RESUME, epoch=4)
