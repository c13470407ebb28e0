"""Connection-oriented DCE/RPC PDUs ([C706] chapter 12.6, [MS-RPCE] 2.2.2): just the ones a named pipe
server needs: bind / alter_context and their acks, request, response, fault.

Only little-endian, ASCII, IEEE data representation is accepted (every current client uses it);
authentication trailers (``auth_length`` > 0) are refused: IPC$ pipes are already inside an
authenticated (and possibly signed/encrypted) SMB session.
"""
from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER_SIZE = 16
_HDR = struct.Struct("<BBBB4sHHI")
DREP_LE = b"\x10\x00\x00\x00"


class PType(IntEnum):
    REQUEST = 0
    RESPONSE = 2
    FAULT = 3
    BIND = 11
    BIND_ACK = 12
    BIND_NAK = 13
    ALTER_CONTEXT = 14
    ALTER_CONTEXT_RESP = 15
    AUTH3 = 16
    SHUTDOWN = 17
    CO_CANCEL = 18
    ORPHANED = 19


PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
PFC_DID_NOT_EXECUTE = 0x20
PFC_OBJECT_UUID = 0x80

# [C706] appendix E / [MS-RPCE] 2.2.2.3 presentation context results and reasons.
RESULT_ACCEPTANCE = 0
RESULT_USER_REJECTION = 1
RESULT_PROVIDER_REJECTION = 2
RESULT_NEGOTIATE_ACK = 3  # [MS-RPCE] 3.3.1.5.3 bind time feature negotiation
REASON_NOT_SPECIFIED = 0
REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED = 1
REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED = 2

# Fault status codes ([C706] appendix E, [MS-RPCE] 2.2.2.11 / 3.1.1.5.5).
NCA_S_OP_RNG_ERROR = 0x1C010002
NCA_S_UNKNOWN_IF = 0x1C010003
NCA_S_PROTO_ERROR = 0x1C01000B
NCA_S_FAULT_NDR = 0x000006F7  # RPC_X_BAD_STUB_DATA
NCA_S_FAULT_ACCESS_DENIED = 0x00000005

# Bind-nak reasons ([C706] 12.6.4.5, [MS-RPCE] 2.2.2.5).
BIND_NAK_REASON_NOT_SPECIFIED = 0
BIND_NAK_PROTOCOL_VERSION_NOT_SUPPORTED = 4


@dataclass(frozen=True, slots=True)
class SyntaxId:
    """p_syntax_id_t: interface/transfer syntax UUID and version (major in the low 16 bits)."""

    uuid: uuid.UUID
    version: int  # major | minor << 16, as on the wire

    def encode(self) -> bytes:
        return self.uuid.bytes_le + struct.pack("<I", self.version)

    @classmethod
    def decode(cls, buf: bytes, off: int) -> SyntaxId:
        return cls(uuid.UUID(bytes_le=bytes(buf[off : off + 16])), struct.unpack_from("<I", buf, off + 16)[0])


NDR20 = SyntaxId(uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2)
NDR64 = SyntaxId(uuid.UUID("71710533-beba-4937-8319-b5dbef9ccc36"), 1)
NULL_SYNTAX = SyntaxId(uuid.UUID(int=0), 0)
# [MS-RPCE] 3.3.1.5.3: bind time feature negotiation "transfer syntax" 6cb71c2c-9812-4540-<bitmask>.
_BTFN_PREFIX = uuid.UUID("6cb71c2c-9812-4540-0000-000000000000").bytes_le[:8]


def is_bind_time_feature_negotiation(syntax: SyntaxId) -> bool:
    return syntax.uuid.bytes_le[:8] == _BTFN_PREFIX


class PduError(ValueError):
    """A PDU that cannot be parsed; ``call_id`` when the header was readable."""

    def __init__(self, message: str, call_id: int = 0) -> None:
        super().__init__(message)
        self.call_id = call_id


@dataclass(frozen=True, slots=True)
class PduHeader:
    """[C706] 12.6.3.1 common header."""

    ptype: int
    flags: int
    frag_length: int
    auth_length: int
    call_id: int
    drep: bytes = DREP_LE
    version: int = 5
    version_minor: int = 0

    @classmethod
    def decode(cls, buf: bytes | bytearray | memoryview) -> PduHeader:
        if len(buf) < HEADER_SIZE:
            raise PduError("short DCE/RPC header")
        vers, minor, ptype, flags, drep, frag_len, auth_len, call_id = _HDR.unpack_from(buf, 0)
        return cls(ptype, flags, frag_len, auth_len, call_id, drep, vers, minor)


def encode_pdu(ptype: int, flags: int, call_id: int, body: bytes) -> bytes:
    return _HDR.pack(5, 0, ptype, flags, DREP_LE, HEADER_SIZE + len(body), 0, call_id) + body


@dataclass(frozen=True, slots=True)
class ContextElement:
    """p_cont_elem_t of a bind/alter_context."""

    context_id: int
    abstract_syntax: SyntaxId
    transfer_syntaxes: tuple[SyntaxId, ...]


