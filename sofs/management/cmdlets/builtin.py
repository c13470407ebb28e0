"""Core cmdlets: Format-Table, Format-List, ConvertTo-Json, Get-Command, Get-Help, Invoke-Expression."""
from __future__ import annotations

from typing import Any

from sofs.management import format as fmt
from sofs.management.cmdlets.base import REGISTRY, Context, Rendered, cmdlet, lookup
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("Format-Table", ParamSpec("Property", T.STRING_LIST, position=0),
        ParamSpec("AutoSize", T.SWITCH, help="columns are always sized to their content (the default here)"),
        sink=True)
async def format_table(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show the input as a table (all or the given columns)."""
    return [Rendered(fmt.format_table(ctx.input, p.get("Property")))] if ctx.input else []


@cmdlet("Format-List", ParamSpec("Property", T.STRING_LIST, position=0), sink=True)
async def format_list(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show every property of each input object (or the given ones)."""
    props = p.get("Property")
    if props == ["*"]:
        props = None
    return [Rendered(fmt.format_list(ctx.input, props))] if ctx.input else []


def _cut(value: Any, depth: int) -> Any:
    """ConvertTo-Json -Depth: containers nested deeper than ``depth`` become their text."""
    if isinstance(value, dict):
        return {k: _cut(v, depth - 1) for k, v in value.items()} if depth >= 0 else str(value)
    if isinstance(value, list):
        return [_cut(v, depth) for v in value] if depth >= 0 else str(value)
    return value


@cmdlet("ConvertTo-Json", ParamSpec("Depth", T.INT, help="levels of nested objects kept (default 2, as PowerShell)"),
        ParamSpec("Compress", T.SWITCH), sink=True)
async def convert_to_json(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show the input as JSON."""
    import json

    from sofs.management.errors import ManagementError
    depth = p.get("Depth", 2)
    if not 0 <= depth <= 100:
        raise ManagementError(f"-Depth must be between 0 and 100, not {depth}.", "InvalidArgument")
    data = json.loads(fmt.to_json(ctx.input)) if ctx.input else []
    data = _cut(data, depth)
    text = (json.dumps(data, separators=(",", ":")) if p.get("Compress")
            else json.dumps(data, indent=2, ensure_ascii=False)) + "\n"
    return [Rendered(text)]


@cmdlet("Get-Command", ParamSpec("Name", T.STRING, position=0), local=True)
async def get_command(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List the available cmdlets."""
    import fnmatch
    pat = (p.get("Name") or "*").lower()
    return [{"CommandType": "Cmdlet", "Name": s.name, "Synopsis": s.synopsis}
            for k, s in sorted(REGISTRY.items()) if fnmatch.fnmatchcase(k, pat)]


@cmdlet("Get-Help", ParamSpec("Name", T.STRING, mandatory=True, position=0), local=True, text=True)
async def get_help(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show a cmdlet's syntax and parameters."""
    spec = lookup(p["Name"])
    parts = []
    for ps in spec.params:
        typ = "" if ps.type is T.SWITCH else f" <{ps.type.value.rsplit('.', 1)[-1]}>"
        name = f"[-{ps.name}]" if ps.position is not None else f"-{ps.name}"
        part = f"{name}{typ}"
        parts.append(part if ps.mandatory else f"[{part}]")
    lines = [f"NAME\n    {spec.name}\n", f"SYNOPSIS\n    {spec.synopsis}\n",
             f"SYNTAX\n    {spec.name} {' '.join(parts)}\n"]
    details = [f"    -{ps.name}  {ps.help}".rstrip() + (f"  ({', '.join(ps.choices)})" if ps.choices else "")
               + (f"  NOT SUPPORTED: {ps.unsupported}" if ps.unsupported else "") for ps in spec.params]
    lines.append("PARAMETERS\n" + "\n".join(details) + "\n")
    return [Rendered("\n".join(lines) + "\n")]


@cmdlet("Invoke-Expression", ParamSpec("Command", T.STRING, mandatory=True, position=0), text=True)
async def invoke_expression(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Run a whole PowerShell line, e.g. '(Get-Cluster).SameSubnetThreshold = 5'."""
    from sofs.management.runner import run_line
    text = await run_line(p["Command"], ctx)
    return [Rendered(text)] if text else []
