"""[MS-SMB2] 2.2.41 SMB2 TRANSFORM_HEADER (the 52-byte prefix of an encrypted message).

::

     0  ProtocolId           0xFD 'S' 'M' 'B'
     4  Signature            16 bytes: the AEAD tag
    20  Nonce                16 bytes: 11 (CCM) or 12 (GCM) significant bytes, zero padded
    36  OriginalMessageSize  uint32
    40  Reserved             uint16
    42  Flags                uint16 (3.1.1: 0x0001 Encrypted; 3.0.x: EncryptionAlgorithm 0x0001 = AES-128-CCM)
    44  SessionId            uint64

Bytes 20..52 are the AEAD additional authenticated data ([MS-SMB2] 3.1.4.3).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.errors import invalid

TRANSFORM_MAGIC = b"\xfdSMB"
TRANSFORM_HEADER_SIZE = 52
TRANSFORM_AAD_OFFSET = 20
TRANSFORM_FLAG_ENCRYPTED = 0x0001

_STRUCT = struct.Struct("<4s16s16sIHHQ")
assert _STRUCT.size == TRANSFORM_HEADER_SIZE
_AAD_STRUCT = struct.Struct("<16sIHHQ")


@dataclass(frozen=True, slots=True)
class TransformHeader:
    """[MS-SMB2] 2.2.41 SMB2 TRANSFORM_HEADER."""

    signature: bytes
    nonce: bytes  # the full 16-byte field
    original_message_size: int
    flags: int
    session_id: int
    reserved: int = 0

    def encode(self) -> bytes:
        return _STRUCT.pack(
            TRANSFORM_MAGIC,
            self.signature,
            self.nonce,
            self.original_message_size,
            self.reserved,
            self.flags,
            self.session_id,
        )

    @classmethod
    def decode(cls, buf: bytes | bytearray | memoryview) -> TransformHeader:
        """Decode the first 52 bytes of ``buf``; raises WireError on a short buffer or bad magic."""
        if len(buf) < TRANSFORM_HEADER_SIZE:
            raise invalid("TRANSFORM_HEADER: short buffer")
        magic, sig, nonce, size, reserved, flags, session_id = _STRUCT.unpack_from(buf, 0)
        if magic != TRANSFORM_MAGIC:
            raise invalid("TRANSFORM_HEADER: bad ProtocolId")
        return cls(sig, nonce, size, flags, session_id, reserved)


def pack_aad(nonce16: bytes, original_message_size: int, session_id: int, flags: int = 1) -> bytes:
    """Bytes 20..52 of a TRANSFORM_HEADER (the AEAD associated data) built directly."""
    return _AAD_STRUCT.pack(nonce16, original_message_size, 0, flags, session_id)


def is_transform(buf: bytes | bytearray | memoryview) -> bool:
    """True when ``buf`` starts with the TRANSFORM_HEADER ProtocolId."""
    return bytes(buf[:4]) == TRANSFORM_MAGIC


def transform_session_id(buf: bytes | bytearray | memoryview) -> int:
    """SessionId of a transform message (to find the session's key before decrypting)."""
    if len(buf) < TRANSFORM_HEADER_SIZE:
        raise invalid("TRANSFORM_HEADER: short buffer")
    return int.from_bytes(buf[44:52], "little")
