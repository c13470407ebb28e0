"""DCE/RPC authentication verifiers on connection-oriented PDUs ([MS-RPCE] 2.2.2.11, [C706] 13.2.6) — pure.

A PDU that carries authentication ends with ``auth_pad_length`` padding octets, the 8-byte
``sec_trailer`` (auth_type, auth_level, auth_pad_length, auth_reserved, auth_context_id) and
``auth_length`` octets of auth_value (a security token in bind / bind_ack / alter_context / AUTH3,
the verifier — the signature — in request / response). Here: the trailer codec, splitting a received
PDU into its parts, appending a trailer to a PDU being sent, and the packet protection of requests and
responses ([MS-RPCE] 3.3.1.5.2.2 / 3.3.1.5.4):

- ``PKT_INTEGRITY``: the verifier signs the whole PDU up to the auth_value (header, request/response
  fields, stub, padding, sec_trailer);
- ``PKT_PRIVACY``: the stub and its padding are encrypted, the verifier signs the same plaintext.

The security context is a completed pyspnego context (NTLM, possibly inside SPNEGO): ``sign`` /
``verify`` for integrity, ``wrap_iov`` / ``unwrap_iov`` with SIGN_ONLY buffers for privacy — the
[MS-NLMP] 3.4.4 / 3.4.3 sealing and signing that Windows' SSPI does for DCE/RPC, with no crypto here.
The stub is padded to 16 octets before the trailer, as Windows and Samba do.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

from sofs.rpc.dcerpc import (
    HEADER_SIZE,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    PFC_OBJECT_UUID,
    PduError,
    PduHeader,
    PType,
)

# [MS-RPCE] 2.2.1.1.7 security providers and 2.2.1.1.8 authentication levels
AUTHN_NONE = 0
AUTHN_GSS_NEGOTIATE = 9  # SPNEGO
AUTHN_WINNT = 10  # NTLMSSP
AUTHN_GSS_KERBEROS = 16
LEVEL_NONE = 1
LEVEL_CONNECT = 2
LEVEL_CALL = 3
LEVEL_PKT = 4
LEVEL_PKT_INTEGRITY = 5
LEVEL_PKT_PRIVACY = 6

SEC_TRAILER_SIZE = 8
STUB_ALIGN = 16
NTLM_SIGNATURE_SIZE = 16  # [MS-NLMP] 2.2.2.9 NTLMSSP_MESSAGE_SIGNATURE
PFC_SUPPORT_HEADER_SIGN = 0x04  # [MS-RPCE] 2.2.2.3: bind / bind_ack
# [MS-RPCE] 2.2.2.5 bind_nak reject reasons
BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED = 8
BIND_NAK_INVALID_CHECKSUM = 9
# [MS-RPCE] 2.2.2.11 / 3.3.2.5.3: fault statuses of security failures
NCA_S_FAULT_SEC_PKG_ERROR = 0x00000721
NCA_S_FAULT_ACCESS_DENIED = 0x00000005
_TRAILER = struct.Struct("<BBBBI")


@dataclass(frozen=True, slots=True)
class SecTrailer:
    """[MS-RPCE] 2.2.2.11 sec_trailer."""

    auth_type: int
    auth_level: int
    pad_length: int = 0
    context_id: int = 0

    def encode(self) -> bytes:
        return _TRAILER.pack(self.auth_type, self.auth_level, self.pad_length, 0, self.context_id)

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> SecTrailer:
        if len(buf) < off + SEC_TRAILER_SIZE:
            raise PduError("truncated sec_trailer")
        t, level, pad, _reserved, ctx = _TRAILER.unpack_from(buf, off)
        return cls(t, level, pad, ctx)

    def same_security(self, other: SecTrailer) -> bool:
        """Same provider, level and context as negotiated ([MS-RPCE] 3.3.1.5.2.2: else reject)."""
        return (self.auth_type, self.auth_level, self.context_id) == (other.auth_type, other.auth_level,
                                                                     other.context_id)


@dataclass(frozen=True, slots=True)
class AuthPart:
    """A received PDU cut at its sec_trailer: ``signed`` is everything the verifier covers (up to and
    including the trailer), ``body_end`` where the body ends (before the padding)."""

    trailer: SecTrailer
    value: bytes
    trailer_offset: int
    body_end: int
    signed: bytes


def split_auth(pdu: bytes, hdr: PduHeader, body_start: int) -> AuthPart:
    """The trailer and auth_value of ``pdu`` (whose ``auth_length`` is not 0); ``body_start`` is where the
    PDU's body begins (the padding may not eat into the fixed fields)."""
    end = hdr.frag_length
    off = end - hdr.auth_length - SEC_TRAILER_SIZE
    if hdr.auth_length == 0 or off < body_start or end > len(pdu):
        raise PduError("auth_length does not fit the PDU", hdr.call_id)
    trailer = SecTrailer.decode(pdu, off)
    body_end = off - trailer.pad_length
    if body_end < body_start:
        raise PduError("auth_pad_length overruns the PDU body", hdr.call_id)
    return AuthPart(trailer, bytes(pdu[off + SEC_TRAILER_SIZE : end]), off, body_end, bytes(pdu[: off + SEC_TRAILER_SIZE]))


