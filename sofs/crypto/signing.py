"""SMB2/3 message signing ([MS-SMB2] 3.1.4.1, 3.1.5.1).

``make_signer(dialect, signing_algorithm, signing_key)`` returns a keyed :class:`Signer`, built once
per session (or channel) and reused for every message:

- 2.0.2 / 2.1: HMAC-SHA256 truncated to 16 bytes,
- 3.0 / 3.0.2, and 3.1.1 without a negotiated SIGNING_CAPABILITIES context: AES-128-CMAC,
- 3.1.1 with AES-GMAC negotiated: AES-128-GCM with an empty plaintext and the message as AAD, nonce =
  MessageId (8 bytes LE) || 4 bytes LE whose bit 0 is "response from the server" (the header's
  SERVER_TO_REDIR flag) and bit 1 "this is a CANCEL request" ([MS-SMB2] 3.1.4.1).

The signature covers one SMB2 message (one element of a compound chain, its 8-byte padding
included) with the Signature field (bytes 48..64) taken as zero. Signers never copy the message when
the algorithm can be fed in pieces (HMAC, CMAC, and GMAC through the streaming GCM API for large
messages); small GMAC messages are joined, which is cheaper than a streaming context.
"""
from __future__ import annotations

import hmac
import struct
from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sofs.wire.constants import Command, Dialect, HeaderFlags, SigningAlgorithm

BytesLike = bytes | bytearray | memoryview

SIGNATURE_OFFSET = 48
SIGNATURE_SIZE = 16
_SIG_END = SIGNATURE_OFFSET + SIGNATURE_SIZE
_ZERO_SIG = b"\x00" * SIGNATURE_SIZE
# Above this size GMAC feeds the message to a streaming GCM context instead of joining a copy.
_GMAC_JOIN_LIMIT = 64 * 1024
_SMALL = 2048


class Signer(Protocol):
    """A keyed signing algorithm for one session/channel."""

    @property
    def algorithm(self) -> int:
        """[MS-SMB2] 2.2.3.1.7 SigningAlgorithm id."""
        ...

    def sign(self, msg: BytesLike) -> bytes:
        """16-byte signature of one SMB2 message (its signature field is treated as zero)."""
        ...

    def sign_parts(self, parts: Sequence[BytesLike]) -> bytes:
        """Signature of a message given in pieces; ``parts[0]`` holds at least the 64-byte header."""
        ...

    def verify(self, msg: BytesLike) -> bool:
        """Constant-time check of the message's own signature field."""
        ...

    def sign_zeroed(self, parts: Sequence[BytesLike], total: int) -> bytes:
        """:meth:`sign_parts` of ``total`` bytes whose signature field is already zero (a
        response the server builds: no zeroed copy of the header)."""
        ...


def _zeroed_pieces(parts: Sequence[BytesLike]) -> list[BytesLike]:
    """The message as pieces with the signature replaced by zeros, without copying payloads."""
    first = parts[0]
    # Small bytes are sliced (cheaper than memoryviews); large or mutable buffers are viewed.
    head = first if type(first) is bytes and len(first) <= _SMALL else memoryview(first)
    if len(head) < _SIG_END:
        raise ValueError("first part must hold the whole 64-byte SMB2 header")
    pieces: list[BytesLike] = [head[:SIGNATURE_OFFSET], _ZERO_SIG]
    if len(head) > _SIG_END:
        pieces.append(head[_SIG_END:])
    pieces.extend(parts[1:])
    return pieces


class _StreamSigner:
    """Shared logic of the signers whose MAC accepts the message in pieces."""

    __slots__ = ()

    def _mac(self, pieces: Sequence[BytesLike]) -> bytes:
        raise NotImplementedError

    def sign(self, msg: BytesLike) -> bytes:
        return self._mac(_zeroed_pieces((msg,)))

    def sign_parts(self, parts: Sequence[BytesLike]) -> bytes:
        return self._mac(_zeroed_pieces(parts))

    def sign_zeroed(self, parts: Sequence[BytesLike], total: int) -> bytes:
        return self._mac(parts)

    def verify(self, msg: BytesLike) -> bool:
        if len(msg) < _SIG_END:
            return False
        return hmac.compare_digest(self.sign(msg), bytes(msg[SIGNATURE_OFFSET:_SIG_END]))


class HmacSha256Signer(_StreamSigner):
    """[MS-SMB2] 3.1.4.1 dialects 2.0.2/2.1: HMAC-SHA256(SessionKey, message)[:16]."""

    __slots__ = ("_base",)
    algorithm = SigningAlgorithm.HMAC_SHA256

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod="sha256")

    def _mac(self, pieces: Sequence[BytesLike]) -> bytes:
        h = self._base.copy()
        for piece in pieces:
            h.update(piece)
        return h.digest()[:SIGNATURE_SIZE]


