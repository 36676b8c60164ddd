"""Running a production workflow against a Scenario."""

import asyncio
from uuid import uuid4

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from lifecycle.calls import Guard
from lifecycle.progress import Progress
from lifecycle.requests import CreateRequest, OperationOutcome, OperationRequest
from lifecycle.statuses import Operation
from lifecycle.transitions import TRANSITIONS
from tests.workflows.faults import Gate
from tests.workflows.scenario import Scenario
from workflows.identity import workflow_id
from workflows.pause import PauseSession
from workflows.registry import WORKFLOWS

RESULT_TIMEOUT = 20  # seconds


def worker(env: WorkflowEnvironment, store: Scenario, task_queue: str) -> Worker:
    """A worker for every workflow, running the real activities over the scenario's stores,
    behind its script of faults."""
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS.values()),
        activities=store.activities(),
        interceptors=store.interceptors(),
    )


def one_range(session_id: str, **fields) -> OperationRequest:
    """A request whose sweeps run in one range, so that a test reads its calls in order (the
    ranges side by side are test_ranges.py's)."""
    return OperationRequest(session_id, sweep_ranges=1, **fields)


def task_queue() -> str:
    """A queue no other test polls, so each test's worker sees only its own workflows."""
    return f"tq-{uuid4().hex}"


async def start(
    env: WorkflowEnvironment,
    operation: Operation,
    request: OperationRequest | CreateRequest,
    queue: str,
    **options,
) -> WorkflowHandle:
    """Start the operation's workflow as the API would, minus the search attributes the
    time-skipping server does not know."""
    return await env.client.start_workflow(
        WORKFLOWS[operation].run,
        request,
        id=workflow_id(operation, request.session_id),
        task_queue=queue,
        **options,
    )


async def execute(
    env: WorkflowEnvironment,
    store: Scenario,
    operation: Operation,
    request: OperationRequest | CreateRequest | None = None,
) -> OperationOutcome:
    """Run the operation on the store's session to its end and answer its outcome."""
    queue = task_queue()
    async with worker(env, store, queue):
        handle = await start(env, operation, request or one_range(store.session_id), queue)
        return await result_of(handle)


async def result_of(handle: WorkflowHandle) -> OperationOutcome:
    """The workflow's result; bounded, so that a workflow that loops fails its test instead of
    hanging the suite (time-skipping makes every legitimate wait here instant)."""
    return await asyncio.wait_for(handle.result(), timeout=RESULT_TIMEOUT)


async def entered(gate: Gate) -> None:
    """Wait until a workflow reached the gated call (bounded, so a broken test fails, not hangs)."""
    await asyncio.wait_for(gate.entered.wait(), timeout=RESULT_TIMEOUT)


async def pause_holding(
    env: WorkflowEnvironment, store: Scenario, *held: tuple[str, int]
) -> tuple[Progress, OperationOutcome]:
    """A Pause in one range whose given calls (activity, call number) are all held at once: the
    progress it reports then, and its outcome once they are let go."""
    gates = [store.gate(name, call=call) for name, call in held]
    queue = task_queue()
    async with worker(env, store, queue):
        handle = await start(env, Operation.PAUSE, one_range(store.session_id), queue)
        for gate in gates:
            await entered(gate)
        progress = await handle.query(PauseSession.progress)
        for gate in gates:
            gate.release()
        return progress, await result_of(handle)


def assert_sweeps_guarded(store: Scenario, operation: Operation, epoch: int | None) -> None:
    """Every sweep call commits only under the operation's guard: the statuses it sweeps while
    (lifecycle.transitions) and, for Pause and Resume, the epoch its admission returned."""
    expected = Guard(statuses=sorted(TRANSITIONS[operation].sweeps_while), epoch=epoch)
    assert store.sweeps(), "no sweep ran"
    for call in store.sweeps():
        assert call.guard == expected, call


def assert_in_diagram_order(store: Scenario) -> None:
    """Within a span, each stage ran after the one before it: every attempt of a following
    stage began once the call that walked its span before it (the first stage's call that
    reached its end, or the stage before over the same span) had ended, answered."""
    followers = [c for c in store.sweeps() if c.arg.follows]
    assert followers, "no stage followed another"
    for f in followers:
        before = [c for c in store.sweeps() if _walked_before(c, f)]
        assert any(c.ended < f.began for c in before), f


def _walked_before(c, follower) -> bool:
    """Whether call `c`, of another stage, walked the span `follower` follows."""
    if c.activity == follower.activity or c.result is None or c.ended is None:
        return False
    if c.arg.follows:
        return (c.after, c.until) == (follower.after, follower.until)
    same_range = c.step.split("#")[1:] == follower.step.split("#")[1:]
    return same_range and c.cursor == follower.until
