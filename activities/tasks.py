"""Arrows to the TasksTable."""

from temporalio import activity

from activities.batches import BatchRunner
from lifecycle.calls import StepCall
from lifecycle.progress import StepProgress
from stores.adaptive import AdaptiveSize
from stores.tasks import TasksTable


class TasksActivities:
    def __init__(self, tasks: TasksTable, runner: BatchRunner, size: AdaptiveSize) -> None:
        self.tasks = tasks
        self.runner = runner
        self.size = size

    @activity.defn
    async def update_tasks(self, sweep: StepCall) -> StepProgress:
        """Set the status of the session's tasks in `from_statuses` to `to_status`, by batch."""
        assert sweep.to_status is not None

        async def flip(tx, span):
            return await self.tasks.flip(
                tx, sweep.session_id, span, sweep.from_statuses, sweep.to_status
            )

        return await self.runner.run(sweep, self.tasks, self.size, flip)

    @activity.defn
    async def delete_tasks(self, sweep: StepCall) -> StepProgress:
        async def delete(tx, span):
            return await self.tasks.delete_span(tx, sweep.session_id, span)

        return await self.runner.run(sweep, self.tasks, self.size, delete)
