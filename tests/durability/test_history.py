"""An operation over a million tasks keeps its workflow history small: each activity call
covers many batches, and the workflow continues as new past a limit."""

import os

from lifecycle.statuses import Operation, TaskStatus
from tests.conftest import report_figure
from tests.integration.history import run_lengths
from tests.support import new_session

MILLION = int(os.environ.get("HISTORY_TASKS", "1000000"))


async def test_history_of_a_million_task_pause_stays_under_500_events(
    stack, chaos_client, queue_name, temporal
):
    # A worker with the production batch sizes.
    worker = stack.worker(TEMPORAL_TASK_QUEUE=queue_name)
    worker.start()
    try:
        session_id = await new_session(chaos_client, mix={TaskStatus.SUBMITTED: MILLION})
        handle = await chaos_client.start(Operation.PAUSE, session_id)
        outcome = await handle.result()
        assert outcome.progress.steps[0].changed == MILLION
        lengths = await run_lengths(
            temporal, handle.workflow_id, handle.handle.first_execution_run_id
        )
        runs, longest = len(lengths), max(lengths)
        report_figure(
            f"history: pause of {MILLION:,} tasks: {longest} events in its longest run"
            f" ({runs} run(s))"
        )
        assert longest < 500
        # Leave the queues as small as they were for the tests that follow.
        await chaos_client.run(Operation.DELETE, session_id)
    finally:
        worker.stop()
