"""A long sweep continues as new before its history grows past `history_limit`, and the next run
picks up at the range where the last one stopped: none redone, none skipped, no second admission."""

from temporalio.api.enums.v1 import EventType

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario, key
from tests.workflows.support import one_range, result_of, start, task_queue, worker

LIMIT = 40
# The check runs between ranges, so a run may overshoot the limit by one range (two activities
# of about six events each) plus the continue-as-new itself.
MARGIN = 16


async def run_lengths(env, workflow_id: str, first_run_id: str) -> list[int]:
    """The history length of each run of the chain, following continue-as-new from the first."""
    lengths, run_id = [], first_run_id
    while run_id:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = ""
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return lengths


async def test_resume_over_many_ranges_continues_as_new_and_resumes_where_it_was(env):
    # 40 tasks, one batch of 2 per call: 20 ranges, then an empty call that ends the sweep.
    store = Scenario(status=SessionStatus.PAUSED, tasks=40, batch_size=2, batches_per_call=1)
    queue = task_queue()
    async with worker(env, store, queue):
        handle = await start(
            env, Operation.RESUME, one_range(store.session_id, history_limit=LIMIT), queue
        )
        outcome = await result_of(handle)
        lengths = await run_lengths(env, handle.id, handle.result_run_id)

    # (a) It continued as new, more than once at this size.
    assert len(lengths) >= 3, lengths
    # (b) No run's history grew much past the limit.
    assert max(lengths) <= LIMIT + MARGIN, lengths
    # (c) Every range exactly once, in order, across all runs.
    ends = [key(i) for i in range(2, 41, 2)]
    assert [(c.after, c.cursor) for c in store.of("update_tasks")] == [
        *zip(["", *ends[:-1]], ends, strict=True),
        (key(40), key(40)),
    ]
    assert [(c.after, c.until) for c in store.of("enqueue_tasks")] == list(
        zip(["", *ends[:-1]], ends, strict=True)
    )
    assert all(c.attempt == 1 for c in store.calls)
    # The admission ran once; every later run kept its op id and epoch.
    assert len(store.of("admit")) == 1
    admission = store.of("admit")[0]
    assert {c.arg.op_id for c in store.calls if c.activity != "get_session"} == {
        admission.arg.op_id
    }
    assert {c.guard.epoch for c in store.sweeps()} == {admission.result.epoch}
    # Progress is carried across runs too.
    assert outcome.session.status == SessionStatus.RUNNING
    tasks = outcome.progress.steps[0]
    assert (tasks.step, tasks.scanned, tasks.total, tasks.done) == ("tasks", 40, 40, True)
