"""armonik_sessions.v1.Operations: the progress of a session operation, for a client that
started it with an ArmoniK RPC (which answers only once the operation is done); the audit
trail; and the RPCs of the operations ArmoniK's Sessions service lacks, by the registry."""

import asyncio
from collections.abc import AsyncIterator

import grpc
from temporalio.service import RPCError, RPCStatusCode

from api.sessions import operate
from api.status import streaming, unary
from engine.operations import Engine, OperationHandle
from lifecycle.options import check_session_id
from lifecycle.progress import Progress
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.registry import OPERATIONS, OPERATIONS_SERVICE, WATCHABLE, served_by
from lifecycle.statuses import Operation
from wire.messages import session_raw
from wire.progress import progress_message
from wire.protos import operations_pb2 as pb
from wire.protos.operations_pb2_grpc import OperationsServicer

# How often a watch looks at the operation; progress changes once per activity call.
POLL_INTERVAL = 0.25
# How long a watch waits for an operation that has not started yet (the caller typically
# starts the watch and the operation together).
START_WAIT = 30.0


def _operation_rpc(operation: Operation):
    """The RPC of an operation ArmoniK lacks: the generic request in, the session as the
    operation left it (ArmoniK's SessionRaw, serialized) and whether it was superseded out."""

    @unary
    async def rpc(
        self: "OperationsService", request: pb.SessionOperationRequest, context
    ) -> pb.SessionOperationResponse:
        outcome = await operate(self.engine, operation, request.session_id)
        return pb.SessionOperationResponse(
            session=session_raw(outcome.session).SerializeToString(),
            superseded=outcome.superseded,
        )

    return rpc


class OperationsService(OperationsServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @unary
    async def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRequestsResponse:
        entries = await self.engine.audit(request.session_id)
        requests = []
        for entry in entries:
            audited = pb.AuditedRequest(
                requested_by=entry.requested_by,
                rpc=entry.permission,
                code=entry.code,
                detail=entry.detail,
            )
            audited.at.FromDatetime(entry.at)
            requests.append(audited)
        return pb.ListRequestsResponse(requests=requests)

    @streaming
    async def WatchOperation(
        self, request: pb.WatchOperationRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.OperationProgress]:
        check_session_id(request.session_id)
        operation = next((op for op in WATCHABLE if op.value == request.operation), None)
        if operation is None:
            raise Refused(
                INVALID_ARGUMENT,
                f"cannot watch {request.operation!r}: one of {[op.value for op in WATCHABLE]}",
            )
        if await self.engine.find(request.session_id) is None:
            raise Refused(NOT_FOUND, f"session {request.session_id} not found")
        handle = await self.engine.handle(operation, request.session_id)
        progress, running = await _first_look(handle)
        last = None
        while True:
            message = progress_message(progress, ended=not running)
            if message != last:
                yield message
                last = message
            if not running:
                return
            await asyncio.sleep(POLL_INTERVAL)
            progress, running = await handle.look()


async def _first_look(handle: OperationHandle) -> tuple[Progress, bool]:
    """Wait for the operation to be there; its progress, and whether it still runs."""
    waited = 0.0
    while True:
        try:
            return await handle.look()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        if waited >= START_WAIT:
            raise Refused(
                NOT_FOUND, f"no {handle.operation.value} of session {handle.session_id} started"
            )
        await asyncio.sleep(POLL_INTERVAL)
        waited += POLL_INTERVAL


# One RPC for each operation on one session that ArmoniK lacks, by the registry.
for _operation in served_by(OPERATIONS_SERVICE):
    setattr(OperationsService, OPERATIONS[_operation].rpc, _operation_rpc(_operation))
