from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation
    from workflows.operation import SessionOperation


@workflow.defn(name=OPERATIONS[Operation.STOP_SUBMISSION].name)
class StopSubmission(SessionOperation):
    operation = Operation.STOP_SUBMISSION

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: update the session metadata (the flags only ever go to false).
            await self.admit()
        return self.outcome()
