from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation
    from lifecycle.transitions import TASK_FLIPS
    from workflows.operation import SessionOperation
    from workflows.sweep import enqueue_tasks, update_tasks


@workflow.defn(name=OPERATIONS[Operation.RESUME].name)
class ResumeSession(SessionOperation):
    operation = Operation.RESUME

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: set the session status to Running.
            await self.admit()
            # TasksTable: set the Paused tasks to Submitted, by batch; Queue: insert the tasks of
            # each range into their queue. A range is queued before the next one is flipped, and a
            # crash between the two arrows is finished by the retry (ArmoniK.Core #803).
            await self.sweep(update_tasks(TASK_FLIPS[Operation.RESUME]), enqueue_tasks())
            # SessionsTable: the updated session metadata, for the caller.
            await self.read_session()
        return self.outcome()
