"""[MS-FSCC] directory classes: packing, alignment, fitting, smbprotocol as an oracle."""
from __future__ import annotations

import pytest
from smbprotocol import file_info as spi

from sofs.wire.errors import WireError
from sofs.wire.fscc import (
    DIR_INFO_CLASSES,
    DirEntry,
    decode_dir_entries,
    encode_dir_entries,
    encode_dir_entry,
)
from sofs.wire.fscc_constants import FileInfoClass as FIC

E1 = DirEntry("file.txt", file_id=0x1234, creation_time=1, last_access_time=2, last_write_time=3,
              change_time=4, end_of_file=5, allocation_size=4096, attributes=0x20, ea_size=0,
              short_name="FILE.TXT")
E2 = DirEntry("a", file_id=7, attributes=0x10)
E3 = DirEntry("link", file_id=9, attributes=0x400, reparse_tag=0xA000000C)

FIXED = {FIC.FileDirectoryInformation: 64, FIC.FileFullDirectoryInformation: 68,
         FIC.FileIdFullDirectoryInformation: 80, FIC.FileBothDirectoryInformation: 94,
         FIC.FileIdBothDirectoryInformation: 104, FIC.FileNamesInformation: 12,
         FIC.FileIdExtdDirectoryInformation: 88, FIC.FileIdExtdBothDirectoryInformation: 114}


def _expected(info_class: int, e: DirEntry) -> DirEntry:
    """What survives a round trip of ``e`` in ``info_class``."""
    kw = {}
    if info_class == FIC.FileNamesInformation:
        return DirEntry(e.name, file_index=e.file_index)
    if info_class not in (FIC.FileBothDirectoryInformation, FIC.FileIdBothDirectoryInformation,
                          FIC.FileIdExtdBothDirectoryInformation):
        kw["short_name"] = ""
    if info_class not in (FIC.FileIdFullDirectoryInformation, FIC.FileIdBothDirectoryInformation,
                          FIC.FileIdExtdDirectoryInformation, FIC.FileIdExtdBothDirectoryInformation):
        kw["file_id"] = 0
    if info_class == FIC.FileDirectoryInformation:
        kw["ea_size"] = 0
        kw["reparse_tag"] = 0
    from dataclasses import replace
    return replace(e, **kw)


@pytest.mark.parametrize("info_class", sorted(DIR_INFO_CLASSES))
def test_sizes_and_round_trip(info_class: int) -> None:
    one = encode_dir_entry(info_class, E2)
    assert len(one) == FIXED[info_class] + 2
    data, n = encode_dir_entries(info_class, [E1, E2, E3], 65536)
    assert n == 3
    assert decode_dir_entries(info_class, data) == [_expected(info_class, e) for e in (E1, E2, E3)]
    # chain: 8-aligned offsets, last one 0
    off = 0
    for _ in range(2):
        nxt = int.from_bytes(data[off:off + 4], "little")
        assert nxt % 8 == 0 and nxt > 0
        off += nxt
    assert int.from_bytes(data[off:off + 4], "little") == 0
    assert len(data) == off + len(encode_dir_entry(info_class, E3))


@pytest.mark.parametrize("info_class", sorted(DIR_INFO_CLASSES))
def test_never_splits_an_entry(info_class: int) -> None:
    full, _ = encode_dir_entries(info_class, [E1, E2, E3], 65536)
    sizes = [len(encode_dir_entry(info_class, e)) for e in (E1, E2, E3)]
    for limit in range(len(full) + 1):
        data, n = encode_dir_entries(info_class, [E1, E2, E3], limit)
        assert len(data) <= limit
        assert n == len(decode_dir_entries(info_class, data)) if data else n == 0
        if n < 3:
            pos = (len(data) + 7) & ~7 if data else 0
            assert pos + sizes[n] > limit


def test_id_both_matches_smbprotocol() -> None:
    data = encode_dir_entry(FIC.FileIdBothDirectoryInformation, E1)
    sp = spi.FileIdBothDirectoryInformation()
    sp.unpack(data)
    assert sp["file_name"].get_value() == "file.txt".encode("utf-16-le")
    assert sp["short_name"].get_value()[:16] == "FILE.TXT".encode("utf-16-le")
    assert sp["short_name_length"].get_value() == 16
    assert sp["file_id"].get_value() == 0x1234
    assert sp["end_of_file"].get_value() == 5
    assert sp["allocation_size"].get_value() == 4096


def test_full_dir_reports_reparse_tag_in_ea_size() -> None:
    data = encode_dir_entry(FIC.FileFullDirectoryInformation, E3)
    assert data[64:68] == (0xA000000C).to_bytes(4, "little")


def test_names_golden() -> None:
    assert encode_dir_entry(FIC.FileNamesInformation, DirEntry("ab")).hex() == (
        "00000000" "00000000" "04000000" "61006200")


def test_unknown_class() -> None:
    with pytest.raises(WireError):
        encode_dir_entries(FIC.FileBasicInformation, [E1], 100)


def test_bad_chain() -> None:
    data, _ = encode_dir_entries(FIC.FileNamesInformation, [E1, E2], 1000)
    with pytest.raises(WireError):
        decode_dir_entries(FIC.FileNamesInformation, (4).to_bytes(4, "little") + data[4:])
    with pytest.raises(WireError):
        decode_dir_entries(FIC.FileNamesInformation, data[:-3])
