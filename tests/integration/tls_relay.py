"""A TLS front for a server that cannot terminate TLS itself here (the embedded Redis and
Temporal are built without it): it accepts TLS on a free loopback port and relays each
connection in plain text to the server. The client's side, the part under test, is then
exactly what it would be against a server that speaks TLS."""

import asyncio
import contextlib
import ssl
import tempfile
from pathlib import Path

from security.certs import Issued


class TlsRelay:
    def __init__(self, target: str, server: Issued, alpn: list[str] | None = None) -> None:
        self.target_host, _, port = target.rpartition(":")
        self.target_port = int(port)
        self.server = server
        self.alpn = alpn
        self.address = ""
        self._listener: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory, "cert.pem"), Path(directory, "key.pem")
            cert.write_bytes(self.server.cert_pem)
            key.write_bytes(self.server.key_pem)
            context.load_cert_chain(cert, key)
        if self.alpn:
            context.set_alpn_protocols(self.alpn)
        return context

    async def __aenter__(self) -> "TlsRelay":
        context = self._context()
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=context)
        self.address = f"127.0.0.1:{self._listener.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._listener is not None
        self._listener.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._listener.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.close()
            return
        pipes = [
            asyncio.ensure_future(_pipe(reader, upstream_writer)),
            asyncio.ensure_future(_pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            for end in (writer, upstream_writer):
                with contextlib.suppress(Exception):
                    end.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
