"""The cmdlet registry: declared parameters + an async body calling the service layer.

A cmdlet is a :class:`CmdletSpec`. Its body receives the :class:`Context` (services, pipeline input,
progress output) and the bound parameters (``{"Name": "n1", "Drain": True}``) and returns a list of
output objects (service records, or :class:`Rendered` text from the Format-* cmdlets).
"""
from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec, ParamType

Body = Callable[["Context", dict[str, Any]], Awaitable[list[Any]]]


@dataclass(frozen=True, slots=True)
class Rendered:
    """Already formatted text (output of Format-Table, Format-List, ConvertTo-Json)."""

    text: str


@dataclass(frozen=True, slots=True)
class CmdletSpec:
    """One cmdlet: ``Verb-Noun``, its parameters, its body.

    ``sink`` cmdlets (Format-Table...) receive the whole pipeline input at once in ``ctx.input``;
    other cmdlets after a ``|`` run once per input object, parameters marked ``from_pipeline_by_name``
    filled from that object's properties (PowerShell's ValueFromPipelineByPropertyName).
    """

    name: str
    params: tuple[ParamSpec, ...]
    body: Body
    synopsis: str = ""
    sink: bool = False


AS_JSON = ParamSpec("AsJson", ParamType.SWITCH, help="print the output as JSON (ConvertTo-Json)")
CLUSTER = ParamSpec("Cluster", ParamType.STRING,
                    help="the cluster to act on: its state directory, or the name of the cluster found "
                         "through $SOFS_CLUSTER_CONFIG / $SOFS_CLUSTER_DIR / ./.sofs-cluster")


@dataclass
class Context:
    """What a running cmdlet may use. Services are created on first use (parse errors need none)."""

    service_factory: Callable[[str], Awaitable[Any]]
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    input: list[Any] = field(default_factory=list)
    cwd: str = "."
    cluster: str | None = None
    """``-Cluster``: the cluster to act on (None: the one found through the environment)."""
    _services: dict[str, Any] = field(default_factory=dict)

    async def service(self, kind: str) -> Any:
        """``"cluster"`` -> ClusterService, ``"shares"`` -> ShareService (created once per context)."""
        if kind not in self._services:
            if self.cluster is not None:
                self._services[kind] = await self.service_factory(kind, cluster=self.cluster)  # type: ignore[call-arg]
            else:
                self._services[kind] = await self.service_factory(kind)
        return self._services[kind]

    async def close(self) -> None:
        for svc in self._services.values():
            closer = getattr(svc, "close", None)
            if closer is not None:
                res = closer()
                if hasattr(res, "__await__"):
                    await res


REGISTRY: dict[str, CmdletSpec] = {}


def cmdlet(name: str, *params: ParamSpec, synopsis: str = "", sink: bool = False, local: bool = False,
           text: bool = False) -> Callable[[Body], Body]:
    """Decorator registering ``body`` as cmdlet ``name``. Every cmdlet also gets ``-Cluster`` unless it is
    ``local`` (it opens no service: naming a cluster would change nothing) and ``-AsJson`` unless its
    output is ``text`` (Rendered only: there is no object to convert); sinks get neither."""
    def deco(body: Body) -> Body:
        common = () if sink else ((() if local else (CLUSTER,)) + (() if text else (AS_JSON,)))
        all_params = (*params, *common)
        syn = synopsis or ((body.__doc__ or "").strip().splitlines() or [""])[0]
        REGISTRY[name.lower()] = CmdletSpec(name, tuple(all_params), body, syn, sink)
        return body
    return deco


def lookup(name: str) -> CmdletSpec:
    spec = REGISTRY.get(name.lower())
    if spec is None:
        raise ManagementError(f"The term '{name}' is not recognized as the name of a cmdlet. Check the spelling "
                              "of the name (`sofs Get-Command` lists the cmdlets), and try again.",
                              "ObjectNotFound", name)
    return spec
