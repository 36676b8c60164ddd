"""DeleteSession: marked DELETED first, then tasks dequeued and deleted, then objects and results
deleted (objects first, so none is orphaned), range by range, and the session row last."""

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import assert_in_diagram_order, assert_sweeps_guarded, execute


async def test_delete_sweeps_tasks_then_results_then_deletes_the_session(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=6, results=3)

    outcome = await execute(env, store, Operation.DELETE)

    assert store.outline() == [
        "admit",
        "plan_sweep",
        "sweep",
        "plan_sweep",
        "sweep",
        "delete_session",
    ]
    assert store.spans("dequeue_tasks") == [("", None), (key(4), None)]
    assert store.spans("delete_tasks") == [("", key(4)), (key(4), key(6))]
    assert store.spans("delete_objects") == [("", None)]
    assert store.spans("delete_results") == [("", key(3))]
    assert_in_diagram_order(store)
    assert store.session is None
    tables = store.stores.db.tables
    assert not tables.tasks[store.session_id] and not tables.results[store.session_id]
    assert store.stores.queue.members() == set() and store.stores.objects.objects == set()
    assert not tables.operations and not tables.steps
    # The answer is the session's last state: DELETED, as the admission left it.
    assert outcome.session == store.of("admit")[0].result.session
    assert outcome.session.status == SessionStatus.DELETED
    assert not outcome.superseded


async def test_delete_sweeps_every_row_and_every_object(env):
    store = Scenario(status=SessionStatus.PURGED, tasks=6, results=3)

    await execute(env, store, Operation.DELETE)

    for call in store.sweeps():
        # No status filter: every task leaves its queue, every object goes (manual ones too).
        assert (call.from_statuses, call.to_status, call.arg.keep_manual) == ([], None, False)
    assert {c.step for c in store.of("dequeue_tasks")} == {"queue"}
    assert {c.step for c in store.of("delete_tasks")} == {"tasks"}
    assert {c.step for c in store.of("delete_objects")} == {"objects"}
    assert {c.step for c in store.of("delete_results")} == {"results"}
    assert_sweeps_guarded(store, Operation.DELETE, epoch=None)
