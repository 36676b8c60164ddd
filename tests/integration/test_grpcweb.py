"""gRPC-Web (api/grpcweb.py) against the real stack, by plain HTTP as a browser's runtime sends
it: unary calls and a server stream in binary and text modes, statuses in trailers, deadlines,
CORS, the GUI's files, and mutual TLS with the same identities and permissions as native gRPC."""

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import grpc
import pytest
import yarl
from armonik.protogen.common import sessions_common_pb2 as spb
from armonik.protogen.common import sessions_fields_pb2, sort_direction_pb2
from armonik.protogen.common import versions_common_pb2 as vpb
from google.protobuf.message import Message

from adapters.postgres.auth_table import PostgresAuthTable
from api import grpcweb_framing as framing
from api.grpcweb import Gateway, GrpcWeb
from api.server import build_server
from lifecycle.statuses import TaskStatus
from security.certs import DEV_USERS, fingerprint
from security.permissions import DEV_ROLES
from security.tls import ServerTls
from tests.integration.test_security import Pki
from tests.support import new_session
from wire.protos import operations_pb2

pytestmark = pytest.mark.stack

SESSIONS = "/armonik.api.grpc.v1.sessions.Sessions"
ORIGIN = "http://gui.example"
# As the GUI's sessions page asks: newest first.
NEWEST = spb.ListSessionsRequest.Sort(
    field=sessions_fields_pb2.SessionField(
        session_raw_field=sessions_fields_pb2.SessionRawField(
            field=sessions_fields_pb2.SESSION_RAW_ENUM_FIELD_CREATED_AT
        )
    ),
    direction=sort_direction_pb2.SORT_DIRECTION_DESC,
)
MODES = {"binary": "application/grpc-web+proto", "text": "application/grpc-web-text"}


class Answer:
    def __init__(self, http_status: int, headers, messages: list[bytes], trailers: dict) -> None:
        self.http_status = http_status
        self.headers = headers
        self.messages = messages
        self.trailers = trailers

    @property
    def code(self) -> grpc.StatusCode:
        value = int(self.trailers["grpc-status"])
        return next(c for c in grpc.StatusCode if c.value[0] == value)

    def parsed(self, kind: type[Message]) -> list:
        return [kind.FromString(m) for m in self.messages]


