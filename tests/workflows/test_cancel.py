"""CancelSession: admitted first (the diagram draws it last, see lifecycle/transitions.py), then
the unfinished tasks are cancelled and dequeued range by range, then the results aborted."""

from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import RESULT_FLIPS, TASK_FLIPS
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import assert_in_diagram_order, assert_sweeps_guarded, execute


async def test_cancel_admits_then_sweeps_tasks_and_queue_then_results(env):
    store = Scenario(status=SessionStatus.PAUSED, tasks=5, results=7)

    outcome = await execute(env, store, Operation.CANCEL)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "plan_sweep", "sweep", "get_session"]
    assert store.spans("update_tasks") == [("", None), (key(4), None)]
    assert store.spans("dequeue_tasks") == [("", key(4)), (key(4), key(5))]
    assert store.spans("update_results") == [("", None), (key(4), None)]
    assert_in_diagram_order(store)
    assert outcome.session.status == SessionStatus.CANCELLED
    assert not outcome.session.client_submission and not outcome.session.worker_submission
    assert not outcome.superseded
    # What the real activities did to the stores.
    assert set(store.task_statuses().values()) == {TaskStatus.CANCELLED}
    assert store.stores.queue.members() == set()


async def test_cancel_sweeps_carry_the_cancel_flips_and_no_epoch(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=5, results=7)

    await execute(env, store, Operation.CANCEL)

    tasks, results = TASK_FLIPS[Operation.CANCEL], RESULT_FLIPS[Operation.CANCEL]
    for call in store.of("update_tasks"):
        assert (call.from_statuses, call.to_status) == (
            sorted(tasks.from_statuses),
            tasks.to_status,
        )
    for call in store.of("dequeue_tasks"):
        assert (call.from_statuses, call.to_status) == ([TaskStatus.CANCELLED], None)
    for call in store.of("update_results"):
        assert (call.step, call.from_statuses, call.to_status) == (
            "results",
            sorted(results.from_statuses),
            results.to_status,
        )
    assert_sweeps_guarded(store, Operation.CANCEL, epoch=None)
