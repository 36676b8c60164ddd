"""The Results and Tasks writes through the `armonik` package's own clients, as shipped, over a
server that serves the write mixins (api/results_writes.py, api/tasks_writes.py): create and
upload, submit with a dependency, complete it by an upload, download, cancel, delete the data;
the refusals as gRPC codes; the invariants after."""

import asyncio
import uuid

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKTasks
from armonik.common import TaskDefinition
from armonik.protogen.client import results_service_pb2_grpc, tasks_service_pb2_grpc
from armonik.protogen.common import results_common_pb2

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
