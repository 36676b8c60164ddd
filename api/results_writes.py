"""The writes of armonik.api.grpc.v1.results.Results, as a mixin for the Results servicer (its
reads are served beside them): it needs `self.work`, an engine.work.Work."""

import grpc
from armonik.protogen.common import results_common_pb2 as pb

from api.status import abort_for, streaming, unary
from engine.work import Work
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from wire.tasks import result_raw

Context = grpc.aio.ServicerContext


class ResultsWrites:
    work: Work

    @unary
    async def CreateResultsMetaData(self, request: pb.CreateResultsMetaDataRequest, context):
        rows = []
        for manual in (False, True):
            names = [r.name for r in request.results if r.manual_deletion == manual]
            if names:
                rows += await self.work.create_results_metadata(
                    request.session_id, names, manual_deletion=manual
                )
        return pb.CreateResultsMetaDataResponse(results=[result_raw(r) for r in rows])

    @unary
    async def CreateResults(self, request: pb.CreateResultsRequest, context):
        rows = []
        for manual in (False, True):
            items = [(r.name, r.data) for r in request.results if r.manual_deletion == manual]
            if items:
                rows += await self.work.create_results(
                    request.session_id, items, manual_deletion=manual
                )
        return pb.CreateResultsResponse(results=[result_raw(r) for r in rows])

    async def UploadResultData(self, requests, context: Context):
        """A client stream: the result's identifier first, then its data in chunks, each
        written on as it comes."""
        try:
            first = await anext(aiter(requests), None)
            if first is None or first.WhichOneof("type") != "id":
                raise Refused(INVALID_ARGUMENT, "the first message must name the result")

            async def chunks():
                async for message in requests:
                    if message.WhichOneof("type") != "data_chunk":
                        raise Refused(INVALID_ARGUMENT, "after the id, only data chunks")
                    yield message.data_chunk

            row = await self.work.upload_result_data(
                first.id.session_id, first.id.result_id, chunks()
            )
            return pb.UploadResultDataResponse(result=result_raw(row))
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await abort_for(context, error)

    @streaming
    async def DownloadResultData(self, request: pb.DownloadResultDataRequest, context):
        async for chunk in await self.work.download(request.session_id, request.result_id):
            yield pb.DownloadResultDataResponse(data_chunk=chunk)

    @unary
    async def ImportResultsData(self, request: pb.ImportResultsDataRequest, context):
        opaque_ids = {}
        for r in request.results:
            try:
                opaque_ids[r.result_id] = r.opaque_id.decode()
            except UnicodeDecodeError:
                raise Refused(
                    INVALID_ARGUMENT, f"the opaque id of result {r.result_id} is not UTF-8"
                ) from None
        rows = await self.work.import_results_data(request.session_id, opaque_ids)
        return pb.ImportResultsDataResponse(results=[result_raw(r) for r in rows])

    @unary
    async def DeleteResultsData(self, request: pb.DeleteResultsDataRequest, context):
        ids = await self.work.delete_results_data(request.session_id, list(request.result_id))
        return pb.DeleteResultsDataResponse(session_id=request.session_id, result_id=ids)
