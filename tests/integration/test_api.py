"""The gRPC API driven by ArmoniK's own Python client, as shipped (`armonik` on PyPI): every RPC,
every refusal of the lifecycle with its status code, a deadline that expires mid-purge, the
Operations service, health checking and reflection.

The armonik client is synchronous: its calls run in threads, so that the server (in this
test's event loop) can answer them.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from armonik.client.partitions import ArmoniKPartitions
from armonik.client.sessions import ArmoniKSessions
from armonik.client.versions import ArmoniKVersions
from armonik.common import Direction
from armonik.common import Session as ArmoniKSession
from armonik.common import SessionStatus as ArmoniKStatus
from armonik.common import TaskOptions as ArmoniKTaskOptions
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common.sessions_common_pb2 import PurgeSessionRequest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from admin.seed import seed
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import TRANSITIONS
from tests.integration.states import DELETED, MISSING, STARTS, session_in, start_name
from tests.support import new_session
from wire.protos import operations_pb2, operations_pb2_grpc

pytestmark = pytest.mark.stack

OPTIONS = ArmoniKTaskOptions(max_duration=timedelta(seconds=60), priority=5, max_retries=2)
# What each RPC of the armonik client is called, by operation.
CALLS = {
    Operation.CANCEL: "cancel_session",
    Operation.PAUSE: "pause_session",
    Operation.RESUME: "resume_session",
    Operation.CLOSE: "close_session",
    Operation.PURGE: "purge_session",
    Operation.DELETE: "delete_session",
}


@pytest.fixture(scope="module")
def channel(api):
    with grpc.insecure_channel(api) as channel:
        yield channel


@pytest.fixture(scope="module")
def sessions(channel) -> ArmoniKSessions:
    return ArmoniKSessions(channel)


async def call(function, *args, **kwargs):
    return await asyncio.to_thread(function, *args, **kwargs)


async def refused(function, *args) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        await call(function, *args)
    return error.value.code()


async def test_every_session_rpc(sessions, client, partitions):
    session_id = await call(sessions.create_session, OPTIONS, partitions)
    got: ArmoniKSession = await call(sessions.get_session, session_id)
    assert got.status == ArmoniKStatus.RUNNING
    assert got.partition_ids == partitions
    assert got.options.priority == 5 and got.options.max_duration == timedelta(seconds=60)
    assert got.options.partition_id == partitions[0]
    total, listed = await call(sessions.list_sessions, ArmoniKSession.session_id == session_id)
    assert total == 1 and [s.session_id for s in listed] == [session_id]

    stopped = await call(sessions.stop_submission_session, session_id, True, False)
    assert (stopped.client_submission, stopped.worker_submission) == (False, True)
    await seed(client.stores, session_id, 300, TaskStatus.SUBMITTED, results=30, objects=True)
    paused = await call(sessions.pause_session, session_id)
    assert paused.status == ArmoniKStatus.PAUSED
    assert (await call(sessions.resume_session, session_id)).status == ArmoniKStatus.RUNNING
    closed = await call(sessions.close_session, session_id)
    assert closed.status == ArmoniKStatus.CLOSED
    assert closed.closed_at is not None and closed.duration is not None
    assert (await call(sessions.purge_session, session_id)).status == ArmoniKStatus.PURGED
    deleted = await call(sessions.delete_session, session_id)
    assert deleted.status == ArmoniKStatus.DELETED and deleted.deleted_at is not None
    assert await refused(sessions.get_session, session_id) == grpc.StatusCode.NOT_FOUND


async def test_partitions_and_versions(channel, partitions):
    listing = ArmoniKPartitions(channel)
    total, found = await call(listing.list_partitions)
    assert total >= 3 and {"default", *partitions} <= {p.id for p in found}
    partition = await call(listing.get_partition, partitions[0])
    assert partition.id == partitions[0]
    assert await refused(listing.get_partition, f"nowhere-{uuid.uuid4()}") == (
        grpc.StatusCode.NOT_FOUND
    )
    versions = await call(ArmoniKVersions(channel).list_versions)
    assert set(versions) == {"core", "api"} and all(versions.values())


@pytest.fixture(scope="module")
async def sessions_in(client, partitions) -> dict:
    """One session per starting status, shared: a refusal changes nothing."""
    return {start: await session_in(client, partitions, start) for start in STARTS}


@pytest.mark.parametrize("operation", list(CALLS))
async def test_every_refusal_answers_its_status_code(sessions, sessions_in, operation):
    for start, session_id in sessions_in.items():
        if start in (MISSING, DELETED):
            expected = grpc.StatusCode.NOT_FOUND
        elif start in TRANSITIONS[operation].accepts:
            continue
        else:
            expected = grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as error:
            await call(getattr(sessions, CALLS[operation]), session_id)
        assert error.value.code() == expected, (operation, start_name(start))
        if start != MISSING:
            assert session_id in error.value.details()


async def test_a_refused_create_answers_its_status_code(sessions, partitions):
    cases = [
        (ArmoniKTaskOptions(max_duration=timedelta(seconds=60), priority=0, max_retries=2), []),
        (ArmoniKTaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=0), []),
        (ArmoniKTaskOptions(max_duration=timedelta(0), priority=1, max_retries=2), []),
        # The options' partition exists but is not among the session's.
        (
            ArmoniKTaskOptions(
                max_duration=timedelta(seconds=60),
                priority=1,
                max_retries=2,
                partition_id=partitions[1],
            ),
            partitions[:1],
        ),
    ]
    for options, partition_ids in cases:
        code = await refused(sessions.create_session, options, partition_ids)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, options
    unknown = [f"nowhere-{uuid.uuid4()}"]
    assert await refused(sessions.create_session, OPTIONS, unknown) == grpc.StatusCode.NOT_FOUND
    # An unknown partition in the options is NOT_FOUND before it is a misfit.
    elsewhere = ArmoniKTaskOptions(
        max_duration=timedelta(seconds=60), priority=1, max_retries=2, partition_id=unknown[0]
    )
    code = await refused(sessions.create_session, elsewhere, partitions)
    assert code == grpc.StatusCode.NOT_FOUND


async def test_malformed_ids_are_invalid_arguments(sessions):
    for session_id in ["", "a/b", "x" * 300]:
        assert await refused(sessions.pause_session, session_id) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )


async def test_a_purge_whose_deadline_expires_goes_on_and_a_retry_joins_it(
    channel, client, temporal
):
    session_id = await new_session(client, results=5_000, objects=True)
    await client.run(Operation.CLOSE, session_id)
    stub = SessionsStub(channel)
    request = PurgeSessionRequest(session_id=session_id)
    with pytest.raises(grpc.RpcError) as expired:
        await call(stub.PurgeSession, request, timeout=0.5)
    assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    purge = temporal.get_workflow_handle(f"session-{session_id}-purge")
    first = await purge.describe()
    assert first.status.name == "RUNNING", "the purge ended before the deadline: make it larger"

    again = await call(stub.PurgeSession, request, timeout=120)

    assert again.session.status == int(SessionStatus.PURGED)
    # The retry joined the purge the first call started: one execution did it all.
    assert (await purge.describe()).run_id == first.run_id
    executions = [
        w async for w in temporal.list_workflows(f'WorkflowId = "session-{session_id}-purge"')
    ]
    assert len(executions) == 1


async def test_operations_service_streams_an_operation_to_its_end(channel, sessions, client):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 2_000})
    watch = operations_pb2_grpc.OperationsStub(channel)
    request = operations_pb2.WatchOperationRequest(session_id=session_id, operation="pause")

    def watched() -> list[operations_pb2.OperationProgress]:
        return list(watch.WatchOperation(request, timeout=120))

    watching = asyncio.create_task(call(watched))
    paused = await call(sessions.pause_session, session_id)
    messages = await watching

    assert paused.status == ArmoniKStatus.PAUSED
    assert messages[-1].ended and messages[-1].state == "done"
    tasks = next(s for s in messages[-1].steps if s.step == "tasks")
    assert tasks.scanned == tasks.total == 2_000
    assert all(not m.ended for m in messages[:-1])


async def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", "armonik.api.grpc.v1.sessions.Sessions"]:
        answer = await call(health.Check, health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    database = ProtoReflectionDescriptorDatabase(channel)
    services = await call(database.get_services)
    assert {
        "armonik.api.grpc.v1.sessions.Sessions",
        "armonik.api.grpc.v1.partitions.Partitions",
        "armonik.api.grpc.v1.versions.Versions",
        "armonik_sessions.v1.Operations",
        "grpc.health.v1.Health",
    } <= set(services)
    described = await call(
        database.FindFileContainingSymbol, "armonik.api.grpc.v1.sessions.Sessions"
    )
    assert described.name


async def test_list_sessions_with_the_armonik_client_s_own_filters(sessions, partitions):
    """Filters on status, dates, partition ids and options, with sort and paging, as an ArmoniK
    user writes them."""
    tag = f"api-list-{uuid.uuid4()}"
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = []
    for n in range(5):
        options = ArmoniKTaskOptions(
            max_duration=timedelta(seconds=60),
            priority=n + 1,
            max_retries=2,
            application_name=tag,
            options={"rank": str(n)},
        )
        ids.append(await call(sessions.create_session, options, [partitions[n % 2]]))
    await call(sessions.pause_session, ids[1])
    await call(sessions.close_session, ids[3])
    mine = ArmoniKSession.options.application_name == tag

    total, paused = await call(
        sessions.list_sessions, mine & (ArmoniKSession.status == ArmoniKStatus.PAUSED)
    )
    assert (total, [s.session_id for s in paused]) == (1, [ids[1]])
    total, _ = await call(sessions.list_sessions, mine & (ArmoniKSession.created_at > before))
    assert total == 5
    total, closed = await call(sessions.list_sessions, mine & (ArmoniKSession.closed_at > before))
    assert [s.session_id for s in closed] == [ids[3]]
    total, in_b = await call(
        sessions.list_sessions, mine & ArmoniKSession.partition_ids.contains(partitions[1])
    )
    assert sorted(s.session_id for s in in_b) == sorted([ids[1], ids[3]])
    total, high = await call(
        sessions.list_sessions,
        mine & (ArmoniKSession.options.priority > 3),
        sort_field=ArmoniKSession.options.priority,
        sort_direction=Direction.DESC,
    )
    assert [s.session_id for s in high] == [ids[4], ids[3]]
    total, ranked = await call(
        sessions.list_sessions,
        mine & (ArmoniKSession.options["rank"] == "2"),
    )
    assert [s.session_id for s in ranked] == [ids[2]]
    # Pages of two, sorted by creation: every session once, in order; total is the full count.
    pages = []
    for page in range(3):
        total, found = await call(
            sessions.list_sessions,
            mine,
            page=page,
            page_size=2,
            sort_field=ArmoniKSession.created_at,
            sort_direction=Direction.ASC,
        )
        assert total == 5
        pages.append([s.session_id for s in found])
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
