"""[MS-SMB2] 2.2.26 LOCK Request (with 2.2.26.1 SMB2_LOCK_ELEMENT) and 2.2.27 LOCK Response."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Layout, Message, need
from sofs.wire.errors import invalid

_ELEMENT = struct.Struct("<QQII")


@dataclass(frozen=True, slots=True)
class LockElement:
    """[MS-SMB2] 2.2.26.1 SMB2_LOCK_ELEMENT (``flags``: LockFlags)."""

    offset: int
    length: int
    flags: int


@dataclass(frozen=True, slots=True)
class LockRequest(Message):
    """[MS-SMB2] 2.2.26 SMB2 LOCK Request. LockCount 0 is INVALID_PARAMETER ([MS-SMB2] 3.3.5.14).

    ``lock_sequence`` is the raw 32-bit field: LockSequenceNumber in the low 4 bits, LockSequenceIndex
    in the high 28 (2.1+ with resilient/persistent handles).
    """

    LAYOUT = Layout(48, (("_lock_count", "H"), ("lock_sequence", "I"), ("file_id", "16s")))
    file_id: bytes
    locks: tuple[LockElement, ...]
    lock_sequence: int = 0

    @classmethod
    def _decode(cls, msg: memoryview) -> LockRequest:
        count, seq, fid = cls.LAYOUT.unpack(msg)
        if count == 0:
            raise invalid("LOCK with LockCount 0")
        start = HEADER_SIZE + cls.LAYOUT.size
        need(msg, start + count * _ELEMENT.size, "LOCK elements")
        unpack = _ELEMENT.unpack_from
        locks = tuple(LockElement(*unpack(msg, start + i * _ELEMENT.size)[:3]) for i in range(count))
        return cls(fid, locks, seq)

    def encode(self) -> bytes:
        return self.LAYOUT.pack(len(self.locks), self.lock_sequence, self.file_id) + b"".join(
            _ELEMENT.pack(e.offset, e.length, e.flags, 0) for e in self.locks)

    @property
    def lock_sequence_number(self) -> int:
        return self.lock_sequence & 0xF

    @property
    def lock_sequence_index(self) -> int:
        return self.lock_sequence >> 4


@dataclass(frozen=True, slots=True)
class LockResponse(Message):
    """[MS-SMB2] 2.2.27 SMB2 LOCK Response."""

    LAYOUT = Layout(4, (("_reserved", "H"),))
