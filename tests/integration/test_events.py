"""The Events service through the `armonik` package's ArmoniKEvents, as shipped, on the full API
server over the real stores: wait_for_result_availability returns for a result completed
before it subscribed and for one completed while it waits, and raises for one aborted; the
stream's kinds, filters and fields; its refusals; and a lost feed ends it UNAVAILABLE."""

import asyncio
import time
import uuid

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKTasks
from armonik.common import EventTypes, Result, Task, TaskDefinition
from armonik.common import ResultStatus as R
from armonik.common import TaskStatus as T
from armonik.protogen.client.events_service_pb2_grpc import EventsStub
from armonik.protogen.common import events_common_pb2 as epb

from engine.work import Work
from lifecycle.domain import Partition, TaskOptions
from tests.conftest import report_figure

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def channel(api):
    with grpc.insecure_channel(api) as channel:
        yield channel


async def new_session(client, stores) -> str:
    partition = f"events-{uuid.uuid4()}"
    await stores.partitions.upsert(Partition(partition))
    return (await client.create([partition], TaskOptions(60, 2, 5))).session_id


async def test_wait_for_result_availability(client, stores, channel):
    session = await new_session(client, stores)
    results, tasks, events = ArmoniKResults(channel), ArmoniKTasks(channel), ArmoniKEvents(channel)

    def scenario():
        done = results.create_results({"done": b"x"}, session)["done"].result_id
        made = results.create_results_metadata(["waited", "aborted", "payload"], session)
        waited, aborted = made["waited"].result_id, made["aborted"].result_id
        # Completed before the wait began: the stream's first read of the table reports it.
        events.wait_for_result_availability(done, session)
        # Completed while waiting: the upload is made from the handler once the stream has
        # reported the result CREATED, so its completion can only come from the feed.
        seen = []

        def handler(_, kind, event):
            seen.append((kind, event.result_id, event.status))
            if event.status == R.CREATED:
                results.upload_result_data(waited, session, b"data")
            return event.status == R.COMPLETED

        events.get_events(
            session,
            [EventTypes.NEW_RESULT, EventTypes.RESULT_STATUS_UPDATE],
            [handler],
            result_filter=Result.result_id == waited,
        )
        events.wait_for_result_availability([waited, done], session)
        # Aborted: its task cancelled, from a thread beside the wait.
        payload = results.create_results({"p": b"p"}, session)["p"].result_id
        task = tasks.submit_tasks(session, [TaskDefinition(payload, [aborted])])[0]
        return seen, aborted, task.id

    seen, aborted, task_id = await asyncio.to_thread(scenario)
    assert seen == [
        (EventTypes.NEW_RESULT, seen[0][1], R.CREATED),
        (EventTypes.RESULT_STATUS_UPDATE, seen[0][1], R.COMPLETED),
    ]
    waiting = asyncio.create_task(
        asyncio.to_thread(events.wait_for_result_availability, aborted, session)
    )
    await asyncio.to_thread(ArmoniKTasks(channel).cancel_tasks, [task_id])
    with pytest.raises(RuntimeError, match="aborted"):
        await waiting


async def test_kinds_filters_and_fields(client, stores, channel):
    """One stream of task events filtered to one task, one of result events filtered to one
    result: each change of another row is committed before the wanted one, so that the next
    message being the wanted one shows the other left out."""
    session = await new_session(client, stores)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    stub = EventsStub(channel)

    def scenario():
        made = results.create_results_metadata(["out", "other", "in"], session)
        out, other, dep = (made[n].result_id for n in ("out", "other", "in"))
        payload = results.create_results({"p": b"p"}, session)["p"].result_id
        first = tasks.submit_tasks(session, [TaskDefinition(payload, [other])])[0]
        result_stream = stub.GetEvents(
            epb.EventSubscriptionRequest(
                session_id=session,
                returned_events=[
                    epb.EVENTS_ENUM_NEW_RESULT,
                    epb.EVENTS_ENUM_RESULT_STATUS_UPDATE,
                    epb.EVENTS_ENUM_RESULT_OWNER_UPDATE,
                ],
                results_filters=(Result.result_id == out).to_disjunction().to_message(),
            )
        )
        got = [next(result_stream)]  # the snapshot: out, CREATED and owned by no one
        second = tasks.submit_tasks(session, [TaskDefinition(payload, [out], [dep])])[0]
        got.append(next(result_stream))  # its owner: the second task
        task_stream = stub.GetEvents(
            epb.EventSubscriptionRequest(
                session_id=session,
                returned_events=[epb.EVENTS_ENUM_NEW_TASK, epb.EVENTS_ENUM_TASK_STATUS_UPDATE],
                tasks_filters=(Task.id == second.id).to_disjunction().to_message(),
            )
        )
        got.append(next(task_stream))  # the snapshot: the second task, PENDING on `in`
        tasks.cancel_tasks([first.id])
        results.upload_result_data(dep, session, b"dependency")
        got.append(next(task_stream))  # SUBMITTED, now that `in` completed
        tasks.cancel_tasks([second.id])
        got.append(next(task_stream))  # CANCELLED
        got.append(next(result_stream))  # its output ABORTED
        result_stream.cancel()
        task_stream.cancel()
        return got, out, dep, payload, second.id

    got, out, dep, payload, second = await asyncio.to_thread(scenario)
    Response = epb.EventSubscriptionResponse
    assert got == [
        Response(
            session_id=session, new_result=Response.NewResult(result_id=out, status=R.CREATED)
        ),
        Response(
            session_id=session,
            result_owner_update=Response.ResultOwnerUpdate(
                result_id=out, previous_owner_id="", current_owner_id=second
            ),
        ),
        Response(
            session_id=session,
            new_task=Response.NewTask(
                task_id=second,
                payload_id=payload,
                origin_task_id=second,
                status=T.PENDING,
                expected_output_keys=[out],
                data_dependencies=[dep],
            ),
        ),
        Response(
            session_id=session,
            task_status_update=Response.TaskStatusUpdate(task_id=second, status=T.SUBMITTED),
        ),
        Response(
            session_id=session,
            task_status_update=Response.TaskStatusUpdate(task_id=second, status=T.CANCELLED),
        ),
        Response(
            session_id=session,
            result_status_update=Response.ResultStatusUpdate(result_id=out, status=R.ABORTED),
        ),
    ]


