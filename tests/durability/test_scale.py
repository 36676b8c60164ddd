"""A pause and a resume of a session far larger than the other tests' (10,000,000 tasks in
`make chaos`; `make test` leaves this module out): a worker process with the production batch
sizes takes both to their end, every task is where its status says, and no activity spends
unbounded time before it first heartbeats (the first call of each sweep counts ten million
rows). Their times and history sizes are reported."""

import os
import time
import uuid

import pytest

from admin.invariants import check
from admin.seed import seed
from lifecycle.domain import Partition
from lifecycle.statuses import Operation, TaskStatus
from tests.conftest import report_figure
from tests.integration.history import run_lengths
from tests.support import OPTIONS

TASKS = int(os.environ.get("CHAOS_SCALE_TASKS", "10000000"))

pytestmark = pytest.mark.scale


async def test_a_pause_and_a_resume_of_ten_million_tasks(stack, chaos_client, queue_name, temporal):
    client = chaos_client
    worker = stack.worker(TEMPORAL_TASK_QUEUE=queue_name)
    worker.start()
    try:
        partitions = [f"scale-{n}-{uuid.uuid4()}" for n in range(2)]
        for partition_id in partitions:
            await client.stores.partitions.upsert(Partition(partition_id))
        session_id = (await client.create(partitions, OPTIONS)).session_id
        began = time.perf_counter()
        await seed(client.stores, session_id, TASKS, TaskStatus.SUBMITTED)
        report_figure(f"scale: seeded {TASKS:,} tasks in {time.perf_counter() - began:.0f} s")

        for operation, status in [
            (Operation.PAUSE, TaskStatus.PAUSED),
            (Operation.RESUME, TaskStatus.SUBMITTED),
        ]:
            began = time.perf_counter()
            handle = await client.start(operation, session_id)
            outcome = await handle.result()
            elapsed = time.perf_counter() - began
            lengths = await run_lengths(
                temporal, handle.workflow_id, handle.handle.first_execution_run_id
            )
            steps = outcome.progress.steps
            redone = sum(s.batches_started - s.batches_committed for s in steps)
            report_figure(
                f"scale: {operation.value} of {TASKS:,} tasks in {elapsed:.1f} s"
                f" ({TASKS / elapsed:,.0f} tasks/s); history {sum(lengths)} events in"
                f" {len(lengths)} runs, the longest {max(lengths)}; {redone} batches redone"
            )
            assert not outcome.superseded
            assert steps[0].changed == TASKS and steps[0].total == TASKS
            assert max(lengths) < 500
            assert await client.stores.tasks.count_by_status(session_id) == {status: TASKS}
            depth = await client.stores.queue.depths()
            queued = sum(depth.get(p, 0) for p in partitions)
            assert queued == (TASKS if status == TaskStatus.SUBMITTED else 0)
            began = time.perf_counter()
            report = await check(client.stores, [session_id])
            assert report.ok, report.examples
            report_figure(
                f"scale: invariants after {operation.value} checked in"
                f" {time.perf_counter() - began:.0f} s, 0 violations"
            )
    finally:
        worker.stop()
