"""The gRPC-Web translator (api/grpcweb.py) against a small grpcio server of raw bytes on its
gateway: a stream's frames and trailers with metadata, large messages cut in chunks, and a
browser that goes away mid-stream, whose call is then cancelled on the server."""

import asyncio
import base64

import aiohttp
import grpc
import pytest

from api import grpcweb_framing as framing
from api.grpcweb import Gateway, GrpcWeb

ORIGIN = "http://page.example"


class Backend:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.streaming = asyncio.Event()

    async def count(self, request: bytes, context: grpc.aio.ServicerContext):
        """As many messages as the request says, of as many kilobytes, then a refusal with
        metadata of its own."""
        await context.send_initial_metadata([("x-initial", "yes")])
        n = int(request.decode())
        for i in range(n):
            yield bytes([i % 256]) * (n * 1024)
        context.set_trailing_metadata([("x-count", str(n)), ("x-blob-bin", b"\x00\xff")])
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "done: 100% é")

    async def forever(self, request: bytes, context: grpc.aio.ServicerContext):
        yield b"first"
        self.streaming.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
async def translator():
    backend = Backend()
    gateway = Gateway.create()
    server = grpc.aio.server()
    handlers = {
        "Count": grpc.unary_stream_rpc_method_handler(backend.count),
        "Forever": grpc.unary_stream_rpc_method_handler(backend.forever),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Web", handlers)])
    server.add_insecure_port(gateway.address)
    await server.start()
    web = GrpcWeb(gateway, cors_origins=[ORIGIN])
    port = await web.start("127.0.0.1:0")
    yield f"http://127.0.0.1:{port}", backend
    await web.stop()
    await server.stop(None)
    gateway.remove()


def _body(payload: bytes, text: bool) -> bytes:
    body = framing.frame(framing.MESSAGE, payload)
    return base64.b64encode(body) if text else body


@pytest.mark.parametrize("text", [False, True])
async def test_frames_then_trailers_with_the_servers_metadata(translator, text):
    url, _ = translator
    kind = "application/grpc-web-text" if text else "application/grpc-web"
    async with aiohttp.ClientSession() as http:
        headers = {"content-type": kind, "origin": ORIGIN}
        async with http.post(
            f"{url}/test.Web/Count", data=_body(b"64", text), headers=headers
        ) as r:
            assert r.status == 200 and r.headers["x-initial"] == "yes"
            assert "x-initial" in r.headers["access-control-expose-headers"].split(", ")
            decoder, reader, frames, chunks = framing.TextDecoder(), framing.FrameReader(), [], 0
            async for chunk in r.content.iter_any():
                chunks += 1
                frames += reader.feed(decoder.feed(chunk) if text else chunk)
    reader.close()
    assert chunks > 1, "64 messages of 64 KiB come in more than one chunk"
    messages = [payload for flag, payload in frames[:-1]]
    assert [flag for flag, _ in frames] == [framing.MESSAGE] * 64 + [framing.TRAILERS]
    assert all(m == bytes([i % 256]) * 64 * 1024 for i, m in enumerate(messages))
    trailers = framing.parse_trailers(frames[-1][1])
    assert trailers["grpc-status"] == str(grpc.StatusCode.FAILED_PRECONDITION.value[0])
    assert trailers["grpc-message"] == "done: 100%25 %C3%A9"
    assert trailers["x-count"] == "64"
    assert base64.b64decode(trailers["x-blob-bin"]) == b"\x00\xff"


async def test_a_browser_that_goes_away_mid_stream_cancels_its_call(translator):
    url, backend = translator
    async with aiohttp.ClientSession() as http:
        headers = {"content-type": "application/grpc-web"}
        async with http.post(
            f"{url}/test.Web/Forever", data=_body(b"", False), headers=headers
        ) as r:
            reader = framing.FrameReader()
            assert reader.feed(await r.content.read(len(framing.frame(0, b"first")))) == [
                (framing.MESSAGE, b"first")
            ]
            await backend.streaming.wait()
            assert not backend.cancelled.is_set()
            r.close()
    # Bounded only so that a failure ends the test.
    await asyncio.wait_for(backend.cancelled.wait(), 30)
