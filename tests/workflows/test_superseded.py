"""A later operation that moves the session elsewhere supersedes the rest of a sweep: the guard of
the next batch fails, the workflow stops there and answers superseded, with the session as the later
operation left it (read back at the end), so that the caller learns where it is now."""

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import execute


def take_over(store: Scenario, status: SessionStatus):
    """A Pause or Resume admitted meanwhile: new status, new epoch."""

    def change() -> None:
        store.session.status = status
        store.session.epoch += 1

    return change


def move(store: Scenario, status: SessionStatus):
    def change() -> None:
        store.session.status = status

    return change


async def test_pause_superseded_by_a_resume_stops_its_sweep(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    store.before("update_tasks", 2, take_over(store, SessionStatus.RUNNING))

    outcome = await execute(env, store, Operation.PAUSE)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    # The second flip answered superseded: nothing follows it, and no range opens after it.
    assert store.spans("update_tasks") == [("", None), (key(4), None)]
    assert store.spans("dequeue_tasks") == [("", key(4))]
    assert store.of("update_tasks")[-1].result.superseded
    assert outcome.superseded
    assert outcome.session == store.of("get_session")[0].result
    assert outcome.session.status == SessionStatus.RUNNING
    assert outcome.progress.state == "superseded"


async def test_resume_superseded_in_a_follower_opens_no_further_range(env):
    store = Scenario(status=SessionStatus.PAUSED, tasks=10)
    store.before("enqueue_tasks", 1, take_over(store, SessionStatus.PAUSED))

    outcome = await execute(env, store, Operation.RESUME)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    # The flip beside the superseded push is the last one: no range opens after it, and
    # nothing follows it.
    assert store.spans("update_tasks") == [("", None), (key(4), None)]
    assert store.spans("enqueue_tasks") == [("", key(4))]
    assert outcome.superseded
    assert outcome.session.status == SessionStatus.PAUSED


async def test_cancel_superseded_by_a_delete_skips_its_later_sweeps(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10, results=10)
    store.before("update_tasks", 1, move(store, SessionStatus.DELETED))

    outcome = await execute(env, store, Operation.CANCEL)

    # Neither the queue nor the results sweep runs.
    assert store.trace() == [
        ("admit",),
        ("plan_sweep",),
        ("update_tasks", "", None),
        ("get_session",),
    ]
    assert outcome.superseded
    assert outcome.session.status == SessionStatus.DELETED


async def test_purge_superseded_mid_sweep_never_finishes(env):
    store = Scenario(status=SessionStatus.CLOSED, results=10)
    store.before("delete_objects", 2, move(store, SessionStatus.DELETED))

    outcome = await execute(env, store, Operation.PURGE)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    assert store.spans("delete_objects") == [("", None), (key(4), None)]
    # Only the span whose objects went before the Delete: the superseded call opened none.
    assert store.spans("update_results") == [("", key(4))]
    # No finish: the session is never marked PURGED by a purge that did not complete.
    assert not store.of("finish")
    assert outcome.superseded
    assert outcome.session.status == SessionStatus.DELETED


async def test_purge_whose_finish_finds_the_session_moved_answers_superseded(env):
    store = Scenario(status=SessionStatus.CLOSED, results=3)
    store.before("finish", 1, move(store, SessionStatus.DELETED))

    outcome = await execute(env, store, Operation.PURGE)

    assert store.trace()[-1] == ("finish",)
    assert outcome.superseded
    assert outcome.session.status != SessionStatus.PURGED


async def test_resume_superseded_by_a_delete_that_removed_the_row_answers_deleted(env):
    store = Scenario(status=SessionStatus.PAUSED, tasks=10)

    def deleted() -> None:
        store.session = None

    store.before("update_tasks", 2, deleted)

    outcome = await execute(env, store, Operation.RESUME)

    assert outcome.superseded
    assert store.of("get_session")[0].result is None
    # The last known session, marked as what it became.
    assert outcome.session.session_id == store.session_id
    assert outcome.session.status == SessionStatus.DELETED


async def test_resume_through_a_close_and_a_purge_sweeps_on_and_answers_the_purged_session(env):
    """Close and Purge touch no task: a Resume sweeps on through them, every range flipped and
    queued, and its caller learns the session is PURGED now, not RUNNING."""
    store = Scenario(status=SessionStatus.PAUSED, tasks=10)
    store.before("enqueue_tasks", 1, move(store, SessionStatus.CLOSED))
    store.before("update_tasks", 3, move(store, SessionStatus.PURGED))

    outcome = await execute(env, store, Operation.RESUME)

    assert store.outline() == ["admit", "plan_sweep", "sweep", "get_session"]
    assert store.spans("update_tasks") == [("", None), (key(4), None), (key(8), None)]
    assert store.spans("enqueue_tasks") == [("", key(4)), (key(4), key(8)), (key(8), key(10))]
    assert not outcome.superseded
    assert outcome.session.status == SessionStatus.PURGED


async def test_pause_through_a_close_and_a_purge_takes_every_range_out_of_the_queue(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    store.before("dequeue_tasks", 1, move(store, SessionStatus.CLOSED))
    store.before("dequeue_tasks", 2, move(store, SessionStatus.PURGED))

    outcome = await execute(env, store, Operation.PAUSE)

    assert [(c.after, c.until) for c in store.of("dequeue_tasks")] == [
        ("", key(4)),
        (key(4), key(8)),
        (key(8), key(10)),
    ]
    assert not any(c.result.superseded for c in store.sweeps())
    assert not outcome.superseded
    assert outcome.session.status == SessionStatus.PURGED
