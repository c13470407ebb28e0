"""FSCTL payloads ([MS-SMB2] 2.2.31.x / 2.2.32.x, [MS-FSCC] 2.3)."""
from __future__ import annotations

import pytest
from smbprotocol.ioctl import SMB2NetworkInterfaceInfo, SMB2SrvCopyChunkCopy

from sofs.wire.constants import NetworkInterfaceCaps
from sofs.wire.errors import WireError
from sofs.wire.fsctl import (
    DuplicateExtentsData,
    FileAllocatedRangeBuffer,
    FileLevelTrim,
    FileZeroDataInformation,
    NetworkInterfaceInfo,
    NetworkResiliencyRequest,
    PipeWaitRequest,
    SrvCopychunk,
    SrvCopychunkCopy,
    SrvCopychunkResponse,
    SrvRequestResumeKeyResponse,
    SrvSnapshotArray,
    ValidateNegotiateInfoRequest,
    ValidateNegotiateInfoResponse,
    decode_allocated_ranges,
    decode_network_interfaces,
    decode_set_sparse,
    encode_allocated_ranges,
    encode_network_interfaces,
)

GUID = bytes(range(16))


def test_validate_negotiate_golden() -> None:
    req = ValidateNegotiateInfoRequest(0x44, GUID, 1, (0x0300, 0x0302))
    data = bytes.fromhex("44000000") + GUID + bytes.fromhex("0100" "0200" "0003" "0203")
    assert req.encode() == data and ValidateNegotiateInfoRequest.decode(data) == req
    rsp = ValidateNegotiateInfoResponse(0x2F, GUID, 1, 0x0302)
    assert rsp.encode() == bytes.fromhex("2f000000") + GUID + bytes.fromhex("0100" "0203")
    assert ValidateNegotiateInfoResponse.decode(rsp.encode()) == rsp
    with pytest.raises(WireError):
        ValidateNegotiateInfoRequest.decode(data[:-1])


def test_network_interfaces() -> None:
    entries = [NetworkInterfaceInfo(1, NetworkInterfaceCaps.RSS_CAPABLE, 10_000_000_000, "127.0.0.11"),
               NetworkInterfaceInfo(2, 0, 1_000_000_000, "fe80::1")]
    data = encode_network_interfaces(entries)
    assert len(data) == 2 * 152
    assert data[:4] == (152).to_bytes(4, "little") and data[152:156] == bytes(4)
    assert data[24:32] == bytes.fromhex("0200" "0000" "7f00000b")
    assert decode_network_interfaces(data) == entries
    parsed = SMB2NetworkInterfaceInfo.unpack_multiple(data)
    assert parsed[0]["sock_addr_storage"]["buffer"].get_value().get_ipaddress() == "127.0.0.11"
    assert parsed[1]["link_speed"].get_value() == 1_000_000_000
    bad = bytearray(data[:152])
    bad[24:26] = b"\x09\x00"
    with pytest.raises(WireError):
        decode_network_interfaces(bytes(bad))


def test_copychunk() -> None:
    key = b"k" * 24
    copy = SrvCopychunkCopy(key, (SrvCopychunk(0, 4096, 65536), SrvCopychunk(65536, 0, 1)))
    data = copy.encode()
    assert data[:32] == key + bytes.fromhex("02000000" "00000000")
    assert data[32:56] == bytes.fromhex("0000000000000000" "0010000000000000" "00000100" "00000000")
    assert SrvCopychunkCopy.decode(data) == copy
    theirs = SMB2SrvCopyChunkCopy()
    theirs.unpack(data)
    assert theirs["chunk_count"].get_value() == 2
    with pytest.raises(WireError):
        SrvCopychunkCopy.decode(data[:-1])
    rsp = SrvCopychunkResponse(16, 1048576, 16777216)
    assert rsp.encode() == bytes.fromhex("10000000" "00001000" "00000001")
    assert SrvCopychunkResponse.decode(rsp.encode()) == rsp


def test_resume_key_and_snapshots() -> None:
    rk = SrvRequestResumeKeyResponse(b"r" * 24)
    assert rk.encode() == b"r" * 24 + bytes(4)
    assert SrvRequestResumeKeyResponse.decode(rk.encode()) == rk
    snaps = SrvSnapshotArray(2, ("@GMT-2024.01.01-00.00.00", "@GMT-2024.01.02-00.00.00"))
    data = snaps.encode()
    assert data[:12] == bytes.fromhex("02000000" "02000000") + (2 * 50 + 2).to_bytes(4, "little")
    assert SrvSnapshotArray.decode(data) == snaps
    assert SrvSnapshotArray(3, ()).encode() == bytes.fromhex("03000000" "00000000" "00000000")


def test_small_payloads() -> None:
    cases = [
        (DuplicateExtentsData(GUID, 1, 2, 3), GUID + bytes.fromhex(
            "0100000000000000" "0200000000000000" "0300000000000000")),
        (FileZeroDataInformation(10, 20), bytes.fromhex("0a00000000000000" "1400000000000000")),
        (FileAllocatedRangeBuffer(0, 4096), bytes.fromhex("0000000000000000" "0010000000000000")),
        (NetworkResiliencyRequest(60000), bytes.fromhex("60ea0000" "00000000")),
        (FileLevelTrim(0, ((0, 4096),)), bytes.fromhex("00000000" "01000000" "0000000000000000"
                                                       "0010000000000000")),
        (PipeWaitRequest(-1, True, "srvsvc"), bytes.fromhex("ffffffffffffffff" "0c000000" "01" "00")
         + "srvsvc".encode("utf-16-le")),
    ]
    for obj, data in cases:
        assert obj.encode() == data, obj
        assert type(obj).decode(data) == obj
        with pytest.raises(WireError):
            type(obj).decode(data[:-1])


def test_allocated_ranges_and_sparse() -> None:
    ranges = [FileAllocatedRangeBuffer(0, 10), FileAllocatedRangeBuffer(100, 5)]
    assert decode_allocated_ranges(encode_allocated_ranges(ranges)) == ranges
    with pytest.raises(WireError):
        decode_allocated_ranges(b"\0" * 17)
    assert decode_set_sparse(b"") is True
    assert decode_set_sparse(b"\0") is False
