"""PowerShell-like output: Format-Table, Format-List and ConvertTo-Json for cmdlet results.

Objects are dataclasses (the service layer's records) or mappings. Property names shown to the user
are PascalCase, as in PowerShell: a field ``owner_node`` prints as ``OwnerNode`` (a field may override
with ``metadata={"ps": "Name"}``). A record class chooses its default view with a class attribute
``PS_TABLE = ("name", "state", "type")`` (the columns of its Format-Table view, like a format.ps1xml
file); without one, an object with at most 4 properties is shown as a table and a bigger one as a
list, which is PowerShell's own rule.

Rendering rules copied from PowerShell: a blank line before a table/list and after it, headers
underlined with dashes of the header's length, text left-aligned and numbers right-aligned, arrays as
``{a, b}``, ``None`` as empty, booleans as ``True``/``False``.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def pascal(name: str) -> str:
    """``same_subnet_threshold`` -> ``SameSubnetThreshold``; already-Pascal names are kept."""
    if "_" not in name and name[:1].isupper():
        return name
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p)


def properties_of(obj: Any) -> dict[str, Any]:
    """The object's properties, in declaration order, under their PowerShell names."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("hidden"):
                continue
            out[f.metadata.get("ps", pascal(f.name))] = getattr(obj, f.name)
        return out
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    return {"Value": obj}


def table_columns(obj: Any) -> list[str] | None:
    """The default Format-Table columns of ``obj``, or None when its default view is a list."""
    cols = getattr(type(obj), "PS_TABLE", None)
    if cols is not None:
        names = {f.name: f.metadata.get("ps", pascal(f.name)) for f in dataclasses.fields(obj)} \
            if dataclasses.is_dataclass(obj) else {}
        return [names.get(c, pascal(c)) for c in cols]
    props = properties_of(obj)
    return list(props) if len(props) <= 4 else None


def render(value: Any) -> str:
    """One property value as PowerShell's formatter shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, enum.Enum):
        return str(value.value) if isinstance(value.value, str) else value.name
    if isinstance(value, _dt.datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "{" + ", ".join(render(v) for v in value) + "}"
    if isinstance(value, Mapping):
        return "@{" + "; ".join(f"{k}={render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_table(objects: Sequence[Any], columns: Sequence[str] | None = None) -> str:
    """``Format-Table``: headers, dashes, one row per object; ``columns`` default to the first object's."""
    if not objects:
        return ""
    cols = list(columns) if columns else (table_columns(objects[0]) or list(properties_of(objects[0])))
    rows: list[list[Any]] = []
    for o in objects:
        props = {k.lower(): v for k, v in properties_of(o).items()}
        rows.append([props.get(c.lower()) for c in cols])
    cells = [[render(v) for v in r] for r in rows]
    right = [bool(rows) and all(_numeric(r[i]) or r[i] is None for r in rows)
             and any(_numeric(r[i]) for r in rows) for i in range(len(cols))]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        parts = [(v.rjust(w) if r else v.ljust(w)) for v, w, r in zip(values, widths, right, strict=True)]
        return " ".join(parts).rstrip()

    out = ["", line(cols), line(["-" * len(c) for c in cols])]
    out.extend(line(row) for row in cells)
    return "\n".join(out) + "\n\n"


def format_list(objects: Sequence[Any], properties: Sequence[str] | None = None) -> str:
    """``Format-List``: ``Name : value`` blocks, one per object, names padded to the longest."""
    if not objects:
        return ""
    blocks: list[str] = []
    for o in objects:
        props = properties_of(o)
        if properties:
            low = {k.lower(): k for k in props}
            keys = [low[p.lower()] for p in properties if p.lower() in low]
        else:
            keys = list(props)
        if not keys:
            continue
        width = max(len(k) for k in keys)
        blocks.append("\n".join(f"{k.ljust(width)} : {render(props[k])}" for k in keys))
    return "\n" + "\n\n".join(blocks) + "\n\n" if blocks else ""


def format_default(objects: Sequence[Any]) -> str:
    """What PowerShell prints for a pipeline's output: the first object's type decides table or list."""
    objects = list(objects)
    if not objects:
        return ""
    if all(isinstance(o, str) for o in objects):
        return "".join(o + "\n" for o in objects)
    if table_columns(objects[0]) is not None:
        return format_table(objects)
    return format_list(objects)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in properties_of(value).items()}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, (str, int)) else value.name
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def to_data(value: Any) -> Any:
    """Plain JSON data of cmdlet output objects (PascalCase property names, as ConvertTo-Json)."""
    return _jsonable(value)


def to_json(objects: Iterable[Any]) -> str:
    """``ConvertTo-Json``: one object -> a JSON object, several -> an array (2-space indent, as PS 7)."""
    items = [_jsonable(o) for o in objects]
    data: Any = items[0] if len(items) == 1 else items
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
