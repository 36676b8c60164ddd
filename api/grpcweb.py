"""gRPC-Web for browsers (the ArmoniK Admin GUI, Google's `grpc-web` runtime): an aiohttp
server that translates each call into a native gRPC call to the API's own grpcio server.

grpcio speaks no gRPC-Web, and the maintained Python adapters (sonora's ASGI/WSGI apps) host
servicers themselves, outside grpcio's interceptors. So this is a translator, written to the
protocol (api/grpcweb_framing.py): a call arrives as one HTTP/1.1 POST, and goes on to the
native server over a private Unix socket (Gateway) as a generic call of raw bytes, with the
request's headers as its metadata. Every service and every interceptor (metrics, tracing,
authorization, audit, malformed-request refusal) applies to it unchanged, and a unary RPC is
read as a stream of one message, so no RPC needs code of its own here.

With TLS, the translator serves the API's certificate and requires a client certificate that
the API's CA signed, as the native port does: a browser without one fails at the handshake. It
passes the verified certificate on to the native server beside the gateway's secret token, and
api/auth.py identifies the caller from it exactly as from a native connection's.
"""

import asyncio
import base64
import binascii
import logging
import mimetypes
import re
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from aiohttp import web

from api import grpcweb_framing as framing
from api.auth import GATEWAY_CERT, GATEWAY_COMMON_NAME, GATEWAY_TOKEN
from security.tls import ServerTls

log = logging.getLogger("armonik_sessions.grpcweb")

# As much as a native client may send (grpcio's default), in base64 for text mode.
MAX_REQUEST_BYTES = 4 * 1024 * 1024 * 4 // 3 + 64
# What grpc-web and @ngx-grpc send, and what a preflight may ask for.
ALLOWED_HEADERS = (
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
    "x-accept-content-transfer-encoding",
    "x-accept-response-streaming",
    "traceparent",
    "tracestate",
)
# What a browser's script may read of an answer, besides its initial metadata.
EXPOSED_HEADERS = ("grpc-status", "grpc-message", "grpc-status-details-bin")
# Headers of HTTP itself, or of the browser, that are no gRPC metadata.
_NOT_METADATA = {
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "dnt",
    "host",
    "keep-alive",
    "origin",
    "pragma",
    "priority",
    "referer",
    "te",
    "transfer-encoding",
    "upgrade",
    "user-agent",
}
_METADATA_NAME = re.compile(r"^[0-9a-z_.-]+$")
_GATEWAY_PREFIX = "x-armonik-gateway"