async def web_call(
    http: aiohttp.ClientSession,
    url: str,
    method: str,
    request: Message | bytes,
    *,
    mode: str = "text",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One call as the grpc-web runtime makes it; the answer read chunk by chunk as it comes."""
    payload = request if isinstance(request, bytes) else request.SerializeToString()
    body = framing.frame(framing.MESSAGE, payload)
    text = mode == "text"
    sent = {
        "content-type": MODES[mode],
        "x-grpc-web": "1",
        "x-user-agent": "grpc-web-javascript/0.1",
        **(headers or {}),
    }
    async with http.post(
        url + method, data=base64.b64encode(body) if text else body, headers=sent
    ) as r:
        decoder, reader = framing.TextDecoder(), framing.FrameReader()
        frames = []
        async for chunk in r.content.iter_any():
            frames += reader.feed(decoder.feed(chunk) if text else chunk)
        decoder.close()
        reader.close()
        messages = [p for flag, p in frames if flag == framing.MESSAGE]
        trailer_frames = [p for flag, p in frames if flag == framing.TRAILERS]
        if trailer_frames:
            assert len(trailer_frames) == 1 and frames[-1][0] == framing.TRAILERS
            assert "grpc-status" not in r.headers
            trailers = framing.parse_trailers(trailer_frames[0])
        else:
            # Trailers-only: the status in the headers, and no message.
            assert not messages
            trailers = {k.lower(): v for k, v in r.headers.items()}
        return Answer(r.status, r.headers, messages, trailers)


@asynccontextmanager
async def grpc_web_server(client, tls: ServerTls | None = None, **options) -> AsyncIterator[str]:
    """The API (mutual TLS with `tls`) and its gRPC-Web translator, both on free ports: the
    translator's URL. `options`: GrpcWeb's."""
    gateway = Gateway.create()
    server, _ = await build_server(client, "127.0.0.1:0", tls, gateway=gateway)
    await server.start()
    web = GrpcWeb(gateway, tls=tls, **options)
    try:
        port = await web.start("127.0.0.1:0")
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await web.stop()
        await server.stop(None)
        gateway.remove()


async def with_dev_users(client) -> tuple[Pki, ServerTls]:
    """A new CA with the development users' certificates, each user in the auth table with
    its role; and the API's TLS with it."""
    pki = Pki()
    auth = PostgresAuthTable(client.stores.db)
    for role, permissions in DEV_ROLES.items():
        await auth.put_role(role, permissions)
    for user in DEV_USERS:
        await auth.put_user(user, [user])
        await auth.add_certificate(user, user, fingerprint(pki.users[user].cert_pem))
    return pki, ServerTls(pki.server.cert_pem, pki.server.key_pem, pki.authority.cert_pem)


@pytest.fixture(scope="module")
async def grpc_web(client):
    gui = Path(__file__).parent / "gui_build"
    async with grpc_web_server(client, cors_origins=[ORIGIN], gui_dir=gui) as url:
        yield url


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("mode", MODES)
async def test_unary_calls_and_a_refusal_in_trailers(grpc_web, http, client, mode):
    session_id = await new_session(client)
    get = spb.GetSessionRequest(session_id=session_id)
    got = await web_call(http, grpc_web, f"{SESSIONS}/GetSession", get, mode=mode)
    assert got.http_status == 200 and got.code == grpc.StatusCode.OK
    assert got.headers["content-type"] == MODES[mode]
    (answer,) = got.parsed(spb.GetSessionResponse)
    assert answer.session.session_id == session_id

    listed = await web_call(
        http,
        grpc_web,
        f"{SESSIONS}/ListSessions",
        spb.ListSessionsRequest(page_size=5, sort=NEWEST),
        mode=mode,
    )
    assert listed.code == grpc.StatusCode.OK, listed.trailers
    (page,) = listed.parsed(spb.ListSessionsResponse)
    assert page.total >= 1 and 1 <= len(page.sessions) <= 5

    versions = await web_call(
        http,
        grpc_web,
        "/armonik.api.grpc.v1.versions.Versions/ListVersions",
        vpb.ListVersionsRequest(),
        mode=mode,
    )
    assert versions.parsed(vpb.ListVersionsResponse)[0].core

    # A refusal with no message: trailers-only, exposed to a page of the configured origin.
    missing = await web_call(
        http,
        grpc_web,
        f"{SESSIONS}/GetSession",
        spb.GetSessionRequest(session_id="no-such-session"),
        mode=mode,
        headers={"origin": ORIGIN},
    )
    assert missing.http_status == 200 and missing.code == grpc.StatusCode.NOT_FOUND
    assert "no-such-session" in missing.trailers["grpc-message"]
    assert missing.headers["access-control-allow-origin"] == ORIGIN
    exposed = missing.headers["access-control-expose-headers"].split(", ")
    assert {"grpc-status", "grpc-message"} <= set(exposed)

    # Bytes that are no GetSessionRequest: the malformed-request interceptor's answer, as natively.
    malformed = await web_call(http, grpc_web, f"{SESSIONS}/GetSession", b"\xff\xff\xff", mode=mode)
    assert malformed.code == grpc.StatusCode.INVALID_ARGUMENT

    unknown = await web_call(http, grpc_web, f"{SESSIONS}/NoSuchRpc", b"", mode=mode)
    assert unknown.code == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("mode", MODES)
async def test_a_server_stream_to_its_end(grpc_web, http, client, mode):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 500})
    watch = asyncio.create_task(
        web_call(
            http,
            grpc_web,
            "/armonik_sessions.v1.Operations/WatchOperation",
            operations_pb2.WatchOperationRequest(session_id=session_id, operation="pause"),
            mode=mode,
            headers={"grpc-timeout": "120S"},
        )
    )
    pause = spb.PauseSessionRequest(session_id=session_id)
    paused = await web_call(http, grpc_web, f"{SESSIONS}/PauseSession", pause, mode=mode)
    assert paused.code == grpc.StatusCode.OK, paused.trailers
    watched = await watch
    assert watched.code == grpc.StatusCode.OK, watched.trailers
    progress = watched.parsed(operations_pb2.OperationProgress)
    assert progress[-1].ended and progress[-1].state == "done"
    assert all(not p.ended for p in progress[:-1])


async def test_grpc_timeout_is_the_calls_deadline(grpc_web, http, client):
    # Nothing pauses this session, so the watch waits for a pause until its deadline.
    session_id = await new_session(client)
    request = operations_pb2.WatchOperationRequest(session_id=session_id, operation="pause")
    method = "/armonik_sessions.v1.Operations/WatchOperation"
    expired = await web_call(http, grpc_web, method, request, headers={"grpc-timeout": "300m"})
    assert expired.code == grpc.StatusCode.DEADLINE_EXCEEDED
    bad = await web_call(http, grpc_web, method, request, headers={"grpc-timeout": "soon"})
    assert bad.code == grpc.StatusCode.INTERNAL


