"""[MS-SMB2] 2.2.3 NEGOTIATE Request, 2.2.4 NEGOTIATE Response and 2.2.3.1 negotiate contexts.

Negotiate contexts are present only when the request offers 3.1.1 / the response selects 3.1.1;
otherwise the 8 bytes they use are ClientStartTime / Reserved2 (written as 0, ignored on decode).
Contexts start 8-byte aligned and each next one starts at the next 8-byte boundary after the previous
([MS-SMB2] 2.2.3.1); offsets count from the header start, which is itself 8-aligned. Unknown context
types are kept as :class:`RawNegotiateContext`. Zero counts inside contexts are left to the handler
([MS-SMB2] 3.3.5.4 decides which status to return); the decoder only rejects data that is too short.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from sofs.wire.codec import (
    HEADER_SIZE,
    Buffer,
    Layout,
    Message,
    align8,
    decode_utf16,
    encode_utf16,
    need,
    pad8,
    take_buffer,
)
from sofs.wire.constants import Dialect, NegotiateContextType
from sofs.wire.errors import invalid

_CTX_HEADER = struct.Struct("<HHI")
_U16 = struct.Struct("<H")


def _u16s(data: Buffer, offset: int, count: int) -> tuple[int, ...]:
    need(data, offset + 2 * count, "negotiate context")
    return struct.unpack_from(f"<{count}H", data, offset)


def _pack_u16s(values: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(values)}H", *values)


@dataclass(frozen=True, slots=True)
class PreauthIntegrityCapabilities:
    """[MS-SMB2] 2.2.3.1.1 SMB2_PREAUTH_INTEGRITY_CAPABILITIES."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES
    hash_algorithms: tuple[int, ...]
    salt: bytes

    @classmethod
    def decode_data(cls, data: memoryview) -> PreauthIntegrityCapabilities:
        need(data, 4, "PREAUTH_INTEGRITY_CAPABILITIES")
        count, salt_len = struct.unpack_from("<HH", data)
        algs = _u16s(data, 4, count)
        start = 4 + 2 * count
        need(data, start + salt_len, "PREAUTH_INTEGRITY_CAPABILITIES salt")
        return cls(algs, bytes(data[start : start + salt_len]))

    def encode_data(self) -> bytes:
        return (struct.pack("<HH", len(self.hash_algorithms), len(self.salt))
                + _pack_u16s(self.hash_algorithms) + self.salt)


@dataclass(frozen=True, slots=True)
class EncryptionCapabilities:
    """[MS-SMB2] 2.2.3.1.2 SMB2_ENCRYPTION_CAPABILITIES."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.ENCRYPTION_CAPABILITIES
    ciphers: tuple[int, ...]

    @classmethod
    def decode_data(cls, data: memoryview) -> EncryptionCapabilities:
        need(data, 2, "ENCRYPTION_CAPABILITIES")
        return cls(_u16s(data, 2, _U16.unpack_from(data)[0]))

    def encode_data(self) -> bytes:
        return _U16.pack(len(self.ciphers)) + _pack_u16s(self.ciphers)


@dataclass(frozen=True, slots=True)
class CompressionCapabilities:
    """[MS-SMB2] 2.2.3.1.3 SMB2_COMPRESSION_CAPABILITIES."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.COMPRESSION_CAPABILITIES
    algorithms: tuple[int, ...]
    flags: int = 0

    @classmethod
    def decode_data(cls, data: memoryview) -> CompressionCapabilities:
        need(data, 8, "COMPRESSION_CAPABILITIES")
        count, _pad, flags = struct.unpack_from("<HHI", data)
        return cls(_u16s(data, 8, count), flags)

    def encode_data(self) -> bytes:
        return struct.pack("<HHI", len(self.algorithms), 0, self.flags) + _pack_u16s(self.algorithms)


@dataclass(frozen=True, slots=True)
class NetnameNegotiateContextId:
    """[MS-SMB2] 2.2.3.1.4 SMB2_NETNAME_NEGOTIATE_CONTEXT_ID (UTF-16 server name, no terminator)."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.NETNAME_NEGOTIATE_CONTEXT_ID
    net_name: str

    @classmethod
    def decode_data(cls, data: memoryview) -> NetnameNegotiateContextId:
        # Some clients send a trailing NUL or an odd length; the name is informational only.
        raw = bytes(data[: len(data) & ~1])
        return cls(decode_utf16(raw).rstrip("\0"))

    def encode_data(self) -> bytes:
        return encode_utf16(self.net_name)


@dataclass(frozen=True, slots=True)
class TransportCapabilities:
    """[MS-SMB2] 2.2.3.1.5 SMB2_TRANSPORT_CAPABILITIES."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.TRANSPORT_CAPABILITIES
    flags: int

    @classmethod
    def decode_data(cls, data: memoryview) -> TransportCapabilities:
        need(data, 4, "TRANSPORT_CAPABILITIES")
        return cls(struct.unpack_from("<I", data)[0])

    def encode_data(self) -> bytes:
        return struct.pack("<I", self.flags)


