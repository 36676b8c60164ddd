"""The CLI's client of the control plane's gRPC API (the server is api/): ArmoniK's Sessions and
Partitions services and the control plane's Operations service, over one channel, answering the
project's domain types (wire/messages.py converts them).

It connects to nothing but the API. A call that fails raises grpc.aio.AioRpcError as gRPC
raised it: what a status means for the user is the caller's to say. `reached` tells a server
that answered from one that never did.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC

import grpc
from armonik.protogen.client.partitions_service_pb2_grpc import PartitionsStub
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import filters_common_pb2 as fc
from armonik.protogen.common import partitions_common_pb2 as ppb
from armonik.protogen.common import partitions_fields_pb2 as pf
from armonik.protogen.common import sessions_common_pb2 as spb
from armonik.protogen.common import sessions_fields_pb2 as sf
from armonik.protogen.common import sessions_filters_pb2 as sfl
from armonik.protogen.common import sort_direction_pb2 as sd

from lifecycle.domain import Partition, Session, TaskOptions
from lifecycle.progress import Progress
from lifecycle.registry import ON_ONE_SESSION, OPERATIONS, SESSIONS_SERVICE
from lifecycle.statuses import Operation, SessionStatus
from stores.queries import MAX_PAGE_SIZE, OPTIONS_MAP
from telemetry.tracing import client_interceptors
from wire.messages import (
    SESSION_RAW_FIELDS,
    TASK_OPTION_FIELDS,
    partition_from_raw,
    session_from_raw,
    task_options_message,
)
from wire.progress import progress_from_message
from wire.protos import operations_pb2, operations_pb2_grpc


def operation_request(operation: Operation) -> type:
    """The request message of an operation's RPC: ArmoniK's `<Rpc>Request` on the Sessions
    service, the generic one on the Operations service (lifecycle.registry)."""
    spec = OPERATIONS[operation]
    if spec.service == SESSIONS_SERVICE:
        return getattr(spb, f"{spec.rpc}Request")
    return operations_pb2.SessionOperationRequest


def session_of(reply) -> Session:
    """The session an operation's RPC answers: ArmoniK's SessionRaw, or on the Operations
    service the same serialized."""
    if isinstance(reply, operations_pb2.SessionOperationResponse):
        return session_from_raw(spb.SessionRaw.FromString(reply.session))
    return session_from_raw(reply.session)


# The service, RPC and request message of each operation on one session, by lifecycle.registry.
OPERATION_RPCS = {
    op: (OPERATIONS[op].service, OPERATIONS[op].rpc, operation_request(op)) for op in ON_ONE_SESSION
}

# What a session list can be sorted by, under the names the stores and docs/lifecycle.md use:
# the session's own fields, its task options ("options.priority") and, by key, its free-form
# options ("options.options.KEY").
SESSION_SORTS = {name: number for number, name in SESSION_RAW_FIELDS.items()}
TASK_OPTION_SORTS = {name: number for number, name in TASK_OPTION_FIELDS.items()}
SORT_NAMES = [*SESSION_SORTS, *TASK_OPTION_SORTS, OPTIONS_MAP + "KEY"]

# How long the read of an ended operation's last progress may take: one describe and one query.
LAST_PROGRESS_TIMEOUT = 10.0


def session_field(name: str) -> sf.SessionField:
    """The ArmoniK field a CLI sort name stands for; ValueError if it names none."""
    if name in SESSION_SORTS:
        return sf.SessionField(session_raw_field=sf.SessionRawField(field=SESSION_SORTS[name]))
    if name in TASK_OPTION_SORTS:
        return sf.SessionField(task_option_field=sf.TaskOptionField(field=TASK_OPTION_SORTS[name]))
    key = name.removeprefix(OPTIONS_MAP)
    if name.startswith(OPTIONS_MAP) and key:
        return sf.SessionField(task_option_generic_field=sf.TaskOptionGenericField(field=key))
    raise ValueError(f"cannot sort sessions by {name!r}: one of {', '.join(SORT_NAMES)}")


def list_sessions_request(
    statuses: list[SessionStatus], sort: str, desc: bool, page: int, page_size: int
) -> spb.ListSessionsRequest:
    """ArmoniK's ListSessionsRequest for sessions in any of `statuses` (all if none), with their
    task options; ValueError for a sort name that names no field."""
    status_field = sf.SessionField(
        session_raw_field=sf.SessionRawField(field=sf.SESSION_RAW_ENUM_FIELD_STATUS)
    )
    # An OR of ANDs: one AND per status, each of one condition. `or` and `and` are keywords.
    ands = [
        sfl.FiltersAnd(
            **{
                "and": [
                    sfl.FilterField(
                        field=status_field,
                        filter_status=sfl.FilterStatus(
                            value=int(status), operator=fc.FILTER_STATUS_OPERATOR_EQUAL
                        ),
                    )
                ]
            }
        )
        for status in statuses
    ]
    direction = sd.SORT_DIRECTION_DESC if desc else sd.SORT_DIRECTION_ASC
    return spb.ListSessionsRequest(
        page=page,
        page_size=page_size,
        filters=sfl.Filters(**{"or": ands}),
        sort=spb.ListSessionsRequest.Sort(field=session_field(sort), direction=direction),
        with_task_options=True,
    )


@dataclass
class Watched:
    """One message of WatchOperation: the operation's progress, and whether it has ended."""

    progress: Progress
    ended: bool


