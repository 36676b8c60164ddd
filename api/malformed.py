"""Requests whose bytes do not parse answer INVALID_ARGUMENT.

gRPC itself answers a request it cannot deserialize with INTERNAL, which would tell the client
that the server failed, when the client sent garbage. This interceptor wraps every method's
deserializer: bytes that do not parse as the method's request message reach the method as a
Malformed value, and the call ends there with INVALID_ARGUMENT.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from api.handlers import rewrapped


@dataclass(frozen=True)
class Malformed:
    error: str


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:
            return Malformed(f"{type(error).__name__}: {error}"[:200])

    return parse


async def _refuse(request: Malformed, context: grpc.aio.ServicerContext) -> None:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT, f"the request does not parse: {request.error}"
    )


class MalformedRequests(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler

        def unary(behaviour):
            async def unary_unary(request, context):
                if isinstance(request, Malformed):
                    await _refuse(request, context)
                return await behaviour(request, context)

            return unary_unary

        def streaming(behaviour):
            async def unary_stream(request, context):
                if isinstance(request, Malformed):
                    await _refuse(request, context)
                async for message in behaviour(request, context):
                    yield message

            return unary_stream

        return rewrapped(handler, unary=unary, streaming=streaming, deserializer=_tolerant)
