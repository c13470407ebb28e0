"""[MS-FSCC] 2.5 file system classes and the QUERY_INFO output-size rules."""
from __future__ import annotations

import pytest

from sofs.wire import fscc
from sofs.wire.errors import WireError
from sofs.wire.fscc import FILE_INFO_SIZES, FS_INFO_SIZES, InfoSize, buffer_for, fit_output
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.fscc_constants import FsInfoClass as FSC
from sofs.wire.status import NtStatus

SAMPLES = [
    fscc.FileFsVolumeInformation(132223104000000000, 0xDEADBEEF, "data", False),
    fscc.FileFsLabelInformation("lbl"),
    fscc.FileFsSizeInformation(1000, 500, 8, 512),
    fscc.FileFsFullSizeInformation(1000, 400, 500, 8, 512),
    fscc.FileFsDeviceInformation(7, 0x20),
    fscc.FileFsAttributeInformation(0x0004008F, 255, "NTFS"),
    fscc.FileFsControlInformation(),
    fscc.FileFsSectorSizeInformation(512, 4096, 4096, 4096, 3, 0, 0),
    fscc.FileFsObjectIdInformation(bytes(range(16)), bytes(48)),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_round_trip(obj: object) -> None:
    data = obj.encode()  # type: ignore[attr-defined]
    assert type(obj).decode(data) == obj  # type: ignore[attr-defined]
    for n in range(len(data)):
        try:
            type(obj).decode(data[:n])  # type: ignore[attr-defined]
        except WireError:
            pass


def test_fixed_sizes() -> None:
    assert len(fscc.FileFsSizeInformation().encode()) == 24
    assert len(fscc.FileFsFullSizeInformation().encode()) == 32
    assert len(fscc.FileFsDeviceInformation().encode()) == 8
    assert len(fscc.FileFsControlInformation().encode()) == 48
    assert len(fscc.FileFsSectorSizeInformation().encode()) == 28
    assert len(fscc.FileFsObjectIdInformation().encode()) == 64


def test_volume_golden() -> None:
    data = fscc.FileFsVolumeInformation(1, 0x11223344, "ab", True).encode()
    assert data.hex() == "0100000000000000" "44332211" "04000000" "01" "00" "61006200"


def test_attribute_golden() -> None:
    data = fscc.FileFsAttributeInformation(0x8F, 255, "NTFS").encode()
    assert data.hex() == "8f000000" "ff000000" "08000000" + "NTFS".encode("utf-16-le").hex()


def test_size_table_matches_smbtorture_buffercheck() -> None:
    # smb2.getinfo.qfile_buffercheck / qfs_buffercheck fixed sizes
    for cls_, size in {4: 40, 5: 24, 6: 8, 7: 4, 8: 4, 16: 4, 17: 4, 18: 104, 21: 8, 22: 32, 28: 16,
                       34: 56, 35: 8}.items():
        assert FILE_INFO_SIZES[cls_].min_size == size
    for cls_, size in {1: 24, 3: 24, 4: 8, 5: 16, 6: 48, 7: 32, 11: 28}.items():
        assert FS_INFO_SIZES[cls_].min_size == size
    assert buffer_for(1, FIC.FileAllInformation) == InfoSize(104, True)
    assert buffer_for(2, FSC.FileFsSizeInformation) == InfoSize(24, False)
    assert buffer_for(3, 0) is None


def test_fit_output() -> None:
    size = buffer_for(1, FIC.FileAllInformation)
    assert size is not None
    data = fscc.FileAllInformation(name=fscc.FileNameInformation("\\long_name")).encode()
    assert fit_output(size, data, 103) == (NtStatus.INFO_LENGTH_MISMATCH, b"")
    assert fit_output(size, data, 104) == (NtStatus.BUFFER_OVERFLOW, data[:104])
    assert fit_output(size, data, len(data)) == (NtStatus.SUCCESS, data)
    fixed = buffer_for(1, FIC.FileBasicInformation)
    assert fixed is not None
    basic = fscc.FileBasicInformation().encode()
    assert fit_output(fixed, basic, 39)[0] == NtStatus.INFO_LENGTH_MISMATCH
    assert fit_output(fixed, basic, 4096) == (NtStatus.SUCCESS, basic)


def test_decode_set_info() -> None:
    from sofs.wire.fscc import decode_set_info

    basic = fscc.FileBasicInformation(1, 2, 3, 4, 0x20)
    assert decode_set_info(1, FIC.FileBasicInformation, basic.encode()) == basic
    assert decode_set_info(1, FIC.FileRenameInformation, fscc.FileRenameInformation(True, "x").encode()) == \
        fscc.FileRenameInformation(True, "x")
    assert decode_set_info(2, FSC.FileFsLabelInformation, fscc.FileFsLabelInformation("l").encode()) == \
        fscc.FileFsLabelInformation("l")
    cases = [((1, FIC.FileBasicInformation, bytes(35)), NtStatus.INFO_LENGTH_MISMATCH),
             ((1, FIC.FileEndOfFileInformation, bytes(7)), NtStatus.INFO_LENGTH_MISMATCH),
             ((1, FIC.FileStandardInformation, bytes(24)), NtStatus.INVALID_INFO_CLASS),
             ((3, 0, bytes(24)), NtStatus.INVALID_INFO_CLASS),
             ((1, FIC.FileRenameInformation, bytes(16) + b"\x10\0\0\0" + b"ab"), NtStatus.INVALID_PARAMETER)]
    for args, status in cases:
        with pytest.raises(WireError) as ei:
            decode_set_info(*args)
        assert ei.value.status == status, args
