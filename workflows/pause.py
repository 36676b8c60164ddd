from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation, TaskStatus
    from lifecycle.transitions import TASK_FLIPS
    from workflows.operation import SessionOperation
    from workflows.sweep import dequeue_tasks, update_tasks


@workflow.defn(name=OPERATIONS[Operation.PAUSE].name)
class PauseSession(SessionOperation):
    operation = Operation.PAUSE

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: set the session status to Paused.
            await self.admit()
            # TasksTable: set the Submitted or Dispatched tasks to Paused, by batch, and take them
            # out of their queue so that nothing dispatches them until a resume.
            await self.sweep(
                update_tasks(TASK_FLIPS[Operation.PAUSE]),
                dequeue_tasks(frozenset({TaskStatus.PAUSED})),
            )
            # SessionsTable: the updated session metadata, for the caller.
            await self.read_session()
        return self.outcome()