@dataclass(frozen=True)
class Gateway:
    """The native server's private door for the translator: a Unix socket in a directory only
    this user may enter, and a secret token without which the native server trusts no
    forwarded certificate."""

    directory: Path
    token: str

    @classmethod
    def create(cls) -> "Gateway":
        # mkdtemp makes the directory 0700.
        return cls(Path(tempfile.mkdtemp(prefix="armonik-grpcweb-")), secrets.token_urlsafe(32))

    @property
    def address(self) -> str:
        return f"unix:{self.directory / 'api.sock'}"

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class GrpcWeb:
    """The gRPC-Web server in front of a native server listening on `gateway`."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        tls: ServerTls | None = None,
        cors_origins: Collection[str] = (),
        gui_dir: Path | None = None,
    ) -> None:
        self.gateway = gateway
        self.tls = tls
        self.cors_origins = frozenset(cors_origins)
        self.gui_dir = gui_dir.resolve() if gui_dir else None
        self._channel: grpc.aio.Channel | None = None
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/{service}/{method}", self._call)
        app.router.add_route("OPTIONS", "/{service}/{method}", self._preflight)
        if self.gui_dir is not None:
            app.router.add_get("/admin", self._to_admin)
            app.router.add_get("/admin/{path:.*}", self._gui)
            app.router.add_get("/static/gui_configuration", self._gui_configuration)
        return app

    async def start(self, address: str) -> int:
        """Serve on `address` ("host:port"); the port it got (for port 0)."""
        host, _, port = address.rpartition(":")
        self._channel = grpc.aio.insecure_channel(
            self.gateway.address, options=[("grpc.max_receive_message_length", -1)]
        )
        # A browser that goes away cancels its handler, so its call ends with it.
        self._runner = web.AppRunner(self.application(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host.strip("[]") or None,
            int(port),
            ssl_context=self.tls.ssl_context() if self.tls else None,
        )
        await site.start()
        return self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._channel is not None:
            await self._channel.close()

    # --- calls

    async def _call(self, request: web.Request) -> web.StreamResponse:
        text = framing.is_text(request.headers.get("content-type", ""))
        cors = self._cors(request)
        if text is None:
            return web.Response(status=415, text="not a gRPC-Web content type", headers=cors)
        answer = _Answer(request, text, cors)
        try:
            metadata, timeout = self._metadata(request)
            message = _request_message(await request.read(), text)
        except framing.FramingError as error:
            return await answer.status(grpc.StatusCode.INTERNAL, str(error))
        assert self._channel is not None
        call = self._channel.unary_stream(request.path)(message, metadata=metadata, timeout=timeout)
        try:
            while (reply := await call.read()) is not grpc.aio.EOF:
                await answer.message(await call.initial_metadata(), reply)
            code, details = await call.code(), await call.details()
            return await answer.status(
                code, details, await call.initial_metadata(), await call.trailing_metadata()
            )
        except grpc.aio.AioRpcError as error:
            return await answer.status(
                error.code(),
                error.details() or "",
                error.initial_metadata(),
                error.trailing_metadata(),
            )
        except (asyncio.CancelledError, ConnectionError):
            # The browser went away: so does its call.
            call.cancel()
            raise

    def _metadata(self, request: web.Request) -> tuple[list[tuple[str, str | bytes]], float | None]:
        """The call's metadata from the request's headers, and its timeout from grpc-timeout.
        The gateway's own names are never taken from the request."""
        metadata: list[tuple[str, str | bytes]] = []
        timeout = None
        for name, value in request.headers.items():
            name = name.lower()
            if name == "grpc-timeout":
                timeout = framing.timeout_seconds(value)
            elif _is_metadata(name):
                if name.endswith("-bin"):
                    metadata.append((name, _unbase64(value)))
                elif value.isascii() and value.isprintable():
                    metadata.append((name, value))
        metadata += self._client_certificate(request)
        return metadata, timeout

    def _client_certificate(self, request: web.Request) -> list[tuple[str, str | bytes]]:
        """The verified client certificate, for the native server to identify its user."""
        if self.tls is None or request.transport is None:
            return []
        tls_object = request.transport.get_extra_info("ssl_object")
        der = tls_object.getpeercert(binary_form=True) if tls_object else None
        if not der:
            return []
        subject = tls_object.getpeercert().get("subject", ())
        names = [value for rdn in subject for key, value in rdn if key == "commonName"]
        return [
            (GATEWAY_TOKEN, self.gateway.token),
            (GATEWAY_CERT, ssl.DER_cert_to_PEM_cert(der).encode()),
            (GATEWAY_COMMON_NAME, (names[0] if names else "").encode()),
        ]

    # --- CORS

    def _cors(self, request: web.Request) -> dict[str, str]:
        """The CORS headers of an answer to `request`: none for an origin not configured."""
        origin = request.headers.get("origin")
        if not origin or not (origin in self.cors_origins or "*" in self.cors_origins):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    async def _preflight(self, request: web.Request) -> web.Response:
        cors = self._cors(request)
        if not cors:
            return web.Response(status=403, text="origin not allowed")
        return web.Response(
            status=204,
            headers=cors
            | {
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                "Access-Control-Max-Age": "86400",
            },
        )

    # --- the GUI

    async def _to_admin(self, request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect("/admin/")

    async def _gui(self, request: web.Request) -> web.StreamResponse:
        """A file of the GUI's build; a route of the application (/admin/en/sessions) falls
        back to its language's index.html, then to the top one, as the GUI's nginx does."""
        assert self.gui_dir is not None
        root = self.gui_dir
        wanted = (root / request.match_info["path"]).resolve()
        if not wanted.is_relative_to(root):
            raise web.HTTPNotFound()
        candidates = [wanted, wanted / "index.html"]
        parts = wanted.relative_to(root).parts
        if parts:
            candidates.append(root / parts[0] / "index.html")
        candidates.append(root / "index.html")
        for path in candidates:
            if path.is_file():
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return web.FileResponse(path, headers={"Content-Type": kind})
        raise web.HTTPNotFound()

    async def _gui_configuration(self, request: web.Request) -> web.Response:
        """The GUI's own configuration: none, so it takes its defaults."""
        return web.json_response({})


class _Answer:
    """One call's HTTP answer: headers with the first message, then frames, then the trailer
    frame; a call that ends before any message is answered trailers-only (its status in the
    headers, no body), as the protocol allows."""

    def __init__(self, request: web.Request, text: bool, cors: dict[str, str]) -> None:
        self.request = request
        self.text = text
        self.cors = cors
        self.response: web.StreamResponse | None = None

    def _headers(self, initial: Iterable) -> dict[str, str]:
        kind = self.request.headers["content-type"].split(";", 1)[0].strip()
        headers = {"Content-Type": kind} | self.cors
        names = []
        for name, value in _headers_of(initial or ()):
            headers[name] = value
            names.append(name)
        if self.cors:
            headers["Access-Control-Expose-Headers"] = ", ".join([*EXPOSED_HEADERS, *names])
        return headers

    async def _write(self, data: bytes) -> None:
        assert self.response is not None
        await self.response.write(framing.encode_text(data) if self.text else data)

    async def message(self, initial, payload: bytes) -> None:
        if self.response is None:
            self.response = web.StreamResponse(headers=self._headers(initial))
            await self.response.prepare(self.request)
        await self._write(framing.frame(framing.MESSAGE, payload))

    async def status(
        self, code: grpc.StatusCode, details: str, initial=(), trailing=()
    ) -> web.StreamResponse:
        status = [("grpc-status", str(code.value[0])), ("grpc-message", _percent(details))]
        status += list(_headers_of(trailing or ()))
        if self.response is None:
            return web.Response(headers=self._headers(initial) | dict(status))
        await self._write(framing.trailers(status))
        await self.response.write_eof()
        return self.response


def _request_message(body: bytes, text: bool) -> bytes:
    """The one message of a request's body."""
    if text:
        decoder = framing.TextDecoder()
        body = decoder.feed(body)
        decoder.close()
    reader = framing.FrameReader()
    frames = reader.feed(body)
    reader.close()
    if len(frames) != 1 or frames[0][0] & framing.TRAILERS:
        raise framing.FramingError(f"a request holds one message frame, not {len(frames)} frames")
    flag, payload = frames[0]
    if flag & framing.COMPRESSED:
        raise framing.FramingError("compressed messages are not accepted (no grpc-encoding)")
    return payload


def _is_metadata(name: str) -> bool:
    return (
        name not in _NOT_METADATA
        and not name.startswith(("grpc-", "sec-", "access-control-", "proxy-", _GATEWAY_PREFIX))
        and _METADATA_NAME.match(name) is not None
    )


def _unbase64(value: str) -> bytes:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error:
        raise framing.FramingError("a -bin header that is not base64") from None


def _headers_of(metadata: Iterable) -> Iterable[tuple[str, str]]:
    """gRPC metadata as HTTP headers: binary values in base64, as gRPC-Web carries them."""
    for name, value in metadata:
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        yield name, value


def _percent(details: str) -> str:
    """grpc-message's encoding (PROTOCOL-HTTP2.md): printable ASCII but %, the rest as %XX of
    its UTF-8."""
    return "".join(
        c if " " <= c <= "~" and c != "%" else "".join(f"%{b:02X}" for b in c.encode())
        for c in details
    )
