"""Arrows to the Queue. The tasks to push or remove are read from the TasksTable in the batch's
transaction, so a retried batch recomputes them instead of trusting a list it was handed."""

from temporalio import activity

from activities.batches import BatchRunner
from lifecycle.calls import StepCall
from lifecycle.progress import StepProgress
from lifecycle.transitions import QUEUED_TASK_STATUS
from stores.adaptive import AdaptiveSize
from stores.queue import Queue, QueuedTask
from stores.tasks import TaskRow, TasksTable


def _queued(rows: list[TaskRow]) -> list[QueuedTask]:
    return [QueuedTask.of(r) for r in rows]


class QueueActivities:
    def __init__(
        self, tasks: TasksTable, queue: Queue, runner: BatchRunner, size: AdaptiveSize
    ) -> None:
        self.tasks = tasks
        self.queue = queue
        self.runner = runner
        self.size = size

    @activity.defn
    async def enqueue_tasks(self, sweep: StepCall) -> StepProgress:
        """Push every SUBMITTED task of the range to its partition's queue, by batch. Tasks that
        are queued already keep their place, so this also repairs a half-done push."""

        async def push(tx, span):
            rows = await self.tasks.rows(tx, sweep.session_id, span, [QUEUED_TASK_STATUS])
            return await self.queue.push(_queued(rows))

        return await self.runner.run(sweep, self.tasks, self.size, push)

    @activity.defn
    async def dequeue_tasks(self, sweep: StepCall) -> StepProgress:
        """Remove the range's tasks in `from_statuses` (every task if empty) from their queue."""

        async def remove(tx, span):
            rows = await self.tasks.rows(tx, sweep.session_id, span, sweep.from_statuses or None)
            return await self.queue.remove(_queued(rows))

        return await self.runner.run(sweep, self.tasks, self.size, remove)
