"""The small declarative codec every SMB2 message uses.

Conventions (all of ``sofs.wire.messages`` follow them):

* ``XRequest.decode(msg)`` receives a memoryview (bytes are accepted too) of ONE whole SMB2 message,
  starting at its 64-byte header; its length is that message's length inside a compound (up to
  NextCommand, or to the end of the frame). The fixed body starts at ``HEADER_SIZE``. Offsets in the
  spec ("from the beginning of the SMB2 header") are therefore indexes into ``msg``.
* ``x.encode()`` returns the BODY only (what follows the 64-byte header); offsets it writes are
  ``HEADER_SIZE + position in the body``. Buffers handed to decoders stay memoryview slices of
  ``msg`` (zero copy); encoders accept any bytes-like object.
* Decoders raise :class:`~sofs.wire.errors.WireError` and nothing else. ``Message.decode`` turns a
  stray ``struct.error``/``IndexError``/``ValueError`` into WireError(INVALID_PARAMETER), so a bug in a
  decoder is still a protocol error, never a crash.
* Numeric fields stay plain ``int`` (unknown flag bits survive a round trip); GUIDs and other opaque
  fixed blobs are ``bytes``. An SMB2_FILEID ([MS-SMB2] 2.2.14.1) is 16 ``bytes`` (Persistent then
  Volatile, little-endian): hashable, compared without conversion; see :func:`make_file_id`.

A message class is a ``@dataclass(frozen=True, slots=True)`` subclass of :class:`Message` with a
``LAYOUT = Layout(structure_size, (("name", "fmt"), ...))``. Fields whose name starts with ``_`` are
reserved / derived (offsets, lengths): they are not dataclass fields, and encode writes 0 for them unless
the class overrides ``encode``. A class whose layout covers all of its fields needs no code at all;
classes with variable buffers override ``_decode``/``encode`` using :meth:`Layout.unpack`,
:func:`take_buffer` and :meth:`Layout.pack`.
"""
from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self, TypeVar

from sofs.wire.errors import WireError
from sofs.wire.status import NtStatus

HEADER_SIZE = 64
"""[MS-SMB2] 2.2.1 the SMB2 header is always 64 bytes."""

Buffer = bytes | bytearray | memoryview

_INVALID = NtStatus.INVALID_PARAMETER
_EMPTY = memoryview(b"")

M = TypeVar("M", bound="Message")
T = TypeVar("T")


class Layout:
    """A fixed little-endian field list that starts with StructureSize ('H').

    ``structure_size`` is the value the spec requires (it often counts one byte of the variable
    part, e.g. 0x39 for CREATE); ``size`` is the real byte length of the fixed part.
    """

    __slots__ = ("_defaults", "formats", "names", "public", "size", "struct", "structure_size")

    def __init__(self, structure_size: int, fields: Sequence[tuple[str, str]]) -> None:
        self.structure_size = structure_size
        self.names: tuple[str, ...] = tuple(n for n, _ in fields)
        self.formats: tuple[str, ...] = tuple(f for _, f in fields)
        self.struct = struct.Struct("<H" + "".join(self.formats))
        self.size: int = self.struct.size
        self.public: tuple[int, ...] = tuple(i for i, n in enumerate(self.names) if not n.startswith("_"))
        self._defaults: tuple[Any, ...] = tuple(b"" if f.endswith("s") else 0 for f in self.formats)

    def unpack(self, msg: Buffer, offset: int = HEADER_SIZE) -> tuple[Any, ...]:
        """All fields after StructureSize, in order; WireError if short or StructureSize is wrong."""
        try:
            values = self.struct.unpack_from(msg, offset)
        except struct.error:
            raise WireError(_INVALID, f"body shorter than {self.size} bytes") from None
        if values[0] != self.structure_size:
            raise WireError(_INVALID, f"StructureSize {values[0]} != {self.structure_size}")
        return values[1:]

    def pack(self, *values: Any) -> bytes:
        """StructureSize followed by ``values`` (one per field, reserved ones included)."""
        return self.struct.pack(self.structure_size, *values)

    def pack_into(self, buf: bytearray | memoryview, offset: int, *values: Any) -> None:
        self.struct.pack_into(buf, offset, self.structure_size, *values)

    def values_of(self, obj: object) -> list[Any]:
        """Field values taken from ``obj`` by name; reserved (``_``) fields get 0 / b""."""
        out = list(self._defaults)
        names = self.names
        for i in self.public:
            out[i] = getattr(obj, names[i])
        return out


