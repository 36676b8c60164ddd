"""Gauges that no event tells, sampled by each worker every METRICS_SAMPLE_SECONDS: the depth of
each partition's queue, and how many operations of each kind run and are stalled (by Temporal's
visibility store, on this deployment's task queue). Several workers sample the same figures:
the dashboard and `armonik-sessions top` take the largest, not the sum."""

import asyncio
import logging

from temporalio.client import Client

from lifecycle.registry import OPERATION, STALLED
from lifecycle.statuses import Operation
from stores.queue import Queue
from telemetry.metrics import OPERATIONS_RUNNING, OPERATIONS_STALLED, QUEUE_DEPTH, process_meter

log = logging.getLogger("armonik_sessions.metrics")


class Samplers:
    def __init__(self, queue: Queue, temporal: Client, task_queue: str) -> None:
        self.queue = queue
        self.temporal = temporal
        self.task_queue = task_queue
        meter = process_meter()
        self.depth = meter.create_gauge(QUEUE_DEPTH, "tasks queued, by partition", "tasks")
        self.running = meter.create_gauge(OPERATIONS_RUNNING, "operations running", "operations")
        self.stalled = meter.create_gauge(OPERATIONS_STALLED, "operations stalled", "operations")
        # A queue that empties loses its key: it reads 0 from then on, not its last depth.
        self.partitions_seen: set[str] = set()

    async def sample(self) -> None:
        depths = await self.queue.depths()
        self.partitions_seen |= set(depths)
        for partition in self.partitions_seen:
            self.depth.set(depths.get(partition, 0), {"partition": partition})
        for operation in Operation:
            query = (
                f'{OPERATION} = "{operation.value}" AND ExecutionStatus = "Running"'
                f' AND TaskQueue = "{self.task_queue}"'
            )
            count = await self.temporal.count_workflows(query)
            self.running.set(count.count, {"operation": operation.value})
            count = await self.temporal.count_workflows(query + f' AND {STALLED} = "true"')
            self.stalled.set(count.count, {"operation": operation.value})

    async def run(self, interval: float) -> None:
        """Sample until cancelled; a store or Temporal out of reach skips a sample, no more."""
        while True:
            try:
                await self.sample()
            except Exception as error:
                log.warning("could not sample the gauges: %s: %s", type(error).__name__, error)
            await asyncio.sleep(interval)
