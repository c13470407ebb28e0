"""Issue 15 item 5: every parameter a cmdlet accepts takes effect or is refused with a clear message.

- Each declared parameter is used by its cmdlet's body, or handled by a named helper, or declares the
  effect it always has (``ALWAYS``: e.g. -Force where sofs never prompts), or is refused
  (``ParamSpec.unsupported``): the binder then fails before any service is opened, and Get-Help says
  NOT SUPPORTED.
- One validation table for the cluster properties; ScopeName and ConvertTo-Json -Depth take effect.
"""
from __future__ import annotations

import inspect
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sofs.cli.cmdlet_cmd import main
from sofs.cluster.client import PROPERTIES
from sofs.cluster.store_embedded import open_embedded
from sofs.management.cmdlets import REGISTRY
from sofs.management.psbind import ParamType
from sofs.management.services.cluster import SETTABLE
from sofs.management.services.shares import ShareService

HELPERS = {  # parameter read by a helper the body calls (its name is in the body)
    ("Add-ClusterNode", "Name"): "_names", ("Remove-ClusterNode", "Name"): "_names",
    ("Resume-ClusterNode", "Name"): "_names", ("Suspend-ClusterNode", "Name"): "_names",
    ("Test-Cluster", "Node"): "build_env", ("Test-Cluster", "VolumePath"): "build_env",
    ("Test-Cluster", "SmbPort"): "build_env",
    **{(c, "ScopeName"): "_in_scope" for c in ("Block-SmbShareAccess", "Get-SmbShareAccess", "Grant-SmbShareAccess",
                                               "Remove-SmbShare", "Revoke-SmbShareAccess", "Unblock-SmbShareAccess")},
    **{(c, p): "_selected" for c in ("Get-SmbSession", "Close-SmbSession")
       for p in ("SessionId", "ClientComputerName", "ClientUserName", "ScopeName", "ClusterNodeName")},
}
ALWAYS = {"Force", "NoStorage", "AutoSize", "RemoveResources"}  # their effect is what sofs always does


def body_source(spec: Any) -> str:
    src = inspect.getsource(spec.body)
    return src[src.index("def "):]


def every_param() -> list[tuple[str, Any]]:
    return [(s.name, p) for _, s in sorted(REGISTRY.items()) for p in s.params if p.name not in ("AsJson", "Cluster")]


def test_every_parameter_is_used_helped_always_true_or_refused() -> None:
    loose = []
    for cmd, p in every_param():
        spec = REGISTRY[cmd.lower()]
        src = body_source(spec)
        if p.unsupported or f'"{p.name}"' in src:
            continue
        helper = HELPERS.get((cmd, p.name))
        if helper is not None:
            assert helper in src, (cmd, p.name, helper)
            continue
        if p.name in ALWAYS:
            assert p.help, f"{cmd} -{p.name}: say in its help what it does"
            continue
        loose.append(f"{cmd} -{p.name}")
    assert loose == [], loose


UNSUPPORTED = [(cmd, p) for cmd, p in every_param() if p.unsupported]


def sample(p: Any) -> list[str]:
    if p.type is ParamType.SWITCH:
        return [f"-{p.name}"]
    value = p.choices[0] if p.choices else "5" if p.type is ParamType.INT else "x"
    return [f"-{p.name}", value]


MANDATORY = {"New-SmbShare": ["-Name", "s", "-Path", "/tmp"], "New-Cluster": ["-Name", "c"],
             "Move-ClusterGroup": ["-Name", "g"], "Suspend-ClusterNode": ["-Name", "n1"],
             "Resume-ClusterNode": ["-Name", "n1"], "Remove-ClusterNode": ["-Name", "n1"],
             "Get-SmbOpenFile": [], "Get-SmbSession": [], "Close-SmbSession": [], "Get-SmbConnection": [],
             "Get-SmbMultichannelConnection": []}


@pytest.mark.parametrize(("cmd", "param"), UNSUPPORTED, ids=[f"{c} -{p.name}" for c, p in UNSUPPORTED])
def test_unsupported_parameters_are_refused(cmd: str, param: Any) -> None:
    async def factory(kind: str) -> Any:
        raise AssertionError("a refused parameter must not reach any service")

    out, err = io.StringIO(), io.StringIO()
    code = main([cmd, *MANDATORY[cmd], *sample(param)], service_factory=factory, stdout=out, stderr=err)
    assert code == 2 and f"'-{param.name}' is not supported by sofs: {param.unsupported}" in err.getvalue()
    help_out = io.StringIO()
    assert main(["Get-Help", cmd], service_factory=factory, stdout=help_out, stderr=err) == 0
    assert f"-{param.name}" in help_out.getvalue() and "NOT SUPPORTED" in help_out.getvalue()


def test_the_issue_list_is_refused() -> None:
    names = {(c, p.name) for c, p in UNSUPPORTED}
    for pair in [("New-SmbShare", "Temporary"), ("New-SmbShare", "ConcurrentUserLimit"),
                 ("New-Cluster", "IgnoreNetwork"), ("New-Cluster", "AdministrativeAccessPoint"),
                 ("Get-SmbOpenFile", "ScopeName"), ("Get-SmbOpenFile", "IncludeHidden")]:
        assert pair in names


def test_one_validation_table_for_cluster_properties() -> None:
    for ps, (fname, lo, hi) in PROPERTIES.items():
        assert SETTABLE[ps] == (fname, int, lo, hi)


def run(state: Path, *argv: str) -> tuple[int, str, str]:
    async def factory(kind: str) -> Any:
        return ShareService(await open_embedded(state), state_dir=state)
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=factory, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_scope_name_selects_or_refuses(tmp_path: Path) -> None:
    assert run(tmp_path, "New-SmbShare", "A", str(tmp_path))[0] == 0
    code, _, err = run(tmp_path, "Grant-SmbShareAccess", "A", "bob", "-AccessRight", "Read", "-ScopeName", "SOFS")
    assert code == 1 and "its scope is '*'" in err
    assert run(tmp_path, "Grant-SmbShareAccess", "A", "bob", "-AccessRight", "Read", "-ScopeName", "*")[0] == 0
    assert "A" in run(tmp_path, "Get-SmbShare", "-ScopeName", "*")[1]
    assert run(tmp_path, "Get-SmbShare", "-ScopeName", "SOFS")[1] == ""
    assert run(tmp_path, "Remove-SmbShare", "A", "-ScopeName", "SOFS")[0] == 1
    assert run(tmp_path, "Remove-SmbShare", "A", "-ScopeName", "*", "-Force")[0] == 0


def test_convert_to_json_depth() -> None:
    async def factory(kind: str) -> Any:
        class Svc:
            async def get_cluster(self) -> Any:
                from sofs.management.services.models import ClusterInfo
                return ClusterInfo("c", static_address=("192.0.2.10",))
        return Svc()
    for depth, kind in (("2", list), ("0", str)):
        out, err = io.StringIO(), io.StringIO()
        assert main(["Get-Cluster", "|", "ConvertTo-Json", "-Depth", depth], service_factory=factory,
                    stdout=out, stderr=err) == 0, err.getvalue()
        assert isinstance(json.loads(out.getvalue())["StaticAddress"], kind)
    err = io.StringIO()
    assert main(["Get-Cluster", "|", "ConvertTo-Json", "-Depth", "-1"], service_factory=factory,
                stdout=io.StringIO(), stderr=err) == 1 and "between 0 and 100" in err.getvalue()
