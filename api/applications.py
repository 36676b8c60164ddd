"""armonik.api.grpc.v1.applications.Applications: ListApplications, the distinct (name,
version, namespace, service) of the tasks' options, filtered, sorted and paged in SQL."""

import grpc
from armonik.protogen.client.applications_service_pb2_grpc import ApplicationsServicer
from armonik.protogen.common import applications_common_pb2 as pb

from api.status import unary
from engine.operations import Engine
from wire.filters import list_applications_query
from wire.tasks import application_raw

Context = grpc.aio.ServicerContext


class ApplicationsService(ApplicationsServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @unary
    async def ListApplications(self, request: pb.ListApplicationsRequest, context: Context):
        applications, total = await self.engine.list_applications(list_applications_query(request))
        return pb.ListApplicationsResponse(
            applications=[application_raw(a) for a in applications],
            page=request.page,
            page_size=request.page_size,
            total=total,
        )
