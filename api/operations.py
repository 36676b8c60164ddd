"""armonik_sessions.v1.Operations: the progress of a session operation, for a client that
started it with an ArmoniK RPC (which answers only once the operation is done)."""

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
from temporalio.service import RPCError, RPCStatusCode

from api.status import streaming, unary
from client.protos import operations_pb2 as pb
from client.protos.operations_pb2_grpc import OperationsServicer
from client.sessions import OperationHandle, SessionsClient
from lifecycle.models import Progress
from lifecycle.options import check_session_id
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import Operation

# How often a watch looks at the operation; progress changes once per activity call.
POLL_INTERVAL = 0.25
# How long a watch waits for an operation that has not started yet (the caller typically
# starts the watch and the operation together).
START_WAIT = 30.0
WATCHABLE = [op for op in Operation if op not in (Operation.CREATE, Operation.STOP_SUBMISSION)]


class OperationsService(OperationsServicer):
    def __init__(self, client: SessionsClient) -> None:
        self.client = client

    @unary
    async def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRequestsResponse:
        entries = await self.client.audit(request.session_id)
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
        if await self.client.find(request.session_id) is None:
            raise Refused(NOT_FOUND, f"session {request.session_id} not found")
        handle = await self.client.handle(operation, request.session_id)
        progress, running = await _first_look(handle)
        last = None
        while True:
            message = _message(progress, ended=not running)
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


def _message(progress: Progress, *, ended: bool) -> pb.OperationProgress:
    return pb.OperationProgress(
        session_id=progress.session_id,
        operation=progress.operation.value,
        state=progress.state,
        step=progress.step,
        steps=[
            pb.StepProgress(
                step=s.step,
                scanned=s.scanned,
                total=s.total,
                changed=s.changed,
                done=s.done,
                batches_started=s.batches_started,
                batches_committed=s.batches_committed,
                rate=s.rate,
                eta_seconds=s.eta_seconds,
            )
            for s in progress.steps
        ],
        retrying=[
            pb.Retrying(activity=r.activity, attempt=r.attempt, last_failure=r.last_failure)
            for r in progress.retrying
        ],
        ended=ended,
        failing=[
            pb.Failing(
                step=f.step,
                activity=f.activity,
                last_failure=f.last_failure,
                seconds=max(0.0, time.time() - f.since),
                calls=f.calls,
                stalled=f.stalled,
            )
            for f in progress.failing
        ],
        stalled=progress.stalled,
    )