async def test_cors_preflight_and_what_is_not_grpc_web(grpc_web, http):
    asked = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,grpc-timeout",
    }
    async with http.options(
        f"{grpc_web}{SESSIONS}/ListSessions", headers={"origin": ORIGIN, **asked}
    ) as r:
        assert r.status == 204
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in r.headers["access-control-allow-methods"]
        allowed = set(r.headers["access-control-allow-headers"].split(", "))
        assert {
            "content-type",
            "x-grpc-web",
            "x-user-agent",
            "grpc-timeout",
            "authorization",
        } <= allowed
    async with http.options(
        f"{grpc_web}{SESSIONS}/ListSessions", headers={"origin": "http://elsewhere", **asked}
    ) as r:
        assert r.status == 403
        assert "access-control-allow-origin" not in r.headers
    async with http.post(
        f"{grpc_web}{SESSIONS}/ListSessions",
        data=b"{}",
        headers={"content-type": "application/json"},
    ) as r:
        assert r.status == 415


async def test_the_gui_is_served_under_admin_with_route_fallbacks(grpc_web, http):
    async with http.get(f"{grpc_web}/admin/en/index.html") as r:
        assert r.status == 200 and "english" in await r.text()
    for route in ("/admin/en/sessions", "/admin/en/tasks/some-session"):
        async with http.get(grpc_web + route) as r:
            assert r.status == 200 and "english" in await r.text()
    async with http.get(f"{grpc_web}/admin/") as r:
        assert r.status == 200 and "top" in await r.text()
    # This very file, one directory above the GUI's, is not served.
    escape = yarl.URL(f"{grpc_web}/admin/%2E%2E/test_grpcweb.py", encoded=True)
    async with http.get(escape) as r:
        assert r.status == 404
    async with http.get(f"{grpc_web}/static/gui_configuration") as r:
        assert r.status == 200 and await r.json() == {}


@pytest.fixture(scope="module")
async def secure_grpc_web(client):
    """The API over mutual TLS with its translator over the same TLS: the URL and the PKI."""
    pki, tls = await with_dev_users(client)
    async with grpc_web_server(client, tls) as url:
        yield url, pki


def _tls_as(pki: Pki, user: str | None, directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki.authority.cert_pem.decode())
    if user:
        cert, key = directory / f"{user}.crt", directory / f"{user}.key"
        cert.write_bytes(pki.users[user].cert_pem)
        key.write_bytes(pki.users[user].key_pem)
        context.load_cert_chain(cert, key)
    return context


async def test_mutual_tls_identifies_the_browser_as_natively(secure_grpc_web, client, tmp_path):
    url, pki = secure_grpc_web
    session_id = await new_session(client)
    pause = spb.PauseSessionRequest(session_id=session_id)

    async def as_user(user, method, request, **extra):
        connector = aiohttp.TCPConnector(ssl=_tls_as(pki, user, tmp_path))
        async with aiohttp.ClientSession(connector=connector) as http:
            return await web_call(http, url, method, request, **extra)

    reader = await as_user(
        "reader", f"{SESSIONS}/ListSessions", spb.ListSessionsRequest(page_size=1, sort=NEWEST)
    )
    assert reader.code == grpc.StatusCode.OK
    denied = await as_user("reader", f"{SESSIONS}/PauseSession", pause)
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED
    assert "Sessions:PauseSession" in denied.trailers["grpc-message"]
    stranger = await as_user(
        "stranger", f"{SESSIONS}/ListSessions", spb.ListSessionsRequest(sort=NEWEST)
    )
    assert stranger.code == grpc.StatusCode.UNAUTHENTICATED
    # A page cannot pass for the translator: the gateway's names are never taken from a request.
    forged = {
        "x-armonik-gateway-token": "guess",
        "x-armonik-gateway-cert-bin": base64.b64encode(pki.users["admin"].cert_pem).decode(),
        "x-armonik-gateway-cn-bin": base64.b64encode(b"admin").decode(),
    }
    forging = await as_user("reader", f"{SESSIONS}/PauseSession", pause, headers=forged)
    assert forging.code == grpc.StatusCode.PERMISSION_DENIED
    admin = await as_user("admin", f"{SESSIONS}/PauseSession", pause, mode="binary")
    assert admin.code == grpc.StatusCode.OK, admin.trailers
    # No client certificate: the handshake fails, as on the native port.
    with pytest.raises(aiohttp.ClientError):
        await as_user(None, f"{SESSIONS}/ListSessions", spb.ListSessionsRequest(sort=NEWEST))
