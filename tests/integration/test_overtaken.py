"""Operations overtaken by others at an exact point, on the real stack: a Close and a Purge (which
touch no task) land between the two arrows of a Resume's or a Pause's range, and a repeated Pause
arrives once a Resume has overtaken the first.

Sessions of 5,000 tasks in batches of 100, four batches per call: each sweep makes about a dozen
calls, and the other operations land while several remain.
"""

import asyncio
import uuid

import pytest
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput
from temporalio.exceptions import WorkflowAlreadyStartedError

from admin.invariants import check
from engine.workers import build_worker
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.conftest import TEST_BATCHES
from tests.integration.gates import WITHIN, ActivityGates
from tests.support import StackClient, new_session
from workflows.identity import workflow_id

TASKS = 5_000
RESULTS = 300


@pytest.fixture(scope="module")
async def gates() -> ActivityGates:
    return ActivityGates()


@pytest.fixture(scope="module")
async def gated(stack, stores, temporal, gates) -> StackClient:
    """A client whose operations run on a worker of their own, behind the gates."""
    settings = stack.client_settings(temporal_task_queue=f"gated-{uuid.uuid4()}", **TEST_BATCHES)
    async with build_worker(temporal, stores, settings, [gates]):
        yield StackClient(stores, settings, temporal)


async def _close_and_purge(client: StackClient, session_id: str) -> None:
    assert (await client.run(Operation.CLOSE, session_id)).session.status == SessionStatus.CLOSED
    purged = await client.run(Operation.PURGE, session_id)
    assert purged.session.status == SessionStatus.PURGED


async def _queued_of(client: StackClient, session_id: str) -> list[str]:
    members = await client.stores.queue.all_members()
    return [m for queue in members.values() for m in queue if m.startswith(f"{session_id}/")]


async def test_a_resume_overtaken_by_a_close_and_a_purge_queues_every_task(gated, gates):
    session_id = await new_session(
        gated, mix={TaskStatus.SUBMITTED: TASKS}, results=RESULTS, objects=True
    )
    await gated.run(Operation.PAUSE, session_id)
    # The second range is flipped to SUBMITTED and not yet queued when the gate holds it.
    gate = gates.hold(workflow_id(Operation.RESUME, session_id), "enqueue_tasks", call=2)
    resume = await gated.start(Operation.RESUME, session_id)
    await gate.reached(WITHIN)

    await _close_and_purge(gated, session_id)
    gate.release()
    outcome = await resume.result()

    # The resume swept on through the close and the purge, which touch no task...
    assert not outcome.superseded
    tasks = next(s for s in outcome.progress.steps if s.step == "tasks")
    assert tasks.batches_committed >= 3 * 4, "the close and purge landed early in the sweep"
    assert await gated.stores.tasks.count_by_status(session_id) == {TaskStatus.SUBMITTED: TASKS}
    assert len(await _queued_of(gated, session_id)) == TASKS
    # ...and its caller learns where the session is now.
    assert outcome.session.status == SessionStatus.PURGED
    report = await check(gated.stores, [session_id])
    assert report.ok, report.examples


async def test_a_pause_overtaken_by_a_close_and_a_purge_takes_every_task_out_of_the_queue(
    gated, gates
):
    session_id = await new_session(
        gated, mix={TaskStatus.SUBMITTED: TASKS}, results=RESULTS, objects=True
    )
    # The second range is PAUSED and still queued when the gate holds it.
    gate = gates.hold(workflow_id(Operation.PAUSE, session_id), "dequeue_tasks", call=2)
    pause = await gated.start(Operation.PAUSE, session_id)
    await gate.reached(WITHIN)

    await _close_and_purge(gated, session_id)
    gate.release()
    outcome = await pause.result()

    assert not outcome.superseded
    assert outcome.session.status == SessionStatus.PURGED
    assert await gated.stores.tasks.count_by_status(session_id) == {TaskStatus.PAUSED: TASKS}
    assert await _queued_of(gated, session_id) == []
    report = await check(gated.stores, [session_id])
    assert report.ok, report.examples


class StartsSeen(Interceptor):
    """Counts the workflow starts (or joins) the client got an answer to, by workflow id."""

    def __init__(self) -> None:
        self.answered: dict[str, int] = {}
        self.changed = asyncio.Condition()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        seen = self

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput):
                try:
                    handle = await super().start_workflow(input)
                except WorkflowAlreadyStartedError:
                    # The answer of a join: the engine starts with FAIL, and joins on it.
                    await seen.answer(input.id)
                    raise
                await seen.answer(input.id)
                return handle

        return Recording(next)

    async def answer(self, workflow_id: str) -> None:
        async with self.changed:
            self.answered[workflow_id] = self.answered.get(workflow_id, 0) + 1
            self.changed.notify_all()

    async def wait_for(self, workflow_id: str, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: self.answered.get(workflow_id, 0) >= count), WITHIN
            )


async def test_a_pause_repeated_after_a_resume_overtook_the_first_starts_afresh(
    gated, gates, settings
):
    """Pause, Resume, Pause: the second Pause arrives while the first, overtaken by the Resume,
    has not reached its next batch yet. Joining it would answer a stale PAUSED on a RUNNING
    session; the second request runs as a fresh pause instead."""
    starts = StartsSeen()
    recorded = await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, interceptors=[starts]
    )
    client = StackClient(gated.stores, gated.settings, recorded)
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
    pause_id = workflow_id(Operation.PAUSE, session_id)
    gate = gates.hold(pause_id, "update_tasks", call=2)
    first = await client.start(Operation.PAUSE, session_id)
    await gate.reached(WITHIN)
    resumed = await client.run(Operation.RESUME, session_id)
    assert resumed.session.status == SessionStatus.RUNNING

    second_request = asyncio.create_task(client.start(Operation.PAUSE, session_id))
    # The second request has found the first pause still running under the same id...
    await starts.wait_for(pause_id, 2)
    # ...which may now reach its next batch, and find itself overtaken.
    gate.release()
    second = await second_request

    first_outcome = await first.result()
    assert first_outcome.superseded
    assert first_outcome.session.status == SessionStatus.RUNNING
    assert second.handle.first_execution_run_id != first.handle.first_execution_run_id
    outcome = await second.result()
    assert not outcome.superseded
    assert outcome.session.status == SessionStatus.PAUSED
    assert await client.stores.tasks.count_by_status(session_id) == {TaskStatus.PAUSED: TASKS}
    report = await check(client.stores, [session_id])
    assert report.ok, report.examples


async def test_a_pause_repeated_while_the_first_runs_joins_it(gated, gates):
    """The other side: nothing overtook the first pause, so the repeat is the same request."""
    session_id = await new_session(gated, mix={TaskStatus.SUBMITTED: TASKS})
    gate = gates.hold(workflow_id(Operation.PAUSE, session_id), "update_tasks", call=2)
    first = await gated.start(Operation.PAUSE, session_id)
    await gate.reached(WITHIN)

    second = await gated.start(Operation.PAUSE, session_id)
    gate.release()

    assert second.handle.first_execution_run_id == first.handle.first_execution_run_id
    assert (await second.result()).session.status == SessionStatus.PAUSED
    assert not (await first.result()).superseded
