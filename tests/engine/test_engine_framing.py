"""FrameReader: Direct TCP framing, small frames from the shared receive area, longer ones zero-copy."""
from __future__ import annotations

import pytest

from sofs.engine.connection import Engine, ProtocolViolation
from sofs.engine.framing import (
    CARRY_MAX,
    NBSS_SESSION_REQUEST,
    POSITIVE_SESSION_RESPONSE,
    ROLLING,
    FrameReader,
    FramingError,
    RecvArea,
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


def test_readers_sharing_one_area_keep_their_partial_frames() -> None:
    """Two connections receive into the same area in turns; what is left of each one's incomplete
    frame stays with its reader (a short one carried, a longer one in a buffer of its own)."""
    area = RecvArea()
    a, b = FrameReader(area=area), FrameReader(area=area)
    small = [bytes([i]) * (100 + i) for i in range(40)]
    medium = [bytes([i]) * (CARRY_MAX + 1000 * i) for i in range(5)]
    da, db = frames_of(*small), frames_of(*medium, *small)
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    pa = pb = 0
    while pa < len(da) or pb < len(db):
        got_a += [bytes(f) for f in a.feed(da[pa:pa + 333])]
        got_b += [bytes(f) for f in b.feed(db[pb:pb + 4567])]
        pa, pb = pa + 333, pb + 4567
    assert got_a == small
    assert got_b == medium + small
    assert a.pending == b.pending == 0


def test_an_idle_reader_holds_no_buffer() -> None:
    r = FrameReader()
    r.feed(frames_of(b"a" * 100, b"b" * 50)[:120])  # the second frame incomplete
    assert r.pending == 120 - 104
    r.feed(frames_of(b"b" * 50)[16:])
    assert r.pending == 0 and r._carry == b"" and r._big is None


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


def test_one_whole_message_per_receive_and_what_follows() -> None:
    """The one-message receive (no carry, exactly one frame) and the general path agree."""
    r = FrameReader()
    msg = b"\xfeSMB" + bytes(60)
    assert [bytes(f) for f in r.feed(frame_header(len(msg)) + msg)] == [msg]
    assert [bytes(f) for f in r.feed(frame_header(len(msg)) + msg + frame_header(3))] == [msg]
    assert r.pending == 4  # the next frame's header waits
    assert [bytes(f) for f in r.feed(b"abc")] == [b"abc"]


def test_max_frame_below_the_receive_area_is_refused() -> None:
    with pytest.raises(ValueError):
        FrameReader(max_frame=1024)
