"""The Results and Tasks writes through the `armonik` package's own clients, as shipped, over a
server that serves the write mixins (api/results_writes.py, api/tasks_writes.py): create and
upload, submit with a dependency, complete it by an upload, download, cancel, delete the data;
the refusals as gRPC codes; the invariants after."""

import asyncio
import uuid

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKTasks
from armonik.common import Task, TaskDefinition
from armonik.protogen.client import results_service_pb2_grpc, tasks_service_pb2_grpc
from armonik.protogen.common import results_common_pb2, tasks_common_pb2, tasks_fields_pb2

from api.results_writes import ResultsWrites
from api.tasks_writes import TasksWrites
from engine.work import Work
from lifecycle.domain import Partition, TaskOptions
from lifecycle.statuses import Operation, ResultStatus, TaskStatus
from tests.integration.snapshot import assert_invariants
from tests.support import status_codes

pytestmark = pytest.mark.stack


class Results(ResultsWrites, results_service_pb2_grpc.ResultsServicer):
    def __init__(self, work: Work) -> None:
        self.work = work

    async def GetServiceConfiguration(self, request, context):
        """A read the other servicer half serves; the clients ask it the chunk size."""
        return results_common_pb2.ResultsServiceConfigurationResponse(
            data_chunk_max_size=self.work.download_chunk
        )


class Tasks(TasksWrites, tasks_service_pb2_grpc.TasksServicer):
    def __init__(self, work: Work) -> None:
        self.work = work


@pytest.fixture
async def channel(stores):
    server = grpc.aio.server()
    work = Work(stores, download_chunk=1000)
    results_service_pb2_grpc.add_ResultsServicer_to_server(Results(work), server)
    tasks_service_pb2_grpc.add_TasksServicer_to_server(Tasks(work), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


async def test_a_workload_through_the_official_clients(client, stores, channel):
    partition = f"api-{uuid.uuid4()}"
    await stores.partitions.upsert(Partition(partition))
    session = (await client.create([partition], TaskOptions(60, 2, 5))).session_id
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)

    def submit_workload():
        payload = results.create_results({"payload": b"x" * 2500}, session)["payload"]
        made = results.create_results_metadata(["first", "second", "input"], session)
        first = TaskDefinition(payload.result_id, [made["first"].result_id])
        second = TaskDefinition(
            payload.result_id, [made["second"].result_id], [made["input"].result_id]
        )
        submitted = tasks.submit_tasks(session, [first, second])
        return payload, made, submitted

    payload, made, submitted = await asyncio.to_thread(submit_workload)
    first, second = submitted
    assert second.data_dependencies == [made["input"].result_id]
    rows = {t.task_id: t.status async for c in stores.tasks.chunks(session) for t in c}
    assert (rows[first.id], rows[second.id]) == (TaskStatus.SUBMITTED, TaskStatus.PENDING)

    def complete_and_read():
        results.upload_result_data(made["input"].result_id, session, b"input data")
        return results.download_result_data(payload.result_id, session)

    assert await asyncio.to_thread(complete_and_read) == b"x" * 2500
    rows = {t.task_id: t.status async for c in stores.tasks.chunks(session) for t in c}
    assert rows[second.id] == TaskStatus.SUBMITTED
    await assert_invariants(stores, session)

    def refusals():
        out = [made["first"].result_id]
        return status_codes(
            (
                lambda: tasks.submit_tasks(
                    "no-such-session", [TaskDefinition(payload.result_id, out)]
                ),
                lambda: tasks.submit_tasks(session, [TaskDefinition("no-such-result", out)]),
                lambda: tasks.submit_tasks(
                    session, [TaskDefinition(payload.result_id, [made["first"].result_id], ["x"])]
                ),
                lambda: results.download_result_data(made["first"].result_id, session),
                lambda: tasks.cancel_tasks(["no-such-task"]),
            )
        )

    S = grpc.StatusCode
    assert await asyncio.to_thread(refusals) == [
        S.NOT_FOUND,
        S.NOT_FOUND,
        S.NOT_FOUND,
        S.FAILED_PRECONDITION,
        S.NOT_FOUND,
    ]

    await asyncio.to_thread(tasks.cancel_tasks, [first.id, second.id])
    await asyncio.to_thread(results.delete_result_data, [payload.result_id], session)
    rows = {t.task_id: t.status async for c in stores.tasks.chunks(session) for t in c}
    assert set(rows.values()) == {TaskStatus.CANCELLED}
    async with stores.db.connection() as conn:
        row = (await stores.results.get_many(conn, session, [payload.result_id]))[payload.result_id]
    assert row.status == ResultStatus.DELETED
    await assert_invariants(stores, session)

    await client.run(Operation.STOP_SUBMISSION, session, client=True, worker=True)
    with pytest.raises(grpc.RpcError) as refused:
        again = TaskDefinition(payload.result_id, [made["first"].result_id])
        await asyncio.to_thread(tasks.submit_tasks, session, [again])
    assert refused.value.code() == S.FAILED_PRECONDITION


