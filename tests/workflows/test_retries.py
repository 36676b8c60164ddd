"""A store outage (any error that is not a refusal) is retried until the call succeeds; the retry
repeats the same call, so no range is skipped or redone. Time-skipping makes the backoff free."""

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import assert_in_diagram_order, execute


async def test_an_admission_is_retried_until_it_succeeds(env):
    store = Scenario(status=SessionStatus.RUNNING)
    store.fail("admit", times=2)

    outcome = await execute(env, store, Operation.CLOSE)

    calls = store.of("admit")
    assert [c.attempt for c in calls] == [1, 2, 3]
    assert calls[0].arg == calls[1].arg == calls[2].arg
    assert calls[2].result is not None
    assert outcome.session.status == SessionStatus.CLOSED


async def test_a_failed_sweep_call_is_retried_over_the_same_range(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    # The second range's flip fails twice.
    store.fail("update_tasks", call=2, times=2)

    outcome = await execute(env, store, Operation.PAUSE)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    assert store.spans("update_tasks") == [("", None)] + [(key(4), None)] * 3 + [(key(8), None)]
    assert store.spans("dequeue_tasks") == [("", key(4)), (key(4), key(8)), (key(8), key(10))]
    assert_in_diagram_order(store)
    retried = store.of("update_tasks")[1:4]
    assert [c.attempt for c in retried] == [1, 2, 3]
    assert retried[0].arg == retried[1].arg == retried[2].arg
    assert outcome.session.status == SessionStatus.PAUSED
    assert not outcome.superseded
    assert outcome.progress.steps[0].scanned == 10


async def test_a_failed_follower_is_retried_over_the_range_it_was_given(env):
    store = Scenario(status=SessionStatus.PAUSED, tasks=8)
    store.fail("enqueue_tasks", call=1, times=2)

    outcome = await execute(env, store, Operation.RESUME)

    pushes = store.of("enqueue_tasks")
    assert [(c.after, c.until, c.attempt) for c in pushes] == [
        ("", key(4), 1),
        ("", key(4), 2),
        ("", key(4), 3),
        (key(4), key(8), 1),
    ]
    # The first stage runs at most one span ahead: it opened the next span beside the failed
    # push, and the one after only once the push was through.
    opens = store.of("update_tasks")
    assert [c.after for c in opens] == ["", key(4), key(8)]
    assert opens[2].began > pushes[2].ended
    assert outcome.session.status == SessionStatus.RUNNING
