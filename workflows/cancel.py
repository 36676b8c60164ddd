from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import OperationOutcome, OperationRequest
    from lifecycle.statuses import Operation, TaskStatus
    from lifecycle.transitions import RESULT_FLIPS, TASK_FLIPS
    from workflows.operation import SessionOperation
    from workflows.sweep import dequeue_tasks, update_results, update_tasks


@workflow.defn(name=OPERATIONS[Operation.CANCEL].name)
class CancelSession(SessionOperation):
    operation = Operation.CANCEL

    @workflow.run
    async def run(self, request: OperationRequest) -> OperationOutcome:
        async with self.performing(request):
            # SessionsTable: set the session status to Cancelled. The diagram draws this arrow last;
            # it comes first here so that submission stops and no other operation is admitted while
            # the tasks are being cancelled (see lifecycle/transitions.py).
            await self.admit()
            # TasksTable: set the session's unfinished tasks to Cancelled, by batch, and take them
            # out of their queue.
            await self.sweep(
                update_tasks(TASK_FLIPS[Operation.CANCEL]),
                dequeue_tasks(frozenset({TaskStatus.CANCELLED})),
            )
            # ResultsTable: set the session's results to Aborted.
            await self.sweep(update_results(RESULT_FLIPS[Operation.CANCEL]))
            # SessionsTable: the updated session metadata, for the caller.
            await self.read_session()
        return self.outcome()