class ApiClient:
    """`async with ApiClient(endpoint) as api:` one channel to the API for a command's calls."""

    def __init__(self, endpoint: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        """`credentials`: TLS (security/tls.py client_credentials); None for plain text."""
        self.endpoint = endpoint
        # Traced calls (telemetry/tracing.py) carry their trace to the API.
        interceptors = client_interceptors()
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(endpoint, interceptors=interceptors)
        else:
            self.channel = grpc.aio.secure_channel(endpoint, credentials, interceptors=interceptors)
        self.sessions = SessionsStub(self.channel)
        self.partitions = PartitionsStub(self.channel)
        self.operations = operations_pb2_grpc.OperationsStub(self.channel)
        # Whether the channel has been connected to the server: a failed call then lost it (or
        # the server answered the failure), rather than never reached it.
        self.reached = False
        self._tracking: asyncio.Task | None = None

    async def __aenter__(self) -> "ApiClient":
        self._tracking = asyncio.ensure_future(self._track())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._tracking is not None:
            self._tracking.cancel()
        # A server that went away must not hang the exit.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.channel.close(), 1)

    async def _track(self) -> None:
        state = self.channel.get_state()
        while state != grpc.ChannelConnectivity.READY:
            await self.channel.wait_for_state_change(state)
            state = self.channel.get_state()
        self.reached = True

    # --- sessions ------------------------------------------------------------------------------

    async def create(self, partition_ids: list[str], options: TaskOptions) -> str:
        """The new session's id (CreateSession answers nothing else)."""
        reply = await self.sessions.CreateSession(
            spb.CreateSessionRequest(
                default_task_option=task_options_message(options), partition_ids=partition_ids
            )
        )
        return reply.session_id

    async def get(self, session_id: str) -> Session:
        reply = await self.sessions.GetSession(spb.GetSessionRequest(session_id=session_id))
        return session_from_raw(reply.session)

    async def list_sessions(self, request: spb.ListSessionsRequest) -> tuple[list[Session], int]:
        reply = await self.sessions.ListSessions(request)
        return [session_from_raw(s) for s in reply.sessions], reply.total

    async def operate(self, operation: Operation, session_id: str) -> Session:
        """Run the operation (or join the one running) and answer the session once it is done."""
        service, name, request = OPERATION_RPCS[operation]
        stub = self.sessions if service == SESSIONS_SERVICE else self.operations
        reply = await getattr(stub, name)(request(session_id=session_id))
        return session_of(reply)

    async def stop_submission(self, session_id: str, *, client: bool, worker: bool) -> Session:
        reply = await self.sessions.StopSubmission(
            spb.StopSubmissionRequest(session_id=session_id, client=client, worker=worker)
        )
        return session_from_raw(reply.session)

    # --- operations ----------------------------------------------------------------------------

    async def watch(
        self, operation: Operation, session_id: str, within: float | None = None
    ) -> AsyncIterator[Watched]:
        """The progress of the session's latest execution of the operation, each time it changes,
        until it ends (waiting for it to start if it has not), for at most `within` seconds. Use
        with contextlib.aclosing, so that leaving early cancels the call."""
        call = self.operations.WatchOperation(
            operations_pb2.WatchOperationRequest(session_id=session_id, operation=operation.value),
            timeout=within,
        )
        try:
            async for message in call:
                yield Watched(progress_from_message(message, operation), message.ended)
        finally:
            call.cancel()

    async def last_progress(self, operation: Operation, session_id: str) -> Watched:
        """The first message of a watch: for an operation that has ended, its last progress."""
        async with contextlib.aclosing(
            self.watch(operation, session_id, LAST_PROGRESS_TIMEOUT)
        ) as stream:
            async for watched in stream:
                return watched
        raise EOFError("WatchOperation answered no message")

    async def audit(self, session_id: str) -> list[dict]:
        """Who asked for each change to the session, and what they were answered."""
        reply = await self.operations.ListRequests(
            operations_pb2.ListRequestsRequest(session_id=session_id)
        )
        return [
            {
                "at": r.at.ToDatetime(UTC).isoformat(),
                "requested_by": r.requested_by,
                "rpc": r.rpc,
                "code": r.code,
                "detail": r.detail,
            }
            for r in reply.requests
        ]

    # --- partitions ----------------------------------------------------------------------------

    async def list_partitions(self) -> list[Partition]:
        """Every partition, by id."""
        by_id = pf.PartitionField(
            partition_raw_field=pf.PartitionRawField(field=pf.PARTITION_RAW_ENUM_FIELD_ID)
        )
        sort = ppb.ListPartitionsRequest.Sort(field=by_id, direction=sd.SORT_DIRECTION_ASC)
        partitions: list[Partition] = []
        page = 0
        while True:
            reply = await self.partitions.ListPartitions(
                ppb.ListPartitionsRequest(page=page, page_size=MAX_PAGE_SIZE, sort=sort)
            )
            partitions.extend(partition_from_raw(p) for p in reply.partitions)
            if not reply.partitions or len(partitions) >= reply.total:
                return partitions
            page += 1

    async def get_partition(self, partition_id: str) -> Partition:
        reply = await self.partitions.GetPartition(ppb.GetPartitionRequest(id=partition_id))
        return partition_from_raw(reply.partition)
