"""PauseSession: the session is set to Paused, then its Submitted or Dispatched tasks are paused
and taken out of their queue, range by range."""

from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import TASK_FLIPS
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import (
    assert_in_diagram_order,
    assert_sweeps_guarded,
    execute,
    pause_holding,
)


async def test_pause_admits_then_updates_and_dequeues_over_successive_spans(env):
    # 10 tasks, 2 per batch, 2 batches per call: spans end at 4, 8 and 10.
    store = Scenario(status=SessionStatus.RUNNING, epoch=7, tasks=10)

    outcome = await execute(env, store, Operation.PAUSE)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    assert store.spans("update_tasks") == [("", None), (key(4), None), (key(8), None)]
    assert store.spans("dequeue_tasks") == [("", key(4)), (key(4), key(8)), (key(8), key(10))]
    assert_in_diagram_order(store)
    # The answer is the session as the pause leaves it, read back after the sweep.
    assert outcome.session == store.of("get_session")[0].result
    assert outcome.session.status == SessionStatus.PAUSED
    assert not outcome.superseded
    assert set(store.task_statuses().values()) == {TaskStatus.PAUSED}
    assert store.stores.queue.members() == set()


async def test_pause_sweeps_carry_the_pause_flip_and_the_admitted_epoch(env):
    store = Scenario(status=SessionStatus.RUNNING, epoch=7, tasks=10)

    await execute(env, store, Operation.PAUSE)

    flip = TASK_FLIPS[Operation.PAUSE]
    for call in store.of("update_tasks"):
        assert (call.step, call.from_statuses, call.to_status) == (
            "tasks",
            sorted(flip.from_statuses),
            flip.to_status,
        )
    # Only the tasks the sweep just paused leave the queue.
    for call in store.of("dequeue_tasks"):
        assert (call.step, call.from_statuses, call.to_status) == (
            "queue",
            [TaskStatus.PAUSED],
            None,
        )
    # The admission bumped the epoch from 7 to 8: every batch is guarded by that epoch, so a
    # later Resume (which bumps it again) stops this sweep.
    assert store.of("admit")[0].result.epoch == 8
    assert_sweeps_guarded(store, Operation.PAUSE, epoch=8)


async def test_the_next_flip_runs_beside_the_dequeue_of_the_span_before(env):
    # Both arrows held at once: the second flip (PostgreSQL) and the first span's dequeue
    # (Redis) are in flight together, so a range takes about as long as its slower arrow.
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    _, outcome = await pause_holding(env, store, ("update_tasks", 2), ("dequeue_tasks", 1))

    [held_flip] = [c for c in store.of("update_tasks") if c.after == key(4)]
    [held_dequeue] = [c for c in store.of("dequeue_tasks") if c.after == ""]
    assert held_dequeue.until == key(4)
    assert held_flip.began < held_dequeue.ended and held_dequeue.began < held_flip.ended
    assert set(store.task_statuses().values()) == {TaskStatus.PAUSED}
    assert store.stores.queue.members() == set()
    assert outcome.session.status == SessionStatus.PAUSED
