"""The writes of armonik.api.grpc.v1.tasks.Tasks, as a mixin for the Tasks servicer (its reads
are served beside them): it needs `self.work`, an engine.work.Work."""

from armonik.protogen.common import tasks_common_pb2 as pb

from api.status import unary
from engine.work import Work
from wire.tasks import task_summary
from wire.work import task_info, task_requests


class TasksWrites:
    work: Work

    @unary
    async def SubmitTasks(self, request: pb.SubmitTasksRequest, context):
        tasks = await self.work.submit_tasks(request.session_id, task_requests(request))
        return pb.SubmitTasksResponse(task_infos=[task_info(t) for t in tasks])

    @unary
    async def CancelTasks(self, request: pb.CancelTasksRequest, context):
        tasks = await self.work.cancel_tasks_by_id(list(request.task_ids))
        return pb.CancelTasksResponse(tasks=[task_summary(t) for t in tasks])
