"""Minimal NDR 2.0 transfer syntax ([C706] chapter 14, [MS-RPCE] 2.2.5), little-endian only.

Just what the srvsvc/wkssvc calls need: aligned integers, unique/full pointers with referent ids,
conformant varying UTF-16 strings. Alignment is relative to the start of the stub data. Deferred
pointees are written by the caller in NDR order (a structure's pointees after the structure, an
array's element pointees after the whole array).
"""
from __future__ import annotations

import struct

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
FIRST_REFERENT = 0x00020000


class NdrError(ValueError):
    """Stub data that cannot be decoded (the caller answers with a fault)."""


class NdrWriter:
    """Append-only NDR encoder."""

    __slots__ = ("_next_ref", "buf")

    def __init__(self) -> None:
        self.buf = bytearray()
        self._next_ref = FIRST_REFERENT

    def align(self, n: int) -> None:
        pad = -len(self.buf) % n
        if pad:
            self.buf += b"\x00" * pad

    def u8(self, v: int) -> None:
        self.buf.append(v)

    def u16(self, v: int) -> None:
        self.align(2)
        self.buf += _U16.pack(v)

    def u32(self, v: int) -> None:
        self.align(4)
        self.buf += _U32.pack(v)

    def i32(self, v: int) -> None:
        self.align(4)
        self.buf += _I32.pack(v)

    def u64(self, v: int) -> None:
        self.align(8)
        self.buf += _U64.pack(v)

    def pointer(self, present: bool) -> None:
        """A unique/full pointer: a fresh referent id, or 0 for NULL."""
        if present:
            self.u32(self._next_ref)
            self._next_ref += 4
        else:
            self.u32(0)

    def wstr(self, s: str) -> None:
        """[MS-RPCE] 2.2.5.3.4.2 conformant varying string of UTF-16 code units, NUL-terminated."""
        data = s.encode("utf-16-le") + b"\x00\x00"
        n = len(data) // 2
        self.u32(n)
        self.u32(0)
        self.u32(n)
        self.buf += data

    def getvalue(self) -> bytes:
        return bytes(self.buf)


class NdrReader:
    """Bounds-checked NDR decoder; every failure raises :class:`NdrError`."""

    __slots__ = ("_buf", "pos")

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self._buf = bytes(buf)
        self.pos = 0

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self._buf):
            raise NdrError("stub data too short")
        out = self._buf[self.pos : end]
        self.pos = end
        return out

    def u16(self) -> int:
        self.align(2)
        return int(_U16.unpack(self._take(2))[0])

    def u32(self) -> int:
        self.align(4)
        return int(_U32.unpack(self._take(4))[0])

    def pointer(self) -> int:
        """A unique pointer's referent id (0 = NULL)."""
        return self.u32()

    def wstr(self, max_chars: int = 32768) -> str:
        """A conformant varying UTF-16 string (the terminating NUL, if any, is dropped)."""
        max_count, offset, actual = self.u32(), self.u32(), self.u32()
        if offset != 0 or actual > max_count or actual > max_chars:
            raise NdrError("bad conformant varying string bounds")
        raw = self._take(actual * 2)
        try:
            text = raw.decode("utf-16-le")
        except UnicodeDecodeError as e:
            raise NdrError(f"bad UTF-16 string: {e}") from None
        return text.removesuffix("\x00")

    def unique_wstr(self) -> str | None:
        """[unique, string] wchar_t*: NULL or a string."""
        return self.wstr() if self.pointer() else None

    def remaining(self) -> int:
        return len(self._buf) - self.pos
