"""The gRPC-Web wire format (api/grpcweb_framing.py): frames and base64 pieces cut anywhere."""

import base64

import pytest

from api import grpcweb_framing as framing
from api.grpcweb import _percent, _request_message


def _cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_frames_cut_anywhere_come_out_whole():
    body = (
        framing.frame(framing.MESSAGE, b"first")
        + framing.frame(framing.MESSAGE, b"")
        + framing.frame(framing.MESSAGE, bytes(range(256)) * 40)
        + framing.trailers([("grpc-status", "0"), ("grpc-message", "")])
    )
    for size in (1, 2, 5, 7, 4096, len(body)):
        reader = framing.FrameReader()
        frames = [f for chunk in _cut(body, size) for f in reader.feed(chunk)]
        reader.close()
        assert [flag for flag, _ in frames] == [0, 0, 0, framing.TRAILERS]
        assert frames[0][1] == b"first" and frames[1][1] == b""
        assert frames[2][1] == bytes(range(256)) * 40
        assert framing.parse_trailers(frames[3][1]) == {"grpc-status": "0", "grpc-message": ""}


def test_a_frame_cut_short_is_an_error():
    reader = framing.FrameReader()
    assert reader.feed(framing.frame(framing.MESSAGE, b"abcdef")[:-1]) == []
    with pytest.raises(framing.FramingError):
        reader.close()


def test_text_mode_decodes_padded_pieces_one_after_another_cut_anywhere():
    # As a server writes it: each frame base64-encoded on its own, so padding mid-stream.
    frames = [framing.frame(framing.MESSAGE, b"x" * n) for n in (1, 2, 3, 4, 100)]
    frames.append(framing.trailers([("grpc-status", "5"), ("grpc-message", "no%20such")]))
    text = b"".join(framing.encode_text(f) for f in frames)
    assert b"=" in text[:-4], "the pieces must carry padding mid-stream for this test"
    for size in (1, 3, 4, 5, 9, len(text)):
        decoder = framing.TextDecoder()
        decoded = b"".join(decoder.feed(chunk) for chunk in _cut(text, size))
        decoder.close()
        assert decoded == b"".join(frames)


def test_text_mode_refuses_what_is_not_base64():
    with pytest.raises(framing.FramingError):
        framing.TextDecoder().feed(b"ab!d")
    decoder = framing.TextDecoder()
    decoder.feed(b"QUJD" + b"QU")
    with pytest.raises(framing.FramingError):
        decoder.close()


def test_a_request_holds_exactly_one_uncompressed_message():
    message = framing.frame(framing.MESSAGE, b"\x08\x01")
    assert _request_message(message, text=False) == b"\x08\x01"
    assert _request_message(base64.b64encode(message), text=True) == b"\x08\x01"
    for body in (
        b"",
        message + message,
        framing.frame(framing.COMPRESSED, b"\x08\x01"),
        framing.trailers([("grpc-status", "0")]),
        message[:-1],
    ):
        with pytest.raises(framing.FramingError):
            _request_message(body, text=False)


def test_content_types_and_timeouts():
    assert framing.is_text("application/grpc-web-text") is True
    assert framing.is_text("application/grpc-web-text+proto; charset=utf-8") is True
    assert framing.is_text("application/grpc-web") is False
    assert framing.is_text("application/grpc-web+proto") is False
    assert framing.is_text("application/grpc") is None
    assert framing.is_text("application/json") is None
    assert framing.timeout_seconds("10S") == 10
    assert framing.timeout_seconds("2H") == 7200
    assert framing.timeout_seconds("250m") == 0.25
    assert framing.timeout_seconds("1500u") == pytest.approx(0.0015)
    for bad in ("", "10", "S", "123456789S", "1.5S", "10s"):
        with pytest.raises(framing.FramingError):
            framing.timeout_seconds(bad)


def test_grpc_message_is_percent_encoded():
    assert _percent("session abc not found") == "session abc not found"
    assert _percent("100% é\n") == "100%25 %C3%A9%0A"
