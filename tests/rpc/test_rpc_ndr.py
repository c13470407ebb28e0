from __future__ import annotations

import pytest

from sofs.rpc.ndr import NdrError, NdrReader, NdrWriter


def test_writer_golden() -> None:
    w = NdrWriter()
    w.u8(1)
    w.u32(2)  # aligned to 4 after the byte
    w.pointer(True)
    w.pointer(False)
    w.pointer(True)
    w.wstr("ab")
    w.u16(7)  # offset 38: already 2-aligned
    w.u64(9)  # offset 40: already 8-aligned
    assert w.getvalue().hex() == (
        "01000000" "02000000" "00000200" "00000000" "04000200"
        "03000000" "00000000" "03000000" "610062000000"
        "0700" "0900000000000000"
    )


def test_reader_round_trip() -> None:
    w = NdrWriter()
    w.pointer(True)
    w.wstr("\\\\SERVER")
    w.u32(0xDEADBEEF)
    w.pointer(False)
    w.wstr("x")
    r = NdrReader(w.getvalue())
    assert r.unique_wstr() == "\\\\SERVER"
    assert r.u32() == 0xDEADBEEF
    assert r.unique_wstr() is None
    assert r.wstr() == "x"
    assert r.remaining() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x01\x00",
        bytes.fromhex("05000000" "00000000" "06000000"),  # actual > max
        bytes.fromhex("02000000" "01000000" "01000000" "6100"),  # offset != 0
        bytes.fromhex("02000000" "00000000" "02000000" "61"),  # short data
        bytes.fromhex("01000000" "00000000" "01000000" "00d8"),  # lone surrogate
    ],
)
def test_reader_errors(raw: bytes) -> None:
    with pytest.raises(NdrError):
        NdrReader(raw).wstr()
