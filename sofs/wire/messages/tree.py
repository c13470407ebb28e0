"""[MS-SMB2] 2.2.9-2.2.12 TREE_CONNECT and TREE_DISCONNECT.

With SMB2_TREE_CONNECT_FLAG_EXTENSION_PRESENT (3.1.1), Buffer starts with the 2.2.9.1 extension
(TreeConnectContextOffset relative to the extension start, TreeConnectContextCount, 10 reserved
bytes), then the path, then 8-aligned 2.2.9.2 TREE_CONNECT_CONTEXTs. Decision: PathOffset/PathLength
are read header-relative in both forms (what Windows sends); contexts are kept raw
(:class:`TreeConnectContext`, e.g. SMB2_REMOTED_IDENTITY_TREE_CONNECT_CONTEXT_ID = 1).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.codec import (
    HEADER_SIZE,
    Layout,
    Message,
    align8,
    decode_utf16,
    encode_utf16,
    need,
    pad8,
    take_buffer,
)
from sofs.wire.constants import TreeConnectFlags
from sofs.wire.status import NtStatus

_EXTENSION = struct.Struct("<IH10s")
_CTX_HEADER = struct.Struct("<HHI")
_EXTENSION_FLAG = int(TreeConnectFlags.EXTENSION_PRESENT)


@dataclass(frozen=True, slots=True)
class TreeConnectContext:
    """[MS-SMB2] 2.2.9.2 TREE_CONNECT_CONTEXT, data kept raw."""

    context_type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TreeConnectRequest(Message):
    """[MS-SMB2] 2.2.9 SMB2 TREE_CONNECT Request; ``path`` is ``\\\\server\\share``."""

    LAYOUT = Layout(9, (("flags", "H"), ("_path_offset", "H"), ("_path_length", "H")))
    flags: int = 0
    path: str = ""
    contexts: tuple[TreeConnectContext, ...] = ()

    @classmethod
    def _decode(cls, msg: memoryview) -> TreeConnectRequest:
        flags, off, length = cls.LAYOUT.unpack(msg)
        path = decode_utf16(take_buffer(msg, off, length), NtStatus.BAD_NETWORK_NAME)
        contexts: tuple[TreeConnectContext, ...] = ()
        if flags & _EXTENSION_FLAG:
            ext = HEADER_SIZE + cls.LAYOUT.size
            need(msg, ext + _EXTENSION.size, "TREE_CONNECT extension")
            ctx_off, count, _reserved = _EXTENSION.unpack_from(msg, ext)
            contexts = _decode_contexts(msg, ext + ctx_off, count)
        return cls(flags, path, contexts)

    def encode(self) -> bytes:
        raw = encode_utf16(self.path)
        start = HEADER_SIZE + self.LAYOUT.size
        if not self.flags & _EXTENSION_FLAG:
            return self.LAYOUT.pack(self.flags, start, len(raw)) + raw
        path_off = start + _EXTENSION.size
        ctx_rel = align8(path_off + len(raw)) - start if self.contexts else 0
        parts = [self.LAYOUT.pack(self.flags, path_off, len(raw)),
                 _EXTENSION.pack(ctx_rel, len(self.contexts), b""), raw]
        if self.contexts:
            parts.append(bytes(pad8(path_off + len(raw))))
            for i, ctx in enumerate(self.contexts):
                parts.append(_CTX_HEADER.pack(ctx.context_type, len(ctx.data), 0) + ctx.data)
                if i + 1 < len(self.contexts):
                    parts.append(bytes(pad8(len(ctx.data))))
        return b"".join(parts)

    @property
    def share_name(self) -> str:
        """The last path component (``data`` of ``\\\\host\\data``), as the client typed it."""
        return self.path.rsplit("\\", 1)[-1]


def _decode_contexts(msg: memoryview, offset: int, count: int) -> tuple[TreeConnectContext, ...]:
    out: list[TreeConnectContext] = []
    pos = offset
    for _ in range(count):
        need(msg, pos + 8, "TREE_CONNECT_CONTEXT")
        ctype, length, _r = _CTX_HEADER.unpack_from(msg, pos)
        out.append(TreeConnectContext(ctype, bytes(take_buffer(msg, pos + 8, length))))
        pos += 8 + align8(length)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class TreeConnectResponse(Message):
    """[MS-SMB2] 2.2.10 SMB2 TREE_CONNECT Response."""

    LAYOUT = Layout(16, (("share_type", "B"), ("_reserved", "B"), ("share_flags", "I"),
                         ("capabilities", "I"), ("maximal_access", "I")))
    share_type: int
    share_flags: int = 0
    capabilities: int = 0
    maximal_access: int = 0


@dataclass(frozen=True, slots=True)
class TreeDisconnectRequest(Message):
    """[MS-SMB2] 2.2.11 SMB2 TREE_DISCONNECT Request."""

    LAYOUT = Layout(4, (("_reserved", "H"),))


@dataclass(frozen=True, slots=True)
class TreeDisconnectResponse(Message):
    """[MS-SMB2] 2.2.12 SMB2 TREE_DISCONNECT Response."""

    LAYOUT = Layout(4, (("_reserved", "H"),))
