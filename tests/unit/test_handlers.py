"""The interceptors' rewrapping (api/handlers.py): a client-streaming method is wrapped when the
interceptor asks for it (Authorization does, so an upload is admitted before its first chunk),
and passes as it is otherwise."""

import grpc

from api.handlers import rewrapped


async def _upload(requests, context):
    return "stored"


def _mark(behaviour):
    async def marked(requests, context):
        return ("admitted", await behaviour(requests, context))

    return marked


async def test_a_client_stream_is_wrapped_only_when_asked():
    handler = grpc.stream_unary_rpc_method_handler(_upload)

    wrapped = rewrapped(handler, unary=_mark, streaming=_mark, client_streaming=_mark)
    kept = rewrapped(handler, unary=_mark, streaming=_mark)

    assert wrapped.request_streaming and not wrapped.response_streaming
    assert await wrapped.stream_unary(iter(()), None) == ("admitted", "stored")
    assert kept is handler
