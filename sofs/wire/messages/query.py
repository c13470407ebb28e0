"""[MS-SMB2] 2.2.33-2.2.40 QUERY_DIRECTORY, QUERY_INFO and SET_INFO requests and responses.

Information payloads stay raw ``Buffer`` here; ``sofs.wire.fscc`` / ``sofs.wire.dtyp`` encode and
decode them (the InfoType/class pair says which). Output buffers are built by the handler
(``fscc.encode_dir_entries``, ``fscc.fit_output``) and passed in as bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Buffer, Layout, Message, decode_utf16, encode_utf16, take_buffer
from sofs.wire.status import NtStatus

__all__ = [
    "QueryDirectoryRequest", "QueryDirectoryResponse", "QueryInfoRequest", "QueryInfoResponse",
    "SetInfoRequest", "SetInfoResponse",
]


@dataclass(frozen=True, slots=True)
class QueryDirectoryRequest(Message):
    """[MS-SMB2] 2.2.33 SMB2 QUERY_DIRECTORY Request; ``file_name`` is the search pattern."""

    LAYOUT = Layout(33, (
        ("file_information_class", "B"), ("flags", "B"), ("file_index", "I"), ("file_id", "16s"),
        ("_name_offset", "H"), ("_name_length", "H"), ("output_buffer_length", "I"),
    ))
    file_information_class: int = 0
    flags: int = 0
    file_index: int = 0
    file_id: bytes = bytes(16)
    output_buffer_length: int = 0
    file_name: str = ""

    @classmethod
    def _decode(cls, msg: memoryview) -> QueryDirectoryRequest:
        cls_, flags, index, fid, n_off, n_len, out_len = cls.LAYOUT.unpack(msg)
        raw = take_buffer(msg, n_off, n_len, HEADER_SIZE + cls.LAYOUT.size)
        return cls(cls_, flags, index, fid, out_len, decode_utf16(raw, NtStatus.INVALID_PARAMETER))

    def encode(self) -> bytes:
        name = encode_utf16(self.file_name)
        return self.LAYOUT.pack(
            self.file_information_class, self.flags, self.file_index, self.file_id,
            HEADER_SIZE + self.LAYOUT.size if name else 0, len(name), self.output_buffer_length,
        ) + (name or b"\0")


@dataclass(frozen=True, slots=True)
class _OutputBufferResponse(Message):
    """Shared shape of 2.2.34 / 2.2.38: OutputBufferOffset(2), OutputBufferLength(4), Buffer."""

    LAYOUT = Layout(9, (("_offset", "H"), ("_length", "I")))
    output_buffer: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> _OutputBufferResponse:
        off, length = cls.LAYOUT.unpack(msg)
        return cls(take_buffer(msg, off, length, HEADER_SIZE + cls.LAYOUT.size))

    def encode(self) -> bytes:
        n = len(self.output_buffer)
        # Windows sends offset 0x48 even for an empty buffer; one pad byte keeps the body at 9.
        return self.LAYOUT.pack(HEADER_SIZE + self.LAYOUT.size, n) + (bytes(self.output_buffer) or b"\0")


@dataclass(frozen=True, slots=True)
class QueryDirectoryResponse(_OutputBufferResponse):
    """[MS-SMB2] 2.2.34 SMB2 QUERY_DIRECTORY Response (entries from ``encode_dir_entries``)."""


@dataclass(frozen=True, slots=True)
class QueryInfoResponse(_OutputBufferResponse):
    """[MS-SMB2] 2.2.38 SMB2 QUERY_INFO Response."""


@dataclass(frozen=True, slots=True)
class QueryInfoRequest(Message):
    """[MS-SMB2] 2.2.37 SMB2 QUERY_INFO Request; ``input_buffer`` holds a FILE_GET_EA_INFORMATION
    list (EA queries) or quota SIDs; ``additional_information`` the SecurityInformation selector."""

    LAYOUT = Layout(41, (
        ("info_type", "B"), ("file_info_class", "B"), ("output_buffer_length", "I"),
        ("_input_offset", "H"), ("_reserved", "H"), ("_input_length", "I"),
        ("additional_information", "I"), ("flags", "I"), ("file_id", "16s"),
    ))
    info_type: int = 0
    file_info_class: int = 0
    output_buffer_length: int = 0
    additional_information: int = 0
    flags: int = 0
    file_id: bytes = bytes(16)
    input_buffer: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> QueryInfoRequest:
        it, ic, out_len, in_off, _, in_len, add, flags, fid = cls.LAYOUT.unpack(msg)
        return cls(it, ic, out_len, add, flags, fid,
                   take_buffer(msg, in_off, in_len, HEADER_SIZE + cls.LAYOUT.size))

    def encode(self) -> bytes:
        inp = bytes(self.input_buffer)
        return self.LAYOUT.pack(
            self.info_type, self.file_info_class, self.output_buffer_length,
            HEADER_SIZE + self.LAYOUT.size if inp else 0, 0, len(inp), self.additional_information,
            self.flags, self.file_id,
        ) + (inp or b"\0")


@dataclass(frozen=True, slots=True)
class SetInfoRequest(Message):
    """[MS-SMB2] 2.2.39 SMB2 SET_INFO Request; ``buffer`` is the raw information structure."""

    LAYOUT = Layout(33, (
        ("info_type", "B"), ("file_info_class", "B"), ("_buffer_length", "I"), ("_buffer_offset", "H"),
        ("_reserved", "H"), ("additional_information", "I"), ("file_id", "16s"),
    ))
    info_type: int = 0
    file_info_class: int = 0
    additional_information: int = 0
    file_id: bytes = bytes(16)
    buffer: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> SetInfoRequest:
        it, ic, length, off, _, add, fid = cls.LAYOUT.unpack(msg)
        return cls(it, ic, add, fid, take_buffer(msg, off, length, HEADER_SIZE + cls.LAYOUT.size))

    def encode(self) -> bytes:
        buf = bytes(self.buffer)
        return self.LAYOUT.pack(self.info_type, self.file_info_class, len(buf),
                                HEADER_SIZE + self.LAYOUT.size, 0, self.additional_information,
                                self.file_id) + (buf or b"\0")


@dataclass(frozen=True, slots=True)
class SetInfoResponse(Message):
    """[MS-SMB2] 2.2.40 SMB2 SET_INFO Response."""

    LAYOUT = Layout(2, ())
