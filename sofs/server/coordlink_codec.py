"""The value codec of the coordinator link (wire version 2): values travel by their declared type.

Pure (no I/O). Every value on the link has a type declared in :mod:`sofs.handlestate.api` (a method's
parameter or return annotation, a message's field annotation), so the bytes carry no type tags: a
:class:`Form` is compiled once per annotation and turns a value into msgpack's own types and back:

- nil, bool, int (-2**63 .. 2**64-1), str (UTF-8), bytes (msgpack bin): as themselves;
- ``tuple[X, ...]`` / ``tuple[A, B]``: a msgpack array (decoded as a tuple);
- a message dataclass: the msgpack array of its fields in declaration order (nested values the same
  way); ``X | None``: nil or X's form; a union of two messages (``undeliverable``'s notice):
  ``[index of the alternative in the annotation, fields]``;
- an exception of :data:`ERROR_TYPES` (an Error frame): ``[tag, fields...]``.

Each dataclass's encoder and decoder are generated Python functions (``exec``, as dataclasses make
``__init__``), so a message is one ``msgpack`` pack or unpack call plus one plain function per
nested message: no ``default``/``ext_hook`` callback, no ExtType per value (wire version 1 spent
about half of the link's Python time there). Decoding checks every field's exact type (a bool is not
an int, a str is not bytes) and the field count, and raises :class:`CodecError` naming the field;
the link drops a peer that sends such a value.

Example (golden bytes in tests/server/test_coordlink_codec.py): ``LockRange(0, 10, True)`` is
``93 00 0a c3``, the array ``[0, 10, true]``.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]

from sofs.handlestate import api
from sofs.wire.codec import frozen_builder


class CoordinatorFault(RuntimeError):
    """The coordinator failed on a call in an unexpected way (a bug there, not a refusal): the
    remote side of an exception other than HandleStateError / NotCoordinator."""


class CodecError(ValueError):
    """Bytes that are not a valid value (the peer's fault), or a value with no wire form."""


ERROR_TYPES: dict[int, tuple[type[Exception], tuple[tuple[str, type], ...]]] = {
    100: (api.HandleStateError, (("status", int), ("message", str))),
    101: (api.NotCoordinator, (("message", str),)),
    102: (CoordinatorFault, (("message", str),)),
}
"""Tag -> exception and its fields (``message``: its first argument, for the last two)."""
ERROR_TAGS = {exc: tag for tag, (exc, _) in ERROR_TYPES.items()}

_SCOPE: dict[str, Any] = {}
"""Globals of the generated functions: helpers by unique name."""
_names = itertools.count()


def _helper(prefix: str, value: Any) -> str:
    name = f"_{prefix}{next(_names)}"
    _SCOPE[name] = value
    return name


def _compile(src: str, name: str) -> Any:
    exec(src, _SCOPE)  # noqa: S102 - generated from type annotations, as dataclasses do
    fn = _SCOPE.pop(name)
    return fn


@dataclass(frozen=True, slots=True, eq=False)
class Form:
    """How the values of one annotation travel: Python expressions for the generated code of the
    records that contain it (``x``: a local variable holding the value or its wire form), and the
    same compiled as functions (:attr:`enc`, :attr:`dec`)."""

    name: str
    enc_x: Callable[[str], str]
    """The wire form of ``x``."""
    check_x: Callable[[str], str]
    """True when the wire value ``x`` is of this form's shape ("True": :attr:`dec_x` checks it)."""
    dec_x: Callable[[str], str]
    """The value of the checked wire value ``x`` (raises CodecError if nested parts are bad)."""
    plain: bool = False
    """The value is its own wire form (no encoding, no rebuilding)."""

    @property
    def enc(self) -> Callable[[Any], Any]:
        return _fn(self, "enc")

    @property
    def dec(self) -> Callable[[Any], Any]:
        return _fn(self, "dec")

    def dec_ok(self, w: Any) -> bool:
        """Whether the wire value ``w`` decodes (the checks of plain tuples)."""
        try:
            self.dec(w)
        except CodecError:
            return False
        return True


_FNS: dict[tuple[int, str], Callable[[Any], Any]] = {}


def _fn(form: Form, which: str) -> Callable[[Any], Any]:
    key = (id(form), which)
    fn = _FNS.get(key)
    if fn is None:
        if which == "enc":
            src = f"def f(x):\n    return {form.enc_x('x')}\n"
        else:
            me = _helper("form", form)
            src = (f"def f(x):\n    if not ({form.check_x('x')}):\n        _bad_value({me}, x)\n"
                   f"    return {form.dec_x('x')}\n")
        fn = _FNS[key] = _compile(src, "f")
    return fn


def _bad_value(form: Form, x: Any) -> typing.NoReturn:
    raise CodecError(f"unexpected {type(x).__name__} {x!r:.60} for {form.name}")


def _plain(name: str, types_: frozenset[type]) -> Form:
    if len(types_) == 1:
        (t,) = types_
        tn = _helper("t", t)
        check = lambda x: f"type({x}) is {tn}"
    else:
        ts = _helper("ts", types_)
        check = lambda x: f"type({x}) in {ts}"
    return Form(name, lambda x: x, check, lambda x: x, plain=True)


def _checked_plain(name: str, ok: Callable[[Any], bool]) -> Form:
    """A value that is its own wire form, checked by a function (fixed tuples, tuples of plain values)."""
    fn = _helper("ok", ok)
    return Form(name, lambda x: x, lambda x: f"{fn}({x})", lambda x: x, plain=True)


def _optional(inner: Form) -> Form:
    return Form(f"{inner.name} | None", lambda x: f"(None if {x} is None else {inner.enc_x(x)})",
                lambda x: f"({x} is None or {inner.check_x(x)})",
                lambda x: f"(None if {x} is None else {inner.dec_x(x)})")


def _sequence(inner: Form) -> Form:
    name = f"tuple[{inner.name}, ...]"
    if inner.plain:
        return _checked_plain(name, lambda v: type(v) is tuple and all(inner.dec_ok(i) for i in v))
    enc, dec = _helper("e", inner.enc), _helper("d", inner.dec)
    return Form(name, lambda x: f"tuple([{enc}(i) for i in {x}])", lambda x: f"type({x}) is tuple",
                lambda x: f"tuple([{dec}(i) for i in {x}])")


def _choice(alts: tuple[Form, ...], classes: tuple[type, ...]) -> Form:
    """A union of messages: ``[index, fields]``."""
    name = " | ".join(a.name for a in alts)
    index = {c: i for i, c in enumerate(classes)}
    encs = tuple(a.enc for a in alts)
    decs = tuple(a.dec for a in alts)

    def enc(v: Any) -> tuple[int, Any]:
        i = index.get(type(v))
        if i is None:
            raise CodecError(f"{type(v).__name__} is not one of {name}")
        return i, encs[i](v)

    def ok(w: Any) -> bool:
        return type(w) is tuple and len(w) == 2 and type(w[0]) is int and 0 <= w[0] < len(decs)

    e, o, d = _helper("e", enc), _helper("ok", ok), _helper("d", lambda w: decs[w[0]](w[1]))
    return Form(name, lambda x: f"{e}({x})", lambda x: f"{o}({x})", lambda x: f"{d}({x})")


_FORMS: dict[Any, Form] = {}


def form_of(tp: Any) -> Form:
    """The :class:`Form` of annotation ``tp`` (compiled once)."""
    got = _FORMS.get(tp)
    if got is None:
        got = _FORMS[tp] = _make_form(tp)
    return got


def _make_form(tp: Any) -> Form:
    if tp is None or tp is type(None):
        return _plain("None", frozenset({type(None)}))
    if tp in (int, bool, str, bytes):
        return _plain(tp.__name__, frozenset({tp}))
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        alts = tuple(form_of(a) for a in args if a is not type(None))
        nullable = len(alts) < len(args)
        if all(a.plain and a.check_x("x").startswith("type(") for a in alts):
            return _plain(" | ".join(a.name for a in alts) + (" | None" if nullable else ""),
                          frozenset(t for a in (*args,) for t in _plain_types(a)))
        if len(alts) == 1:
            return _optional(alts[0])
        if not nullable and all(dataclasses.is_dataclass(a) for a in args):
            return _choice(alts, args)
        raise TypeError(f"no wire form for {tp!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence(form_of(args[0]))
        parts = tuple(form_of(a) for a in args)
        if not all(p.plain for p in parts):
            raise TypeError(f"no wire form for {tp!r} (a fixed tuple of messages)")
        oks = tuple(p.dec_ok for p in parts)
        return _checked_plain(f"tuple[{', '.join(p.name for p in parts)}]",
                              lambda v: type(v) is tuple and len(v) == len(oks)
                              and all(ok(x) for ok, x in zip(oks, v)))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        fields = tuple((f.name, form_of(hints[f.name])) for f in dataclasses.fields(tp))
        return record(tp.__name__, fields, maker(tp), attrs=True)
    raise TypeError(f"no wire form for {tp!r}")


def _plain_types(tp: Any) -> frozenset[type]:
    return frozenset({type(None)}) if tp is None or tp is type(None) else frozenset({tp})


def record(name: str, fields: tuple[tuple[str, Form], ...], make: Callable[..., Any] | None,
           *, attrs: bool) -> Form:
    """The form of a record of ``fields``: a dataclass (``attrs``: encoded from its attributes, built
    by ``make``) or a method's arguments (encoded from a tuple; decoded to a tuple, ``make`` None).
    Both directions are one generated function."""
    n = len(fields)
    vs = [f"v{i}" for i in range(n)]
    if attrs:
        take = "".join(f"    v{i} = o.{fname}\n" for i, (fname, _) in enumerate(fields))
    else:
        take = f"    {''.join(v + ', ' for v in vs)}= o\n" if n else ""
    enc_src = (f"def enc(o):\n{take}    return ({''.join(f.enc_x(v) + ', ' for v, (_, f) in zip(vs, fields))})\n")
    enc = _compile(enc_src, "enc")
    me = _helper("rec", None)  # filled below: the error paths need the Form
    checks = [c for c in (f.check_x(v) for v, (_, f) in zip(vs, fields)) if c != "True"]
    built = ", ".join(f.dec_x(v) for v, (_, f) in zip(vs, fields))
    if make is None:
        ret = f"({built},)" if n else "()"
    else:
        ret = f"{_helper('make', make)}({built})"
    dec_src = (f"def dec(w):\n    if type(w) is not tuple or len(w) != {n}:\n        _bad_record({me}, w)\n"
               + (f"    {''.join(v + ', ' for v in vs)}= w\n" if n else "")
               + (f"    if not ({' and '.join(checks)}):\n        _bad_record({me}, w)\n" if checks else "")
               + f"    try:\n        return {ret}\n    except CodecError as e:\n        _bad_nested({me}, w, e)\n")
    _SCOPE.setdefault("CodecError", CodecError)
    _SCOPE.setdefault("_bad_record", _bad_record)
    _SCOPE.setdefault("_bad_nested", _bad_nested)
    _SCOPE.setdefault("_bad_value", _bad_value)
    dec = _compile(dec_src, "dec")
    e, d = _helper("e", enc), _helper("d", dec)
    form = Form(name, lambda x: f"{e}({x})", lambda x: "True", lambda x: f"{d}({x})")
    _SCOPE[me] = _Record(name, fields)
    _FNS[(id(form), "enc")] = enc
    _FNS[(id(form), "dec")] = dec
    return form


@dataclass(frozen=True, slots=True)
class _Record:
    """What the error paths of a record's decoder need."""

    name: str
    fields: tuple[tuple[str, Form], ...]


def _bad_record(rec: _Record, w: Any) -> typing.NoReturn:
    if type(w) is not tuple or len(w) != len(rec.fields):
        n = len(w) if type(w) is tuple else type(w).__name__
        raise CodecError(f"{rec.name}: {n} fields, expected {len(rec.fields)}")
    _bad_nested(rec, w, None)


def _bad_nested(rec: _Record, w: tuple[Any, ...], cause: CodecError | None) -> typing.NoReturn:
    for (fname, form), v in zip(rec.fields, w):
        try:
            form.dec(v)
        except CodecError as e:
            raise CodecError(f"{rec.name}.{fname}: {e}") from None
    raise CodecError(f"{rec.name}: {cause or 'bad fields'}")  # pragma: no cover


def maker(cls: type) -> Callable[..., Any]:
    """``cls(*fields)``: a frozen slots dataclass through :func:`~sofs.wire.codec.frozen_builder`
    (its __init__ calls object.__setattr__ per field: half the decoder's cost per value); others
    are called."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        return cls
    return frozen_builder(cls)


def encode_error(e: Exception) -> tuple[Any, ...]:
    """``[tag, fields...]`` of a registered exception (see :func:`~sofs.server.coordlink.wire_error`)."""
    tag = ERROR_TAGS.get(type(e))
    if tag is None:
        raise CodecError(f"{type(e).__name__} is not a registered exception")
    if isinstance(e, api.HandleStateError):
        return tag, e.status, e.message
    return tag, str(e.args[0]) if e.args else ""


def decode_error(w: Any) -> Exception:
    if type(w) is not tuple or not w or type(w[0]) is not int or w[0] not in ERROR_TYPES:
        raise CodecError(f"not an error: {w!r:.60}")
    exc, fields = ERROR_TYPES[w[0]]
    values = w[1:]
    if len(values) != len(fields) or not all(type(v) is t for v, (_, t) in zip(values, fields)):
        raise CodecError(f"bad {exc.__name__} fields: {values!r:.60}")
    return exc(*values)


class Codec:
    """Packs and unpacks msgpack values of msgpack's own types (the forms above make them). One per
    connection: it keeps a reusable packer, so it is not thread-safe."""

    def __init__(self) -> None:
        self._packer = msgpack.Packer(autoreset=True)
        self.pack_raw: Callable[[Any], bytes] = self._packer.pack
        """:meth:`pack` without a Python frame of its own (the link's two frames of every call):
        its caller calls :meth:`reset` when it raises."""
        self.reset: Callable[[], None] = self._packer.reset

    def pack(self, value: Any) -> bytes:
        try:
            data: bytes = self._packer.pack(value)
            return data
        except (TypeError, ValueError, OverflowError) as e:
            self._packer.reset()
            raise CodecError(f"cannot encode {type(value).__name__}: {e}") from e

    @staticmethod
    def unpack(data: bytes) -> Any:
        try:
            return _unpackb(data, use_list=False, raw=False, strict_map_key=True)
        except Exception as e:  # msgpack raises several kinds (ExtraData, FormatError, ValueError, ...)
            raise CodecError(f"not a msgpack value: {type(e).__name__}: {e}") from e


_unpackb = msgpack.unpackb
unpack_raw: Callable[[bytes], Any] = functools.partial(_unpackb, use_list=False, raw=False, strict_map_key=True)
""":meth:`Codec.unpack` without a Python frame of its own; raises msgpack's exceptions."""
