"""Journal codec: round trips of every record, golden bytes, torn tails, corruption, fencing."""
from __future__ import annotations

import zlib

import pytest

from sofs.handlestate import records as R
from sofs.handlestate.journal_codec import (
    RECORD_TYPES,
    JournalHeader,
    OpenResilientSet,
    decode_frames,
    decode_value,
    encode_entry,
    encode_value,
    fenced,
)

OPEN = R.OpenRecord(
    persistent_id=(7 << 40) | 3, volatile_id=0xFFFF_0000_1234, file_id=2**63 + 5, path="dir\\Ä file.txt",
    stream=None, is_directory=False, granted_access=0x12019F, share_access=7, create_options=0x40,
    session_id=0x1122334455667788, tree_id=1, client_guid=b"G" * 16, owner_sid="S-1-5-21-1-2-3-1000",
    durable=True, persistent=True, durable_timeout_ms=60000, create_guid=b"C" * 16,
    app_instance_id=None, app_instance_version=(1, 2), oplock_level=0xFF, lease_key=b"L" * 16)

SAMPLES: list[object] = [
    JournalHeader(3, 9),
    R.OpenAdded(OPEN),
    R.OpenRemoved(OPEN.persistent_id),
    R.OpenDisconnected(1, 123456789),
    R.OpenReconnected(1, 2, 3, 4),
    R.DeleteOnCloseSet(1, True),
    R.DeletePendingSet(5, "s:$data", False),
    R.PathMoved(5, "a", "b\\c", True),
    R.ChannelSequenceSet(1, 0xFFFF),
    R.LockSequenceSet(1, 64, 15),
    R.LockAdded(5, 1, "", 0, 2**64 - 1, True),
    R.LockRemoved(5, 1, "", 0, 2**64 - 1),
    R.LeaseSet(5, b"g" * 16, b"k" * 16, 7, 3, 2, None),
    R.OplockSet(1, 8),
    OpenResilientSet(1, 5000),
]


def test_every_record_type_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} | {R.OpenRecord} == set(RECORD_TYPES)


@pytest.mark.parametrize("rec", SAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip(rec: object) -> None:
    assert decode_value(encode_value(rec)) == rec
    frame = encode_entry(R.JournalEntry(4, 17, rec, True))  # type: ignore[arg-type]
    scan = decode_frames(frame)
    assert scan.entries == (R.JournalEntry(4, 17, rec, True),)  # type: ignore[arg-type]
    assert not scan.torn and scan.error == ""


def test_golden_frame() -> None:
    frame = encode_entry(R.JournalEntry(1, 2, R.OpenRemoved(0x0102), True))
    payload = bytes.fromhex("0100000000000000" "0200000000000000" "01" "5203" "4902" "0201")
    assert frame == len(payload).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little") + payload


def test_scalar_values() -> None:
    for v in (None, True, False, 0, -1, 2**64 - 1, -(2**70), b"", b"\0\xff", "", "x\udcff", (1, (b"a", None))):
        assert decode_value(encode_value(v)) == v


def test_unknown_type_refused() -> None:
    with pytest.raises(TypeError):
        encode_value(1.5)


def _stream(n: int) -> bytes:
    return b"".join(encode_entry(R.JournalEntry(1, i, R.ChannelSequenceSet(i, i * 3), True)) for i in range(n))


def test_torn_tail_at_every_offset() -> None:
    good = _stream(5)
    last = encode_entry(R.JournalEntry(1, 99, R.OpenAdded(OPEN), True))
    for cut in range(len(last)):
        scan = decode_frames(good + last[:cut])
        assert len(scan.entries) == 5
        assert scan.good_end == len(good)
        assert scan.torn == (cut > 0)
    assert len(decode_frames(good + last).entries) == 6


def test_corrupt_byte_stops_scan_there() -> None:
    data = bytearray(_stream(6))
    frame_len = len(encode_entry(R.JournalEntry(1, 0, R.ChannelSequenceSet(0, 0), True)))
    data[3 * frame_len + 12] ^= 0x40  # inside the 4th frame's payload
    scan = decode_frames(bytes(data))
    assert [e.seq for e in scan.entries] == [0, 1, 2]
    assert scan.good_end == 3 * frame_len
    assert "offset" in scan.error


def test_bad_length_and_garbage() -> None:
    assert decode_frames(b"\xff\xff\xff\xff\0\0\0\0").entries == ()
    assert decode_frames(b"").error == ""
    bad_payload = b"\x01" * 17 + b"Z"
    frame = len(bad_payload).to_bytes(4, "little") + zlib.crc32(bad_payload).to_bytes(4, "little") + bad_payload
    scan = decode_frames(_stream(2) + frame)
    assert len(scan.entries) == 2 and "undecodable" in scan.error


def test_fencing_drops_older_epochs_after_a_newer_one() -> None:
    es = [R.JournalEntry(ep, i, R.OpenRemoved(i), True) for i, ep in enumerate([1, 1, 2, 1, 2, 3, 2])]
    kept, dropped = fenced(es)
    assert [e.epoch for e in kept] == [1, 1, 2, 2, 3]
    assert dropped == 2


@pytest.mark.parametrize("rec", [*SAMPLES, 0, -1, 2**70, True, False, None, b"", "x", (1, (b"a", None)),
                                 bytearray(b"ab"), memoryview(b"cd")],
                         ids=lambda r: type(r).__name__)
def test_fast_encoder_matches_the_generic_one(rec: object) -> None:
    """``_enc`` (exact-type fast path) writes the same bytes as the generic ``_enc_slow``, also
    for int subclasses (IntFlag lease states) and tuples, which take the generic path."""
    import enum

    from sofs.handlestate.journal_codec import _enc, _enc_slow

    class Flag(enum.IntFlag):
        A = 1
        B = 4

    for v in (rec, Flag.A | Flag.B, R.LeaseSet(5, b"g" * 16, b"k" * 16, Flag.B, 3, 2, None)):
        fast, slow = bytearray(), bytearray()
        _enc(v, fast)
        _enc_slow(v, slow)
        assert fast == slow
