"""Pure encode/decode of the persistent-handle journal: frames, entries, the header.

File layout (one generation file ``journal.<gen>``)::

    frame*          frame = length u32 | crc u32 | payload[length]
    payload         = epoch u64 | seq u64 | flags u8 | value          (flags bit 0: persistent)

The first frame of a file is a :class:`JournalHeader` (written with the generation and the writer's
fencing epoch); then a snapshot of the live state (compaction) and appended records.

The CRC is zlib's CRC-32 (IEEE), computed in C, which is all torn-tail detection needs (we are not
defending against an adversary; no extra dependency for CRC32C). A frame whose length runs past the
end of the data or whose CRC does not match ends the readable journal: :func:`decode_frames` reports
where it stopped so that the writer can truncate the tail before appending again.

Values are a small tagged encoding of what ``records`` are made of (None, bool, int, bytes, str,
tuples and the record dataclasses themselves), so records stay plain dataclasses with no codec code;
a record's tag is its index in :data:`RECORD_TYPES` (append-only: never reorder it).
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sofs.handlestate import records as R


@dataclass(frozen=True, slots=True)
class JournalHeader:
    """First record of every journal file: which generation it is and who wrote it."""

    generation: int
    epoch: int
    magic: str = "sofs-journal-1"


@dataclass(frozen=True, slots=True)
class OpenResilientSet:
    """FSCTL_LMR_REQUEST_RESILIENCY on an open ([MS-SMB2] 3.3.5.15.9): resilient with ``timeout_ms``."""

    persistent_id: int
    timeout_ms: int


RECORD_TYPES: tuple[type, ...] = (
    JournalHeader, R.OpenRecord, R.OpenAdded, R.OpenRemoved, R.OpenDisconnected, R.OpenReconnected,
    R.DeleteOnCloseSet, R.DeletePendingSet, R.PathMoved, R.ChannelSequenceSet, R.LockSequenceSet,
    R.LockAdded, R.LockRemoved, R.LeaseSet, R.OplockSet, OpenResilientSet,
)
_TAG = {t: i for i, t in enumerate(RECORD_TYPES)}
_FIELDS = {t: tuple(f.name for f in dataclasses.fields(t)) for t in RECORD_TYPES}
_RECORD_PREFIX = {t: b"R" + bytes((i,)) for t, i in _TAG.items()}

_FRAME = struct.Struct("<II")
_ENTRY = struct.Struct("<QQB")
_U32 = struct.Struct("<I")
MAX_FRAME = 16 * 1024 * 1024


class JournalDecodeError(ValueError):
    pass


# --- values -------------------------------------------------------------------------------------

def _enc(v: Any, out: bytearray) -> None:
    """Append the encoding of ``v``: one dict lookup on the exact type for the common values
    (the generic chain of ``_enc_slow`` defines the format; it also takes subclasses and tuples)."""
    t = type(v)
    if t is int:
        if 0 <= v < 128:
            out += _SMALL_INT[v]
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out += _INT_PREFIX[len(raw)]
            out += raw
    elif v is None:
        out += b"N"
    elif t is bytes:
        out += b"B" + _U32.pack(len(v)) + v
    elif t is bool:
        out += b"T" if v else b"F"
    elif t is str:
        b = v.encode("utf-8", "surrogatepass")
        out += b"S" + _U32.pack(len(b)) + b
    else:
        fn = _ENCODERS.get(t)
        if fn is None:
            _enc_slow(v, out)
        else:
            fn(v, out)


# ``I`` + length + little-endian signed bytes: the prefix per length, and whole encodings of 0..127
_INT_PREFIX = [b"I" + bytes((n,)) for n in range(256)]
_SMALL_INT = [b"I\x01" + bytes((n,)) for n in range(128)]

# One straight-line encoder per record type (generated: no loop over field names, no getattr by
# string, the scalar cases of ``_enc`` inlined per field). Same bytes as ``_enc_slow`` (tested).
_FIELD_CODE = """
    x = v.{name}
    t = type(x)
    if t is int:
        if 0 <= x < 128:
            out += _SMALL_INT[x]
        else:
            raw = x.to_bytes((x.bit_length() + 8) // 8, "little", signed=True)
            out += _INT_PREFIX[len(raw)]
            out += raw
    elif x is None:
        out += b"N"
    elif t is bytes:
        out += b"B" + _pack(len(x)) + x
    elif t is bool:
        out += b"T" if x else b"F"
    elif t is str:
        b = x.encode("utf-8", "surrogatepass")
        out += b"S" + _pack(len(b)) + b
    else:
        _enc(x, out)"""


def _make_encoder(cls: type) -> Callable[[Any, bytearray], None]:
    src = f"def enc_{cls.__name__}(v, out):\n    out += _PREFIX"
    src += "".join(_FIELD_CODE.format(name=name) for name in _FIELDS[cls]) + "\n"
    env: dict[str, Any] = {"_PREFIX": _RECORD_PREFIX[cls], "_SMALL_INT": _SMALL_INT, "_INT_PREFIX": _INT_PREFIX,
                           "_pack": _U32.pack, "_enc": _enc}
    exec(compile(src, f"<journal encoder {cls.__name__}>", "exec"), env)  # noqa: S102 - our own source
    fn: Callable[[Any, bytearray], None] = env[f"enc_{cls.__name__}"]
    return fn


_ENCODERS: dict[type, Callable[[Any, bytearray], None]] = {t: _make_encoder(t) for t in RECORD_TYPES}
_ENC_OPEN_RECORD = _ENCODERS[R.OpenRecord]
_OPEN_ADDED_PREFIX = _RECORD_PREFIX[R.OpenAdded]


def _enc_slow(v: Any, out: bytearray) -> None:
    if v is None:
        out += b"N"
    elif v is True:
        out += b"T"
    elif v is False:
        out += b"F"
    elif isinstance(v, int):
        raw = v.to_bytes((v.bit_length() + 8) // 8 or 1, "little", signed=True)
        out += b"I" + bytes((len(raw),)) + raw
    elif isinstance(v, bytes | bytearray | memoryview):
        b = bytes(v)
        out += b"B" + _U32.pack(len(b)) + b
    elif isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        out += b"S" + _U32.pack(len(b)) + b
    elif isinstance(v, tuple):
        out += b"L" + _U32.pack(len(v))
        for x in v:
            _enc(x, out)
    elif type(v) in _TAG:
        out += b"R" + bytes((_TAG[type(v)],))
        for name in _FIELDS[type(v)]:
            _enc(getattr(v, name), out)
    else:
        raise TypeError(f"cannot journal {type(v).__name__}")


def _dec(buf: memoryview, pos: int) -> tuple[Any, int]:
    try:
        kind = buf[pos]
    except IndexError:
        raise JournalDecodeError("truncated value") from None
    pos += 1
    if kind == 0x4E:  # N
        return None, pos
    if kind == 0x54:  # T
        return True, pos
    if kind == 0x46:  # F
        return False, pos
    if kind == 0x49:  # I
        n = buf[pos]
        raw = bytes(buf[pos + 1:pos + 1 + n])
        if len(raw) != n:
            raise JournalDecodeError("truncated int")
        return int.from_bytes(raw, "little", signed=True), pos + 1 + n
    if kind in (0x42, 0x53, 0x4C):  # B S L
        if pos + 4 > len(buf):
            raise JournalDecodeError("truncated length")
        (n,) = _U32.unpack_from(buf, pos)
        pos += 4
        if kind == 0x4C:
            items = []
            for _ in range(n):
                x, pos = _dec(buf, pos)
                items.append(x)
            return tuple(items), pos
        raw = bytes(buf[pos:pos + n])
        if len(raw) != n:
            raise JournalDecodeError("truncated bytes")
        return (raw if kind == 0x42 else raw.decode("utf-8", "surrogatepass")), pos + n
    if kind == 0x52:  # R
        tag = buf[pos]
        if tag >= len(RECORD_TYPES):
            raise JournalDecodeError(f"unknown record tag {tag}")
        cls = RECORD_TYPES[tag]
        pos += 1
        vals = []
        for _ in _FIELDS[cls]:
            x, pos = _dec(buf, pos)
            vals.append(x)
        return cls(*vals), pos
    raise JournalDecodeError(f"unknown value kind 0x{kind:02x}")


def encode_value(v: Any) -> bytes:
    out = bytearray()
    _enc(v, out)
    return bytes(out)


def decode_value(data: bytes | memoryview) -> Any:
    mv = memoryview(data)
    v, pos = _dec(mv, 0)
    if pos != len(mv):
        raise JournalDecodeError("trailing bytes after value")
    return v


# --- entries and frames -------------------------------------------------------------------------

def encode_entry(entry: R.JournalEntry | tuple[int, int, Any, bool]) -> bytes:
    """One framed entry: ``JournalEntry`` (or (epoch, seq, record, persistent) for headers)."""
    if isinstance(entry, R.JournalEntry):
        return encode_frame(entry.epoch, entry.seq, entry.record, entry.persistent)
    return encode_frame(*entry)


def encode_frame(epoch: int, seq: int, rec: Any, persistent: bool) -> bytes:
    """``encode_entry`` without building a ``JournalEntry`` first (the journal's append path)."""
    payload = bytearray(_ENTRY.pack(epoch, seq, 1 if persistent else 0))
    fn = _ENCODERS.get(type(rec))
    if fn is None:
        _enc(rec, payload)
    else:
        fn(rec, payload)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def encode_open_added(epoch: int, seq: int, o: Any, persistent: bool) -> bytes:
    """The frame of ``OpenAdded(to_record(o))`` read straight off ``o`` (any object with the
    ``OpenRecord`` field names, e.g. a ``model.Open``): same bytes, no record objects built."""
    payload = bytearray(_ENTRY.pack(epoch, seq, 1 if persistent else 0))
    payload += _OPEN_ADDED_PREFIX
    _ENC_OPEN_RECORD(o, payload)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode_payload(payload: bytes | memoryview) -> R.JournalEntry:
    mv = memoryview(payload)
    if len(mv) < _ENTRY.size:
        raise JournalDecodeError("short entry")
    epoch, seq, flags = _ENTRY.unpack_from(mv, 0)
    rec = decode_value(mv[_ENTRY.size:])
    return R.JournalEntry(epoch, seq, rec, bool(flags & 1))


@dataclass(frozen=True, slots=True)
class FrameScan:
    """Result of scanning a journal file's bytes: the good entries and where reading stopped."""

    entries: tuple[R.JournalEntry, ...]
    good_end: int  # offset just after the last good frame
    size: int  # total bytes scanned
    error: str = ""  # why the scan stopped before ``size`` ('' = clean end)

    @property
    def torn(self) -> bool:
        return self.good_end != self.size


def iter_frames(data: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
    """(end offset, payload) of each intact frame; stops silently at the first bad one."""
    mv = memoryview(data)
    pos = 0
    while pos + _FRAME.size <= len(mv):
        length, crc = _FRAME.unpack_from(mv, pos)
        start = pos + _FRAME.size
        if length > MAX_FRAME or start + length > len(mv):
            return
        payload = mv[start:start + length]
        if zlib.crc32(payload) != crc:
            return
        pos = start + length
        yield pos, payload


def decode_frames(data: bytes | memoryview) -> FrameScan:
    """Decode every intact frame; a torn/corrupt frame ends the scan (reported in ``error``)."""
    entries: list[R.JournalEntry] = []
    good_end = 0
    error = ""
    for end, payload in iter_frames(data):
        try:
            entries.append(decode_payload(payload))
        except (JournalDecodeError, TypeError, ValueError) as e:
            error = f"undecodable record at {good_end}: {e}"
            break
        good_end = end
    if not error and good_end != len(data):
        error = f"torn or corrupt frame at offset {good_end}"
    return FrameScan(tuple(entries), good_end, len(data), error)


def fenced(entries: tuple[R.JournalEntry, ...] | list[R.JournalEntry]) -> tuple[list[R.JournalEntry], int]:
    """Drop entries written with an epoch older than one already seen (a fenced-off writer).

    Returns (kept entries, number dropped).
    """
    kept: list[R.JournalEntry] = []
    top = 0
    dropped = 0
    for e in entries:
        if e.epoch < top:
            dropped += 1
            continue
        top = e.epoch
        kept.append(e)
    return kept, dropped
