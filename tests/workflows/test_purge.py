"""PurgeSession: checked before any data is touched, then objects deleted and results marked
Deleted range by range (objects first), and only then the session set to Purged."""

from lifecycle.statuses import Operation, ResultStatus, SessionStatus
from lifecycle.transitions import RESULT_FLIPS
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import assert_in_diagram_order, assert_sweeps_guarded, execute


async def test_purge_admits_then_deletes_objects_before_results_then_finishes(env):
    store = Scenario(status=SessionStatus.CLOSED, tasks=3, results=6)

    outcome = await execute(env, store, Operation.PURGE)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "finish"]
    assert store.spans("delete_objects") == [("", None), (key(4), None)]
    assert store.spans("update_results") == [("", key(4)), (key(4), key(6))]
    assert_in_diagram_order(store)
    assert outcome.session == store.of("finish")[0].result.session
    assert outcome.session.status == SessionStatus.PURGED
    assert not outcome.superseded
    results = store.stores.db.tables.results[store.session_id].values()
    assert {(r.status, r.opaque_id) for r in results} == {(ResultStatus.DELETED, None)}
    assert store.stores.objects.objects == set()


async def test_purge_keeps_manual_results_and_uses_the_purge_flip(env):
    store = Scenario(status=SessionStatus.CANCELLED, results=6)

    await execute(env, store, Operation.PURGE)

    flip = RESULT_FLIPS[Operation.PURGE]
    for call in store.of("delete_objects"):
        assert call.step == "objects"
        assert call.arg.keep_manual is True
        assert (call.from_statuses, call.to_status) == (sorted(flip.from_statuses), None)
    for call in store.of("update_results"):
        assert (call.from_statuses, call.to_status) == (sorted(flip.from_statuses), flip.to_status)
    assert_sweeps_guarded(store, Operation.PURGE, epoch=None)
