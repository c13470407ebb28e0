"""FrameReader: Direct TCP framing, small frames from the rolling buffer, big frames zero-copy."""
from __future__ import annotations

import pytest

from sofs.engine.connection import Engine, ProtocolViolation
from sofs.engine.framing import (
    NBSS_SESSION_REQUEST,
    POSITIVE_SESSION_RESPONSE,
    ROLLING,
    FrameReader,
    FramingError,
    frame_header,
)
from sofs.engine.state import ConnectionState


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


@pytest.mark.parametrize("data", [b"\x01\x00\x00\x10", b"\x00\xff\xff\xff", b"\x82\x00\x00\x00",
                                  b"\x85\x00\x00\x01\x00", b"\x81\x00\x02\x01"])
def test_bad_transport_header_is_a_framing_error(data: bytes) -> None:
    r = FrameReader(max_frame=1 << 20)
    with pytest.raises(FramingError):
        r.feed(data)


def _netbios_name(name: str, suffix: int) -> bytes:
    """RFC 1001 14.1 first-level encoding of a 16-byte NetBIOS name (length byte, 32 letters, root label)."""
    raw = name.upper().ljust(15)[:15].encode() + bytes([suffix])
    return bytes([32]) + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF))) + b"\x00"


# RFC 1002 4.3.2 SESSION REQUEST to *SMBSERVER<20> from CLIENT<00>, as pysmb / smbclient -p 139 send it
SESSION_REQUEST = (b"\x81\x00\x00\x44" + _netbios_name("*SMBSERVER", 0x20) + _netbios_name("CLIENT", 0))


def test_session_request_golden_bytes() -> None:
    assert SESSION_REQUEST.hex() == (
        "81000044" "20" + "434b4644454e4543464445464643464745464643434143414341434143414341" + "00"
        "20" + "4544454d454a4546454f4645" + "4341" * 9 + "4141" + "00")


def test_netbios_session_request_then_frames_byte_by_byte() -> None:
    """RFC 1002 4.3.2: a SESSION REQUEST before the first SMB message; a KEEP ALIVE (4.3.7) is dropped."""
    r = FrameReader()
    data = SESSION_REQUEST + b"\x85\x00\x00\x00" + frames_of(b"smb2") + b"\x85\x00\x00\x00"
    got = []
    for i in range(len(data)):
        got += r.feed(data[i:i + 1])
    assert len(got) == 2 and got[0] is NBSS_SESSION_REQUEST and bytes(got[1]) == b"smb2"


def test_engine_answers_session_request_before_negotiate_only() -> None:
    eng = Engine(ConnectionState(conn_id=1), lambda sid: None)
    (chain,) = eng.receive_data(SESSION_REQUEST)
    assert chain.transport_reply == POSITIVE_SESSION_RESPONSE == b"\x82\x00\x00\x00"
    assert chain.requests == []
    eng.conn.negotiated = True
    with pytest.raises(ProtocolViolation):
        eng.receive_data(SESSION_REQUEST)
