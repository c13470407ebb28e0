"""[MS-SMB2] 2.2.5-2.2.8 SESSION_SETUP and LOGOFF."""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Buffer, Layout, Message, take_buffer


@dataclass(frozen=True, slots=True)
class SessionSetupRequest(Message):
    """[MS-SMB2] 2.2.5 SMB2 SESSION_SETUP Request; ``security_buffer`` is the GSS token."""

    LAYOUT = Layout(25, (("flags", "B"), ("security_mode", "B"), ("capabilities", "I"), ("channel", "I"),
                         ("_sec_offset", "H"), ("_sec_length", "H"), ("previous_session_id", "Q")))
    flags: int = 0
    security_mode: int = 0
    capabilities: int = 0
    channel: int = 0
    previous_session_id: int = 0
    security_buffer: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> SessionSetupRequest:
        flags, mode, caps, channel, off, length, prev = cls.LAYOUT.unpack(msg)
        return cls(flags, mode, caps, channel, prev, take_buffer(msg, off, length))

    def encode(self) -> bytes:
        return self.LAYOUT.pack(self.flags, self.security_mode, self.capabilities, self.channel,
                                HEADER_SIZE + self.LAYOUT.size, len(self.security_buffer),
                                self.previous_session_id) + bytes(self.security_buffer)


@dataclass(frozen=True, slots=True)
class SessionSetupResponse(Message):
    """[MS-SMB2] 2.2.6 SMB2 SESSION_SETUP Response."""

    LAYOUT = Layout(9, (("session_flags", "H"), ("_sec_offset", "H"), ("_sec_length", "H")))
    session_flags: int = 0
    security_buffer: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> SessionSetupResponse:
        flags, off, length = cls.LAYOUT.unpack(msg)
        return cls(flags, take_buffer(msg, off, length))

    def encode(self) -> bytes:
        sec = bytes(self.security_buffer)
        # An empty token still gets the usual offset (Windows/Samba do this); the body is padded to
        # StructureSize 9 so the variable part is never zero bytes long.
        body = self.LAYOUT.pack(self.session_flags, HEADER_SIZE + self.LAYOUT.size, len(sec)) + sec
        return body if sec else body + b"\0"


@dataclass(frozen=True, slots=True)
class LogoffRequest(Message):
    """[MS-SMB2] 2.2.7 SMB2 LOGOFF Request."""

    LAYOUT = Layout(4, (("_reserved", "H"),))


@dataclass(frozen=True, slots=True)
class LogoffResponse(Message):
    """[MS-SMB2] 2.2.8 SMB2 LOGOFF Response."""

    LAYOUT = Layout(4, (("_reserved", "H"),))
