"""armonik.api.grpc.v1.sessions.Sessions: every session operation, as ArmoniK's clients call it.

A mutating RPC starts the operation's workflow (or joins the one running on the session) and
answers once it is done. If the caller gives up first (its deadline, a disconnection), the
operation still finishes server-side, and the caller's retry joins it.
"""

import grpc
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsServicer
from armonik.protogen.common import sessions_common_pb2 as pb

from api.auth import requester
from api.status import unary
from engine.operations import Engine
from lifecycle.refusals import NOT_FOUND, Refused
from lifecycle.registry import OPERATIONS, SESSIONS_SERVICE, served_by
from lifecycle.requests import OperationOutcome
from lifecycle.statuses import Operation, SessionStatus
from wire.filters import list_sessions_query
from wire.messages import session_raw, task_options

Context = grpc.aio.ServicerContext


def _operation_rpc(operation: Operation, response: type):
    """The RPC of an operation on one session: it answers the session as the operation left
    it."""

    @unary
    async def rpc(self: "SessionsService", request, context: Context):
        outcome = await operate(self.engine, operation, request.session_id)
        return response(session=session_raw(outcome.session))

    return rpc


async def operate(
    engine: Engine, operation: Operation, session_id: str, **flags: bool
) -> OperationOutcome:
    """Run the operation on the session for the caller (or join the one running), once the
    session is known to be there; its outcome, with the session it leaves."""
    await _refuse_if_gone(engine, operation, session_id)
    outcome = await engine.run(operation, session_id, requested_by=requester(), **flags)
    assert outcome.session is not None
    return outcome


async def _refuse_if_gone(engine: Engine, operation: Operation, session_id: str) -> None:
    """A session that is not there answers NOT_FOUND at once, with no workflow started: the
    read happens within the call, so the answer is as true as the workflow's would be. A
    tombstone is still joined by a Delete (the one deleting it)."""
    session = await engine.find(session_id)
    if session is None or (
        session.status == SessionStatus.DELETED and operation != Operation.DELETE
    ):
        raise Refused(NOT_FOUND, f"session {session_id} not found")


class SessionsService(SessionsServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @unary
    async def CreateSession(self, request: pb.CreateSessionRequest, context: Context):
        options = task_options(request.default_task_option)
        session = await self.engine.create(
            list(request.partition_ids), options, requested_by=requester()
        )
        return pb.CreateSessionReply(session_id=session.session_id)

    @unary
    async def GetSession(self, request: pb.GetSessionRequest, context: Context):
        session = await self.engine.get(request.session_id)
        return pb.GetSessionResponse(session=session_raw(session))

    @unary
    async def ListSessions(self, request: pb.ListSessionsRequest, context: Context):
        query = list_sessions_query(request)
        sessions, total = await self.engine.list_sessions(query)
        return pb.ListSessionsResponse(
            sessions=[session_raw(s, request.with_task_options) for s in sessions],
            page=request.page,
            page_size=request.page_size,
            total=total,
        )

    @unary
    async def StopSubmission(self, request: pb.StopSubmissionRequest, context: Context):
        outcome = await operate(
            self.engine,
            Operation.STOP_SUBMISSION,
            request.session_id,
            client=request.client,
            worker=request.worker,
        )
        return pb.StopSubmissionResponse(session=session_raw(outcome.session))


# CancelSession, PauseSession, ...: one RPC for each operation on one session that ArmoniK's
# Sessions service has, by the registry (api/operations.py serves the others).
for _operation in served_by(SESSIONS_SERVICE):
    _rpc = OPERATIONS[_operation].rpc
    setattr(SessionsService, _rpc, _operation_rpc(_operation, getattr(pb, f"{_rpc}Response")))
