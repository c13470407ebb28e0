"""[MS-SMB2] 2.2.13.2 / 2.2.14.2 CREATE contexts: the generic chain plus typed payloads.

The chain: each SMB2_CREATE_CONTEXT is Next(4) NameOffset(2) NameLength(2) Reserved(2) DataOffset(2)
DataLength(4), name and data, offsets relative to the context; each context starts 8-byte aligned.
Parsing validates like Samba's ``smb2_create_blob_parse`` (INVALID_PARAMETER otherwise) and yields
:class:`CreateContext` (name + raw data, a zero-copy slice). Typed payloads have ``NAME``,
``decode_data(data)`` and ``encode_data()``; :func:`decode_request_context` /
:func:`decode_response_context` map a raw context to its typed payload (unknown names stay raw).
A handler that gets the same name twice answers INVALID_PARAMETER ([MS-SMB2] 3.3.5.9) — see
:func:`contexts_by_name`.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sofs.wire.codec import Buffer, align8
from sofs.wire.dtyp import SecurityDescriptor
from sofs.wire.errors import WireError, invalid
from sofs.wire.fscc_file_set import EaEntry, FileFullEaInformation
from sofs.wire.status import NtStatus

__all__ = [
    "APP_INSTANCE_ID",
    "APP_INSTANCE_VERSION",
    "REQUEST_CONTEXT_TYPES",
    "RESPONSE_CONTEXT_TYPES",
    "AllocationSize",
    "AppInstanceId",
    "AppInstanceVersion",
    "CreateContext",
    "CreateEaBuffer",
    "CreateSdBuffer",
    "DurableHandleFlags",
    "DurableHandleReconnect",
    "DurableHandleReconnectV2",
    "DurableHandleRequest",
    "DurableHandleRequestV2",
    "DurableHandleResponse",
    "DurableHandleResponseV2",
    "LeaseV1",
    "LeaseV2",
    "MaximalAccessRequest",
    "MaximalAccessResponse",
    "QueryOnDiskIdRequest",
    "QueryOnDiskIdResponse",
    "TimewarpToken",
    "contexts_by_name",
    "decode_request_context",
    "decode_response_context",
    "encode_create_contexts",
    "parse_create_contexts",
    "to_context",
]

_HDR = struct.Struct("<IHHHHI")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

APP_INSTANCE_ID = bytes.fromhex("45BCA66AEFA7F74A9008FA462E144D74")
APP_INSTANCE_VERSION = bytes.fromhex("B982D0B73B56074FA07B524A8116A010")


@dataclass(frozen=True, slots=True)
class CreateContext:
    """One raw create context: ``name`` (b"DHnQ", or a 16-byte GUID tag) and its ``data``."""

    name: bytes
    data: Buffer = b""


def parse_create_contexts(buf: Buffer) -> list[CreateContext]:
    """Parse a CreateContexts chain; WireError(INVALID_PARAMETER) for any inconsistency."""
    view = memoryview(buf)
    out: list[CreateContext] = []
    while len(view):
        if len(view) < 16:
            raise invalid("create context shorter than 16 bytes")
        nxt, name_off, name_len, _, data_off, data_len = _HDR.unpack_from(view)
        remaining = len(view)
        if (nxt & 7 or nxt > remaining or (nxt and nxt < 16) or name_off < 16 or name_len < 4
                or name_off + name_len > remaining or data_off & 7
                or (data_off and data_off < name_off + name_len)
                or data_off + data_len > remaining):
            raise invalid("malformed create context")
        data = view[data_off:data_off + data_len] if data_len else memoryview(b"")
        out.append(CreateContext(bytes(view[name_off:name_off + name_len]), data))
        if nxt == 0:
            break
        view = view[nxt:]
    return out


def encode_create_contexts(contexts: Sequence[CreateContext]) -> bytes:
    """Encode a chain: name at 16, data 8-aligned after it, contexts 8-aligned, last Next = 0."""
    out = bytearray()
    for i, c in enumerate(contexts):
        start = len(out)
        data_off = align8(16 + len(c.name)) if len(c.data) else 0
        out += _HDR.pack(0, 16, len(c.name), 0, data_off, len(c.data)) + c.name
        if len(c.data):
            out += b"\0" * (start + data_off - len(out)) + bytes(c.data)
        if i + 1 < len(contexts):
            out += b"\0" * (align8(len(out)) - len(out))
            _U32.pack_into(out, start, len(out) - start)
    return bytes(out)


def contexts_by_name(contexts: Iterable[CreateContext]) -> dict[bytes, CreateContext]:
    """Index by name; WireError(INVALID_PARAMETER) if a name repeats ([MS-SMB2] 3.3.5.9)."""
    out: dict[bytes, CreateContext] = {}
    for c in contexts:
        if c.name in out:
            raise invalid(f"duplicate create context {c.name!r}")
        out[c.name] = c
    return out


class ContextPayload(Protocol):
    NAME: ClassVar[bytes]

    def encode_data(self) -> bytes: ...


def to_context(payload: ContextPayload) -> CreateContext:
    """Wrap a typed payload as a raw context for :func:`encode_create_contexts`."""
    return CreateContext(payload.NAME, payload.encode_data())


def _exact(data: Buffer, size: int, what: str) -> None:
    if len(data) != size:
        raise invalid(f"{what}: data length {len(data)} != {size}")


class DurableHandleFlags:
    """[MS-SMB2] 2.2.13.2.11 SMB2_DHANDLE_FLAG_*."""

    PERSISTENT = 0x00000002


@dataclass(frozen=True, slots=True)
class CreateEaBuffer:
    """[MS-SMB2] 2.2.13.2.1 "ExtA": FILE_FULL_EA_INFORMATION list to set on the new file."""

    NAME: ClassVar[bytes] = b"ExtA"
    eas: tuple[EaEntry, ...] = ()

    @classmethod
    def decode_data(cls, data: Buffer) -> CreateEaBuffer:
        return cls(FileFullEaInformation.decode(data).eas)

    def encode_data(self) -> bytes:
        return FileFullEaInformation(self.eas).encode()


@dataclass(frozen=True, slots=True)
class CreateSdBuffer:
    """[MS-SMB2] 2.2.13.2.2 "SecD": self-relative security descriptor for the new file."""

    NAME: ClassVar[bytes] = b"SecD"
    sd: SecurityDescriptor

    @classmethod
    def decode_data(cls, data: Buffer) -> CreateSdBuffer:
        return cls(SecurityDescriptor.decode(data))

    def encode_data(self) -> bytes:
        return self.sd.encode()


@dataclass(frozen=True, slots=True)
class DurableHandleRequest:
    """[MS-SMB2] 2.2.13.2.3 "DHnQ" request: 16 reserved bytes."""

    NAME: ClassVar[bytes] = b"DHnQ"

    @classmethod
    def decode_data(cls, data: Buffer) -> DurableHandleRequest:
        _exact(data, 16, "DHnQ")
        return cls()

    def encode_data(self) -> bytes:
        return bytes(16)


@dataclass(frozen=True, slots=True)
class DurableHandleReconnect:
    """[MS-SMB2] 2.2.13.2.4 "DHnC": the 16-byte FileId of the durable open."""

    NAME: ClassVar[bytes] = b"DHnC"
    file_id: bytes

    @classmethod
    def decode_data(cls, data: Buffer) -> DurableHandleReconnect:
        _exact(data, 16, "DHnC")
        return cls(bytes(data))

    def encode_data(self) -> bytes:
        return bytes(self.file_id)


@dataclass(frozen=True, slots=True)
class MaximalAccessRequest:
    """[MS-SMB2] 2.2.13.2.5 "MxAc" request: optional Timestamp (None when DataLength is 0)."""

    NAME: ClassVar[bytes] = b"MxAc"
    timestamp: int | None = None

    @classmethod
    def decode_data(cls, data: Buffer) -> MaximalAccessRequest:
        if len(data) == 0:
            return cls()
        _exact(data, 8, "MxAc")
        return cls(_U64.unpack(data)[0])

    def encode_data(self) -> bytes:
        return b"" if self.timestamp is None else _U64.pack(self.timestamp)


@dataclass(frozen=True, slots=True)
class AllocationSize:
    """[MS-SMB2] 2.2.13.2.6 "AlSi": initial allocation size."""

    NAME: ClassVar[bytes] = b"AlSi"
    allocation_size: int

    @classmethod
    def decode_data(cls, data: Buffer) -> AllocationSize:
        _exact(data, 8, "AlSi")
        return cls(_U64.unpack(data)[0])

    def encode_data(self) -> bytes:
        return _U64.pack(self.allocation_size)


@dataclass(frozen=True, slots=True)
class TimewarpToken:
    """[MS-SMB2] 2.2.13.2.7 "TWrp": open the snapshot at this FILETIME."""

    NAME: ClassVar[bytes] = b"TWrp"
    timestamp: int

    @classmethod
    def decode_data(cls, data: Buffer) -> TimewarpToken:
        _exact(data, 8, "TWrp")
        return cls(_U64.unpack(data)[0])

    def encode_data(self) -> bytes:
        return _U64.pack(self.timestamp)


_LEASE_V1 = struct.Struct("<16sIIQ")
_LEASE_V2 = struct.Struct("<16sIIQ16sHxx")


@dataclass(frozen=True, slots=True)
class LeaseV1:
    """[MS-SMB2] 2.2.13.2.8 / 2.2.14.2.10 "RqLs" lease v1 (32 bytes), request and response."""

    NAME: ClassVar[bytes] = b"RqLs"
    lease_key: bytes
    lease_state: int
    flags: int = 0
    duration: int = 0

    @classmethod
    def decode_data(cls, data: Buffer) -> LeaseV1:
        _exact(data, 32, "RqLs v1")
        return cls(*_LEASE_V1.unpack(data))

    def encode_data(self) -> bytes:
        return _LEASE_V1.pack(self.lease_key, self.lease_state, self.flags, self.duration)


@dataclass(frozen=True, slots=True)
class LeaseV2:
    """[MS-SMB2] 2.2.13.2.10 / 2.2.14.2.11 "RqLs" lease v2 (52 bytes): + ParentLeaseKey, Epoch."""

    NAME: ClassVar[bytes] = b"RqLs"
    lease_key: bytes
    lease_state: int
    flags: int = 0
    duration: int = 0
    parent_lease_key: bytes = bytes(16)
    epoch: int = 0

    @classmethod
    def decode_data(cls, data: Buffer) -> LeaseV2:
        _exact(data, 52, "RqLs v2")
        return cls(*_LEASE_V2.unpack(data))

    def encode_data(self) -> bytes:
        return _LEASE_V2.pack(self.lease_key, self.lease_state, self.flags, self.duration,
                              self.parent_lease_key, self.epoch)


def _decode_lease(data: Buffer) -> LeaseV1 | LeaseV2:
    if len(data) == 32:
        return LeaseV1.decode_data(data)
    if len(data) == 52:
        return LeaseV2.decode_data(data)
    raise invalid(f"RqLs: data length {len(data)} is neither 32 nor 52")


@dataclass(frozen=True, slots=True)
class QueryOnDiskIdRequest:
    """[MS-SMB2] 2.2.13.2.9 "QFid" request (SMB2_CREATE_QUERY_ON_DISK_ID): no data."""

    NAME: ClassVar[bytes] = b"QFid"

    @classmethod
    def decode_data(cls, data: Buffer) -> QueryOnDiskIdRequest:
        return cls()

    def encode_data(self) -> bytes:
        return b""


_DH2Q = struct.Struct("<II8x16s")
_DH2C = struct.Struct("<16s16sI")


@dataclass(frozen=True, slots=True)
class DurableHandleRequestV2:
    """[MS-SMB2] 2.2.13.2.11 "DH2Q": Timeout (ms), Flags (DurableHandleFlags), CreateGuid."""

    NAME: ClassVar[bytes] = b"DH2Q"
    timeout: int
    flags: int
    create_guid: bytes

    @classmethod
    def decode_data(cls, data: Buffer) -> DurableHandleRequestV2:
        _exact(data, 32, "DH2Q")
        return cls(*_DH2Q.unpack(data))

    def encode_data(self) -> bytes:
        return _DH2Q.pack(self.timeout, self.flags, self.create_guid)


@dataclass(frozen=True, slots=True)
class DurableHandleReconnectV2:
    """[MS-SMB2] 2.2.13.2.12 "DH2C": FileId, CreateGuid, Flags."""

    NAME: ClassVar[bytes] = b"DH2C"
    file_id: bytes
    create_guid: bytes
    flags: int = 0

    @classmethod
    def decode_data(cls, data: Buffer) -> DurableHandleReconnectV2:
        _exact(data, 36, "DH2C")
        return cls(*_DH2C.unpack(data))

    def encode_data(self) -> bytes:
        return _DH2C.pack(self.file_id, self.create_guid, self.flags)


_APP_ID = struct.Struct("<HH16s")
_APP_VER = struct.Struct("<HH4xQQ")


@dataclass(frozen=True, slots=True)
class AppInstanceId:
    """[MS-SMB2] 2.2.13.2.13 SMB2_CREATE_APP_INSTANCE_ID (StructureSize 20)."""

    NAME: ClassVar[bytes] = APP_INSTANCE_ID
    app_instance_id: bytes

    @classmethod
    def decode_data(cls, data: Buffer) -> AppInstanceId:
        _exact(data, 20, "AppInstanceId")
        size, _, guid = _APP_ID.unpack(data)
        if size != 20:
            raise invalid("AppInstanceId StructureSize != 20")
        return cls(guid)

    def encode_data(self) -> bytes:
        return _APP_ID.pack(20, 0, self.app_instance_id)


@dataclass(frozen=True, slots=True)
class AppInstanceVersion:
    """[MS-SMB2] 2.2.13.2.15 SMB2_CREATE_APP_INSTANCE_VERSION (StructureSize 24)."""

    NAME: ClassVar[bytes] = APP_INSTANCE_VERSION
    version_high: int
    version_low: int

    @classmethod
    def decode_data(cls, data: Buffer) -> AppInstanceVersion:
        _exact(data, 24, "AppInstanceVersion")
        size, _, high, low = _APP_VER.unpack(data)
        if size != 24:
            raise invalid("AppInstanceVersion StructureSize != 24")
        return cls(high, low)

    def encode_data(self) -> bytes:
        return _APP_VER.pack(24, 0, self.version_high, self.version_low)


# ----------------------------------------------------------------------------------- responses
@dataclass(frozen=True, slots=True)
class DurableHandleResponse:
    """[MS-SMB2] 2.2.14.2.3 "DHnQ" response: 8 reserved bytes."""

    NAME: ClassVar[bytes] = b"DHnQ"

    @classmethod
    def decode_data(cls, data: Buffer) -> DurableHandleResponse:
        _exact(data, 8, "DHnQ response")
        return cls()

    def encode_data(self) -> bytes:
        return bytes(8)


@dataclass(frozen=True, slots=True)
class MaximalAccessResponse:
    """[MS-SMB2] 2.2.14.2.5 "MxAc" response: QueryStatus, MaximalAccess."""

    NAME: ClassVar[bytes] = b"MxAc"
    query_status: int
    maximal_access: int

    @classmethod
    def decode_data(cls, data: Buffer) -> MaximalAccessResponse:
        _exact(data, 8, "MxAc response")
        return cls(*struct.unpack("<II", data))

    def encode_data(self) -> bytes:
        return struct.pack("<II", self.query_status, self.maximal_access)


@dataclass(frozen=True, slots=True)
class QueryOnDiskIdResponse:
    """[MS-SMB2] 2.2.14.2.9 "QFid" response: DiskFileId, VolumeId, 16 reserved bytes (32 total)."""

    NAME: ClassVar[bytes] = b"QFid"
    disk_file_id: int
    volume_id: int

    @classmethod
    def decode_data(cls, data: Buffer) -> QueryOnDiskIdResponse:
        _exact(data, 32, "QFid response")
        return cls(*struct.unpack_from("<QQ", data))

    def encode_data(self) -> bytes:
        return struct.pack("<QQ16x", self.disk_file_id, self.volume_id)


@dataclass(frozen=True, slots=True)
class DurableHandleResponseV2:
    """[MS-SMB2] 2.2.14.2.12 "DH2Q" response: Timeout, Flags."""

    NAME: ClassVar[bytes] = b"DH2Q"
    timeout: int
    flags: int = 0

    @classmethod
    def decode_data(cls, data: Buffer) -> DurableHandleResponseV2:
        _exact(data, 8, "DH2Q response")
        return cls(*struct.unpack("<II", data))

    def encode_data(self) -> bytes:
        return struct.pack("<II", self.timeout, self.flags)


REQUEST_CONTEXT_TYPES: dict[bytes, type] = {t.NAME: t for t in (
    CreateEaBuffer, CreateSdBuffer, DurableHandleRequest, DurableHandleReconnect, MaximalAccessRequest,
    AllocationSize, TimewarpToken, QueryOnDiskIdRequest, DurableHandleRequestV2, DurableHandleReconnectV2,
    AppInstanceId, AppInstanceVersion)}
RESPONSE_CONTEXT_TYPES: dict[bytes, type] = {t.NAME: t for t in (
    DurableHandleResponse, MaximalAccessResponse, QueryOnDiskIdResponse, DurableHandleResponseV2)}


def decode_request_context(ctx: CreateContext) -> object:
    """Typed payload of a request context (``LeaseV1``/``LeaseV2`` by size for "RqLs"); unknown
    names return ``ctx`` unchanged. WireError(INVALID_PARAMETER) for a bad payload, except the
    INVALID_SECURITY_DESCR/SID/ACL statuses of a bad "SecD"."""
    return _decode(ctx, REQUEST_CONTEXT_TYPES)


def decode_response_context(ctx: CreateContext) -> object:
    """Typed payload of a response context; unknown names return ``ctx`` unchanged."""
    return _decode(ctx, RESPONSE_CONTEXT_TYPES)


def _decode(ctx: CreateContext, table: dict[bytes, type]) -> object:
    if ctx.name == b"RqLs":
        return _decode_lease(ctx.data)
    t = table.get(ctx.name)
    if t is None:
        return ctx
    try:
        return t.decode_data(ctx.data)  # type: ignore[attr-defined]
    except WireError:
        raise
    except (struct.error, ValueError) as exc:
        raise WireError(NtStatus.INVALID_PARAMETER, f"{ctx.name!r}: {exc}") from None


