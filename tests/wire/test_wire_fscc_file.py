"""[MS-FSCC] 2.4 file information classes: golden bytes, round trips, smbprotocol as an oracle."""
from __future__ import annotations

import pytest
from smbprotocol import file_info as spi

from sofs.wire import fscc
from sofs.wire.errors import WireError
from sofs.wire.fscc import (
    EaEntry,
    FileAllInformation,
    FileBasicInformation,
    FileDispositionInformation,
    FileFullEaInformation,
    FileGetEaInformation,
    FileNameInformation,
    FileRenameInformation,
    FileRenameInformationEx,
    FileStandardInformation,
    FileStreamInformation,
    StreamEntry,
)

SAMPLES = [
    fscc.FileBasicInformation(1, 2, 3, 4, 0x20),
    fscc.FileBasicInformation(-1, -2, 0, 0, 0),
    fscc.FileStandardInformation(4096, 10, 1, True, False),
    fscc.FileInternalInformation(0x1122334455667788),
    fscc.FileEaInformation(24),
    fscc.FileAccessInformation(0x1F01FF),
    fscc.FilePositionInformation(99),
    fscc.FileModeInformation(0x20),
    fscc.FileAlignmentInformation(0),
    fscc.FileNameInformation("\\dir\\file.txt"),
    fscc.FileAllInformation(name=fscc.FileNameInformation("\\a")),
    fscc.FileNetworkOpenInformation(1, 2, 3, 4, 4096, 5, 0x80),
    fscc.FileAttributeTagInformation(0x400, 0xA000000C),
    fscc.FileStreamInformation((StreamEntry("::$DATA", 5, 8), StreamEntry(":s1:$DATA", 123, 4096))),
    fscc.FileStreamInformation(()),
    fscc.FileRenameInformation(True, "new\\name.txt"),
    fscc.FileRenameInformationEx(3, "x"),
    fscc.FileLinkInformation(False, "link"),
    fscc.FileDispositionInformation(True),
    fscc.FileDispositionInformationEx(0x13),
    fscc.FileEndOfFileInformation(1 << 40),
    fscc.FileAllocationInformation(8192),
    fscc.FileValidDataLengthInformation(7),
    fscc.FileFullEaInformation((EaEntry("EAONE", b"VALUE1"), EaEntry("SECONDEA", b"ValueTwo", 0x80))),
    fscc.FileGetEaInformation(("EAONE", "X")),
    fscc.FileCompressionInformation(100, 2, 16, 12, 12),
    fscc.FileIdInformation(0xABCDEF, (1 << 100) + 5),
    fscc.FileStandardLinkInformation(2, 3, False, True),
    fscc.FileCaseSensitiveInformation(1),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_round_trip(obj: object) -> None:
    data = obj.encode()  # type: ignore[attr-defined]
    assert type(obj).decode(data) == obj  # type: ignore[attr-defined]
    assert type(obj).decode(memoryview(data)) == obj  # type: ignore[attr-defined]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_truncation_raises_only_wire_error(obj: object) -> None:
    data = obj.encode()  # type: ignore[attr-defined]
    for n in range(len(data)):
        try:
            type(obj).decode(data[:n])  # type: ignore[attr-defined]
        except WireError:
            pass


def test_basic_golden() -> None:
    data = FileBasicInformation(1, 2, 3, 4, 0x20).encode()
    assert data.hex() == (
        "0100000000000000" "0200000000000000" "0300000000000000" "0400000000000000" "20000000" "00000000")
    # 36-byte form (no Reserved) accepted, as Windows does
    assert FileBasicInformation.decode(data[:36]) == FileBasicInformation(1, 2, 3, 4, 0x20)
    with pytest.raises(WireError):
        FileBasicInformation.decode(data[:35])


def test_standard_golden() -> None:
    assert FileStandardInformation(4096, 10, 1, True, False).encode().hex() == (
        "0010000000000000" "0a00000000000000" "01000000" "01" "00" "0000")


def test_name_golden_and_odd_length() -> None:
    assert FileNameInformation("ab").encode() == bytes.fromhex("04000000") + "ab".encode("utf-16-le")
    with pytest.raises(WireError):
        FileNameInformation.decode(bytes.fromhex("03000000610062"))


def test_all_information_layout() -> None:
    data = FileAllInformation(name=FileNameInformation("\\a")).encode()
    assert len(data) == 100 + 4
    assert data[96:].hex() == "040000005c006100"


def test_stream_golden() -> None:
    data = FileStreamInformation((StreamEntry("::$DATA", 5, 8), StreamEntry(":s:$DATA", 1, 8))).encode()
    first = 24 + 14  # "::$DATA" is 7 chars
    assert int.from_bytes(data[0:4], "little") == 40  # 38 aligned to 8
    assert data[first:40] == b"\0\0"
    assert int.from_bytes(data[40:44], "little") == 0
    assert len(data) == 40 + 24 + 16


def test_rename_golden() -> None:
    data = FileRenameInformation(True, "b").encode()
    assert data.hex() == "01" + "00" * 7 + "0000000000000000" + "02000000" + "6200"
    assert FileRenameInformationEx(1, "b").encode().hex() == (
        "01000000" "00000000" "0000000000000000" "02000000" "6200")


def test_disposition_decodes_first_byte() -> None:
    assert FileDispositionInformation.decode(b"\x01\x00\x00\x00") == FileDispositionInformation(True)
    with pytest.raises(WireError):
        FileDispositionInformation.decode(b"")


def test_full_ea_golden_matches_smbprotocol() -> None:
    ours = FileFullEaInformation((EaEntry("EAONE", b"VALUE1"), EaEntry("B", b"", 0x80))).encode()
    e1 = spi.FileFullEaInformation()
    e1["flags"] = 0
    e1["ea_name"] = b"EAONE"
    e1["ea_value"] = b"VALUE1"
    first = e1.pack()
    # entry 1: 8 + 5 + 1 + 6 = 20 bytes (already 4-aligned)
    assert ours[:4] == (20).to_bytes(4, "little")
    assert ours[4:20] == first[4:20]
    assert ours[20:].hex() == "00000000" "80" "01" "0000" "4200"


def test_full_ea_rejects_bad_chain() -> None:
    good = FileFullEaInformation((EaEntry("A", b"1"), EaEntry("B", b"2"))).encode()
    bad_next = (4).to_bytes(4, "little") + good[4:]
    with pytest.raises(WireError):
        FileFullEaInformation.decode(bad_next)
    no_nul = good[:9] + b"X" + good[10:]
    with pytest.raises(WireError):
        FileFullEaInformation.decode(no_nul)


def test_get_ea_matches_smbprotocol() -> None:
    sp = spi.FileGetEaInformation()
    sp["ea_name"] = b"EAONE"
    assert FileGetEaInformation(("EAONE",)).encode() == sp.pack()
    assert FileGetEaInformation.decode(sp.pack()).names == ("EAONE",)


def test_basic_matches_smbprotocol() -> None:
    sp = spi.FileBasicInformation()
    sp.unpack(FileBasicInformation(11, 22, 33, 44, 0x21).encode())
    assert sp["creation_time"].get_value() is not None
    assert sp["file_attributes"].get_value() == 0x21


def test_all_information_packs_the_nine_classes_back_to_back() -> None:
    """``FileAllInformation.pack`` (QUERY_INFO's one-struct path) against each class's own encoding,
    every field distinct, and the decoder reading back what was packed."""
    parts = (fscc.FileBasicInformation(11, 12, 13, 14, 0x20),
             fscc.FileStandardInformation(4096, 4000, 2, True, False),
             fscc.FileInternalInformation(0x1122334455667788), fscc.FileEaInformation(44),
             fscc.FileAccessInformation(0x12019F), fscc.FilePositionInformation(512),
             fscc.FileModeInformation(0x10), fscc.FileAlignmentInformation(0),
             FileNameInformation("\\dir\\file.txt"))
    whole = FileAllInformation(*parts)
    data = whole.encode()
    assert data == b"".join(p.encode() for p in parts)
    assert data == FileAllInformation.pack(11, 12, 13, 14, 0x20, 4096, 4000, 2, True, False, 0x1122334455667788,
                                           44, 0x12019F, 512, 0x10, 0, "\\dir\\file.txt")
    assert FileAllInformation.decode(data) == whole
