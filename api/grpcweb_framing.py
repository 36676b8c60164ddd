"""The gRPC-Web wire format (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md), with no I/O.

A body is a sequence of frames: one flag byte, a four-byte big-endian length, the payload. Flag
0x00 is a message, 0x80 the trailers (HTTP/1-style `name: value` lines, CRLF-separated); bit
0x01 says the payload is compressed. In text mode (`application/grpc-web-text`) the body is
base64: the client sends its one frame encoded at once, and the server encodes each frame on
its own, so a response is padded base64 pieces one after another, which a reader decodes quantum
by quantum.
"""

import base64
import binascii
import re
import struct
from collections.abc import Iterable

MESSAGE = 0x00
COMPRESSED = 0x01
TRAILERS = 0x80
_HEADER = struct.Struct(">BI")

BINARY_TYPES = ("application/grpc-web", "application/grpc-web+proto")
TEXT_TYPES = ("application/grpc-web-text", "application/grpc-web-text+proto")

# grpc-timeout: at most eight digits, then the unit (PROTOCOL-HTTP2.md).
_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class FramingError(ValueError):
    """Bytes that are not gRPC-Web frames."""


def is_text(content_type: str) -> bool | None:
    """True for text mode, False for binary, None for a content type that is not gRPC-Web."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in TEXT_TYPES:
        return True
    if kind in BINARY_TYPES:
        return False
    return None


def frame(flag: int, payload: bytes) -> bytes:
    return _HEADER.pack(flag, len(payload)) + payload


def trailers(metadata: Iterable[tuple[str, str]]) -> bytes:
    """The trailer frame of `metadata` (grpc-status and grpc-message among them)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in metadata)
    return frame(TRAILERS, lines.encode("latin-1"))


def parse_trailers(payload: bytes) -> dict[str, str]:
    """The trailers of a trailer frame's payload, names lowercased."""
    parsed = {}
    for line in payload.decode("latin-1").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
    return parsed


class FrameReader:
    """Frames out of a body that arrives in chunks cut anywhere."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        """The (flag, payload) of each frame `chunk` completes."""
        self._buffer += chunk
        frames = []
        while len(self._buffer) >= _HEADER.size:
            flag, length = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append((flag, bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return frames

    def close(self) -> None:
        """The body ended: a frame cut short is an error."""
        if self._buffer:
            raise FramingError(f"the body ends within a frame ({len(self._buffer)} bytes left)")


class TextDecoder:
    """Base64 that arrives in chunks cut anywhere, padded pieces one after another included."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        text = self._pending + re.sub(rb"\s+", b"", chunk)
        whole = len(text) - len(text) % 4
        self._pending = text[whole:]
        decoded = bytearray()
        start = 0
        # A quantum with padding ends a piece: decode up to there, then go on after it.
        while (padding := text.find(b"=", start, whole)) != -1:
            end = (padding // 4 + 1) * 4
            decoded += _b64(text[start:end])
            start = end
        decoded += _b64(text[start:whole])
        return bytes(decoded)

    def close(self) -> None:
        if self._pending:
            raise FramingError("the base64 body ends within a quantum")


def _b64(text: bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise FramingError(f"the body is not base64: {error}") from None


def encode_text(data: bytes) -> bytes:
    return base64.b64encode(data)


def timeout_seconds(value: str) -> float:
    """A grpc-timeout header's value ("10S", "250m") in seconds."""
    match = _TIMEOUT.match(value.strip())
    if match is None:
        raise FramingError(f"grpc-timeout {value!r} is not digits and a unit (H M S m u n)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
