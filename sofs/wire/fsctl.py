"""Payloads of the FSCTLs a file server handles ([MS-SMB2] 2.2.31.x / 2.2.32.x, [MS-FSCC] 2.3).

Each payload is a frozen dataclass with ``decode(data)`` (the IOCTL input/output buffer itself, not a
whole message) and ``encode() -> bytes``. Like every wire decoder, ``decode`` raises only WireError.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from sofs.wire.codec import Buffer, decode_utf16, encode_utf16, need
from sofs.wire.errors import WireError, invalid
from sofs.wire.status import NtStatus

AF_INET = 0x0002
AF_INET6 = 0x0017
"""[MS-SMB2] 2.2.32.5.1 SOCKADDR_STORAGE families (Windows values)."""


class Payload:
    """Base: ``decode`` wraps stray struct/index errors into WireError(INVALID_PARAMETER)."""

    __slots__ = ()

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        try:
            return cls._decode(memoryview(data))
        except WireError:
            raise
        except (struct.error, IndexError, ValueError, TypeError, OverflowError) as exc:
            raise invalid(f"{cls.__name__}: {exc}") from None

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        raise NotImplementedError


def _fixed(st: struct.Struct, data: memoryview, what: str) -> tuple[Any, ...]:
    need(data, st.size, what)
    return st.unpack_from(data)


@dataclass(frozen=True, slots=True)
class ValidateNegotiateInfoRequest(Payload):
    """[MS-SMB2] 2.2.31.4 VALIDATE_NEGOTIATE_INFO Request."""

    ST: ClassVar[struct.Struct] = struct.Struct("<I16sHH")
    capabilities: int
    guid: bytes
    security_mode: int
    dialects: tuple[int, ...]

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        caps, guid, mode, count = cls.ST.unpack_from(data)
        need(data, cls.ST.size + 2 * count, "VALIDATE_NEGOTIATE_INFO dialects")
        return cls(caps, guid, mode, struct.unpack_from(f"<{count}H", data, cls.ST.size))

    def encode(self) -> bytes:
        return (self.ST.pack(self.capabilities, self.guid, self.security_mode, len(self.dialects))
                + struct.pack(f"<{len(self.dialects)}H", *self.dialects))


@dataclass(frozen=True, slots=True)
class ValidateNegotiateInfoResponse(Payload):
    """[MS-SMB2] 2.2.32.6 VALIDATE_NEGOTIATE_INFO Response."""

    ST: ClassVar[struct.Struct] = struct.Struct("<I16sHH")
    capabilities: int
    guid: bytes
    security_mode: int
    dialect: int

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        caps, guid, mode, dialect = _fixed(cls.ST, data, "VALIDATE_NEGOTIATE_INFO response")
        return cls(caps, guid, mode, dialect)

    def encode(self) -> bytes:
        return self.ST.pack(self.capabilities, self.guid, self.security_mode, self.dialect)


@dataclass(frozen=True, slots=True)
class NetworkInterfaceInfo(Payload):
    """[MS-SMB2] 2.2.32.5 NETWORK_INTERFACE_INFO entry; ``address`` is an IPv4/IPv6 literal.

    A list of entries is chained with Next (152 = entry size, 0 for the last); see
    :func:`encode_network_interfaces` / :func:`decode_network_interfaces`.
    """

    ST: ClassVar[struct.Struct] = struct.Struct("<IIIIQ128s")
    if_index: int
    capability: int
    link_speed: int
    address: str

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        _next, index, caps, _r, speed, sockaddr = _fixed(cls.ST, data, "NETWORK_INTERFACE_INFO")
        family = int.from_bytes(sockaddr[:2], "little")
        if family == AF_INET:
            addr = str(ipaddress.IPv4Address(sockaddr[4:8]))
        elif family == AF_INET6:
            addr = str(ipaddress.IPv6Address(sockaddr[8:24]))
        else:
            raise invalid(f"unknown sockaddr family {family:#x}")
        return cls(index, caps, speed, addr)

    def encode_entry(self, next_offset: int) -> bytes:
        ip = ipaddress.ip_address(self.address)
        if ip.version == 4:
            sockaddr = struct.pack("<HH4s", AF_INET, 0, ip.packed)
        else:
            sockaddr = struct.pack("<HHI16sI", AF_INET6, 0, 0, ip.packed, 0)
        return self.ST.pack(next_offset, self.if_index, self.capability, 0, self.link_speed, sockaddr)

    def encode(self) -> bytes:
        return self.encode_entry(0)


def encode_network_interfaces(entries: list[NetworkInterfaceInfo]) -> bytes:
    """FSCTL_QUERY_NETWORK_INTERFACE_INFO output: the chained entry list."""
    size = NetworkInterfaceInfo.ST.size
    return b"".join(e.encode_entry(size if i + 1 < len(entries) else 0) for i, e in enumerate(entries))


def decode_network_interfaces(data: Buffer) -> list[NetworkInterfaceInfo]:
    """Follow the Next chain of NETWORK_INTERFACE_INFO entries."""
    mv = memoryview(data)
    out: list[NetworkInterfaceInfo] = []
    pos = 0
    while len(mv) > pos:
        out.append(NetworkInterfaceInfo.decode(mv[pos:]))
        (nxt,) = struct.unpack_from("<I", mv, pos)
        if nxt == 0:
            break
        pos += nxt
    return out


@dataclass(frozen=True, slots=True)
class SrvRequestResumeKeyResponse(Payload):
    """[MS-SMB2] 2.2.32.3 SRV_REQUEST_RESUME_KEY Response (ContextLength 0 from servers)."""

    ST: ClassVar[struct.Struct] = struct.Struct("<24sI")
    resume_key: bytes
    context: bytes = b""

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        key, length = _fixed(cls.ST, data, "SRV_REQUEST_RESUME_KEY")
        need(data, cls.ST.size + length, "SRV_REQUEST_RESUME_KEY context")
        return cls(key, bytes(data[cls.ST.size : cls.ST.size + length]))

    def encode(self) -> bytes:
        return self.ST.pack(self.resume_key, len(self.context)) + self.context


@dataclass(frozen=True, slots=True)
class SrvCopychunk:
    """[MS-SMB2] 2.2.31.1.1 SRV_COPYCHUNK."""

    source_offset: int
    target_offset: int
    length: int


_CHUNK = struct.Struct("<QQII")


@dataclass(frozen=True, slots=True)
class SrvCopychunkCopy(Payload):
    """[MS-SMB2] 2.2.31.1 SRV_COPYCHUNK_COPY."""

    ST: ClassVar[struct.Struct] = struct.Struct("<24sII")
    source_key: bytes
    chunks: tuple[SrvCopychunk, ...]

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        key, count, _r = _fixed(cls.ST, data, "SRV_COPYCHUNK_COPY")
        need(data, cls.ST.size + count * _CHUNK.size, "SRV_COPYCHUNK_COPY chunks")
        chunks = tuple(SrvCopychunk(*_CHUNK.unpack_from(data, cls.ST.size + i * _CHUNK.size)[:3])
                       for i in range(count))
        return cls(key, chunks)

    def encode(self) -> bytes:
        return self.ST.pack(self.source_key, len(self.chunks), 0) + b"".join(
            _CHUNK.pack(c.source_offset, c.target_offset, c.length, 0) for c in self.chunks)


@dataclass(frozen=True, slots=True)
class SrvCopychunkResponse(Payload):
    """[MS-SMB2] 2.2.32.1 SRV_COPYCHUNK_RESPONSE."""

    ST: ClassVar[struct.Struct] = struct.Struct("<III")
    chunks_written: int
    chunk_bytes_written: int
    total_bytes_written: int

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        return cls(*_fixed(cls.ST, data, "SRV_COPYCHUNK_RESPONSE"))

    def encode(self) -> bytes:
        return self.ST.pack(self.chunks_written, self.chunk_bytes_written, self.total_bytes_written)


@dataclass(frozen=True, slots=True)
class SrvSnapshotArray(Payload):
    """[MS-SMB2] 2.2.32.2 SRV_SNAPSHOT_ARRAY (FSCTL_SRV_ENUMERATE_SNAPSHOTS output).

    ``snapshots`` are ``@GMT-YYYY.MM.DD-HH.MM.SS`` tokens; ``number_of_snapshots`` may exceed the
    returned list when the client's MaxOutputResponse is too small.
    """

    ST: ClassVar[struct.Struct] = struct.Struct("<III")
    number_of_snapshots: int
    snapshots: tuple[str, ...]

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        total, returned, size = _fixed(cls.ST, data, "SRV_SNAPSHOT_ARRAY")
        need(data, cls.ST.size + size, "SRV_SNAPSHOT_ARRAY names")
        names = decode_utf16(data[cls.ST.size : cls.ST.size + size]).split("\0")
        return cls(total, tuple(n for n in names if n)[:returned])

    def encode(self) -> bytes:
        names = encode_utf16("".join(s + "\0" for s in self.snapshots) + "\0") if self.snapshots else b""
        return self.ST.pack(self.number_of_snapshots, len(self.snapshots), len(names)) + names


@dataclass(frozen=True, slots=True)
class DuplicateExtentsData(Payload):
    """[MS-FSCC] 2.3.8 DUPLICATE_EXTENTS_DATA (FileHandle is an SMB2 FileId)."""

    ST: ClassVar[struct.Struct] = struct.Struct("<16sQQQ")
    file_id: bytes
    source_offset: int
    target_offset: int
    byte_count: int

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        return cls(*_fixed(cls.ST, data, "DUPLICATE_EXTENTS_DATA"))

    def encode(self) -> bytes:
        return self.ST.pack(self.file_id, self.source_offset, self.target_offset, self.byte_count)


@dataclass(frozen=True, slots=True)
class FileZeroDataInformation(Payload):
    """[MS-FSCC] 2.3.86 FILE_ZERO_DATA_INFORMATION (FSCTL_SET_ZERO_DATA input)."""

    ST: ClassVar[struct.Struct] = struct.Struct("<QQ")
    file_offset: int
    beyond_final_zero: int

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        return cls(*_fixed(cls.ST, data, "FILE_ZERO_DATA_INFORMATION"))

    def encode(self) -> bytes:
        return self.ST.pack(self.file_offset, self.beyond_final_zero)


@dataclass(frozen=True, slots=True)
class FileAllocatedRangeBuffer(Payload):
    """[MS-FSCC] 2.3.52 FILE_ALLOCATED_RANGE_BUFFER (QUERY_ALLOCATED_RANGES input, and output list)."""

    ST: ClassVar[struct.Struct] = struct.Struct("<qq")
    file_offset: int
    length: int

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        return cls(*_fixed(cls.ST, data, "FILE_ALLOCATED_RANGE_BUFFER"))

    def encode(self) -> bytes:
        return self.ST.pack(self.file_offset, self.length)


def encode_allocated_ranges(ranges: list[FileAllocatedRangeBuffer]) -> bytes:
    return b"".join(r.encode() for r in ranges)


def decode_allocated_ranges(data: Buffer) -> list[FileAllocatedRangeBuffer]:
    size = FileAllocatedRangeBuffer.ST.size
    if len(data) % size:
        raise invalid("allocated range list not a multiple of 16 bytes")
    mv = memoryview(data)
    return [FileAllocatedRangeBuffer.decode(mv[i : i + size]) for i in range(0, len(mv), size)]


@dataclass(frozen=True, slots=True)
class FileLevelTrim(Payload):
    """[MS-FSCC] 2.3.73 FSCTL_FILE_LEVEL_TRIM input: Key, NumRanges, (Offset, Length) ranges."""

    ST: ClassVar[struct.Struct] = struct.Struct("<II")
    key: int
    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        key, count = _fixed(cls.ST, data, "FILE_LEVEL_TRIM")
        need(data, cls.ST.size + 16 * count, "FILE_LEVEL_TRIM ranges")
        return cls(key, tuple(struct.unpack_from("<QQ", data, 8 + 16 * i)
                              for i in range(count)))

    def encode(self) -> bytes:
        return self.ST.pack(self.key, len(self.ranges)) + b"".join(struct.pack("<QQ", o, n)
                                                                   for o, n in self.ranges)


@dataclass(frozen=True, slots=True)
class NetworkResiliencyRequest(Payload):
    """[MS-SMB2] 2.2.31.3 NETWORK_RESILIENCY_REQUEST (Timeout in milliseconds)."""

    ST: ClassVar[struct.Struct] = struct.Struct("<II")
    timeout: int

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        timeout, _r = _fixed(cls.ST, data, "NETWORK_RESILIENCY_REQUEST")
        return cls(timeout)

    def encode(self) -> bytes:
        return self.ST.pack(self.timeout, 0)


@dataclass(frozen=True, slots=True)
class PipeWaitRequest(Payload):
    """[MS-FSCC] 2.3.49 FSCTL_PIPE_WAIT request (Timeout in 100 ns units, UTF-16 pipe name)."""

    ST: ClassVar[struct.Struct] = struct.Struct("<qIBB")
    timeout: int
    timeout_specified: bool
    name: str

    @classmethod
    def _decode(cls, data: memoryview) -> Self:
        timeout, length, specified, _pad = _fixed(cls.ST, data, "FSCTL_PIPE_WAIT")
        need(data, cls.ST.size + length, "FSCTL_PIPE_WAIT name")
        name = decode_utf16(data[cls.ST.size : cls.ST.size + length],
                            NtStatus.OBJECT_NAME_INVALID)
        return cls(timeout, bool(specified), name)

    def encode(self) -> bytes:
        raw = encode_utf16(self.name)
        return self.ST.pack(self.timeout, len(raw), int(self.timeout_specified), 0) + raw


def decode_set_sparse(data: Buffer) -> bool:
    """[MS-FSCC] 2.3.64 FILE_SET_SPARSE_BUFFER: optional 1-byte SetSparse (absent means TRUE)."""
    return True if len(data) == 0 else bool(data[0])