async def test_cancel_tasks_answers_the_summary_the_reads_answer(client, stores, api):
    """CancelTasks answers every task asked for, an already cancelled one too, as ArmoniK does,
    with the TaskSummary that ListTasks answers for it (one converter, wire/tasks.py)."""
    partition = f"api-{uuid.uuid4()}"
    await stores.partitions.upsert(Partition(partition))
    session = (await client.create([partition], TaskOptions(60, 2, 5))).session_id

    def scenario():
        with grpc.insecure_channel(api) as channel:
            results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
            payload = results.create_results({"p": b"p"}, session)["p"].result_id
            outs = results.create_results_metadata(["a", "b"], session)
            submitted = tasks.submit_tasks(
                session, [TaskDefinition(payload, [outs[n].result_id]) for n in ("a", "b")]
            )
            ids = sorted(t.id for t in submitted)
            stub = tasks_service_pb2_grpc.TasksStub(channel)
            stub.CancelTasks(tasks_common_pb2.CancelTasksRequest(task_ids=ids[:1]))
            answer = stub.CancelTasks(tasks_common_pb2.CancelTasksRequest(task_ids=ids))
            listed = stub.ListTasks(
                tasks_common_pb2.ListTasksRequest(
                    page_size=10,
                    filters=(Task.session_id == session).to_disjunction().to_message(),
                    sort=tasks_common_pb2.ListTasksRequest.Sort(
                        field=tasks_fields_pb2.TaskField(
                            task_summary_field=tasks_fields_pb2.TaskSummaryField(
                                field=tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_TASK_ID
                            )
                        ),
                        direction=1,
                    ),
                )
            )
            return ids, answer, listed

    ids, answer, listed = await asyncio.to_thread(scenario)
    assert [t.id for t in answer.tasks] == ids
    assert {t.status for t in answer.tasks} == {TaskStatus.CANCELLED}
    assert all(t.options.partition_id == partition and t.HasField("ended_at") for t in answer.tasks)
    assert list(answer.tasks) == sorted(listed.tasks, key=lambda t: t.id)


async def test_import_results_data(client, stores, channel):
    """An object already under the session's prefix completes a CREATED result with its size;
    an object elsewhere, a missing object or result, and a result not CREATED are refused and
    change nothing."""
    partition = f"api-{uuid.uuid4()}"
    await stores.partitions.upsert(Partition(partition))
    session = (await client.create([partition], TaskOptions(60, 2, 5))).session_id
    key = f"{session}/imported-{uuid.uuid4()}"
    await stores.objects.put(key, b"imported bytes")
    results = ArmoniKResults(channel)
    stub = results_service_pb2_grpc.ResultsStub(channel)
    Item = results_common_pb2.ImportResultsDataRequest.ResultOpaqueId

    def call(**opaque_ids):
        request = results_common_pb2.ImportResultsDataRequest(
            session_id=session,
            results=[Item(result_id=r, opaque_id=k.encode()) for r, k in opaque_ids.items()],
        )
        try:
            return stub.ImportResultsData(request)
        except grpc.RpcError as error:
            return error.code()

    def scenario():
        r = results.create_results_metadata(["r"], session)["r"].result_id
        S = grpc.StatusCode
        refused = [
            call(**{r: f"other-session/{uuid.uuid4()}"}),
            call(**{r: f"{session}/missing"}),
            call(**{"no-such-result": key}),
        ]
        assert refused == [S.INVALID_ARGUMENT, S.NOT_FOUND, S.NOT_FOUND]
        imported = call(**{r: key})
        again = call(**{r: key})
        return r, imported, again, results.download_result_data(r, session)

    rid, imported, again, data = await asyncio.to_thread(scenario)
    [raw] = imported.results
    assert (raw.result_id, raw.status, raw.size, raw.opaque_id) == (
        rid,
        ResultStatus.COMPLETED,
        len(b"imported bytes"),
        key.encode(),
    )
    assert again == grpc.StatusCode.FAILED_PRECONDITION
    assert data == b"imported bytes"
    await assert_invariants(stores, session)
