"""gRPC-Web from a real browser: headless Chromium, driven by Playwright, runs a page that calls
the control plane with Google's official `grpc-web` runtime (from the npm registry, installed by
this test's setup), from another origin (so CORS and its preflight are in play), in both modes:
ListSessions, PauseSession with a WatchOperation stream of it, the refusals FAILED_PRECONDITION
and NOT_FOUND, a deadline; then over mutual TLS, with the development users' certificates
(PERMISSION_DENIED for the reader), and without one.

It needs Debian's Chromium (see test_temporal_ui.py) and npm; without them it skips.
"""

import asyncio
import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from aiohttp import web
from armonik.protogen.common import sessions_common_pb2 as spb

from lifecycle.statuses import TaskStatus
from tests.browser.test_temporal_ui import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM, PAGE_TIMEOUT
from tests.integration.test_grpcweb import NEWEST, grpc_web_server, with_dev_users
from tests.support import new_session
from wire.protos import operations_pb2

pytestmark = [pytest.mark.browser, pytest.mark.stack]

GRPC_WEB_NPM = "grpc-web@2.1.1"
PAGE = Path(__file__).parent / "grpcweb_page" / "index.html"
SESSIONS = "/armonik.api.grpc.v1.sessions.Sessions"
WATCH = "/armonik_sessions.v1.Operations/WatchOperation"
# grpc-web's StatusCode numbers, as gRPC's.
OK, UNKNOWN, DEADLINE_EXCEEDED, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION = 0, 2, 4, 5, 7, 9


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Path:
    """grpc-web's ES module, installed from the npm registry."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("no npm: the grpc-web runtime comes from the npm registry")
    where = tmp_path_factory.mktemp("npm")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(where), GRPC_WEB_NPM],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return where / "node_modules" / "grpc-web" / "index.esm.js"


@pytest.fixture(scope="module")
async def page_origin(runtime: Path):
    """The page and the runtime, on an origin of their own."""

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def script(request: web.Request) -> web.FileResponse:
        return web.FileResponse(runtime, headers={"Content-Type": "text/javascript"})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/grpc-web.esm.js", script)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture(scope="module")
async def chromium():
    if not CHROMIUM.is_file():
        pytest.skip(f"{NO_CHROMIUM}; {CHROMIUM} is missing")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


class Page:
    """A page of the browser, calling the gRPC-Web server at `url`."""

    def __init__(self, page, url: str) -> None:
        self.page = page
        self.url = url

    @classmethod
    async def open(cls, chromium, origin: str, url: str, **context_options) -> "Page":
        context = await chromium.new_context(**context_options)
        context.set_default_timeout(PAGE_TIMEOUT * 1000)
        page = await context.new_page()
        await page.goto(origin + "/")
        await page.wait_for_function("window.ready === true")
        return cls(page, url)

    async def call(
        self, method: str, request, *, mode: str, streaming=False, deadline_ms: int = 0
    ) -> tuple[int, str, list[bytes]]:
        answer = await self.page.evaluate(
            "args => window.grpcCall(args)",
            {
                "url": self.url,
                "method": method,
                "request": base64.b64encode(request.SerializeToString()).decode(),
                "streaming": streaming,
                "format": mode,
                "deadlineMs": deadline_ms,
            },
        )
        messages = [base64.b64decode(m) for m in answer["messages"]]
        return answer["code"], answer["details"], messages

    async def close(self) -> None:
        await self.page.context.close()


def _pair(pki, user: str, origin: str, directory: Path) -> dict[str, str]:
    """Playwright's client certificate of `user` for `origin`, in files of `directory`."""
    cert, key = directory / f"{user}.crt", directory / f"{user}.key"
    cert.write_bytes(pki.users[user].cert_pem)
    key.write_bytes(pki.users[user].key_pem)
    return {"origin": origin, "certPath": str(cert), "keyPath": str(key)}


