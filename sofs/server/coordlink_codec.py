"""The value codec of the coordinator link: the messages of :mod:`sofs.handlestate.api` as msgpack.

Pure (no I/O). A value is one of:

- nil, bool, int (-2**63 .. 2**64-1), str (UTF-8), bytes (msgpack bin): as msgpack's own types;
- a tuple: a msgpack array (decoded as a tuple again; lists are sent as arrays too and come back as
  tuples, which is what every message field declares);
- a registered frozen dataclass: msgpack ext type ``tag`` (:data:`VALUE_TYPES`) whose data is the
  msgpack array of its fields in declaration order (nested values encoded the same way);
- a registered exception (:data:`ERROR_TYPES`): the same, with the fields listed there.

Decoding checks every field against the dataclass's type hints (exact types: a bool is not an int,
a str is not bytes) and the field count, and raises :class:`CodecError` naming the field; the link
drops a peer that sends such a value. Tags are part of the wire format: never renumber one, add new
types at the end.

Example (golden bytes in tests/server/test_coordlink_codec.py): ``LockRange(0, 10, True)`` is
``d6 0d 93 00 0a c3``: fixext 4, tag 13, the array ``[0, 10, true]``.
"""
from __future__ import annotations

import dataclasses
import itertools
import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]

from sofs.handlestate import api
from sofs.handlestate.durable import DurableGrant, DurableRequest
from sofs.wire.codec import frozen_builder

Deep = Callable[[tuple[Any, ...]], bool]

VALUE_TYPES: dict[int, type] = {
    1: api.Caller,
    2: api.LeaseRequest,
    3: api.LeaseGrant,
    4: DurableRequest,
    5: DurableGrant,
    6: api.AdmitRequest,
    7: api.AdmitResult,
    8: api.CloseResult,
    9: api.OpenImage,
    10: api.ReconnectRequest,
    11: api.ReplayRequest,
    12: api.ReplayResult,
    13: api.LockRange,
    14: api.LockRequest,
    15: api.WatchRequest,
    16: api.WatchResult,
    17: api.Change,
    18: api.RenameCheck,
    19: api.FileLock,
    20: api.FileFacts,
    21: api.HandleRow,
    22: api.ReclaimOpen,
    23: api.OplockBreakNotice,
    24: api.LeaseBreakNotice,
}
"""Ext type tag -> message dataclass (wire format: append only)."""


class CoordinatorFault(RuntimeError):
    """The coordinator failed on a call in an unexpected way (a bug there, not a refusal): the
    remote side of an exception other than HandleStateError / NotCoordinator."""


class CodecError(ValueError):
    """Bytes that are not a valid value (the peer's fault)."""


ERROR_TYPES: dict[int, tuple[type[Exception], tuple[tuple[str, type], ...]]] = {
    100: (api.HandleStateError, (("status", int), ("message", str))),
    101: (api.NotCoordinator, (("message", str),)),
    102: (CoordinatorFault, (("message", str),)),
}
"""Ext type tag -> exception and its fields (``message``: its first argument, for the last two)."""


@dataclass(frozen=True, slots=True)
class Check:
    """How values of one annotation are checked: the exact types allowed (a bool is not an int,
    a str is not bytes) and, for a tuple value, a predicate on its items (``deep``)."""

    types: frozenset[type]
    deep: Deep | None = None

    def ok(self, v: Any) -> bool:
        return type(v) in self.types and (self.deep is None or type(v) is not tuple or self.deep(v))


def compile_check(tp: Any) -> Check:
    """The :class:`Check` for annotation ``tp`` (the forms the api messages use)."""
    if tp is None or tp is type(None):
        return Check(frozenset({type(None)}))
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        alts = [compile_check(a) for a in typing.get_args(tp)]
        deeps = [a.deep for a in alts if a.deep is not None]
        if len(deeps) > 1:
            raise TypeError(f"no wire form for {tp!r} (two tuple alternatives)")
        return Check(frozenset().union(*(a.types for a in alts)), deeps[0] if deeps else None)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            each = compile_check(args[0])
            return Check(frozenset({tuple}), lambda v: all(each.ok(x) for x in v))
        parts = tuple(compile_check(a) for a in args)
        return Check(frozenset({tuple}),
                     lambda v: len(v) == len(parts) and all(c.ok(x) for c, x in zip(parts, v)))
    if tp in (int, bool, str, bytes) or tp in BY_CLASS:
        return Check(frozenset({tp}))
    raise TypeError(f"no wire form for {tp!r}")


@dataclass(frozen=True, slots=True)
class _Entry:
    """One registered type: how to take it apart, put it together and check its fields."""

    tag: int
    cls: type
    fields: tuple[str, ...]
    get: Callable[[Any], tuple[Any, ...]]
    checks: tuple[Check, ...]
    shapes: frozenset[tuple[type, ...]]
    """Every allowed tuple of the fields' exact types: one set lookup checks a whole message."""
    deep: tuple[tuple[int, Deep], ...]
    """(field index, predicate) of tuple-valued fields, whose items the shape does not cover."""
    make: Callable[..., Any]
    """Builds the value from its checked fields (a frozen dataclass without its __init__'s
    ``object.__setattr__`` per field: the decoder's largest cost per value)."""


