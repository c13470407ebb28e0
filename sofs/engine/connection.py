"""The sans-I/O SMB2 connection engine.

Bytes in, request chains out; response lists in, bytes out. No sockets, no clock, no tasks:
``sofs.server`` drives it. It owns what is the same for every command:

- transport framing (:mod:`sofs.engine.framing`);
- decryption of TRANSFORM messages ([MS-SMB2] 3.3.5.2.1) and encryption of the responses;
- SMB1 multi-protocol NEGOTIATE detection ([MS-SMB2] 3.3.5.3);
- the RFC 1002 SESSION REQUEST some clients send first on the SMB port (answered positively);
- compound splitting ([MS-SMB2] 3.3.5.2.7) with NextCommand bounds/alignment checks;
- the credit / sequence window ([MS-SMB2] 3.3.5.2.3) and credit-charge checks (3.3.5.2.5);
- assembling compound responses with 8-byte padding, signing each ([MS-SMB2] 3.3.4.1.1).

Peer errors that [MS-SMB2] answers by dropping the connection raise :class:`ProtocolViolation`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sofs.crypto.transform import DecryptError
from sofs.engine.framing import NBSS_SESSION_REQUEST, POSITIVE_SESSION_RESPONSE, FrameReader, frame_header
from sofs.engine.state import ConnectionState, Session
from sofs.wire.codec import Buffer
from sofs.wire.constants import Command, HeaderFlags
from sofs.wire.errors import WireError
from sofs.wire.header import HEADER_SIZE, SIGNATURE_OFFSET, SMB2_MAGIC, TRANSFORM_MAGIC, Header
from sofs.wire.smb1 import smb1_negotiate_dialects
from sofs.wire.transform import TRANSFORM_HEADER_SIZE, transform_session_id

SMB1_MAGIC = b"\xffSMB"
_RESPONSE = int(HeaderFlags.SERVER_TO_REDIR)
_SIGNED = int(HeaderFlags.SIGNED)
_ASYNC = int(HeaderFlags.ASYNC_COMMAND)
_CANCEL = int(Command.CANCEL)
_ZERO16 = bytes(16)
_PAD = bytes(8)
_EMPTY = memoryview(b"")


class ProtocolViolation(Exception):
    """The client broke the protocol in a way that ends the connection."""


@dataclass(slots=True)
class Request(Header):
    """One SMB2 request of a chain: its decoded header (it is the :class:`Header`: one object per
    request, not two) and the whole message as a zero-copy view."""

    msg: memoryview = _EMPTY
    encrypted: bool = False


@dataclass(slots=True)
class Chain:
    """The requests of one transport frame (one, or several compounded)."""

    requests: list[Request]
    encrypted: bool = False
    encrypted_session_id: int = 0
    smb1_dialects: list[str] | None = None
    transport_reply: bytes = b""  # sent as is (RFC 1002 POSITIVE SESSION RESPONSE)


@dataclass(slots=True)
class Outgoing:
    """One response message: its header (filled by the handler layer) and body pieces."""

    header: Header
    body: Sequence[Buffer]
    sign_with: Session | None = None
    body_len: int = field(default=-1)
    on_wire: Callable[[bytes], None] | None = None  # sees the final message bytes (pre-auth hash)
    signer: Any = None  # overrides ``sign_with.signer`` (a multichannel channel's key)

    def length(self) -> int:
        if self.body_len < 0:
            self.body_len = sum(map(len, self.body))
        return self.body_len


class Engine:
    """Per-connection protocol core. ``lookup_session`` finds a session by id (server-wide table)."""

    def __init__(self, conn: ConnectionState, lookup_session: Callable[[int], Session | None],
                 reader: FrameReader | None = None) -> None:
        self.conn = conn
        self.lookup_session = lookup_session
        self.reader = reader if reader is not None else FrameReader()

    # -- inbound --------------------------------------------------------------------------------
    def get_buffer(self) -> memoryview:
        return self.reader.get_buffer()

    def buffer_updated(self, nbytes: int) -> list[Chain]:
        frames = self.reader.buffer_updated(nbytes)
        if len(frames) == 1:  # the usual receive: one SMB2 frame (no list comprehension, no parse_frame)
            frame = frames[0]
            if frame and frame[0] == 0xFE:
                return [Chain(self._split(frame, False))]
            return [self.parse_frame(frame)]
        return [self.parse_frame(f) for f in frames]

    def receive_data(self, data: bytes) -> list[Chain]:
        return [self.parse_frame(f) for f in self.reader.feed(data)]

    def parse_frame(self, frame: memoryview) -> Chain:
        if frame and frame[0] == 0xFE:  # SMB2 (Header.decode checks the other three ProtocolId bytes)
            return Chain(self._split(frame, encrypted=False))
        if frame is NBSS_SESSION_REQUEST:
            if self.conn.negotiated:
                raise ProtocolViolation("NetBIOS session request after negotiation")
            return Chain([], transport_reply=POSITIVE_SESSION_RESPONSE)
        magic = bytes(frame[:4])
        if magic == TRANSFORM_MAGIC:
            return self._parse_encrypted(frame)
        if magic == SMB1_MAGIC:
            if self.conn.negotiated:
                raise ProtocolViolation("SMB1 message after negotiation")
            try:
                dialects = smb1_negotiate_dialects(frame)
            except WireError as e:
                raise ProtocolViolation(str(e)) from None
            if dialects is None:
                raise ProtocolViolation("SMB1 message other than NEGOTIATE")
            return Chain([], smb1_dialects=dialects)
        raise ProtocolViolation(f"unknown protocol id {magic!r}")

    def _parse_encrypted(self, frame: memoryview) -> Chain:
        if len(frame) < TRANSFORM_HEADER_SIZE + HEADER_SIZE:
            raise ProtocolViolation("transform message too short")
        if not self.conn.authenticated_session:
            # [MS-SMB2] 3.3.5.2.1.1 / Samba: no decryption before an authenticated session (a null
            # session's well-known key must not open an encrypted channel; smb2.session.anon-encryption1)
            raise ProtocolViolation("encrypted message before an authenticated session")
        sid = transform_session_id(frame)
        session = self.lookup_session(sid)
        if session is None or session.decryptor is None:
            raise ProtocolViolation(f"encrypted message for unknown session 0x{sid:x}")
        try:
            plain = session.decryptor.decrypt(frame)
        except (DecryptError, WireError) as e:
            raise ProtocolViolation(f"decryption failed: {e}") from None
        view = memoryview(plain)
        if bytes(view[:4]) != SMB2_MAGIC:
            raise ProtocolViolation("decrypted payload is not SMB2")
        return Chain(self._split(view, encrypted=True), encrypted=True, encrypted_session_id=sid)

    def _split(self, frame: memoryview, encrypted: bool) -> list[Request]:
        out: list[Request] = []
        pos = 0
        total = len(frame)
        while True:
            try:
                hdr = Request.decode(frame, pos)
            except WireError as e:
                raise ProtocolViolation(str(e)) from None
            if hdr.flags & _RESPONSE:
                raise ProtocolViolation("response flag set in a request")
            nxt = hdr.next_command
            if nxt:
                if nxt & 7 or nxt < HEADER_SIZE or pos + nxt > total:
                    raise ProtocolViolation(f"bad NextCommand {nxt}")
                end = pos + nxt
            else:
                end = total
            if hdr.command != _CANCEL:  # the sequence window ([MS-SMB2] 3.3.5.2.3); not for CANCEL
                conn = self.conn
                charge = hdr.credit_charge if conn.supports_multi_credit else 1
                if not conn.window.consume(hdr.message_id, charge):
                    raise ProtocolViolation(
                        f"message id {hdr.message_id} (charge {charge}) outside the granted window "
                        f"[{conn.window.low}, {conn.window.high})")
            hdr.msg = frame if end - pos == total else frame[pos:end]
            if encrypted:
                hdr.encrypted = True
            out.append(hdr)
            if not nxt:
                return out
            pos = end

    # -- outbound -------------------------------------------------------------------------------
    def build_frame(self, items: Sequence[Outgoing], encrypt_with: Session | None = None) -> list[Buffer]:
        """Serialize responses into one transport frame: [len, hdr, body..., pad, hdr, ...]."""
        n = len(items)
        if n == 1 and encrypt_with is None and items[0].on_wire is None:
            # the common case (one plain response, signed or not): no padding, no list juggling
            item = items[0]
            h = item.header
            h.flags |= _RESPONSE
            h.next_command = 0
            mlen = HEADER_SIZE + sum(map(len, item.body))  # item.length(), without the method call
            signer = item.signer
            if signer is None and item.sign_with is not None:
                signer = item.sign_with.signer
            if signer is None:
                return [mlen.to_bytes(4, "big"), h.encode(), *item.body]  # frame_header(mlen)
            h.flags |= _SIGNED
            h.signature = _ZERO16
            hb = bytearray(h.encode())
            hb[SIGNATURE_OFFSET:SIGNATURE_OFFSET + 16] = signer.sign_zeroed([hb, *item.body], mlen)
            return [mlen.to_bytes(4, "big"), hb, *item.body]
        parts: list[Buffer] = []
        total = 0
        for i, item in enumerate(items):
            h = item.header
            h.flags |= _RESPONSE
            blen = item.length()
            mlen = HEADER_SIZE + blen
            # every response of a compound is padded to 8 bytes, the last one too (Windows;
            # smb2.compound.compound-padding); a lone response is not
            pad = (-mlen & 7) if n > 1 else 0
            h.next_command = mlen + pad if i + 1 < n else 0
            msg_parts: list[Buffer] = list(item.body)
            if pad:
                msg_parts.append(_PAD[:pad])
            signer = item.signer
            if signer is None and item.sign_with is not None:
                signer = item.sign_with.signer
            if signer is not None:
                h.flags |= _SIGNED
                h.signature = _ZERO16
                hb = bytearray(h.encode())
                sig = signer.sign_parts([hb, *msg_parts])
                hb[SIGNATURE_OFFSET:SIGNATURE_OFFSET + 16] = sig
                parts.append(hb)
            else:
                hb = h.encode()
                parts.append(hb)
            if item.on_wire is not None:
                item.on_wire(b"".join([bytes(hb), *msg_parts]))
            parts.extend(msg_parts)
            total += mlen + pad
        if encrypt_with is not None and encrypt_with.encryptor is not None:
            enc = encrypt_with.encryptor
            sealed = enc.encrypt(encrypt_with.session_id, parts, enc_nonce(encrypt_with))
            size = sum(len(p) for p in sealed)
            return [frame_header(size), *sealed]
        return [frame_header(total), *parts]


def enc_nonce(session: Session) -> bytes:
    """Next unique nonce for the session's encryptor (a counter per session key)."""
    return session.nonces.next()
