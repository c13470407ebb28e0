"""Small shared helpers for the [MS-FSCC] / [MS-DTYP] structure codecs.

Every helper raises :class:`~sofs.wire.errors.WireError` (never ``struct.error``/``IndexError``) so
decoders built on them obey the wire layer's one-exception rule.
"""
from __future__ import annotations

import struct
from typing import Any

from sofs.wire.errors import invalid

Buffer = bytes | bytearray | memoryview

__all__ = ["Buffer", "align", "chain_entries", "pad_to", "take", "unpack", "utf16_decode", "utf16_encode", "walk_entries"]


def unpack(st: struct.Struct, buf: Buffer, offset: int = 0) -> tuple[Any, ...]:
    """``st.unpack_from(buf, offset)`` raising WireError when the buffer is too short."""
    if offset < 0 or offset + st.size > len(buf):
        raise invalid(f"need {st.size} bytes at offset {offset}, have {len(buf) - offset}")
    return st.unpack_from(buf, offset)


def take(buf: Buffer, offset: int, length: int) -> bytes:
    """``bytes(buf[offset:offset+length])`` with a bounds check."""
    if offset < 0 or length < 0 or offset + length > len(buf):
        raise invalid(f"field of {length} bytes at offset {offset} overruns buffer of {len(buf)}")
    return bytes(buf[offset:offset + length])


def utf16_decode(buf: Buffer, offset: int, length: int) -> str:
    """UTF-16LE string of ``length`` bytes; odd lengths and overruns are WireError.

    Lone surrogates are kept (``surrogatepass``): Windows names are UCS-2 and may contain them.
    """
    if length & 1:
        raise invalid(f"odd UTF-16 length {length}")
    return take(buf, offset, length).decode("utf-16-le", "surrogatepass")


def utf16_encode(s: str) -> bytes:
    return s.encode("utf-16-le", "surrogatepass")


def align(n: int, to: int = 8) -> int:
    """Round ``n`` up to a multiple of ``to`` (a power of two)."""
    return (n + to - 1) & ~(to - 1)


def pad_to(data: bytes, to: int = 8) -> bytes:
    return data + b"\0" * (align(len(data), to) - len(data))


_U32 = struct.Struct("<I")


def chain_entries(entries: list[bytes], to: int) -> bytes:
    """Join entries, each but the last padded to ``to`` bytes, with NextEntryOffset (first u32) set."""
    out = bytearray()
    for i, e in enumerate(entries):
        if i + 1 < len(entries):
            padded = align(len(e), to)
            out += _U32.pack(padded) + e[4:] + b"\0" * (padded - len(e))
        else:
            out += e
    return bytes(out)


def walk_entries(buf: Buffer, min_entry: int) -> list[int]:
    """Offsets of the entries of a NextEntryOffset chain, with bounds and loop checks."""
    offs: list[int] = []
    off = 0
    if len(buf) == 0:
        return offs
    while True:
        if off + min_entry > len(buf):
            raise invalid("entry overruns buffer")
        offs.append(off)
        (nxt,) = unpack(_U32, buf, off)
        if nxt == 0:
            return offs
        if nxt < min_entry:
            raise invalid("NextEntryOffset smaller than an entry")
        off += nxt
