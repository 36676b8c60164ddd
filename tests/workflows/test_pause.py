"""PauseSession: the session is set to Paused, then its Submitted or Dispatched tasks are paused
and taken out of their queue, range by range."""

from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import TASK_FLIPS
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import assert_sweeps_guarded, execute


async def test_pause_admits_then_alternates_update_and_dequeue_over_successive_ranges(env):
    # 10 tasks, 2 per batch, 2 batches per call: ranges end at 4, 8 and 10.
    store = Scenario(status=SessionStatus.RUNNING, epoch=7, tasks=10)

    outcome = await execute(env, store, Operation.PAUSE)

    assert store.trace() == [
        ("admit",),
        ("plan_sweep",),
        ("update_tasks", "", None),
        ("dequeue_tasks", "", key(4)),
        ("update_tasks", key(4), None),
        ("dequeue_tasks", key(4), key(8)),
        ("update_tasks", key(8), None),
        ("dequeue_tasks", key(8), key(10)),
        ("get_session",),
    ]
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