def _patch_lengths(pdu: bytearray, auth_length: int) -> None:
    struct.pack_into("<HH", pdu, 8, len(pdu), auth_length)


def append_auth(pdu: bytes, trailer: SecTrailer, value: bytes, *, align: int = 4, flags: int = 0) -> bytes:
    """``pdu`` (a complete PDU without authentication) with padding to ``align``, ``trailer`` (its
    pad_length set) and ``value`` appended; lengths patched, ``flags`` or-ed into pfc_flags."""
    pad = -len(pdu) % align
    out = bytearray(pdu) + bytes(pad)
    out += SecTrailer(trailer.auth_type, trailer.auth_level, pad, trailer.context_id).encode() + value
    out[3] |= flags
    _patch_lengths(out, len(value))
    return bytes(out)


class PacketSecurity(Protocol):
    """What packet protection needs of a completed security context (pyspnego's context interface)."""

    def sign(self, data: bytes, qop: int | None = None) -> bytes: ...

    def verify(self, data: bytes, mic: bytes) -> int: ...

    def wrap_iov(self, iov: Any, encrypt: bool = True, qop: int | None = None) -> Any: ...

    def unwrap_iov(self, iov: Any) -> Any: ...


def request_stub_offset(hdr: PduHeader) -> int:
    """Where a request's stub begins ([C706] 12.6.4.9: after alloc_hint, p_cont_id, opnum, [object])."""
    return HEADER_SIZE + 8 + (16 if hdr.flags & PFC_OBJECT_UUID else 0)


def unprotect_stub(pdu: bytes, stub_start: int, part: AuthPart, level: int, security: PacketSecurity) -> bytes:
    """The plaintext stub of a received request at ``level`` (integrity: checked; privacy: decrypted
    and checked). Raises ValueError (bad signature, undecryptable) — the caller faults the call."""
    from spnego.iov import BufferType, IOVBuffer  # here: the module also serves Samba's Python (tests)

    padded = pdu[stub_start : part.trailer_offset]
    trailer_bytes = pdu[part.trailer_offset : part.trailer_offset + SEC_TRAILER_SIZE]
    try:
        if level == LEVEL_PKT_PRIVACY:
            res = security.unwrap_iov([IOVBuffer(BufferType.sign_only, bytes(pdu[:stub_start])),
                                       IOVBuffer(BufferType.data, bytes(padded)),
                                       IOVBuffer(BufferType.sign_only, bytes(trailer_bytes)),
                                       IOVBuffer(BufferType.header, part.value)])
            padded = res.buffers[1].data
        else:
            security.verify(part.signed, part.value)
    except Exception as e:  # noqa: BLE001 - pyspnego raises its own errors for a bad MIC / token
        raise ValueError(f"packet verification failed: {e}") from None
    return bytes(padded[: len(padded) - part.trailer.pad_length])


def protected_responses(call_id: int, context_id: int, stub: bytes, max_frag: int, trailer: SecTrailer,
                        security: PacketSecurity) -> list[bytes]:
    """[C706] 12.6.4.10 response PDUs carrying ``stub``, each fragment signed (integrity) or sealed
    (privacy) with ``security`` at ``trailer.auth_level``, in the order they must be sent."""
    from spnego.iov import BufferType, IOVBuffer

    sig_len = NTLM_SIGNATURE_SIZE
    room = max(STUB_ALIGN, (max_frag - HEADER_SIZE - 8 - SEC_TRAILER_SIZE - sig_len) // STUB_ALIGN * STUB_ALIGN)
    out = []
    total, pos = len(stub), 0
    while True:
        chunk = stub[pos : pos + room]
        flags = (PFC_FIRST_FRAG if pos == 0 else 0) | (PFC_LAST_FRAG if pos + len(chunk) >= total else 0)
        pad = -len(chunk) % STUB_ALIGN
        tr = SecTrailer(trailer.auth_type, trailer.auth_level, pad, trailer.context_id).encode()
        frag_len = HEADER_SIZE + 8 + len(chunk) + pad + SEC_TRAILER_SIZE + sig_len
        prefix = struct.pack("<BBBB4sHHIIHBB", 5, 0, PType.RESPONSE, flags, b"\x10\x00\x00\x00", frag_len, sig_len,
                             call_id, total - pos, context_id, 0, 0)
        plain = chunk + bytes(pad)
        if trailer.auth_level == LEVEL_PKT_PRIVACY:
            res = security.wrap_iov([IOVBuffer(BufferType.sign_only, prefix), IOVBuffer(BufferType.data, plain),
                                     IOVBuffer(BufferType.sign_only, tr), IOVBuffer(BufferType.header, None)])
            body, sig = res.buffers[1].data, res.buffers[3].data
        else:
            body, sig = plain, security.sign(prefix + plain + tr)
        if len(sig) != sig_len:
            raise ValueError(f"unexpected verifier length {len(sig)}")
        out.append(prefix + body + tr + sig)
        pos += len(chunk)
        if pos >= total:
            return out
