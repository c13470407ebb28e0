"""[MS-SMB2] 2.2.1 SMB2 packet header (sync 2.2.1.2 and async 2.2.1.1 forms).

One precompiled ``struct.Struct`` decodes/encodes the whole 64 bytes. The 8 bytes at offset 32 are
Reserved(ProcessId)+TreeId in the sync form and AsyncId in the async form (flag ASYNC_COMMAND);
:class:`Header` carries all three fields and uses the ones the flags select.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from sofs.wire.codec import HEADER_SIZE, Buffer
from sofs.wire.constants import HeaderFlags
from sofs.wire.errors import WireError
from sofs.wire.status import NtStatus

__all__ = ["COMPRESSION_MAGIC", "HEADER_SIZE", "SMB2_MAGIC", "TRANSFORM_MAGIC", "Header"]

SMB2_MAGIC = b"\xfeSMB"
TRANSFORM_MAGIC = b"\xfdSMB"
COMPRESSION_MAGIC = b"\xfcSMB"

# ProtocolId, StructureSize, CreditCharge, Status, Command, Credits, Flags, NextCommand, MessageId,
# ProcessId|AsyncId-low, TreeId|AsyncId-high, SessionId, Signature
_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")
assert _HEADER.size == HEADER_SIZE

_ASYNC = int(HeaderFlags.ASYNC_COMMAND)
_SERVER_TO_REDIR = int(HeaderFlags.SERVER_TO_REDIR)
_RELATED = int(HeaderFlags.RELATED_OPERATIONS)
_SIGNED = int(HeaderFlags.SIGNED)
_REPLAY = int(HeaderFlags.REPLAY_OPERATION)
_ZERO_SIG = bytes(16)
SIGNATURE_OFFSET = 48
"""Byte offset of the 16-byte Signature inside the header."""


@dataclass(slots=True)
class Header:
    """[MS-SMB2] 2.2.1 SMB2 header. Mutable: the engine fills in response headers.

    ``status`` holds the raw 32-bit Status field; in 3.x requests its low 16 bits are ChannelSequence
    ([MS-SMB2] 2.2.1.2), exposed as :attr:`channel_sequence`. ``credits`` is CreditRequest in a
    request and CreditResponse in a response.
    """

    command: int = 0
    credit_charge: int = 0
    status: int = 0
    flags: int = 0
    next_command: int = 0
    message_id: int = 0
    credits: int = 0
    process_id: int = 0
    tree_id: int = 0
    async_id: int = 0
    session_id: int = 0
    signature: bytes = _ZERO_SIG

    @classmethod
    def decode(cls, buf: Buffer, offset: int = 0) -> Self:
        """Decode the 64-byte header at ``offset``; WireError on short data, bad magic or size."""
        try:
            (magic, size, charge, status, command, credits, flags, next_command, message_id,
             pid, tid, session_id, signature) = _HEADER.unpack_from(buf, offset)
        except struct.error:
            raise WireError(NtStatus.INVALID_PARAMETER, "SMB2 header truncated") from None
        if magic != SMB2_MAGIC:
            raise WireError(NtStatus.INVALID_PARAMETER, "bad SMB2 ProtocolId")
        if size != HEADER_SIZE:
            raise WireError(NtStatus.INVALID_PARAMETER, f"header StructureSize {size} != 64")
        if flags & _ASYNC:
            return cls(command, charge, status, flags, next_command, message_id, credits,
                       0, 0, pid | (tid << 32), session_id, signature)
        return cls(command, charge, status, flags, next_command, message_id, credits,
                   pid, tid, 0, session_id, signature)

    def _fields(self) -> tuple[object, ...]:
        if self.flags & _ASYNC:
            low, high = self.async_id & 0xFFFFFFFF, self.async_id >> 32
        else:
            low, high = self.process_id, self.tree_id
        return (SMB2_MAGIC, HEADER_SIZE, self.credit_charge, self.status, self.command, self.credits,
                self.flags, self.next_command, self.message_id, low, high, self.session_id,
                self.signature)

    def encode(self) -> bytes:
        """The 64 header bytes."""
        if self.flags & _ASYNC:
            return _HEADER.pack(*self._fields())
        # the sync form inline (every response): no tuple of fields and no call for it
        return _HEADER.pack(SMB2_MAGIC, HEADER_SIZE, self.credit_charge, self.status, self.command,
                            self.credits, self.flags, self.next_command, self.message_id, self.process_id,
                            self.tree_id, self.session_id, self.signature)

    def encode_into(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the 64 header bytes into ``buf`` at ``offset`` (no allocation)."""
        _HEADER.pack_into(buf, offset, *self._fields())

    # -- convenience views of flags/status -----------------------------------------------------
    @property
    def channel_sequence(self) -> int:
        """[MS-SMB2] 2.2.1.2 ChannelSequence (3.x requests): low 16 bits of the Status field."""
        return self.status & 0xFFFF

    @channel_sequence.setter
    def channel_sequence(self, value: int) -> None:
        self.status = (self.status & 0xFFFF0000) | (value & 0xFFFF)

    @property
    def is_async(self) -> bool:
        return bool(self.flags & _ASYNC)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & _SERVER_TO_REDIR)

    @property
    def is_related(self) -> bool:
        return bool(self.flags & _RELATED)

    @property
    def is_signed(self) -> bool:
        return bool(self.flags & _SIGNED)

    @property
    def is_replay(self) -> bool:
        return bool(self.flags & _REPLAY)

    @property
    def priority(self) -> int:
        """[MS-SMB2] 2.2.1.2 I/O priority (bits 4-6 of Flags, 3.1.1)."""
        return (self.flags >> 4) & 7
