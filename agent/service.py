"""The Agent gRPC service (armonik.api.grpc.v1.agent.Agent) that an agent serves to its worker
on a unix socket, as ArmoniK.Core's Agent does: each call names the running task by its
communication token, and acts in that task's session as that task (its results are created by
it, its subtasks are its children)."""

import asyncio
import os
import uuid
from dataclasses import dataclass, field

import grpc
from armonik.protogen.common import agent_common_pb2 as pb
from armonik.protogen.worker.agent_service_pb2_grpc import AgentServicer

from api.status import unary
from engine.work import Work
from lifecycle.refusals import FAILED_PRECONDITION, Refused
from stores.results import ResultRow
from wire.work import task_requests


@dataclass
class Running:
    """What the agent knows of the task its worker runs."""

    session_id: str
    task_id: str
    data_folder: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The results whose data the worker wrote to the data folder and notified, in order.
    notified: list[str] = field(default_factory=list)


def result_metadata(row: ResultRow) -> pb.ResultMetaData:
    message = pb.ResultMetaData(
        session_id=row.session_id, result_id=row.result_id, name=row.name, status=row.status
    )
    if row.created_at is not None:
        message.created_at.FromDatetime(row.created_at)
    return message


class AgentService(AgentServicer):
    def __init__(self, work: Work) -> None:
        self.work = work
        self.running: Running | None = None

    def _task(self, token: str) -> Running:
        """ArmoniK refuses a call whose token is not the running task's."""
        running = self.running
        if running is None or running.token != token:
            raise Refused(FAILED_PRECONDITION, "no task runs with this communication token")
        return running

    @unary
    async def CreateResultsMetaData(self, request: pb.CreateResultsMetaDataRequest, context):
        task = self._task(request.communication_token)
        rows = await self.work.create_results_metadata(
            task.session_id, [r.name for r in request.results], created_by=task.task_id
        )
        return pb.CreateResultsMetaDataResponse(
            results=[result_metadata(r) for r in rows],
            communication_token=request.communication_token,
        )

    @unary
    async def CreateResults(self, request: pb.CreateResultsRequest, context):
        task = self._task(request.communication_token)
        rows = await self.work.create_results(
            task.session_id, [(r.name, r.data) for r in request.results], created_by=task.task_id
        )
        return pb.CreateResultsResponse(
            results=[result_metadata(r) for r in rows],
            communication_token=request.communication_token,
        )

    @unary
    async def NotifyResultData(self, request: pb.NotifyResultDataRequest, context):
        """The data is in the data folder already; it is uploaded once the task succeeds, as
        ArmoniK.Core does, so a failed task leaves no completed output."""
        task = self._task(request.communication_token)
        ids = [i.result_id for i in request.ids]
        for result_id in ids:
            if not await asyncio.to_thread(os.path.isfile, f"{task.data_folder}/{result_id}"):
                raise Refused(FAILED_PRECONDITION, f"no data for result {result_id}")
            if result_id not in task.notified:
                task.notified.append(result_id)
        return pb.NotifyResultDataResponse(result_ids=ids)

    @unary
    async def SubmitTasks(self, request: pb.SubmitTasksRequest, context):
        task = self._task(request.communication_token)
        # The agent's request has the fields of the Tasks service's, which task_requests reads.
        created = await self.work.submit_tasks(
            task.session_id, task_requests(request), parent_task_id=task.task_id
        )
        return pb.SubmitTasksResponse(
            task_infos=[
                pb.SubmitTasksResponse.TaskInfo(
                    task_id=t.task_id,
                    expected_output_ids=t.expected_output_ids,
                    data_dependencies=[d for d in t.data_dependencies if d != t.payload_id],
                    payload_id=t.payload_id,
                )
                for t in created
            ],
            communication_token=request.communication_token,
        )

    @unary
    async def GetResourceData(self, request: pb.DataRequest, context):
        """A completed result of the session, written to the data folder under its id."""
        task = self._task(request.communication_token)
        await fetch_into(self.work, task.session_id, request.result_id, task.data_folder)
        return pb.DataResponse(result_id=request.result_id)

    async def GetCommonData(self, request: pb.DataRequest, context):
        # ArmoniK.Core's agent does not implement these either.
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "GetCommonData is not implemented")

    async def GetDirectData(self, request: pb.DataRequest, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "GetDirectData is not implemented")

    async def CreateTask(self, request_iterator, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "CreateTask is obsolete: SubmitTasks")


async def fetch_into(work: Work, session_id: str, result_id: str, folder: str) -> None:
    """Write the result's data to folder/<result id> (through a temporary name, so that the
    worker never reads a partial file)."""
    chunks = [chunk async for chunk in await work.download(session_id, result_id)]
    await asyncio.to_thread(_write, os.path.join(folder, result_id), chunks)


def _write(path: str, chunks: list[bytes]) -> None:
    partial = f"{path}.{uuid.uuid4().hex}.part"
    with open(partial, "wb") as out:
        out.writelines(chunks)
    os.replace(partial, path)
