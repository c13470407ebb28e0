"""[MS-SMB2] 2.2.23-2.2.25 oplock and lease break notification / acknowledgment / response.

All travel as command OPLOCK_BREAK; the StructureSize tells them apart (24 oplock, 44 lease
notification, 36 lease ack/response). :class:`BreakAcknowledgment` decodes whichever ack a client sent.
"""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Buffer, Layout, Message
from sofs.wire.errors import invalid

_OPLOCK_FIELDS = (("oplock_level", "B"), ("_reserved", "B"), ("_reserved2", "I"), ("file_id", "16s"))
_LEASE_ACK_FIELDS = (("_reserved", "H"), ("flags", "I"), ("lease_key", "16s"), ("lease_state", "I"),
                     ("lease_duration", "Q"))


@dataclass(frozen=True, slots=True)
class OplockBreakNotification(Message):
    """[MS-SMB2] 2.2.23.1 Oplock Break Notification (server → client, MessageId 0xFFFF...FF)."""

    LAYOUT = Layout(24, _OPLOCK_FIELDS)
    oplock_level: int
    file_id: bytes


@dataclass(frozen=True, slots=True)
class OplockBreakAcknowledgment(Message):
    """[MS-SMB2] 2.2.24.1 Oplock Break Acknowledgment."""

    LAYOUT = Layout(24, _OPLOCK_FIELDS)
    oplock_level: int
    file_id: bytes


@dataclass(frozen=True, slots=True)
class OplockBreakResponse(Message):
    """[MS-SMB2] 2.2.25.1 Oplock Break Response."""

    LAYOUT = Layout(24, _OPLOCK_FIELDS)
    oplock_level: int
    file_id: bytes


@dataclass(frozen=True, slots=True)
class LeaseBreakNotification(Message):
    """[MS-SMB2] 2.2.23.2 Lease Break Notification.

    ``new_epoch`` is meaningful for lease v2 (3.x), 0 for v1; BreakReason, AccessMaskHint and
    ShareMaskHint are reserved (0) on the wire but kept for round trips.
    """

    LAYOUT = Layout(44, (("new_epoch", "H"), ("flags", "I"), ("lease_key", "16s"),
                         ("current_lease_state", "I"), ("new_lease_state", "I"), ("break_reason", "I"),
                         ("access_mask_hint", "I"), ("share_mask_hint", "I")))
    lease_key: bytes
    current_lease_state: int
    new_lease_state: int
    flags: int = 0
    new_epoch: int = 0
    break_reason: int = 0
    access_mask_hint: int = 0
    share_mask_hint: int = 0

    @classmethod
    def _decode(cls, msg: memoryview) -> LeaseBreakNotification:
        epoch, flags, key, cur, new, reason, amask, smask = cls.LAYOUT.unpack(msg)
        return cls(key, cur, new, flags, epoch, reason, amask, smask)


@dataclass(frozen=True, slots=True)
class LeaseBreakAcknowledgment(Message):
    """[MS-SMB2] 2.2.24.2 Lease Break Acknowledgment."""

    LAYOUT = Layout(36, _LEASE_ACK_FIELDS)
    lease_key: bytes
    lease_state: int
    flags: int = 0
    lease_duration: int = 0

    @classmethod
    def _decode(cls, msg: memoryview) -> LeaseBreakAcknowledgment:
        _r, flags, key, state, duration = cls.LAYOUT.unpack(msg)
        return cls(key, state, flags, duration)


@dataclass(frozen=True, slots=True)
class LeaseBreakResponse(Message):
    """[MS-SMB2] 2.2.25.2 Lease Break Response."""

    LAYOUT = Layout(36, _LEASE_ACK_FIELDS)
    lease_key: bytes
    lease_state: int
    flags: int = 0
    lease_duration: int = 0

    @classmethod
    def _decode(cls, msg: memoryview) -> LeaseBreakResponse:
        _r, flags, key, state, duration = cls.LAYOUT.unpack(msg)
        return cls(key, state, flags, duration)


class BreakAcknowledgment:
    """Request-side decoder for command OPLOCK_BREAK: an oplock or a lease acknowledgment."""

    __slots__ = ()

    @staticmethod
    def decode(msg: Buffer) -> OplockBreakAcknowledgment | LeaseBreakAcknowledgment:
        size = bytes(msg[HEADER_SIZE : HEADER_SIZE + 2])
        if size == b"\x18\x00":
            return OplockBreakAcknowledgment.decode(msg)
        if size == b"\x24\x00":
            return LeaseBreakAcknowledgment.decode(msg)
        raise invalid("OPLOCK_BREAK acknowledgment with unknown StructureSize")


class BreakServerMessage:
    """Client-side decoder for command OPLOCK_BREAK from the server.

    24 bytes → :class:`OplockBreakResponse` (a notification has the same layout; the header's
    MessageId 0xFFFFFFFFFFFFFFFF tells them apart), 36 → lease response, 44 → lease notification.
    """

    __slots__ = ()

    @staticmethod
    def decode(msg: Buffer) -> OplockBreakResponse | LeaseBreakResponse | LeaseBreakNotification:
        size = bytes(msg[HEADER_SIZE : HEADER_SIZE + 2])
        if size == b"\x18\x00":
            return OplockBreakResponse.decode(msg)
        if size == b"\x24\x00":
            return LeaseBreakResponse.decode(msg)
        if size == b"\x2c\x00":
            return LeaseBreakNotification.decode(msg)
        raise invalid("OPLOCK_BREAK message with unknown StructureSize")
