"""Parameter binding: match parsed arguments to a cmdlet's declared parameters, PowerShell style.

Follows [about_Parameters] / the PowerShell binder: named parameters first (case-insensitive, an
unambiguous prefix of a name or alias is enough, an exact match wins over prefixes), then positional
values in ``Position`` order, then pipeline input by property name, then the mandatory check. Values
are converted to the declared type. Every failure raises :class:`BindError` whose message is the one
PowerShell prints, e.g. "A parameter cannot be found that matches parameter name 'Nmae'."
"""
from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sofs.management.psparse import (
    Bare,
    BoolLit,
    ListLit,
    NullLit,
    ParamArg,
    PosArg,
    Quoted,
    Value,
    value_text,
)


class BindError(ValueError):
    """The arguments do not fit the cmdlet's parameters (a usage error, exit code 2)."""


class ParamType(enum.Enum):
    """Declared parameter types, named after the .NET types PowerShell reports in its messages."""

    STRING = "System.String"
    STRING_LIST = "System.String[]"
    INT = "System.Int32"
    UINT64 = "System.UInt64"  # sizes: accepts 2TB, 512MB
    BOOL = "System.Boolean"
    SWITCH = "System.Management.Automation.SwitchParameter"


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One declared cmdlet parameter ([about_Functions_Advanced_Parameters])."""

    name: str
    type: ParamType = ParamType.STRING
    mandatory: bool = False
    position: int | None = None
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # ValidateSet; matched case-insensitively, canonical spelling bound
    from_pipeline_by_name: bool = False  # ValueFromPipelineByPropertyName
    help: str = ""
    unsupported: str = ""
    """Why sofs refuses this Windows parameter ("" = supported): naming it is a usage error."""


_SIZE_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(KB|MB|GB|TB|PB)?$", re.IGNORECASE)
_HEX_RE = re.compile(r"^0x[0-9a-fA-F]+$")
_MULT = {None: 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}


def parse_number(text: str) -> int | float | None:
    """PowerShell numeric literal: ``5``, ``0x1F``, ``1.5``, ``2TB`` (binary multiples) -> number."""
    if _HEX_RE.match(text):
        return int(text, 16)
    m = _SIZE_RE.match(text)
    if not m:
        return None
    mult = _MULT[m.group(2).lower() if m.group(2) else None]
    num = m.group(1)
    if "." in num:
        f = float(num) * mult
        return int(f) if m.group(2) and f.is_integer() else f
    return int(num) * mult


def _bad(v: Value, spec: ParamSpec, why: str = "") -> BindError:
    extra = f' Error: "{why}"' if why else ""
    return BindError(f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert "
                     f'value "{value_text(v)}" to type "{spec.type.value}".{extra}')


def _scalar_str(v: Value, spec: ParamSpec) -> str:
    if isinstance(v, (Bare, Quoted)):
        return v.text
    if isinstance(v, BoolLit):
        return "True" if v.value else "False"
    if isinstance(v, NullLit):
        raise BindError(f"Cannot bind argument to parameter '{spec.name}' because it is null.")
    raise _bad(v, spec)


def _to_bool(v: Value, spec: ParamSpec) -> bool:
    if isinstance(v, BoolLit):
        return v.value
    if isinstance(v, (Bare, Quoted)):
        low = v.text.lower()
        # bare true/false: `$false` does not survive a POSIX shell unquoted, so accept the word too
        if low in ("true", "1", "$true"):
            return True
        if low in ("false", "0", "$false"):
            return False
    if isinstance(v, NullLit):
        return False
    raise BindError(f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert "
                    f'value "{value_text(v)}" to type "{spec.type.value}". Boolean parameters accept '
                    "only Boolean values and numbers, such as $True, $False, 1 or 0.")


def convert(v: Value, spec: ParamSpec) -> Any:
    """Convert one parsed value to ``spec``'s type, applying ValidateSet."""
    t = spec.type
    if t in (ParamType.BOOL, ParamType.SWITCH):
        return _to_bool(v, spec)
    if t is ParamType.STRING_LIST:
        items = v.items if isinstance(v, ListLit) else (v,)
        return [_check_choice(_scalar_str(i, spec), spec) for i in items]
    if isinstance(v, ListLit):
        raise _bad(v, spec, "Specified argument was a list; this parameter takes a single value.")
    if t is ParamType.STRING:
        return _check_choice(_scalar_str(v, spec), spec)
    text = _scalar_str(v, spec)
    num = parse_number(text.strip())
    if num is None or isinstance(num, float) and not num.is_integer():
        raise _bad(v, spec, "Input string was not in a correct format.")
    num = int(num)
    if t is ParamType.INT and not -(1 << 31) <= num < (1 << 31):
        raise _bad(v, spec, "Value was either too large or too small for an Int32.")
    if t is ParamType.UINT64 and not 0 <= num < (1 << 64):
        raise _bad(v, spec, "Value was either too large or too small for a UInt64.")
    return num


