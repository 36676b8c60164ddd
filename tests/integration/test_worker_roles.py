"""Who runs what, on the real stack: the API process's worker starts the operations the API sends
(eager start) and runs their short local activities, but never a batch call, which the dedicated
workers take from the task queue."""

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from engine.workers import build_worker
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.conftest import TEST_BATCHES
from tests.support import StackClient, new_session

TASKS = 2_000


async def _connect(settings, identity: str) -> Client:
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, identity=identity
    )


async def test_the_api_worker_starts_operations_and_leaves_every_batch_call_to_the_workers(
    stack, stores
):
    settings = stack.client_settings(temporal_task_queue=f"roles-{uuid.uuid4()}", **TEST_BATCHES)
    api_temporal = await _connect(settings, "api")
    bulk_temporal = await _connect(settings, "bulk")
    async with (
        build_worker(api_temporal, stores, settings, remote_activities=False),
        build_worker(bulk_temporal, stores, settings),
    ):
        client = StackClient(stores, settings, api_temporal)
        session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
        handle = await client.start(Operation.PAUSE, session_id)
        outcome = await handle.result()
        assert outcome.session.status == SessionStatus.PAUSED
        history = await handle.handle.fetch_history()

    batch_calls = [
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    workflow_tasks = [
        e.workflow_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]
    # 2,000 tasks in batches of 100, four a call: five calls for each of the two steps.
    assert len(batch_calls) >= 10
    assert set(batch_calls) == {"bulk"}
    assert workflow_tasks[0] == "api", "started eagerly"
