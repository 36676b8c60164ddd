"""A second request for an operation already running on a session joins it: one workflow id per
(session, operation), started with USE_EXISTING."""

import pytest
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario
from tests.workflows.support import entered, one_range, result_of, start, task_queue, worker


async def test_a_second_pause_joins_the_running_one(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    gate = store.gate("update_tasks", call=1)
    request = one_range(store.session_id)
    join = WorkflowIDConflictPolicy.USE_EXISTING
    queue = task_queue()
    async with worker(env, store, queue):
        first = await start(env, Operation.PAUSE, request, queue, id_conflict_policy=join)
        await entered(gate)
        second = await start(env, Operation.PAUSE, request, queue, id_conflict_policy=join)
        gate.released.set()
        results = [await result_of(first), await result_of(second)]

    assert second.id == first.id
    assert second.result_run_id == first.result_run_id
    assert results[0] == results[1]
    assert results[0].session.status == SessionStatus.PAUSED
    # One execution: one admission, one sweep.
    assert len(store.of("admit")) == 1
    assert len(store.of("update_tasks")) == 3


async def test_without_use_existing_a_second_start_is_rejected(env):
    # The control: the join above is the policy's doing, not the server's default.
    store = Scenario(status=SessionStatus.RUNNING, tasks=10)
    gate = store.gate("update_tasks", call=1)
    request = one_range(store.session_id)
    queue = task_queue()
    async with worker(env, store, queue):
        first = await start(env, Operation.PAUSE, request, queue)
        await entered(gate)
        with pytest.raises(WorkflowAlreadyStartedError):
            await start(env, Operation.PAUSE, request, queue)
        gate.released.set()
        await result_of(first)
