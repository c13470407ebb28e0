"""[MS-SMB2] 2.2.15 CLOSE Request / 2.2.16 CLOSE Response and 2.2.17-2.2.18 FLUSH."""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.codec import Layout, Message, frozen_builder

__all__ = ["CloseRequest", "CloseResponse", "FlushRequest", "FlushResponse"]


@dataclass(frozen=True, slots=True)
class CloseRequest(Message):
    """[MS-SMB2] 2.2.15 SMB2 CLOSE Request (Flags: CloseFlags.POSTQUERY_ATTRIB)."""

    LAYOUT = Layout(24, (("flags", "H"), ("_reserved", "I"), ("file_id", "16s")))
    flags: int = 0
    file_id: bytes = bytes(16)

    @classmethod
    def _decode(cls, msg: memoryview) -> CloseRequest:
        flags, _, file_id = cls.LAYOUT.unpack(msg)  # the generic decode's field list, unrolled
        return _new_close(flags, file_id)


_new_close = frozen_builder(CloseRequest)


@dataclass(frozen=True, slots=True)
class CloseResponse(Message):
    """[MS-SMB2] 2.2.16 SMB2 CLOSE Response (attributes only with POSTQUERY_ATTRIB, else zeros)."""

    LAYOUT = Layout(60, (
        ("flags", "H"), ("_reserved", "I"), ("creation_time", "q"), ("last_access_time", "q"),
        ("last_write_time", "q"), ("change_time", "q"), ("allocation_size", "q"), ("end_of_file", "q"),
        ("file_attributes", "I"),
    ))
    flags: int = 0
    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    change_time: int = 0
    allocation_size: int = 0
    end_of_file: int = 0
    file_attributes: int = 0


@dataclass(frozen=True, slots=True)
class FlushRequest(Message):
    """[MS-SMB2] 2.2.17 SMB2 FLUSH Request."""

    LAYOUT = Layout(24, (("_reserved1", "H"), ("_reserved2", "I"), ("file_id", "16s")))
    file_id: bytes = bytes(16)


@dataclass(frozen=True, slots=True)
class FlushResponse(Message):
    """[MS-SMB2] 2.2.18 SMB2 FLUSH Response."""

    LAYOUT = Layout(4, (("_reserved", "H"),))
