"""A fault-injecting proxy to put in front of a real store: it makes the store slow, narrow or
overloaded on demand, as a shared store under load is, so that the tests can show what the
control plane does then (issue: a purge that never ended when S3 served fewer calls in time
than the worker sent).

Two modes, for one upstream address each:
- `http` (S3): it reads each HTTP/1.1 request (keep-alive, bodies by Content-Length or
  chunked), serves at most `slots` requests at once (the others wait for a turn, as requests
  queue at an overloaded server), holds each for `latency` seconds before it forwards it, and
  can answer a share of them `503 SlowDown` itself, as S3 does when it throttles.
- `tcp` (PostgreSQL, Redis): it relays bytes both ways, each chunk from a client `latency`
  seconds late and at most `slots` such chunks on their way at once, the bytes of every
  connection sharing `bandwidth` bytes a second.

Faults can change while the proxy runs (`proxy.faults = Faults(...)`). It runs on the test's
event loop; `async with FaultProxy(...) as proxy:` listens on a free loopback port.
"""

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
READ = 64 * 1024


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to each request (http) or client chunk (tcp)
    slots: int | None = None  # requests served at once; None: no limit
    bandwidth: float | None = None  # bytes a second, all connections together (tcp)
    slow_down: float = 0.0  # share of requests answered 503 SlowDown (http)


@dataclass
class Counts:
    requests: int = 0
    slowed_down: int = 0
    # The most requests in service at once.
    peak: int = 0
    in_service: int = 0
    seconds: list[float] = field(default_factory=list)


class _Slots:
    """A limit on requests in service that can change while some wait."""

    def __init__(self, proxy: "FaultProxy") -> None:
        self.proxy = proxy
        self.turn = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def held(self):
        counts = self.proxy.counts
        async with self.turn:
            await self.turn.wait_for(
                lambda: (
                    self.proxy.faults.slots is None or counts.in_service < self.proxy.faults.slots
                )
            )
            counts.in_service += 1
            counts.peak = max(counts.peak, counts.in_service)
        try:
            yield
        finally:
            async with self.turn:
                counts.in_service -= 1
                self.turn.notify_all()


class _Bandwidth:
    """A token bucket shared by every connection: `bandwidth` bytes a second."""

    def __init__(self, proxy: "FaultProxy") -> None:
        self.proxy = proxy
        self.available_at = time.monotonic()

    async def spend(self, n: int) -> None:
        rate = self.proxy.faults.bandwidth
        if not rate:
            return
        now = time.monotonic()
        start = max(now, self.available_at)
        self.available_at = start + n / rate
        await asyncio.sleep(self.available_at - now)


class FaultProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        mode: Literal["http", "tcp"],
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = mode
        self.faults = faults or Faults()
        self.counts = Counts()
        self.port = 0
        self._slots = _Slots(self)
        self._bandwidth = _Bandwidth(self)
        self._random = random.Random(seed)
        # Told of every HTTP request forwarded to the store, head and body.
        self.on_forward: Callable[[bytes, bytes], None] = lambda head, body: None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> "FaultProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream_writer = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            if self.mode == "http":
                await self._http(reader, writer, upstream_reader, upstream_writer)
            else:
                await self._tcp(reader, writer, upstream_reader, upstream_writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            # The proxy is closing: the connection ends here, and asyncio's stream callback
            # must not find a cancelled task to complain of.
            pass
        finally:
            self._connections.discard(task)
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()

    # --- http ----------------------------------------------------------------------------------

    async def _http(self, reader, writer, upstream_reader, upstream_writer) -> None:
        while True:
            head = await _read_head(reader)
            if head is None:
                return
            body = await _read_body(reader, head)
            async with self._slots.held():
                began = time.monotonic()
                self.counts.requests += 1
                if self.faults.latency:
                    await asyncio.sleep(self.faults.latency)
                if self.faults.slow_down and self._random.random() < self.faults.slow_down:
                    self.counts.slowed_down += 1
                    writer.write(
                        b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(SLOW_DOWN_BODY)}\r\n\r\n".encode()
                        + SLOW_DOWN_BODY
                    )
                    await writer.drain()
                    continue
                self.on_forward(head, body)
                upstream_writer.write(head + body)
                await upstream_writer.drain()
                response = await _read_head(upstream_reader)
                if response is None:
                    return
                method = head.split(b" ", 1)[0]
                answer = await _read_body(upstream_reader, response, method == b"HEAD")
                writer.write(response + answer)
                await writer.drain()
                self.counts.seconds.append(time.monotonic() - began)

    # --- tcp -----------------------------------------------------------------------------------

    async def _tcp(self, reader, writer, upstream_reader, upstream_writer) -> None:
        async def upstream() -> None:
            # A chunk waits for a turn, then `latency` within it: with `slots` turns, the
            # store takes no more than slots / latency chunks a second from every client.
            while chunk := await reader.read(READ):
                async with self._slots.held():
                    self.counts.requests += 1
                    if self.faults.latency:
                        await asyncio.sleep(self.faults.latency)
                    await self._bandwidth.spend(len(chunk))
                    upstream_writer.write(chunk)
                    await upstream_writer.drain()
            upstream_writer.write_eof()

        async def downstream() -> None:
            while chunk := await upstream_reader.read(READ):
                await self._bandwidth.spend(len(chunk))
                writer.write(chunk)
                await writer.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """An HTTP message's head, up to its blank line; None at the connection's end."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as partial:
        if partial.partial:
            raise
        return None


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


async def _read_body(reader: asyncio.StreamReader, head: bytes, no_body: bool = False) -> bytes:
    """The message's body, as it came (chunked bodies with their framing)."""
    if no_body:
        return b""
    if head.startswith(b"HTTP/"):
        code = head.split(b" ", 2)[1]
        if code.startswith(b"1") or code in (b"204", b"304"):
            return b""
    length = _header(head, b"content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                parts.append(await reader.readuntil(b"\r\n"))  # the trailer's end
                return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    return b""
