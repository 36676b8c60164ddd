"""Arrows to the ResultsTable."""

from temporalio import activity

from activities.batches import BatchRunner
from lifecycle.calls import StepCall
from lifecycle.progress import StepProgress
from lifecycle.statuses import ResultStatus
from stores.adaptive import AdaptiveSize
from stores.results import ResultsTable


class ResultsActivities:
    def __init__(self, results: ResultsTable, runner: BatchRunner, size: AdaptiveSize) -> None:
        self.results = results
        self.runner = runner
        self.size = size

    @activity.defn
    async def update_results(self, sweep: StepCall) -> StepProgress:
        """Set the status of the session's results in `from_statuses` to `to_status`, by batch.
        A result set to DELETED forgets its object key: its object is gone by then."""
        assert sweep.to_status is not None

        async def flip(tx, span):
            if sweep.to_status == ResultStatus.DELETED:
                return await self.results.mark_deleted(
                    tx, sweep.session_id, span, sweep.from_statuses, sweep.to_status
                )
            return await self.results.flip(
                tx, sweep.session_id, span, sweep.from_statuses, sweep.to_status
            )

        return await self.runner.run(sweep, self.results, self.size, flip)

    @activity.defn
    async def delete_results(self, sweep: StepCall) -> StepProgress:
        async def delete(tx, span):
            return await self.results.delete_span(tx, sweep.session_id, span)

        return await self.runner.run(sweep, self.results, self.size, delete)
