"""[MS-SMB2] 2.2.13 CREATE Request and 2.2.14 CREATE Response.

The name is a ``str`` (UTF-16LE on the wire, relative to the share, no leading backslash); contexts
are a list of raw :class:`~sofs.wire.messages.create_contexts.CreateContext` (decode their payloads
with ``decode_request_context``). Buffers must start after the fixed part (Samba's rule).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sofs.wire.codec import (
    HEADER_SIZE,
    Layout,
    Message,
    align8,
    decode_utf16,
    encode_utf16,
    frozen_builder,
    take_buffer,
)
from sofs.wire.messages.create_contexts import CreateContext, encode_create_contexts, parse_create_contexts
from sofs.wire.status import NtStatus

__all__ = ["CreateRequest", "CreateResponse", "encode_create_response"]


@dataclass(frozen=True, slots=True)
class CreateRequest(Message):
    """[MS-SMB2] 2.2.13 SMB2 CREATE Request."""

    LAYOUT = Layout(57, (
        ("security_flags", "B"), ("requested_oplock_level", "B"), ("impersonation_level", "I"),
        ("smb_create_flags", "Q"), ("_reserved", "Q"), ("desired_access", "I"), ("file_attributes", "I"),
        ("share_access", "I"), ("create_disposition", "I"), ("create_options", "I"),
        ("_name_offset", "H"), ("_name_length", "H"), ("_contexts_offset", "I"), ("_contexts_length", "I"),
    ))
    security_flags: int = 0
    requested_oplock_level: int = 0
    impersonation_level: int = 2
    smb_create_flags: int = 0
    desired_access: int = 0
    file_attributes: int = 0
    share_access: int = 0
    create_disposition: int = 1
    create_options: int = 0
    name: str = ""
    contexts: list[CreateContext] = field(default_factory=list)

    @classmethod
    def _decode(cls, msg: memoryview) -> CreateRequest:
        (sec, oplock, imp, cflags, _, access, attrs, share, disp, opts,
         name_off, name_len, ctx_off, ctx_len) = cls.LAYOUT.unpack(msg)
        body_end = HEADER_SIZE + cls.LAYOUT.size
        if name_len and not name_len & 1 and body_end <= name_off and name_off + name_len <= len(msg):
            # the common case without the helpers' extra copy (same checks, same result)
            name = str(msg[name_off:name_off + name_len], "utf-16-le", "surrogatepass")
        elif not name_len:
            name = ""  # the share root (take_buffer ignores the offset of an empty buffer too)
        else:
            name = decode_utf16(take_buffer(msg, name_off, name_len, body_end), NtStatus.INVALID_PARAMETER)
        contexts = parse_create_contexts(take_buffer(msg, ctx_off, ctx_len, body_end)) if ctx_len else []
        return _new_request(sec, oplock, imp, cflags, access, attrs, share, disp, opts, name, contexts)

    def encode(self) -> bytes:
        name = encode_utf16(self.name)
        ctx = encode_create_contexts(self.contexts)
        name_off = HEADER_SIZE + self.LAYOUT.size
        var = name
        ctx_off = 0
        if ctx:
            pad = align8(len(name)) - len(name)
            ctx_off = name_off + len(name) + pad
            var = name + b"\0" * pad + ctx
        fixed = self.LAYOUT.pack(
            self.security_flags, self.requested_oplock_level, self.impersonation_level,
            self.smb_create_flags, 0, self.desired_access, self.file_attributes, self.share_access,
            self.create_disposition, self.create_options, name_off, len(name), ctx_off, len(ctx))
        return fixed + (var or b"\0")


_new_request = frozen_builder(CreateRequest)  # ``CreateRequest(...)`` positional, at a third of the cost


@dataclass(frozen=True, slots=True)
class CreateResponse(Message):
    """[MS-SMB2] 2.2.14 SMB2 CREATE Response; ``file_id`` is the 16-byte SMB2_FILEID."""

    LAYOUT = Layout(89, (
        ("oplock_level", "B"), ("flags", "B"), ("create_action", "I"), ("creation_time", "q"),
        ("last_access_time", "q"), ("last_write_time", "q"), ("change_time", "q"),
        ("allocation_size", "q"), ("end_of_file", "q"), ("file_attributes", "I"), ("_reserved2", "I"),
        ("file_id", "16s"), ("_contexts_offset", "I"), ("_contexts_length", "I"),
    ))
    oplock_level: int = 0
    flags: int = 0
    create_action: int = 0
    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    change_time: int = 0
    allocation_size: int = 0
    end_of_file: int = 0
    file_attributes: int = 0
    file_id: bytes = bytes(16)
    contexts: list[CreateContext] = field(default_factory=list)

    @classmethod
    def _decode(cls, msg: memoryview) -> CreateResponse:
        (oplock, flags, action, ct, at, wt, cht, alloc, eof, attrs, _, fid,
         ctx_off, ctx_len) = cls.LAYOUT.unpack(msg)
        buf = take_buffer(msg, ctx_off, ctx_len, HEADER_SIZE + cls.LAYOUT.size)
        return cls(oplock, flags, action, ct, at, wt, cht, alloc, eof, attrs, fid,
                   parse_create_contexts(buf) if ctx_len else [])

    def encode(self) -> bytes:
        return encode_create_response(
            self.oplock_level, self.create_action, self.creation_time, self.last_access_time,
            self.last_write_time, self.change_time, self.allocation_size, self.end_of_file,
            self.file_attributes, self.file_id, self.contexts, self.flags)


_RSP = CreateResponse.LAYOUT.struct
_RSP_PADDED = struct.Struct(_RSP.format + "x")  # no contexts: the one Buffer byte is a zero
_RSP_SIZE = CreateResponse.LAYOUT.structure_size
_RSP_CTX_OFFSET = HEADER_SIZE + CreateResponse.LAYOUT.size


def encode_create_response(oplock_level: int, create_action: int, creation_time: int, last_access_time: int,
                           last_write_time: int, change_time: int, allocation_size: int, end_of_file: int,
                           file_attributes: int, file_id: bytes, contexts: list[CreateContext] | bytes,
                           flags: int = 0) -> bytes:
    """[MS-SMB2] 2.2.14 body from its fields: the server's CREATE path builds no
    :class:`CreateResponse` object (one ``struct.pack``; same bytes as ``CreateResponse.encode``).
    ``contexts`` may be an already encoded chain (:func:`encode_create_contexts`)."""
    if not contexts:
        return _RSP_PADDED.pack(_RSP_SIZE, oplock_level, flags, create_action, creation_time,
                                last_access_time, last_write_time, change_time, allocation_size, end_of_file,
                                file_attributes, 0, file_id, 0, 0)
    ctx = contexts if type(contexts) is bytes else encode_create_contexts(contexts)  # type: ignore[arg-type]
    return _RSP.pack(_RSP_SIZE, oplock_level, flags, create_action, creation_time, last_access_time,
                     last_write_time, change_time, allocation_size, end_of_file, file_attributes, 0,
                     file_id, _RSP_CTX_OFFSET, len(ctx)) + ctx
