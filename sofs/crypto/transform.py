"""SMB 3.x message encryption ([MS-SMB2] 3.1.4.3 encrypt, 3.3.5.2.1.1 decrypt).

``make_cipher(cipher_id, key)`` gives one keyed :class:`TransformCipher` per direction per session
(the AEAD object is built once: constructing ``AESGCM`` costs about as much as encrypting 64 bytes).
AES-128/256-CCM use an 11-byte nonce, AES-128/256-GCM a 12-byte nonce; the AAD is the transform
header from the Nonce field on (bytes 20..52). Dialect 3.0/3.0.2 always use AES-128-CCM.

Nonces are an argument (pure code); :class:`NonceCounter` produces unique ones: a random prefix fixed
at creation plus a 64-bit counter, so a nonce is never reused under one key.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
from cryptography.hazmat.primitives.ciphers import algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM

from sofs.wire.bufpool import POOL
from sofs.wire.constants import Cipher
from sofs.wire.transform import (
    TRANSFORM_FLAG_ENCRYPTED,
    TRANSFORM_HEADER_SIZE,
    TRANSFORM_MAGIC,
    pack_aad,
)

BytesLike = bytes | bytearray | memoryview

TAG_SIZE = 16
CCM_NONCE_SIZE = 11
GCM_NONCE_SIZE = 12
# Large GCM messages are decrypted through the streaming API: no ciphertext||tag concatenation.
_STREAM_LIMIT = 64 * 1024

_KEY_SIZES = {
    Cipher.AES_128_CCM: 16,
    Cipher.AES_128_GCM: 16,
    Cipher.AES_256_CCM: 32,
    Cipher.AES_256_GCM: 32,
}


class DecryptError(ValueError):
    """A transform message failed authentication or is malformed ([MS-SMB2] 3.3.5.2.1.1)."""


class TransformCipher:
    """One keyed AEAD for SMB2 TRANSFORM messages (one direction of one session)."""

    __slots__ = ("_aead", "_is_gcm", "_key", "cipher_id", "nonce_size")

    def __init__(self, cipher_id: int, key: bytes) -> None:
        size = _KEY_SIZES.get(cipher_id)  # type: ignore[call-overload]
        if size is None:
            raise ValueError(f"unsupported cipher id {cipher_id:#x}")
        if len(key) != size:
            raise ValueError(f"cipher {cipher_id:#x} needs a {size}-byte key")
        self.cipher_id = cipher_id
        self._key = key
        self._is_gcm = cipher_id in (Cipher.AES_128_GCM, Cipher.AES_256_GCM)
        self.nonce_size = GCM_NONCE_SIZE if self._is_gcm else CCM_NONCE_SIZE
        self._aead: AESGCM | AESCCM = AESGCM(key) if self._is_gcm else AESCCM(key, tag_length=TAG_SIZE)

    def encrypt(self, session_id: int, parts: Sequence[BytesLike], nonce: bytes) -> list[bytes | memoryview]:
        """Encrypt one SMB2 message (or compound chain) given in pieces.

        Returns ``[transform_header, ciphertext]``: bytes and a memoryview over the AEAD output, to
        hand to ``writelines`` as they are (the ciphertext is not copied again).
        """
        if len(nonce) != self.nonce_size:
            raise ValueError(f"nonce must be {self.nonce_size} bytes")
        size = sum(len(p) for p in parts)
        aad = pack_aad(nonce.ljust(16, b"\x00"), size, session_id, TRANSFORM_FLAG_ENCRYPTED)
        if self._is_gcm and size > _STREAM_LIMIT:
            # Streaming GCM straight into one reused buffer (bufpool: no zero-fill, no page faults),
            # no join of the parts.
            enc = _Cipher(algorithms.AES(self._key), modes.GCM(nonce)).encryptor()
            enc.authenticate_additional_data(aad)
            view = memoryview(POOL.get(size + 15))  # update_into wants block-size headroom
            pos = 0
            for part in parts:
                pos += enc.update_into(part, view[pos:])
            enc.finalize()
            return [TRANSFORM_MAGIC + enc.tag + aad, view[:size]]
        data: BytesLike = parts[0] if len(parts) == 1 else b"".join(parts)
        sealed = self._aead.encrypt(nonce, data, aad)
        return [TRANSFORM_MAGIC + sealed[size:] + aad, memoryview(sealed)[:size]]

    def decrypt(self, msg: BytesLike) -> bytes | memoryview:
        """Decrypt a whole transform message (header + ciphertext); raises :class:`DecryptError`.

        Large GCM messages come back as a ``memoryview`` of a reused buffer (bufpool), decrypted
        there without a copy; it stays reserved while any view of it lives.
        """
        mv = memoryview(msg)
        if len(mv) < TRANSFORM_HEADER_SIZE or mv[:4] != TRANSFORM_MAGIC:
            raise DecryptError("not a TRANSFORM_HEADER")
        size, _reserved, flags = struct.unpack_from("<IHH", mv, 36)
        if flags != TRANSFORM_FLAG_ENCRYPTED:
            raise DecryptError(f"unexpected transform Flags {flags:#x}")
        if size != len(mv) - TRANSFORM_HEADER_SIZE:
            raise DecryptError("OriginalMessageSize does not match the ciphertext length")
        nonce = bytes(mv[20 : 20 + self.nonce_size])
        aad = mv[20:TRANSFORM_HEADER_SIZE]
        tag = bytes(mv[4:20])
        ciphertext = mv[TRANSFORM_HEADER_SIZE:]
        try:
            if self._is_gcm and size > _STREAM_LIMIT:
                dec = _Cipher(algorithms.AES(self._key), modes.GCM(nonce, tag)).decryptor()
                dec.authenticate_additional_data(aad)
                out = memoryview(POOL.get(size + 15))  # update_into wants block-size headroom
                n = dec.update_into(ciphertext, out)
                dec.finalize()
                return out[:n]
            return self._aead.decrypt(nonce, b"".join((ciphertext, tag)), aad)
        except InvalidTag:
            raise DecryptError("transform message failed authentication") from None


def make_cipher(cipher_id: int, key: bytes) -> TransformCipher:
    """Keyed cipher for Connection.CipherId (3.0/3.0.2: pass AES_128_CCM)."""
    return TransformCipher(cipher_id, key)


class NonceCounter:
    """Unique AEAD nonces for one key: ``prefix || counter`` (counter 64-bit little-endian).

    The prefix comes from the caller (random bytes, e.g. ``os.urandom(4)``) so this stays pure;
    3 bytes of it are used for CCM (11-byte nonces), 4 for GCM (12-byte nonces).
    """

    __slots__ = ("_counter", "_pack", "_prefix")

    def __init__(self, nonce_size: int, prefix: bytes, start: int = 0) -> None:
        want = nonce_size - 8
        if want < 0 or len(prefix) < want:
            raise ValueError(f"prefix must be at least {want} bytes for {nonce_size}-byte nonces")
        self._prefix = prefix[:want]
        self._counter = start
        self._pack = struct.Struct("<Q").pack

    def next(self) -> bytes:
        """Return a nonce never returned before by this counter."""
        c = self._counter
        if c >= 0xFFFFFFFFFFFFFFFF:
            raise OverflowError("nonce space exhausted: re-key the session")
        self._counter = c + 1
        return self._prefix + self._pack(c)
