from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation
    from workflows.operation import SessionOperation
    from workflows.sweep import delete_objects, delete_results, delete_tasks, dequeue_tasks


@workflow.defn(name=OPERATIONS[Operation.DELETE].name)
class DeleteSession(SessionOperation):
    operation = Operation.DELETE

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: get the session metadata, and mark it DELETED: from now on every other
            # operation finds it missing, and their sweeps stop.
            await self.admit()
            # TasksTable: delete the session's tasks, by range, once they are out of their queue.
            await self.sweep(dequeue_tasks(), delete_tasks())
            # ResultsTable: delete the session's results, by range, once their objects are deleted,
            # so that no object is left behind.
            await self.sweep(delete_objects(), delete_results())
            # SessionsTable: delete the session metadata.
            await self.delete_session()
        return self.outcome()