@dataclass(frozen=True, slots=True)
class RdmaTransformCapabilities:
    """[MS-SMB2] 2.2.3.1.6 SMB2_RDMA_TRANSFORM_CAPABILITIES."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.RDMA_TRANSFORM_CAPABILITIES
    transform_ids: tuple[int, ...]

    @classmethod
    def decode_data(cls, data: memoryview) -> RdmaTransformCapabilities:
        need(data, 8, "RDMA_TRANSFORM_CAPABILITIES")
        return cls(_u16s(data, 8, _U16.unpack_from(data)[0]))

    def encode_data(self) -> bytes:
        return struct.pack("<HHI", len(self.transform_ids), 0, 0) + _pack_u16s(self.transform_ids)


@dataclass(frozen=True, slots=True)
class SigningCapabilities:
    """[MS-SMB2] 2.2.3.1.7 SMB2_SIGNING_CAPABILITIES."""

    CONTEXT_TYPE: ClassVar[int] = NegotiateContextType.SIGNING_CAPABILITIES
    signing_algorithms: tuple[int, ...]

    @classmethod
    def decode_data(cls, data: memoryview) -> SigningCapabilities:
        need(data, 2, "SIGNING_CAPABILITIES")
        return cls(_u16s(data, 2, _U16.unpack_from(data)[0]))

    def encode_data(self) -> bytes:
        return _U16.pack(len(self.signing_algorithms)) + _pack_u16s(self.signing_algorithms)


@dataclass(frozen=True, slots=True)
class RawNegotiateContext:
    """A negotiate context of a type we do not interpret, kept byte for byte."""

    context_type: int
    data: bytes

    @property
    def CONTEXT_TYPE(self) -> int:
        return self.context_type

    def encode_data(self) -> bytes:
        return self.data


NegotiateContext = (PreauthIntegrityCapabilities | EncryptionCapabilities | CompressionCapabilities
                    | NetnameNegotiateContextId | TransportCapabilities | RdmaTransformCapabilities
                    | SigningCapabilities | RawNegotiateContext)

_CONTEXT_TYPES: dict[int, Any] = {c.CONTEXT_TYPE: c for c in (
    PreauthIntegrityCapabilities, EncryptionCapabilities, CompressionCapabilities,
    NetnameNegotiateContextId, TransportCapabilities, RdmaTransformCapabilities, SigningCapabilities)}


def decode_negotiate_contexts(msg: memoryview, offset: int, count: int) -> tuple[NegotiateContext, ...]:
    """[MS-SMB2] 2.2.3.1 ``count`` contexts from ``offset`` (header-relative) of ``msg``."""
    if count == 0:
        return ()
    if offset < HEADER_SIZE:
        raise invalid(f"NegotiateContextOffset {offset} inside the header")
    # Padding is counted from each context's start, so a client that misaligns the first context
    # (smbprotocol with 4 dialects does) still parses; for aligned lists this is the spec rule.
    out: list[NegotiateContext] = []
    pos = offset
    for _ in range(count):
        need(msg, pos + 8, "negotiate context header")
        ctype, length, _reserved = _CTX_HEADER.unpack_from(msg, pos)
        data = take_buffer(msg, pos + 8, length)
        cls = _CONTEXT_TYPES.get(ctype)
        out.append(cls.decode_data(data) if cls is not None else RawNegotiateContext(ctype, bytes(data)))
        pos += 8 + align8(length)
    return tuple(out)


def encode_negotiate_contexts(contexts: tuple[NegotiateContext, ...]) -> bytes:
    """Contexts joined with 8-byte padding between them (none after the last)."""
    parts: list[bytes] = []
    for i, ctx in enumerate(contexts):
        data = ctx.encode_data()
        parts.append(_CTX_HEADER.pack(ctx.CONTEXT_TYPE, len(data), 0))
        parts.append(data)
        if i + 1 < len(contexts):
            parts.append(bytes(pad8(len(data))))
    return b"".join(parts)


def find_context(contexts: tuple[NegotiateContext, ...], kind: type) -> NegotiateContext | None:
    """The first context of class ``kind``, or None."""
    for ctx in contexts:
        if isinstance(ctx, kind):
            return ctx
    return None


@dataclass(frozen=True, slots=True)
class NegotiateRequest(Message):
    """[MS-SMB2] 2.2.3 SMB2 NEGOTIATE Request. DialectCount 0 is INVALID_PARAMETER (3.3.5.4)."""

    LAYOUT = Layout(36, (("_dialect_count", "H"), ("security_mode", "H"), ("_reserved", "H"),
                         ("capabilities", "I"), ("client_guid", "16s"), ("_ctx_offset", "I"),
                         ("_ctx_count", "H"), ("_reserved2", "H")))
    dialects: tuple[int, ...]
    security_mode: int = 0
    capabilities: int = 0
    client_guid: bytes = bytes(16)
    negotiate_contexts: tuple[NegotiateContext, ...] = ()

    @classmethod
    def _decode(cls, msg: memoryview) -> NegotiateRequest:
        (count, security_mode, _r, caps, guid, ctx_offset, ctx_count, _r2) = cls.LAYOUT.unpack(msg)
        if count == 0:
            raise invalid("NEGOTIATE with DialectCount 0")
        dialects = _u16s(msg, HEADER_SIZE + cls.LAYOUT.size, count)
        contexts: tuple[NegotiateContext, ...] = ()
        if Dialect.SMB3_1_1 in dialects:
            contexts = decode_negotiate_contexts(msg, ctx_offset, ctx_count)
        return cls(dialects, security_mode, caps, guid, contexts)

    def encode(self) -> bytes:
        fixed = self.LAYOUT.size
        dialects = _pack_u16s(self.dialects)
        ctx_offset = 0
        tail = b""
        if self.negotiate_contexts:
            pad = pad8(HEADER_SIZE + fixed + len(dialects))
            ctx_offset = HEADER_SIZE + fixed + len(dialects) + pad
            tail = bytes(pad) + encode_negotiate_contexts(self.negotiate_contexts)
        head = self.LAYOUT.pack(len(self.dialects), self.security_mode, 0, self.capabilities,
                                self.client_guid, ctx_offset, len(self.negotiate_contexts), 0)
        return head + dialects + tail


@dataclass(frozen=True, slots=True)
class NegotiateResponse(Message):
    """[MS-SMB2] 2.2.4 SMB2 NEGOTIATE Response; ``security_buffer`` is the GSS (SPNEGO) token."""

    LAYOUT = Layout(65, (("security_mode", "H"), ("dialect_revision", "H"), ("_ctx_count", "H"),
                         ("server_guid", "16s"), ("capabilities", "I"), ("max_transact_size", "I"),
                         ("max_read_size", "I"), ("max_write_size", "I"), ("system_time", "Q"),
                         ("server_start_time", "Q"), ("_sec_offset", "H"), ("_sec_length", "H"),
                         ("_ctx_offset", "I")))
    security_mode: int
    dialect_revision: int
    server_guid: bytes
    capabilities: int
    max_transact_size: int
    max_read_size: int
    max_write_size: int
    system_time: int
    server_start_time: int = 0
    security_buffer: Buffer = b""
    negotiate_contexts: tuple[NegotiateContext, ...] = ()

    @classmethod
    def _decode(cls, msg: memoryview) -> NegotiateResponse:
        (mode, dialect, ctx_count, guid, caps, mts, mrs, mws, now, start, sec_off, sec_len,
         ctx_off) = cls.LAYOUT.unpack(msg)
        buf = take_buffer(msg, sec_off, sec_len)
        contexts: tuple[NegotiateContext, ...] = ()
        if dialect == Dialect.SMB3_1_1:
            contexts = decode_negotiate_contexts(msg, ctx_off, ctx_count)
        return cls(mode, dialect, guid, caps, mts, mrs, mws, now, start, buf, contexts)

    def encode(self) -> bytes:
        fixed = self.LAYOUT.size
        sec = bytes(self.security_buffer)
        sec_off = HEADER_SIZE + fixed  # Windows and Samba set it even for an empty buffer
        ctx_off = 0
        tail = b""
        if self.negotiate_contexts:
            end = HEADER_SIZE + fixed + len(sec)
            ctx_off = end + pad8(end)
            tail = bytes(pad8(end)) + encode_negotiate_contexts(self.negotiate_contexts)
        head = self.LAYOUT.pack(self.security_mode, self.dialect_revision, len(self.negotiate_contexts),
                                self.server_guid, self.capabilities, self.max_transact_size,
                                self.max_read_size, self.max_write_size, self.system_time,
                                self.server_start_time, sec_off, len(sec), ctx_off)
        return head + sec + tail
