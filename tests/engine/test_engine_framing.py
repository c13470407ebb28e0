"""FrameReader: Direct TCP framing, small frames from the rolling buffer, big frames zero-copy."""
from __future__ import annotations

import pytest

from sofs.engine.framing import ROLLING, FrameReader, FramingError, frame_header


def frames_of(*payloads: bytes) -> bytes:
    return b"".join(frame_header(len(p)) + p for p in payloads)


def test_several_frames_in_one_read() -> None:
    r = FrameReader()
    out = r.feed(frames_of(b"a" * 10, b"b" * 70, b""))
    assert [bytes(f) for f in out] == [b"a" * 10, b"b" * 70, b""]


def test_frame_split_across_reads_byte_by_byte() -> None:
    r = FrameReader()
    data = frames_of(b"hello world" * 20)
    got = []
    for i in range(len(data)):
        got += r.feed(data[i:i + 1])
    assert [bytes(f) for f in got] == [b"hello world" * 20]


def test_big_frame_goes_to_its_own_buffer() -> None:
    r = FrameReader()
    big = bytes(range(256)) * (ROLLING // 256 * 3)
    data = frames_of(b"x", big, b"y")
    got = []
    for i in range(0, len(data), 100_000):
        got += r.feed(data[i:i + 100_000])
    assert [len(f) for f in got] == [1, len(big), 1]
    assert bytes(got[1]) == big


def test_many_frames_wrap_the_rolling_buffer() -> None:
    r = FrameReader()
    payloads = [bytes([i % 251]) * (1000 + i) for i in range(600)]
    data = frames_of(*payloads)
    got = []
    for i in range(0, len(data), 7777):
        got += r.feed(data[i:i + 7777])
    assert [bytes(f) for f in got] == payloads


@pytest.mark.parametrize("data", [b"\x01\x00\x00\x10", b"\x00\xff\xff\xff"])
def test_bad_transport_header_is_a_framing_error(data: bytes) -> None:
    r = FrameReader(max_frame=1 << 20)
    with pytest.raises(FramingError):
        r.feed(data)