@dataclass(frozen=True, slots=True)
class Bind:
    """[C706] 12.6.4.3 bind (also alter_context, same body)."""

    max_xmit_frag: int
    max_recv_frag: int
    assoc_group_id: int
    contexts: tuple[ContextElement, ...]

    @classmethod
    def decode(cls, pdu: bytes) -> Bind:
        try:
            max_xmit, max_recv, assoc, n_ctx = struct.unpack_from("<HHIB", pdu, HEADER_SIZE)
            off = HEADER_SIZE + 12
            contexts = []
            for _ in range(n_ctx):
                ctx_id, n_ts = struct.unpack_from("<HB", pdu, off)
                abstract = SyntaxId.decode(pdu, off + 4)
                off += 24
                ts = tuple(SyntaxId.decode(pdu, off + 20 * i) for i in range(n_ts))
                off += 20 * n_ts
                if off > len(pdu):
                    raise PduError("bind context list overruns the PDU")
                contexts.append(ContextElement(ctx_id, abstract, ts))
        except struct.error:
            raise PduError("truncated bind PDU") from None
        return cls(max_xmit, max_recv, assoc, tuple(contexts))


@dataclass(frozen=True, slots=True)
class ContextResult:
    result: int
    reason: int
    transfer_syntax: SyntaxId


BIND_TIME_FEATURES = 0x0000  # we claim none of [MS-RPCE] 3.3.1.5.3's optional features


def negotiate_context(ctx: ContextElement, syntax: SyntaxId) -> ContextResult:
    """The result for one presentation context of a bind/alter_context offering ``syntax`` (NDR 2.0 only)."""
    if any(is_bind_time_feature_negotiation(ts) for ts in ctx.transfer_syntaxes):
        return ContextResult(RESULT_NEGOTIATE_ACK, BIND_TIME_FEATURES, NULL_SYNTAX)
    if ctx.abstract_syntax != syntax:
        return ContextResult(RESULT_PROVIDER_REJECTION, REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED, NULL_SYNTAX)
    if NDR20 in ctx.transfer_syntaxes:
        return ContextResult(RESULT_ACCEPTANCE, 0, NDR20)
    return ContextResult(RESULT_PROVIDER_REJECTION, REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, NULL_SYNTAX)


def encode_bind_ack(
    call_id: int,
    max_xmit_frag: int,
    max_recv_frag: int,
    assoc_group_id: int,
    secondary_address: str,
    results: list[ContextResult],
    *,
    alter_context: bool = False,
) -> bytes:
    """[C706] 12.6.4.4 bind_ack / 12.6.4.2 alter_context_resp (same layout)."""
    body = bytearray(struct.pack("<HHI", max_xmit_frag, max_recv_frag, assoc_group_id))
    sec = secondary_address.encode("ascii") + b"\x00" if secondary_address else b""
    body += struct.pack("<H", len(sec)) + sec
    body += b"\x00" * (-(HEADER_SIZE + len(body)) % 4)
    body += struct.pack("<BBH", len(results), 0, 0)
    for r in results:
        body += struct.pack("<HH", r.result, r.reason) + r.transfer_syntax.encode()
    ptype = PType.ALTER_CONTEXT_RESP if alter_context else PType.BIND_ACK
    return encode_pdu(ptype, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id, bytes(body))


def encode_bind_nak(call_id: int, reason: int) -> bytes:
    """[C706] 12.6.4.5 bind_nak with one supported protocol version (5.0)."""
    return encode_pdu(PType.BIND_NAK, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id, struct.pack("<HBBB", reason, 1, 5, 0))


@dataclass(frozen=True, slots=True)
class Request:
    """[C706] 12.6.4.9 request (one fragment)."""

    flags: int
    call_id: int
    alloc_hint: int
    context_id: int
    opnum: int
    stub: bytes

    @classmethod
    def decode(cls, pdu: bytes, hdr: PduHeader) -> Request:
        if len(pdu) < HEADER_SIZE + 8:
            raise PduError("truncated request PDU", hdr.call_id)
        alloc_hint, ctx_id, opnum = struct.unpack_from("<IHH", pdu, HEADER_SIZE)
        off = HEADER_SIZE + 8 + (16 if hdr.flags & PFC_OBJECT_UUID else 0)
        return cls(hdr.flags, hdr.call_id, alloc_hint, ctx_id, opnum, bytes(pdu[off : hdr.frag_length]))


def encode_responses(call_id: int, context_id: int, stub: bytes, max_frag: int) -> list[bytes]:
    """[C706] 12.6.4.10 response PDUs carrying ``stub``, fragmented to ``max_frag`` bytes each."""
    room = max(8, (max_frag - HEADER_SIZE - 8) & ~7)  # keep fragment stub lengths 8-aligned
    out = []
    total = len(stub)
    pos = 0
    while True:
        chunk = stub[pos : pos + room]
        flags = (PFC_FIRST_FRAG if pos == 0 else 0) | (PFC_LAST_FRAG if pos + len(chunk) >= total else 0)
        body = struct.pack("<IHBB", total - pos, context_id, 0, 0) + chunk
        out.append(encode_pdu(PType.RESPONSE, flags, call_id, body))
        pos += len(chunk)
        if pos >= total:
            return out


def encode_fault(call_id: int, status: int, context_id: int = 0, *, did_not_execute: bool = True) -> bytes:
    """[C706] 12.6.4.7 fault."""
    flags = PFC_FIRST_FRAG | PFC_LAST_FRAG | (PFC_DID_NOT_EXECUTE if did_not_execute else 0)
    return encode_pdu(PType.FAULT, flags, call_id, struct.pack("<IHBBII", 0, context_id, 0, 0, status, 0))


class RpcFault(Exception):
    """Raised by a service to answer a call with a fault PDU carrying ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"DCE/RPC fault {status:#010x}")
        self.status = status
