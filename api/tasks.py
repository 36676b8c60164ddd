"""armonik.api.grpc.v1.tasks.Tasks: the reads (GetTask, ListTasks, ListTasksDetailed,
CountTasksByStatus, GetResultIds) here, the writes (SubmitTasks, CancelTasks) from
api/tasks_writes.py."""

import grpc
from armonik.protogen.client.tasks_service_pb2_grpc import TasksServicer
from armonik.protogen.common import objects_pb2
from armonik.protogen.common import tasks_common_pb2 as pb

from api.status import unary
from api.tasks_writes import TasksWrites
from engine.operations import Engine
from engine.work import Work
from wire.filters import count_tasks_query, list_tasks_query
from wire.tasks import task_detailed, task_summary

Context = grpc.aio.ServicerContext


class TasksService(TasksWrites, TasksServicer):
    def __init__(self, engine: Engine, work: Work) -> None:
        self.engine = engine
        self.work = work

    @unary
    async def GetTask(self, request: pb.GetTaskRequest, context: Context):
        task = await self.engine.get_task(request.task_id)
        return pb.GetTaskResponse(task=task_detailed(task))

    @unary
    async def ListTasks(self, request: pb.ListTasksRequest, context: Context):
        tasks, total = await self.engine.list_tasks(list_tasks_query(request))
        return pb.ListTasksResponse(
            tasks=[task_summary(t) for t in tasks],
            page=request.page,
            page_size=request.page_size,
            total=total,
        )

    @unary
    async def ListTasksDetailed(self, request: pb.ListTasksRequest, context: Context):
        tasks, total = await self.engine.list_tasks(list_tasks_query(request))
        return pb.ListTasksDetailedResponse(
            tasks=[task_detailed(t) for t in tasks],
            page=request.page,
            page_size=request.page_size,
            total=total,
        )

    @unary
    async def CountTasksByStatus(self, request: pb.CountTasksByStatusRequest, context: Context):
        counts = await self.engine.count_tasks_by_status(count_tasks_query(request))
        return pb.CountTasksByStatusResponse(
            status=[
                objects_pb2.StatusCount(status=status, count=count)
                for status, count in sorted(counts.items())
            ]
        )

    @unary
    async def GetResultIds(self, request: pb.GetResultIdsRequest, context: Context):
        owned = await self.engine.result_ids(list(request.task_id))
        return pb.GetResultIdsResponse(
            task_results=[
                pb.GetResultIdsResponse.MapTaskResult(task_id=task_id, result_ids=result_ids)
                for task_id, result_ids in owned.items()
            ]
        )
