"""Symbolic-link reparse buffer ([MS-FSCC] 2.1.2.4) and symlink error response ([MS-SMB2] 2.2.2.2.1):
golden bytes written out by hand from the spec tables, round trips, and smbprotocol's parser as a
second reading."""
from __future__ import annotations

import pytest

from sofs.wire.errors import WireError
from sofs.wire.reparse import (
    SymlinkTarget,
    decode_symlink_reparse,
    encode_symlink_error,
    encode_symlink_reparse,
    symlink_error_data,
)

REL = SymlinkTarget("d\\f", "d\\f", True)
D_F = "64005c006600"  # "d\\f" in UTF-16LE

REL_REPARSE = bytes.fromhex(
    "0c0000a0"  # ReparseTag IO_REPARSE_TAG_SYMLINK
    "1800" "0000"  # ReparseDataLength 24 = 12 + PathBuffer 12, Reserved
    "0000" "0600" "0600" "0600"  # SubstituteName offset/length, PrintName offset/length
    "01000000"  # Flags SYMLINK_FLAG_RELATIVE
    + D_F + D_F)

REL_ERROR = bytes.fromhex(
    "24000000"  # SymLinkLength: 40 - 4
    "53594d4c"  # SymLinkErrorTag "SYML"
    "0c0000a0"  # ReparseTag
    "1800"  # ReparseDataLength
    "0400"  # UnparsedPathLength: "\\x" in UTF-16LE
    "0000" "0600" "0600" "0600"
    "01000000"
    + D_F + D_F)


def test_reparse_buffer_golden_and_round_trip() -> None:
    assert encode_symlink_reparse(REL) == REL_REPARSE
    assert decode_symlink_reparse(REL_REPARSE) == REL
    absolute = SymlinkTarget("\\??\\UNC\\srv\\share\\d", "\\\\srv\\share\\d", False)
    assert decode_symlink_reparse(encode_symlink_reparse(absolute)) == absolute


def test_symlink_error_response_golden() -> None:
    assert encode_symlink_error(REL, 4) == REL_ERROR
    assert symlink_error_data(REL, 4, 0x0302) == (0, REL_ERROR)
    # 3.1.1: one SMB2 ERROR Context, ErrorDataLength 40, ErrorId SMB2_ERROR_ID_DEFAULT
    assert symlink_error_data(REL, 4, 0x0311) == (1, bytes.fromhex("28000000" "00000000") + REL_ERROR)


def test_smbprotocol_reads_our_symlink_error_response() -> None:
    exc = pytest.importorskip("smbprotocol.exceptions")
    resp = exc.SMB2SymbolicLinkErrorResponse()
    resp.unpack(REL_ERROR)
    assert resp.get_substitute_name() == "d\\f" and resp.get_print_name() == "d\\f"
    assert resp.resolve_path("\\\\srv\\share\\dir\\link\\x") == "\\\\srv\\share\\dir\\d\\f\\x"


@pytest.mark.parametrize("data", [
    b"", b"\x0c\x00\x00\xa0", REL_REPARSE[:-2], REL_REPARSE + b"\x00\x00",
    bytes.fromhex("030000a0") + REL_REPARSE[4:],  # a mount point tag
    REL_REPARSE[:8] + bytes.fromhex("0000" "0e00" "0600" "0600" "01000000") + REL_REPARSE[20:],  # names overflow
    REL_REPARSE[:16] + bytes.fromhex("03000000") + REL_REPARSE[20:],  # unknown flag
    REL_REPARSE[:8] + bytes.fromhex("0000" "0000" "0000" "0600" "01000000") + REL_REPARSE[20:],  # empty target
], ids=["empty", "header-only", "short", "long", "other-tag", "overflow", "flags", "empty-target"])
def test_malformed_reparse_buffers_refused(data: bytes) -> None:
    with pytest.raises(WireError):
        decode_symlink_reparse(data)
