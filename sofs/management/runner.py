"""Execute parsed PowerShell-like statements against the cmdlet registry.

``run_line(line, ctx)`` parses, binds and runs every statement and returns the text to print (the
default PowerShell view of the last objects, or JSON with ``-AsJson``). Parse and binding problems
raise :class:`~sofs.management.psparse.ParseError` / :class:`~sofs.management.psbind.BindError`
(usage errors); cmdlet failures raise :class:`~sofs.management.errors.ManagementError`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sofs.management import format as fmt
from sofs.management.cmdlets import REGISTRY, lookup  # noqa: F401  (importing registers every cmdlet)
from sofs.management.cmdlets.base import Context, Rendered
from sofs.management.errors import ManagementError
from sofs.management.psbind import BindError, bind, parse_number
from sofs.management.psparse import (
    Assignment,
    Bare,
    BoolLit,
    ListLit,
    NullLit,
    Pipeline,
    Quoted,
    Value,
    parse,
)
from sofs.management.services.models import ClusterInfo


class CmdletFailure(Exception):
    """A ManagementError raised inside ``cmdlet`` (kept so the CLI can print PowerShell's prefix)."""

    def __init__(self, cmdlet: str, error: ManagementError) -> None:
        super().__init__(str(error))
        self.cmdlet = cmdlet
        self.error = error


def render_output(objects: Sequence[Any], as_json: bool = False) -> str:
    """Text for a pipeline's output objects: Rendered text verbatim, else the default view."""
    if not objects:
        return "[]\n" if as_json else ""
    if as_json:
        data = [o for o in objects if not isinstance(o, Rendered)]
        return fmt.to_json(data) if data else "[]\n"
    out: list[str] = []
    plain: list[Any] = []
    for o in list(objects) + [None]:
        flush = o is None or isinstance(o, Rendered) or (plain and type(o) is not type(plain[0]))
        if flush and plain:
            out.append(fmt.format_default(plain))
            plain = []
        if isinstance(o, Rendered):
            out.append(o.text)
        elif o is not None:
            plain.append(o)
    return "".join(out)


async def run_pipeline(p: Pipeline, ctx: Context) -> tuple[list[Any], bool]:
    """Run a pipeline; returns (output objects, whether -AsJson was given on its last command)."""
    specs = [lookup(c.name) for c in p.commands]
    # bind every stage once up front (without pipeline input) so usage errors surface before any mutation
    for i, (cmd, spec) in enumerate(zip(p.commands, specs, strict=True)):
        if i == 0 or spec.sink:
            chosen = bind(cmd.args, spec.params).get("Cluster")
            if chosen is not None:
                if ctx.cluster is not None and ctx.cluster != chosen:
                    raise BindError("One pipeline acts on one cluster: -Cluster names two.")
                ctx.cluster = chosen
    objects: list[Any] = []
    bound: dict[str, Any] = {}
    for i, (cmd, spec) in enumerate(zip(p.commands, specs, strict=True)):
        try:
            if i == 0 or spec.sink:
                bound = bind(cmd.args, spec.params)
                ctx.input = objects if i else []
                objects = await spec.body(ctx, bound)
            else:
                out: list[Any] = []
                for obj in objects:
                    bound = bind(cmd.args, spec.params, fmt.properties_of(obj))
                    ctx.input = [obj]
                    out.extend(await spec.body(ctx, bound))
                objects = out
        except ManagementError as e:
            raise CmdletFailure(spec.name, e) from e
    return objects, bool(bound.get("AsJson"))


def literal(v: Value) -> Any:
    """A parsed value as a plain Python value (for property assignment)."""
    if isinstance(v, Bare):
        num = parse_number(v.text)
        return v.text if num is None else num
    if isinstance(v, Quoted):
        return v.text
    if isinstance(v, BoolLit):
        return int(v.value)
    if isinstance(v, NullLit):
        return None
    if isinstance(v, ListLit):
        return [literal(i) for i in v.items]
    raise TypeError(v)


async def run_assignment(a: Assignment, ctx: Context) -> None:
    """``(Get-Cluster).SameSubnetThreshold = 5``: the service decides which properties are settable."""
    objects, _ = await run_pipeline(a.source, ctx)
    name = a.source.commands[-1].name
    if not objects:
        raise CmdletFailure(name, ManagementError("The property cannot be set: the expression returned "
                                                  "no object.", "InvalidOperation"))
    for obj in objects:
        if not isinstance(obj, ClusterInfo):
            raise CmdletFailure(name, ManagementError(f"'{a.prop}' is a ReadOnly property.",
                                                      "InvalidOperation", a.prop))
        svc = await ctx.service("cluster")
        try:
            await svc.set_cluster_property(a.prop, literal(a.value))
        except ManagementError as e:
            raise CmdletFailure(name, e) from e


async def run_line(line: str, ctx: Context) -> str:
    """Parse and run ``line``; returns the text to write to stdout."""
    out: list[str] = []
    for st in parse(line):
        if isinstance(st, Assignment):
            await run_assignment(st, ctx)
            continue
        objects, as_json = await run_pipeline(st, ctx)
        out.append(render_output(objects, as_json))
    return "".join(out)