@pytest.mark.parametrize("mode", ["text", "binary"])
async def test_the_grpc_web_runtime_lists_pauses_watches_and_reads_refusals(
    client, chromium, page_origin, mode
):
    async with grpc_web_server(client, cors_origins=[page_origin]) as url:
        page = await Page.open(chromium, page_origin, url)
        try:
            session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 200})
            code, _, (listed,) = await page.call(
                f"{SESSIONS}/ListSessions",
                spb.ListSessionsRequest(page_size=10, sort=NEWEST),
                mode=mode,
            )
            assert code == OK
            assert spb.ListSessionsResponse.FromString(listed).total >= 1

            watch = operations_pb2.WatchOperationRequest(session_id=session_id, operation="pause")
            watching = asyncio.create_task(page.call(WATCH, watch, mode=mode, streaming=True))
            by_id = {"session_id": session_id}
            code, details, (paused,) = await page.call(
                f"{SESSIONS}/PauseSession", spb.PauseSessionRequest(**by_id), mode=mode
            )
            assert code == OK, details
            assert spb.PauseSessionResponse.FromString(paused).session.session_id == session_id
            code, details, messages = await watching
            assert code == OK, details
            progress = [operations_pb2.OperationProgress.FromString(m) for m in messages]
            assert progress[-1].ended and progress[-1].state == "done"

            purge = spb.PurgeSessionRequest(**by_id)
            code, details, _ = await page.call(f"{SESSIONS}/PurgeSession", purge, mode=mode)
            assert code == FAILED_PRECONDITION, details
            missing = spb.GetSessionRequest(session_id="no-such-session")
            code, details, _ = await page.call(f"{SESSIONS}/GetSession", missing, mode=mode)
            assert code == NOT_FOUND and "no-such-session" in details

            # Nothing pauses this one: the watch lasts until the deadline grpc-web sends.
            idle = await new_session(client)
            waiting = operations_pb2.WatchOperationRequest(session_id=idle, operation="pause")
            code, _, _ = await page.call(WATCH, waiting, mode=mode, streaming=True, deadline_ms=500)
            assert code == DEADLINE_EXCEEDED
        finally:
            await page.close()


async def test_the_browser_over_mutual_tls_is_its_certificates_user(client, chromium, page_origin):
    pki, tls = await with_dev_users(client)
    async with grpc_web_server(client, tls, cors_origins=[page_origin]) as url:
        with tempfile.TemporaryDirectory() as directory:

            async def as_user(user: str | None) -> Page:
                # The server's certificate is the test CA's, which Chromium does not know.
                options: dict = {"ignore_https_errors": True}
                if user:
                    options["client_certificates"] = [_pair(pki, user, url, Path(directory))]
                return await Page.open(chromium, page_origin, url, **options)

            session_id = await new_session(client)
            pause = spb.PauseSessionRequest(session_id=session_id)
            listing = spb.ListSessionsRequest(page_size=1, sort=NEWEST)
            reader, admin, nobody = (
                await as_user("reader"),
                await as_user("admin"),
                await as_user(None),
            )
            try:
                code, details, _ = await reader.call(
                    f"{SESSIONS}/ListSessions", listing, mode="text"
                )
                assert code == OK, details
                code, details, _ = await reader.call(f"{SESSIONS}/PauseSession", pause, mode="text")
                assert code == PERMISSION_DENIED and "Sessions:PauseSession" in details
                code, details, _ = await admin.call(
                    f"{SESSIONS}/PauseSession", pause, mode="binary"
                )
                assert code == OK, details
                # No certificate: the handshake fails, as a native client's does, so the browser
                # gets no HTTP answer at all (status 0), which grpc-web reports as UNKNOWN.
                code, details, _ = await nobody.call(
                    f"{SESSIONS}/ListSessions", listing, mode="text"
                )
                assert code == UNKNOWN and "http status code: 0" in details, details
            finally:
                for page in (reader, admin, nobody):
                    await page.close()
