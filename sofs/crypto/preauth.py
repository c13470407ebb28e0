"""SMB 3.1.1 pre-authentication integrity hash ([MS-SMB2] 3.3.5.4, 3.3.5.5, 2.2.3.1.1).

H(i) = SHA-512(H(i-1) || message(i)), starting from 64 zero bytes. The connection hash covers the
NEGOTIATE request and response; each session's hash starts from the connection hash and covers its
SESSION_SETUP requests and responses, except the final successful response.
"""
from __future__ import annotations

import hashlib

BytesLike = bytes | bytearray | memoryview

PREAUTH_HASH_SIZE = 64
PREAUTH_ZERO = b"\x00" * PREAUTH_HASH_SIZE


def preauth_hash(prev: bytes, *messages: BytesLike) -> bytes:
    """Fold ``messages`` (whole SMB2 messages, header included) into the running hash ``prev``."""
    value = prev
    for message in messages:
        h = hashlib.sha512(value)
        h.update(message)
        value = h.digest()
    return value
