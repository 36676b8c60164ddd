"""armonik.api.grpc.v1.results.Results: the reads (GetResult, ListResults, GetOwnerTaskId,
GetServiceConfiguration) here, the writes (CreateResultsMetaData, CreateResults,
UploadResultData, DownloadResultData, DeleteResultsData) from api/results_writes.py."""

import grpc
from armonik.protogen.client.results_service_pb2_grpc import ResultsServicer
from armonik.protogen.common import objects_pb2
from armonik.protogen.common import results_common_pb2 as pb

from api.results_writes import ResultsWrites
from api.status import unary
from engine.operations import Engine
from engine.work import Work
from wire.filters import list_results_query
from wire.tasks import result_raw

Context = grpc.aio.ServicerContext


class ResultsService(ResultsWrites, ResultsServicer):
    def __init__(self, engine: Engine, work: Work) -> None:
        self.engine = engine
        self.work = work

    @unary
    async def GetResult(self, request: pb.GetResultRequest, context: Context):
        result = await self.engine.get_result(request.result_id)
        return pb.GetResultResponse(result=result_raw(result))

    @unary
    async def ListResults(self, request: pb.ListResultsRequest, context: Context):
        results, total = await self.engine.list_results(list_results_query(request))
        return pb.ListResultsResponse(
            results=[result_raw(r) for r in results],
            page=request.page,
            page_size=request.page_size,
            total=total,
        )

    @unary
    async def GetOwnerTaskId(self, request: pb.GetOwnerTaskIdRequest, context: Context):
        owners = await self.engine.owner_task_ids(request.session_id, list(request.result_id))
        return pb.GetOwnerTaskIdResponse(
            session_id=request.session_id,
            result_task=[
                pb.GetOwnerTaskIdResponse.MapResultTask(result_id=result_id, task_id=task_id)
                for result_id, task_id in owners.items()
            ],
        )

    @unary
    async def GetServiceConfiguration(self, request: objects_pb2.Empty, context: Context):
        return pb.ResultsServiceConfigurationResponse(
            data_chunk_max_size=self.engine.settings.data_chunk_max_size
        )