def _entry(tag: int, cls: type, fields: tuple[tuple[str, Any], ...]) -> _Entry:
    names = tuple(n for n, _ in fields)
    get: Callable[[Any], tuple[Any, ...]]
    if issubclass(cls, Exception) and names == ("message",):
        get = lambda e: (str(e.args[0]) if e.args else "",)
    elif len(names) == 1:
        one = names[0]
        get = lambda o: (getattr(o, one),)
    else:
        get = operator.attrgetter(*names)
    checks = tuple(compile_check(t) for _, t in fields)
    shapes = frozenset(itertools.product(*(c.types for c in checks)))
    deep = tuple((i, c.deep) for i, c in enumerate(checks) if c.deep is not None)
    return _Entry(tag, cls, names, get, checks, shapes, deep, maker(cls))


def maker(cls: type) -> Callable[..., Any]:
    """``cls(*fields)`` for a registered type: a frozen slots dataclass through
    :func:`~sofs.wire.codec.frozen_builder` (its __init__ calls object.__setattr__ per field: half
    the decoder's cost per value); others are called."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        return cls
    return frozen_builder(cls)


BY_CLASS: set[type] = {*VALUE_TYPES.values(), *(c for c, _ in ERROR_TYPES.values())}
BY_TYPE: dict[type, _Entry] = {}
for _tag, _cls in VALUE_TYPES.items():
    _hints = typing.get_type_hints(_cls)
    BY_TYPE[_cls] = _entry(_tag, _cls, tuple((f.name, _hints[f.name]) for f in dataclasses.fields(_cls)))
for _tag, (_exc, _fields) in ERROR_TYPES.items():
    BY_TYPE[_exc] = _entry(_tag, _exc, _fields)
BY_TAG: dict[int, _Entry] = {e.tag: e for e in BY_TYPE.values()}


def _explain(entry: _Entry, values: Any) -> typing.NoReturn:
    if type(values) is not tuple or len(values) != len(entry.fields):
        n = len(values) if isinstance(values, tuple) else type(values).__name__
        raise CodecError(f"{entry.cls.__name__}: {n} fields, expected {len(entry.fields)}")
    for name, check, v in zip(entry.fields, entry.checks, values):
        if not check.ok(v):
            raise CodecError(f"{entry.cls.__name__}.{name}: unexpected {type(v).__name__} {v!r:.60}")
    raise CodecError(f"{entry.cls.__name__}: bad fields")  # pragma: no cover


class Codec:
    """Packs and unpacks values (see the module docstring). One per connection: it keeps reusable
    msgpack packers (one per nesting depth of dataclasses), so it is not thread-safe."""

    def __init__(self) -> None:
        self._packers: list[msgpack.Packer] = []
        self._depth = 0
        self._top = msgpack.Packer(default=self._default, autoreset=True)

    def pack(self, value: Any) -> bytes:
        try:
            data: bytes = self._top.pack(value)
            return data
        except (TypeError, ValueError, OverflowError) as e:
            self._top.reset()
            self._depth = 0
            raise CodecError(f"cannot encode {type(value).__name__}: {e}") from e

    def _default(self, obj: Any) -> msgpack.ExtType:
        entry = BY_TYPE.get(type(obj))
        if entry is None:
            raise TypeError(f"{type(obj).__name__} is not a registered message type")
        d = self._depth
        if d == len(self._packers):
            self._packers.append(msgpack.Packer(default=self._default, autoreset=True))
        self._depth = d + 1
        try:
            data = self._packers[d].pack(entry.get(obj))
        finally:
            self._depth = d
        return _new_ext(msgpack.ExtType, (entry.tag, data))  # ExtType() re-checks what we know

    def unpack(self, data: bytes) -> Any:
        try:
            return msgpack.unpackb(data, use_list=False, raw=False, ext_hook=_ext_hook, strict_map_key=True)
        except CodecError:
            raise
        except Exception as e:  # msgpack raises several kinds (ExtraData, FormatError, ValueError, ...)
            raise CodecError(f"not a msgpack value: {type(e).__name__}: {e}") from e


_new_ext = tuple.__new__


def _ext_hook(tag: int, data: bytes) -> Any:
    entry = BY_TAG.get(tag)
    if entry is None:
        raise CodecError(f"unknown type tag {tag}")
    values = _unpackb(data, use_list=False, raw=False, ext_hook=_ext_hook, strict_map_key=True)
    if type(values) is not tuple or tuple(map(type, values)) not in entry.shapes:
        _explain(entry, values)
    for i, deep in entry.deep:
        v = values[i]
        if type(v) is tuple and not deep(v):
            _explain(entry, values)
    return entry.make(*values)


_unpackb = msgpack.unpackb
