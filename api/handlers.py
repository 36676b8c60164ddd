"""The API's interceptors change what a method does, never what it takes or answers: each wraps
the behaviour of a unary or server-streaming method, and keeps the rest of its handler."""

from collections.abc import Callable
from typing import Any

import grpc

Wrap = Callable[[Callable[..., Any]], Callable[..., Any]]


def rewrapped(
    handler: grpc.RpcMethodHandler,
    *,
    unary: Wrap,
    streaming: Wrap,
    deserializer: Callable[[Any], Any] | None = None,
    client_streaming: Wrap | None = None,
    bidi_streaming: Wrap | None = None,
) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour wrapped by `unary` or `streaming`, and its request
    deserializer by `deserializer` if given. Client-streaming methods are wrapped by
    `client_streaming` (stream in, one answer out) or `bidi_streaming` (stream in, stream out)
    if given, else pass as they are."""
    deserialize = handler.request_deserializer
    if deserializer is not None:
        deserialize = deserializer(deserialize)
    if handler.request_streaming:
        if handler.stream_unary is not None and client_streaming is not None:
            return grpc.stream_unary_rpc_method_handler(
                client_streaming(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None and bidi_streaming is not None:
            return grpc.stream_stream_rpc_method_handler(
                bidi_streaming(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary),
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            streaming(handler.unary_stream),
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )
    return handler
