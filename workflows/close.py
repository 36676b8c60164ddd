from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation
    from workflows.operation import SessionOperation


@workflow.defn(name=OPERATIONS[Operation.CLOSE].name)
class CloseSession(SessionOperation):
    operation = Operation.CLOSE

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: set the session status to Closed.
            await self.admit()
        return self.outcome()
