"""How the API answers what went wrong. A refusal is the client's to fix, and gets the status its
kind names (NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT, ALREADY_EXISTS), with a message
that names the session and the reason. A store or Temporal out of reach is UNAVAILABLE: the
client may call again, and an operation already started goes on (and is joined by the retry).
Anything else is the server's fault, INTERNAL, and logged.

An UNAVAILABLE that this server answers carries the trailer `UNAVAILABLE_TRAILER`, naming what is
down."""

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from temporalio.service import RPCError, RPCStatusCode

from lifecycle.refusals import (
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    Refused,
)
from stores import failures
from wire.messages import UNAVAILABLE_TRAILER

log = logging.getLogger("armonik_sessions.api")

REFUSAL_CODES = {
    NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
}
# Temporal calls that failed for want of an answer (as opposed to an answer that says no).
TEMPORAL_UNREACHABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}


async def abort_for(context: grpc.aio.ServicerContext, error: Exception) -> None:
    """End the call with the status `error` calls for."""
    if isinstance(error, Refused):
        await context.abort(REFUSAL_CODES.get(error.kind, grpc.StatusCode.UNKNOWN), error.message)
    if isinstance(error, RPCError) and error.status in TEMPORAL_UNREACHABLE:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"Temporal is unavailable: {error}",
            trailing_metadata=((UNAVAILABLE_TRAILER, "temporal"),),
        )
    # A store that cannot be reached (as its adapter registered its driver's errors), or did not
    # answer in time (settings.store_timeout).
    if isinstance(error, TimeoutError) or failures.is_down(error):
        detail = f"{type(error).__name__}: {error}"[:300]
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"a store is unavailable: {detail}",
            trailing_metadata=((UNAVAILABLE_TRAILER, "store"),),
        )
    log.exception("internal error", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")


Unary = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def unary(method: Unary) -> Unary:
    """A unary RPC whose failures answer as the module says."""

    @functools.wraps(method)
    async def rpc(self, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await abort_for(context, error)

    return rpc


Streaming = Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


def streaming(method: Streaming) -> Streaming:
    """A server-streaming RPC whose failures answer as the module says."""

    @functools.wraps(method)
    async def rpc(self, request, context: grpc.aio.ServicerContext):
        try:
            async for message in method(self, request, context):
                yield message
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await abort_for(context, error)

    return rpc
