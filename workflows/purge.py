from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation
    from lifecycle.transitions import RESULT_FLIPS
    from workflows.operation import SessionOperation
    from workflows.sweep import delete_objects, update_results


@workflow.defn(name=OPERATIONS[Operation.PURGE].name)
class PurgeSession(SessionOperation):
    operation = Operation.PURGE

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: get the session metadata; a session that is not CLOSED or CANCELLED is
            # refused here, before any data is touched.
            await self.admit()
            purged = RESULT_FLIPS[Operation.PURGE]
            # ResultsTable: get the session's results; ObjectStorage: delete their objects;
            # ResultsTable: set them to Deleted. By range, objects first.
            await self.sweep(
                delete_objects(purged.from_statuses, keep_manual=True),
                update_results(purged),
            )
            # SessionsTable: update the session status to Purged.
            await self.finish()
            # SessionsTable: the updated session metadata, for the caller.
            await self.read_session()
        return self.outcome()
