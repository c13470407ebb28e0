"""SMB1 NEGOTIATE detection for the multi-protocol negotiate upgrade ([MS-SMB2] 3.3.5.3.1).

A client that starts with an SMB1 ``SMB_COM_NEGOTIATE`` ([MS-CIFS] 2.2.4.52.1) listing "SMB 2.002"
and/or "SMB 2.???" gets an SMB2 NEGOTIATE Response with DialectRevision 0x0202 or 0x02FF; sofs
speaks no SMB1 otherwise.
"""
from __future__ import annotations

import struct

from sofs.wire.constants import Dialect
from sofs.wire.errors import invalid

SMB1_MAGIC = b"\xffSMB"
SMB1_COM_NEGOTIATE = 0x72
SMB1_HEADER_SIZE = 32
DIALECT_SMB2_002 = "SMB 2.002"
DIALECT_SMB2_WILDCARD = "SMB 2.???"


def is_smb1(message: bytes | bytearray | memoryview) -> bool:
    """True if the message starts with the SMB1 ProtocolId (0xFF 'SMB')."""
    return bytes(message[:4]) == SMB1_MAGIC


def smb1_negotiate_dialects(message: bytes | bytearray | memoryview) -> list[str] | None:
    """Dialect strings of an SMB1 NEGOTIATE, None if ``message`` is not an SMB1 NEGOTIATE.

    Raises WireError(INVALID_PARAMETER) for a truncated or malformed SMB1 NEGOTIATE.
    """
    if len(message) < SMB1_HEADER_SIZE or not is_smb1(message) or message[4] != SMB1_COM_NEGOTIATE:
        return None
    if len(message) < SMB1_HEADER_SIZE + 3:
        raise invalid("SMB1 NEGOTIATE truncated")
    word_count = message[SMB1_HEADER_SIZE]
    pos = SMB1_HEADER_SIZE + 1 + 2 * word_count
    if len(message) < pos + 2:
        raise invalid("SMB1 NEGOTIATE truncated")
    (byte_count,) = struct.unpack_from("<H", message, pos)
    data = bytes(message[pos + 2 : pos + 2 + byte_count])
    if len(data) < byte_count:
        raise invalid("SMB1 NEGOTIATE ByteCount beyond message")
    dialects: list[str] = []
    i = 0
    while i < len(data):
        if data[i] != 0x02:  # BufferFormat: Dialect
            raise invalid("SMB1 NEGOTIATE dialect without 0x02 BufferFormat")
        end = data.find(b"\0", i + 1)
        if end < 0:
            raise invalid("SMB1 NEGOTIATE dialect not NUL-terminated")
        dialects.append(data[i + 1 : end].decode("latin-1"))
        i = end + 1
    return dialects


def smb1_upgrade_dialect(dialects: list[str], max_dialect: int = Dialect.SMB3_1_1) -> int | None:
    """[MS-SMB2] 3.3.5.3.1: the DialectRevision to answer with, or None (no SMB2 dialect offered).

    "SMB 2.???" → 0x02FF (the client then sends an SMB2 NEGOTIATE) when the server supports more than
    2.0.2; otherwise "SMB 2.002" → 0x0202.
    """
    if DIALECT_SMB2_WILDCARD in dialects and max_dialect > Dialect.SMB2_0_2:
        return int(Dialect.WILDCARD)
    if DIALECT_SMB2_002 in dialects:
        return int(Dialect.SMB2_0_2)
    return None
