"""armonik.api.grpc.v1.health_checks.HealthChecksService: CheckHealth, one entry for each store
(database, queue, object storage) and for Temporal, from a cheap probe of each. It answers
whatever is down: that is what it is for."""

import grpc
from armonik.protogen.client.health_checks_service_pb2_grpc import HealthChecksServiceServicer
from armonik.protogen.common import health_checks_common_pb2 as pb

from api.status import unary
from engine.operations import Engine

Context = grpc.aio.ServicerContext


class HealthChecksService(HealthChecksServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @unary
    async def CheckHealth(self, request: pb.CheckHealthRequest, context: Context):
        return pb.CheckHealthResponse(
            services=[
                pb.CheckHealthResponse.ServiceHealth(
                    name=h.name,
                    message=h.message,
                    healthy=pb.HEALTH_STATUS_ENUM_HEALTHY
                    if h.healthy
                    else pb.HEALTH_STATUS_ENUM_UNHEALTHY,
                )
                for h in await self.engine.health()
            ]
        )
