"""armonik.api.grpc.v1.versions.Versions: which control plane, speaking which ArmoniK API."""

from importlib.metadata import version

import grpc
from armonik.protogen.client.versions_service_pb2_grpc import VersionsServicer
from armonik.protogen.common import versions_common_pb2 as pb

from api.status import unary


class VersionsService(VersionsServicer):
    @unary
    async def ListVersions(
        self, request: pb.ListVersionsRequest, context: grpc.aio.ServicerContext
    ):
        # "core" is this control plane's version; "api" the ArmoniK API package it serves.
        return pb.ListVersionsResponse(core=version("armonik-sessions"), api=version("armonik"))
