"""armonik.api.grpc.v1.partitions.Partitions: the read side, ListPartitions and GetPartition."""

import grpc
from armonik.protogen.client.partitions_service_pb2_grpc import PartitionsServicer
from armonik.protogen.common import partitions_common_pb2 as pb

from api.status import unary
from engine.operations import Engine
from wire.filters import list_partitions_query
from wire.messages import partition_raw

Context = grpc.aio.ServicerContext


class PartitionsService(PartitionsServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @unary
    async def ListPartitions(self, request: pb.ListPartitionsRequest, context: Context):
        partitions, total = await self.engine.query_partitions(list_partitions_query(request))
        return pb.ListPartitionsResponse(
            partitions=[partition_raw(p) for p in partitions],
            page=request.page,
            page_size=request.page_size,
            total=total,
        )

    @unary
    async def GetPartition(self, request: pb.GetPartitionRequest, context: Context):
        partition = await self.engine.get_partition(request.id)
        return pb.GetPartitionResponse(partition=partition_raw(partition))
