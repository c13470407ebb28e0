"""SMB 3.x key derivation: SP800-108 counter-mode KDF with HMAC-SHA256 ([MS-SMB2] 3.1.4.2).

``derive_keys`` turns the GSS session key of a completed SESSION_SETUP into the per-session keys,
seen from the **server** side ([MS-SMB2] 3.3.5.5.3):

- ``encryption_key`` encrypts server→client traffic ("ServerOut" / "SMBS2CCipherKey"),
- ``decryption_key`` decrypts client→server traffic ("ServerIn " / "SMBC2SCipherKey").

Key sizes: signing and application keys are always 128 bits, derived from ``Session.SessionKey``
(the first 16 bytes of the GSS key, zero-padded). For AES-256-CCM/GCM the cipher keys are 256 bits
and the KDF input is the *full* GSS session key ([MS-SMB2] 3.2.5.3.1 / 3.3.5.5.3, as Windows,
Samba and smbprotocol do); with NTLM the full key is 16 bytes, so only Kerberos sees a difference.
"""
from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

from sofs.wire.constants import Cipher, Dialect


def kdf(key: bytes, label: bytes, context: bytes, length_bits: int) -> bytes:
    """[SP800-108] 5.1 KDF in counter mode, PRF = HMAC-SHA256, r = 32, as [MS-SMB2] 3.1.4.2 uses it.

    ``label`` and ``context`` are passed as-is (SMB's labels include their trailing NUL); the fixed
    input is ``i || label || 0x00 || context || L``.
    """
    if length_bits <= 0 or length_bits % 8:
        raise ValueError("length_bits must be a positive multiple of 8")
    tail = b"\x00" + context + struct.pack(">I", length_bits)
    out = bytearray()
    counter = 1
    while len(out) * 8 < length_bits:
        out += hmac.digest(key, struct.pack(">I", counter) + label + tail, "sha256")
        counter += 1
    return bytes(out[: length_bits // 8])


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """Per-session keys, server point of view ([MS-SMB2] 3.3.1.8 Session.*Key)."""

    session_key: bytes
    signing_key: bytes
    encryption_key: bytes  # server -> client (ServerOut / SMBS2CCipherKey); b"" before 3.0
    decryption_key: bytes  # client -> server (ServerIn  / SMBC2SCipherKey); b"" before 3.0
    application_key: bytes


# [MS-SMB2] 3.3.5.5.3: labels and contexts, NUL included ("ServerIn " has a trailing space).
_L30_SIGN, _C30_SIGN = b"SMB2AESCMAC\x00", b"SmbSign\x00"
_L30_APP, _C30_APP = b"SMB2APP\x00", b"SmbRpc\x00"
_L30_CIPHER = b"SMB2AESCCM\x00"
_C30_IN, _C30_OUT = b"ServerIn \x00", b"ServerOut\x00"
_L311_SIGN = b"SMBSigningKey\x00"
_L311_APP = b"SMBAppKey\x00"
_L311_S2C = b"SMBS2CCipherKey\x00"
_L311_C2S = b"SMBC2SCipherKey\x00"

_256_BIT_CIPHERS = frozenset({Cipher.AES_256_CCM, Cipher.AES_256_GCM})


def session_key_128(full_session_key: bytes) -> bytes:
    """[MS-SMB2] 3.3.5.5.3: Session.SessionKey = first 16 bytes of the GSS key, zero-padded."""
    return full_session_key[:16].ljust(16, b"\x00")


def derive_keys(
    dialect: int, session_key: bytes, preauth_hash: bytes | None, cipher: int | None
) -> SessionKeys:
    """Derive Session.SigningKey/EncryptionKey/DecryptionKey/ApplicationKey ([MS-SMB2] 3.3.5.5.3).

    ``session_key`` is the full GSS session key; ``preauth_hash`` is the session's final
    Session.PreauthIntegrityHashValue (3.1.1 only); ``cipher`` is Connection.CipherId (3.1.1; for
    3.0/3.0.2 AES-128-CCM is implied, None/0 means no encryption keys are wanted but they are derived
    anyway as 128-bit keys).
    """
    key16 = session_key_128(session_key)
    if dialect < Dialect.SMB3_0:
        # [MS-SMB2] 3.3.5.5.3: 2.0.2 / 2.1 sign with HMAC-SHA256 keyed by the session key itself.
        return SessionKeys(key16, key16, b"", b"", key16)
    if dialect == Dialect.SMB3_1_1:
        if preauth_hash is None or len(preauth_hash) != 64:
            raise ValueError("3.1.1 key derivation needs the 64-byte pre-auth integrity hash")
        if cipher in _256_BIT_CIPHERS:
            cipher_in, bits = session_key, 256
        else:
            cipher_in, bits = key16, 128
        return SessionKeys(
            session_key=key16,
            signing_key=kdf(key16, _L311_SIGN, preauth_hash, 128),
            encryption_key=kdf(cipher_in, _L311_S2C, preauth_hash, bits),
            decryption_key=kdf(cipher_in, _L311_C2S, preauth_hash, bits),
            application_key=kdf(key16, _L311_APP, preauth_hash, 128),
        )
    return SessionKeys(
        session_key=key16,
        signing_key=kdf(key16, _L30_SIGN, _C30_SIGN, 128),
        encryption_key=kdf(key16, _L30_CIPHER, _C30_OUT, 128),
        decryption_key=kdf(key16, _L30_CIPHER, _C30_IN, 128),
        application_key=kdf(key16, _L30_APP, _C30_APP, 128),
    )


__all__ = ["SessionKeys", "derive_keys", "kdf", "session_key_128"]
