"""Arrows to the ObjectStorage. Object keys are read from the ResultsTable in the batch's
transaction. The rows that hold the keys change (or go) only in a later step, once the objects
are gone, so an object never outlives the last row that knows its key."""

from temporalio import activity

from activities.batches import BatchRunner
from lifecycle.models import StepProgress, Sweep
from stores.protocols import ObjectStorage, ResultsTable


class ObjectStorageActivities:
    def __init__(
        self,
        results: ResultsTable,
        objects: ObjectStorage,
        runner: BatchRunner,
        batch_size: int,
    ) -> None:
        self.results = results
        self.objects = objects
        self.runner = runner
        self.batch_size = batch_size

    @activity.defn
    async def delete_objects(self, sweep: Sweep) -> StepProgress:
        """Delete the objects of the session's results in `from_statuses` (every result if
        empty), by batch."""

        async def delete(tx, span):
            keys = await self.results.object_keys(
                tx, sweep.session_id, span, sweep.from_statuses or None, sweep.keep_manual
            )
            await self.objects.delete(keys)
            return len(keys)

        return await self.runner.run(sweep, self.results, self.batch_size, delete)