class AesCmacSigner(_StreamSigner):
    """[MS-SMB2] 3.1.4.1 dialects 3.x: AES-128-CMAC(SigningKey, message)."""

    __slots__ = ("_base",)
    algorithm = SigningAlgorithm.AES_CMAC

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("AES-CMAC signing key must be 16 bytes")
        self._base = cmac.CMAC(algorithms.AES(key))

    def _mac(self, pieces: Sequence[BytesLike]) -> bytes:
        c = self._base.copy()
        for piece in pieces:
            c.update(piece)  # type: ignore[arg-type]  # any buffer works; the stub says bytes
        return c.finalize()


_CMD_FLAGS = struct.Struct("<H2xI4xQ")  # Command @12, Flags @16, MessageId @24
_NONCE = struct.Struct("<QI")
_CANCEL = int(Command.CANCEL)
_SERVER_TO_REDIR = int(HeaderFlags.SERVER_TO_REDIR)


def gmac_nonce(header: BytesLike) -> bytes:
    """[MS-SMB2] 3.1.4.1: 12-byte AES-GMAC nonce from the message's own header fields."""
    command, flags, message_id = _CMD_FLAGS.unpack_from(header, 12)
    info = (flags & _SERVER_TO_REDIR) | (2 if command == _CANCEL else 0)
    return _NONCE.pack(message_id, info)


class AesGmacSigner:
    """[MS-SMB2] 3.1.4.1 dialect 3.1.1 with AES-GMAC negotiated ([MS-SMB2] 2.2.3.1.7)."""

    __slots__ = ("_aead", "_key")
    algorithm = SigningAlgorithm.AES_GMAC

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("AES-GMAC signing key must be 16 bytes")
        self._key = key
        self._aead = AESGCM(key)

    def _gmac(self, nonce: bytes, pieces: Sequence[BytesLike], total: int) -> bytes:
        if total <= _GMAC_JOIN_LIMIT:
            return self._aead.encrypt(nonce, b"", b"".join(pieces))
        enc = Cipher(algorithms.AES(self._key), modes.GCM(nonce)).encryptor()
        for piece in pieces:
            enc.authenticate_additional_data(piece)
        enc.finalize()
        return enc.tag

    def sign(self, msg: BytesLike) -> bytes:
        if len(msg) < _SIG_END:
            raise ValueError("message shorter than an SMB2 header")
        nonce = gmac_nonce(msg)
        if msg[SIGNATURE_OFFSET:_SIG_END] == _ZERO_SIG and len(msg) <= _GMAC_JOIN_LIMIT:
            return self._aead.encrypt(nonce, b"", msg)  # already zeroed: no copy at all
        return self._gmac(nonce, _zeroed_pieces((msg,)), len(msg))

    def sign_parts(self, parts: Sequence[BytesLike]) -> bytes:
        nonce = gmac_nonce(parts[0])
        return self._gmac(nonce, _zeroed_pieces(parts), sum(map(len, parts)))

    def sign_zeroed(self, parts: Sequence[BytesLike], total: int) -> bytes:
        return self._gmac(gmac_nonce(parts[0]), parts, total)

    def verify(self, msg: BytesLike) -> bool:
        n = len(msg)
        if n < _SIG_END:
            return False
        if n > _GMAC_JOIN_LIMIT:
            return hmac.compare_digest(self.sign(msg), bytes(msg[SIGNATURE_OFFSET:_SIG_END]))
        # every signed request: one copy with the signature zeroed, MACed as is
        buf = bytearray(msg)
        sig = bytes(buf[SIGNATURE_OFFSET:_SIG_END])
        buf[SIGNATURE_OFFSET:_SIG_END] = _ZERO_SIG
        return hmac.compare_digest(self._aead.encrypt(gmac_nonce(buf), b"", buf), sig)


def make_signer(dialect: int, signing_algorithm: int | None, signing_key: bytes) -> Signer:
    """Keyed signer for Connection.Dialect and the negotiated Connection.SigningAlgorithmId.

    ``signing_algorithm`` matters only for 3.1.1 (None = no SIGNING_CAPABILITIES negotiated →
    AES-CMAC); earlier dialects have a fixed algorithm ([MS-SMB2] 3.1.4.1).
    """
    if dialect < Dialect.SMB3_0:
        return HmacSha256Signer(signing_key)
    if dialect == Dialect.SMB3_1_1 and signing_algorithm == SigningAlgorithm.AES_GMAC:
        return AesGmacSigner(signing_key)
    if dialect == Dialect.SMB3_1_1 and signing_algorithm == SigningAlgorithm.HMAC_SHA256:
        return HmacSha256Signer(signing_key)
    return AesCmacSigner(signing_key)
