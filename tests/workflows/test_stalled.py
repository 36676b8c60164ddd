"""A bulk step whose calls keep failing through all their attempts: the workflow calls again
for as long as it takes, shows the range retrying with its last failure, then stalled once
nothing committed for the request's stall_seconds, and no longer once a call succeeds.
Time-skipping makes the waits free."""

import asyncio

from lifecycle.progress import Progress
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.workflows.scenario import Scenario
from tests.workflows.support import entered, one_range, result_of, start, task_queue, worker
from workflows.policy import CALL_ATTEMPTS

FAILED_CALLS = 4


async def test_a_step_that_never_commits_shows_stalled_with_its_cause_until_it_does(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    for call in range(1, FAILED_CALLS + 1):
        store.fail("update_tasks", call=call, times=CALL_ATTEMPTS)
    gate = store.gate("update_tasks", call=FAILED_CALLS + 1)
    request = one_range(store.session_id, stall_seconds=30)
    queue = task_queue()

    async with worker(env, store, queue):
        handle = await start(env, Operation.PAUSE, request, queue)
        # Waiting on the result is what lets the test server skip the backoffs.
        result = asyncio.create_task(result_of(handle))
        await entered(gate)
        stalled = await handle.query("progress", result_type=Progress)
        gate.release()
        outcome = await result

    (failing,) = stalled.failing
    assert failing.step == "tasks"
    assert failing.activity == "update_tasks"
    assert failing.calls == FAILED_CALLS
    assert failing.stalled
    assert "store outage" in failing.last_failure
    attempts = [c.attempt for c in store.of("update_tasks")][: FAILED_CALLS * CALL_ATTEMPTS]
    assert attempts == list(range(1, CALL_ATTEMPTS + 1)) * FAILED_CALLS
    assert outcome.session.status == SessionStatus.PAUSED
    assert outcome.progress.failing == []
    assert not outcome.progress.stalled
    assert set(store.task_statuses().values()) == {TaskStatus.PAUSED}


async def test_a_step_that_fails_once_is_retrying_not_stalled(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    store.fail("update_tasks", call=1, times=CALL_ATTEMPTS)
    gate = store.gate("update_tasks", call=2)
    request = one_range(store.session_id, stall_seconds=3600)
    queue = task_queue()

    async with worker(env, store, queue):
        handle = await start(env, Operation.PAUSE, request, queue)
        result = asyncio.create_task(result_of(handle))
        await entered(gate)
        progress = await handle.query("progress", result_type=Progress)
        gate.release()
        await result

    (failing,) = progress.failing
    assert failing.calls == 1
    assert not failing.stalled
