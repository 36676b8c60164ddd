"""armonik.api.grpc.v1.auth.Authentication: GetCurrentUser, the caller as api/auth.py
identified them (over mutual TLS the certificate's user, their roles and permissions; without
TLS `anonymous`, who holds every permission)."""

import grpc
from armonik.protogen.client.auth_service_pb2_grpc import AuthenticationServicer
from armonik.protogen.common import auth_common_pb2 as pb

from api.auth import caller
from api.status import unary

Context = grpc.aio.ServicerContext


class AuthenticationService(AuthenticationServicer):
    @unary
    async def GetCurrentUser(self, request: pb.GetCurrentUserRequest, context: Context):
        identity = caller()
        return pb.GetCurrentUserResponse(
            user=pb.User(
                username=identity.user,
                roles=list(identity.roles),
                permissions=sorted(identity.permissions),
            )
        )