async def test_refusals_and_a_lost_feed(client, stores, channel):
    session = await new_session(client, stores)
    stub = EventsStub(channel)
    S = grpc.StatusCode

    def code(request):
        try:
            next(stub.GetEvents(request))
        except grpc.RpcError as error:
            return error.code()
        return None

    bad = epb.EventSubscriptionRequest(session_id=session, returned_events=[99])
    assert await asyncio.to_thread(code, bad) == S.INVALID_ARGUMENT
    unknown = epb.EventSubscriptionRequest(session_id=f"no-such-{uuid.uuid4()}")
    assert await asyncio.to_thread(code, unknown) == S.NOT_FOUND

    def subscribe_then_read_past_the_snapshot():
        results = ArmoniKResults(channel)
        rid = results.create_results_metadata(["r"], session)["r"].result_id
        stream = stub.GetEvents(
            epb.EventSubscriptionRequest(
                session_id=session, returned_events=[epb.EVENTS_ENUM_NEW_RESULT]
            )
        )
        # The snapshot, in id order, holds the results created before, then this one.
        while next(stream).new_result.result_id != rid:
            pass
        return stream

    stream = await asyncio.to_thread(subscribe_then_read_past_the_snapshot)
    pid = stores.changes.listening_pid()
    await stores.db.execute("SELECT pg_terminate_backend($1)", pid)
    with pytest.raises(grpc.RpcError) as ended:
        await asyncio.to_thread(next, stream)
    assert ended.value.code() == S.UNAVAILABLE
    # The next subscription listens again, on a new connection.
    stream = await asyncio.to_thread(subscribe_then_read_past_the_snapshot)
    stream.cancel()
    assert stores.changes.listening_pid() not in (None, pid)


async def test_a_large_statement_arrives_whole(client, stores, channel):
    """500 results made by one statement: their ids fill several notifications (PostgreSQL
    carries at most 8,000 bytes each), and every one reaches the stream."""
    session = await new_session(client, stores)
    work = Work(stores)
    stub = EventsStub(channel)
    first = (await work.create_results_metadata(session, ["first"]))[0].result_id
    request = epb.EventSubscriptionRequest(
        session_id=session, returned_events=[epb.EVENTS_ENUM_NEW_RESULT]
    )
    stream = stub.GetEvents(request)
    assert (await asyncio.to_thread(next, stream)).new_result.result_id == first
    made = await work.create_results_metadata(session, [f"r{n}" for n in range(500)])

    def read(n):
        return [next(stream).new_result.result_id for _ in range(n)]

    got = await asyncio.to_thread(read, 500)
    stream.cancel()
    assert sorted(got) == sorted(r.result_id for r in made)


async def test_a_thousand_idle_subscribers_share_one_connection(client, stores, api):
    """1,000 streams on one session: the feed still listens on one connection, writes in
    another session reach none of them, and one change in theirs reaches each."""
    session, busy = [await new_session(client, stores) for _ in range(2)]
    work = Work(stores)
    [first] = await work.create_results_metadata(session, ["first"])
    request = epb.EventSubscriptionRequest(
        session_id=session, returned_events=[epb.EVENTS_ENUM_NEW_RESULT]
    )
    async with grpc.aio.insecure_channel(api) as channel:
        stub = EventsStub(channel)
        calls = [stub.GetEvents(request) for _ in range(1000)]
        started = time.perf_counter()
        assert {(await c.read()).new_result.result_id for c in calls} == {first.result_id}
        report_figure(f"events: 1,000 subscriptions in {time.perf_counter() - started:.2f} s")
        listening = await stores.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN \"armonik_events\";'"
            " OR query LIKE 'LISTEN %armonik_events%'"
        )
        assert listening == 1
        for n in range(5):
            await work.create_results_metadata(busy, [f"b{n}-{i}" for i in range(100)])
        [second] = await work.create_results_metadata(session, ["second"])
        started = time.perf_counter()
        assert {(await c.read()).new_result.result_id for c in calls} == {second.result_id}
        report_figure(
            f"events: one change to 1,000 subscribers in {time.perf_counter() - started:.2f} s"
        )
        for call in calls:
            call.cancel()
