from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sessions import SessionsActivities
    from lifecycle.registry import OPERATIONS
    from lifecycle.requests import CreateRequest, OperationOutcome, OperationRequest, SessionInsert
    from lifecycle.statuses import Operation
    from telemetry import metrics
    from workflows.operation import SessionOperation


@workflow.defn(name=OPERATIONS[Operation.CREATE].name)
class CreateSession(SessionOperation):
    operation = Operation.CREATE

    @workflow.run
    async def run(self, request: CreateRequest) -> OperationOutcome:
        as_operation = OperationRequest(
            request.session_id, heartbeat_timeout=request.heartbeat_timeout
        )
        async with self.performing(as_operation):
            # PartitionsTable: check the partitions given to the session exist.
            self.board.at("partitions")
            checked = await self._call(SessionsActivities.check_partitions, request)
            # SessionsTable: insert the new session.
            self.board.at("insert")
            self.written = await self._call(
                SessionsActivities.insert_session, SessionInsert(self.op_id, checked)
            )
            # A Create's admission is its insert.
            self.count(metrics.OPERATIONS_ADMITTED)
        return self.outcome()