class Message:
    """Base of every SMB2 message body: declarative fixed part, overridable variable part."""

    __slots__ = ()
    LAYOUT: ClassVar[Layout]

    @classmethod
    def decode(cls, msg: Buffer) -> Self:
        """Decode one message (header included, see module doc); raises only WireError."""
        if not isinstance(msg, memoryview):
            msg = memoryview(msg)
        try:
            return cls._decode(msg)
        except WireError:
            raise
        except (struct.error, IndexError, ValueError, TypeError, OverflowError) as exc:
            raise WireError(_INVALID, f"{cls.__name__}: {exc}") from None

    @classmethod
    def _decode(cls, msg: memoryview) -> Self:
        values = cls.LAYOUT.unpack(msg)
        return cls(*[values[i] for i in cls.LAYOUT.public])

    def encode(self) -> bytes:
        """The body (without the 64-byte header)."""
        return self.LAYOUT.pack(*self.LAYOUT.values_of(self))


def frozen_builder(cls: type[T]) -> Callable[..., T]:
    """A positional constructor of the frozen slots dataclass ``cls`` (every field, in field order;
    no defaults, no ``__post_init__``) for the objects made on every request (a CREATE's request,
    each ``FileInfo``): about a third of ``cls(...)``'s cost. A frozen dataclass's ``__init__``
    stores each field through ``object.__setattr__``; the builder stores them as plain attributes of
    a mutable twin class with the same slots, then makes the object a ``cls`` (``__class__``
    assignment, allowed between classes of the same layout). The result is an ordinary ``cls``:
    frozen, equal and hashing as ``cls(...)`` does. Generated with ``exec`` as dataclasses
    generate their ``__init__``."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__") \
            or not all(f.init for f in fields):
        raise TypeError(f"{cls.__name__}: not a frozen slots dataclass of init fields only")
    names = [f.name for f in fields]
    twin = dataclasses.make_dataclass(f"_{cls.__name__}Builder", names, bases=cls.__bases__, slots=True,
                                      eq=False, weakref_slot="__weakref__" in cls.__slots__)
    src = (f"def build({', '.join(names)}):\n    o = _new(_twin)\n"
           + "".join(f"    o.{n} = {n}\n" for n in names) + "    o.__class__ = _cls\n    return o\n")
    scope: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    exec(src, scope)  # noqa: S102 - field names of a dataclass, as dataclasses itself does
    build: Callable[..., T] = scope["build"]
    build.__qualname__ = f"frozen_builder({cls.__name__})"
    return build


def slots_builder(cls: type[T], n: int) -> Callable[..., T]:
    """A positional constructor of the slots dataclass ``cls`` (not frozen, no ``__post_init__``): its
    first ``n`` fields as parameters in field order, every other field at its default (factories
    called), for the records made on every CREATE. ``cls(...)`` goes through ``type.__call__`` and
    the generated ``__init__`` (a frame the interpreter cannot inline, a parameter per field); the
    builder is a plain function that stores the fields on ``object.__new__(cls)``: about 10 % less
    for a 40-field record. The result is an ordinary ``cls``. Generated with ``exec`` as dataclasses
    generate their ``__init__``."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if cls.__dataclass_params__.frozen or "__slots__" not in cls.__dict__ \
            or hasattr(cls, "__post_init__") or not all(f.init for f in fields[:n]):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}: not a mutable slots dataclass without __post_init__")
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"    o.{f.name} = {f.name}\n" for f in fields[:n]]
    for f in fields[n:]:
        if f.default_factory is not dataclasses.MISSING:
            scope[f"_f_{f.name}"] = f.default_factory
            lines.append(f"    o.{f.name} = _f_{f.name}()\n")
        elif f.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: no default")
        elif f.default is None or type(f.default) in (bool, int, str):
            lines.append(f"    o.{f.name} = {f.default!r}\n")  # a constant, not a name to look up
        else:
            scope[f"_d_{f.name}"] = f.default
            lines.append(f"    o.{f.name} = _d_{f.name}\n")
    src = f"def build({', '.join(f.name for f in fields[:n])}):\n    o = _new(_cls)\n" + "".join(lines) + "    return o\n"
    exec(src, scope)  # noqa: S102 - field names of a dataclass, as dataclasses itself does
    build: Callable[..., T] = scope["build"]
    build.__qualname__ = f"slots_builder({cls.__name__})"
    return build


