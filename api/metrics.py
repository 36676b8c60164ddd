"""The latency and status of every call the API answers, by service and RPC
(armonik_sessions_api_request_seconds, telemetry/metrics.py).

It is the outermost interceptor, so that what it times is what the caller waited for, refusals
of authorization and malformed requests included.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc

from api.handlers import rewrapped
from telemetry.metrics import API_REQUEST_SECONDS, process_meter


def _rpc_labels(method: str) -> dict[str, str]:
    """ "/armonik.api.grpc.v1.sessions.Sessions/PauseSession": Sessions, PauseSession."""
    service, _, rpc = method.lstrip("/").rpartition("/")
    return {"service": service.rsplit(".", 1)[-1] or "unknown", "rpc": rpc or "unknown"}


def _code_of(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name  # the caller went away
    code = context.code()
    if code is None:
        code = grpc.StatusCode.UNKNOWN if error is not None else grpc.StatusCode.OK
    # ServicerContext.code() answers the StatusCode, or the int of its value when set by number.
    if isinstance(code, grpc.StatusCode):
        return code.name
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))


class RequestMetrics(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self.seconds = process_meter().create_histogram_float(
            API_REQUEST_SECONDS, "time to answer one call of the API, by RPC and status", "s"
        )

    def _record(self, labels: dict[str, str], began: float, context, error) -> None:
        code = _code_of(context, error)
        self.seconds.record(time.monotonic() - began, {**labels, "code": code})

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        labels = _rpc_labels(details.method)
        record = self._record

        def unary(behaviour):
            async def timed(request, context):
                began = time.monotonic()
                try:
                    response = await behaviour(request, context)
                except BaseException as error:
                    record(labels, began, context, error)
                    raise
                record(labels, began, context, None)
                return response

            return timed

        def streaming(behaviour):
            async def timed(request, context):
                began = time.monotonic()
                try:
                    async for message in behaviour(request, context):
                        yield message
                except BaseException as error:
                    record(labels, began, context, error)
                    raise
                record(labels, began, context, None)

            return timed

        return rewrapped(handler, unary=unary, streaming=streaming)