def _check_choice(s: str, spec: ParamSpec) -> str:
    if not spec.choices:
        return s
    for c in spec.choices:
        if c.lower() == s.lower():
            return c
    raise BindError(f"Cannot validate argument on parameter '{spec.name}'. The argument \"{s}\" does not "
                    f"belong to the set \"{','.join(spec.choices)}\" specified by the ValidateSet attribute. "
                    "Supply an argument that is in the set and then try the command again.")


def resolve_name(typed: str, specs: Sequence[ParamSpec]) -> ParamSpec:
    """Find the parameter ``-typed`` refers to: exact name/alias, else a unique prefix."""
    low = typed.lower()
    for s in specs:
        if s.name.lower() == low or any(a.lower() == low for a in s.aliases):
            return s
    hits = [s for s in specs if s.name.lower().startswith(low)
            or any(a.lower().startswith(low) for a in s.aliases)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise BindError(f"A parameter cannot be found that matches parameter name '{typed}'.")
    names = " ".join("-" + s.name for s in hits)
    raise BindError(f"Parameter cannot be processed because the parameter name '{typed}' is ambiguous. "
                    f"Possible matches include: {names}.")


def bind(args: Sequence[ParamArg | PosArg], specs: Sequence[ParamSpec],
         pipeline_input: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Bind ``args`` to ``specs``; returns {canonical parameter name: converted value}.

    ``pipeline_input`` is the property bag of one object coming down the pipeline; its properties fill
    unbound parameters marked ``from_pipeline_by_name`` (matched on the parameter name or an alias).
    """
    bound: dict[str, Any] = {}
    positional: list[Value] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if isinstance(a, PosArg):
            positional.append(a.value)
            continue
        spec = resolve_name(a.name, specs)
        if spec.unsupported:
            raise BindError(f"The parameter '-{spec.name}' is not supported by sofs: {spec.unsupported}")
        if spec.name in bound:
            raise BindError(f"Cannot bind parameter because parameter '{spec.name}' is specified more than "
                            "once. To provide multiple values to parameters that can accept multiple values, "
                            "use the array syntax. For example, \"-parameter value1,value2,value3\".")
        if a.value is not None:
            bound[spec.name] = convert(a.value, spec)
        elif spec.type is ParamType.SWITCH:
            bound[spec.name] = True
        elif i < len(args) and isinstance(args[i], PosArg):
            nxt = args[i]
            assert isinstance(nxt, PosArg)
            bound[spec.name] = convert(nxt.value, spec)
            i += 1
        else:
            hint = ""
            if spec.type is ParamType.BOOL:
                hint = (" (In a POSIX shell, $true/$false must be quoted, e.g. '-Param:$false', or written "
                        "as true/false.)")
            raise BindError(f"Missing an argument for parameter '{spec.name}'. Specify a parameter of type "
                            f"'{spec.type.value}' and try again.{hint}")
    slots = sorted((s for s in specs if s.position is not None and s.name not in bound),
                   key=lambda s: s.position or 0)
    for v in positional:
        if not slots:
            raise BindError(f"A positional parameter cannot be found that accepts argument '{value_text(v)}'.")
        spec = slots.pop(0)
        bound[spec.name] = convert(v, spec)
    if pipeline_input:
        _bind_pipeline(bound, specs, pipeline_input)
    missing = [s.name for s in specs if s.mandatory and s.name not in bound]
    if missing:
        raise BindError("Cannot process command because of one or more missing mandatory parameters: "
                        f"{' '.join(missing)}.")
    return bound


def _bind_pipeline(bound: dict[str, Any], specs: Sequence[ParamSpec], obj: Mapping[str, Any]) -> None:
    lowered = {k.lower(): v for k, v in obj.items()}
    for s in specs:
        if not s.from_pipeline_by_name or s.name in bound:
            continue
        for key in (s.name, *s.aliases):
            if key.lower() in lowered and lowered[key.lower()] is not None:
                val = lowered[key.lower()]
                if s.type is ParamType.STRING_LIST and not isinstance(val, list):
                    val = [str(val)]
                elif s.type is ParamType.STRING:
                    val = str(val)
                bound[s.name] = val
                break