def take_buffer(msg: memoryview, offset: int, length: int, min_offset: int = HEADER_SIZE) -> memoryview:
    """The ``length`` bytes at ``offset`` (from the header start) of ``msg``, as a zero-copy slice.

    A zero length yields an empty view whatever the offset (clients send 0 or garbage there).
    Otherwise the buffer must lie in ``[min_offset, len(msg)]``: WireError(INVALID_PARAMETER) if not.
    """
    if length == 0:
        return _EMPTY
    if offset < min_offset or length < 0 or offset + length > len(msg):
        raise WireError(_INVALID, f"buffer [{offset}, +{length}) outside message of {len(msg)} bytes")
    return msg[offset : offset + length]


def pad8(n: int) -> int:
    """Bytes of padding that bring ``n`` up to a multiple of 8."""
    return -n & 7


def align8(n: int) -> int:
    """``n`` rounded up to a multiple of 8."""
    return (n + 7) & ~7


def align4(n: int) -> int:
    """``n`` rounded up to a multiple of 4."""
    return (n + 3) & ~3


def decode_utf16(data: Buffer, status: int = NtStatus.OBJECT_NAME_INVALID) -> str:
    """UTF-16LE → str; WireError(``status``) for an odd length.

    Unpaired surrogates are kept (``surrogatepass``): Windows names are UCS-2 and may hold them, and
    ``sofs.wire.fscc_base`` does the same. Layers that need valid Unicode (the VFS) must check.
    """
    if len(data) & 1:
        raise WireError(status, "odd-length UTF-16 string")
    return bytes(data).decode("utf-16-le", "surrogatepass")


def encode_utf16(text: str) -> bytes:
    """str → UTF-16LE (no terminator); lone surrogates pass through, as in :func:`decode_utf16`."""
    return text.encode("utf-16-le", "surrogatepass")


FILE_ID_SIZE = 16
RELATED_FILE_ID = b"\xff" * 16
"""[MS-SMB2] 3.2.4.1.4 the FileId of a related compound request meaning "the previous one's"."""
_FILE_ID = struct.Struct("<QQ")


def make_file_id(persistent: int, volatile: int) -> bytes:
    """[MS-SMB2] 2.2.14.1 SMB2_FILEID as the 16 bytes our messages carry."""
    return _FILE_ID.pack(persistent, volatile)


def split_file_id(file_id: Buffer) -> tuple[int, int]:
    """(Persistent, Volatile) of a 16-byte SMB2_FILEID."""
    persistent, volatile = _FILE_ID.unpack(file_id)
    return persistent, volatile


def body_offset(position: int) -> int:
    """Spec offset (from the header start) of ``position`` within an encoded body."""
    return HEADER_SIZE + position


def need(msg: Buffer, end: int, what: str = "message") -> None:
    """WireError(INVALID_PARAMETER) unless ``msg`` holds at least ``end`` bytes."""
    if len(msg) < end:
        raise WireError(_INVALID, f"{what} truncated: need {end} bytes, have {len(msg)}")
