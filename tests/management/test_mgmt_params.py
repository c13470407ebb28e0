"""Issue 15 acceptance 4: every cmdlet parameter ``Get-Help`` prints has a test that it takes effect or
is refused. The list is read from the cmdlets' own Get-Help (``sofs Get-Command``, then ``sofs Get-Help
<cmdlet>``), not written by hand, and compared with the registry ``param_tests.TESTS``: a parameter added
without a registered test, a registered test that does not exist or never names the cmdlet and the
parameter, or a registry entry Get-Help no longer prints, fails here."""
from __future__ import annotations

import ast
import io
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from param_tests import ASSEMBLED, REFUSED, TESTS

from sofs.cli.cmdlet_cmd import main
from sofs.management.cmdlets import REGISTRY
from sofs.management.psbind import ParamType

ROOT = Path(__file__).resolve().parents[2]
COMMON = ("Cluster", "AsJson")  # every cmdlet gets them from the registry: one test each, over all cmdlets


def cli(*argv: str, cwd: str = ".") -> tuple[int, str, str]:
    async def no_service(kind: str, **_: Any) -> Any:
        raise AssertionError("Get-Command / Get-Help open no service")
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=no_service, stdout=out, stderr=err, cwd=cwd)
    return code, out.getvalue(), err.getvalue()


def help_parameters() -> dict[tuple[str, str], bool]:
    """{(cmdlet, parameter): refused} as Get-Help prints them, for every cmdlet Get-Command lists."""
    code, out, err = cli("Get-Command", "-AsJson")
    assert code == 0, err
    found: dict[tuple[str, str], bool] = {}
    for cmd in (c["Name"] for c in json.loads(out)):
        code, text, err = cli("Get-Help", cmd)
        assert code == 0, err
        section = text.split("PARAMETERS\n", 1)[1]
        for line in section.splitlines():
            m = re.match(r"^    -(\w+)(.*)$", line)
            if m:
                found[(cmd, m.group(1))] = "NOT SUPPORTED" in m.group(2)
    return found


@cache
def source_of(test_id: str) -> str | None:
    """The test function's source plus the module-level helpers it calls (one level), lower-cased."""
    path, _, name = test_id.partition("::")
    file = ROOT / path
    if not file.is_file():
        return None
    src = file.read_text()
    defs = {n.name: n for n in ast.parse(src).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if name not in defs:
        return None
    body = ast.get_source_segment(src, defs[name]) or ""
    for node in ast.walk(defs[name]):
        if isinstance(node, ast.Name) and node.id in defs and node.id != name:
            body += ast.get_source_segment(src, defs[node.id]) or ""
    return body.lower()


def test_every_help_parameter_has_a_behaviour_test() -> None:
    printed = help_parameters()
    assert len(printed) > 150
    missing = [f"{c} -{p}" for c, p in printed if (c, p) not in TESTS and not (p in COMMON and ("*", p) in TESTS)]
    assert missing == [], f"parameters without a registered behaviour test (tests/management/param_tests.py): {missing}"
    stale = [k for k in TESTS if k[0] != "*" and k not in printed]
    assert stale == [], f"registered but not in Get-Help: {stale}"
    wrong = []
    for (cmd, param), test_id in TESTS.items():
        refused = printed.get((cmd, param), False)
        if refused != (test_id == REFUSED):
            wrong.append(f"{cmd} -{param}: {'refused' if refused else 'supported'}, registered as {test_id}")
            continue
        src = source_of(test_id)
        if src is None:
            wrong.append(f"{cmd} -{param}: no test {test_id}")
        elif cmd != "*" and test_id != REFUSED and (cmd.lower() not in src or not _names(src, cmd, param)):
            wrong.append(f"{cmd} -{param}: {test_id} has no call of the cmdlet naming the parameter")
    assert wrong == [], wrong


def _calls(src: str, cmd: str) -> list[str]:
    """The text of each call naming ``cmd``: from the name to the bracket that closes the call it is in
    (``sofs("Get-SmbShare", "-Name", "x")``, a pipeline's later stage up to the same bracket)."""
    out = []
    for m in re.finditer(re.escape(cmd.lower()) + r"\b", src):
        depth, i = 1, m.end()
        while i < len(src) and depth:
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(src[i], 0)
            i += 1
        out.append(src[m.start():i])
    return out


def _names(src: str, cmd: str, param: str) -> bool:
    """A call of the cmdlet in the test names ``-Param``, or gives it a value by position (a positional
    parameter: some call passes an argument right after the cmdlet's name that is not a -Param), or the
    registry says the arguments are assembled elsewhere in the test (``ASSEMBLED``)."""
    calls = _calls(src, cmd)
    if any(re.search("-" + param.lower() + r"\b", call) for call in calls):
        return True
    if (cmd, param) in ASSEMBLED:
        return re.search("-" + param.lower() + r"\b", src) is not None
    spec = REGISTRY[cmd.lower()]
    positional = any(p.name == param and p.position is not None for p in spec.params)
    return positional and any(re.match(r"[\w-]+[\"']\s*,\s*(?!\w+=)(?![\"']-)(?![\"']\|)\S", call)
                              for call in calls)


def test_the_registry_fails_for_a_parameter_without_a_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a parameter added to a cmdlet without registering a test is reported."""
    from dataclasses import replace

    from sofs.management.psbind import ParamSpec
    spec = REGISTRY["get-smbshare"]
    monkeypatch.setitem(REGISTRY, "get-smbshare", replace(spec, params=(*spec.params, ParamSpec("Untested"))))
    with pytest.raises(AssertionError, match="Get-SmbShare -Untested"):
        test_every_help_parameter_has_a_behaviour_test()


def _sample(p: Any) -> list[str]:
    if p.type is ParamType.SWITCH:
        return [f"-{p.name}"]
    return [f"-{p.name}", p.choices[0] if p.choices else "5" if p.type in (ParamType.INT, ParamType.UINT64) else "x"]


EXTRA = {"Add-Computer": ["-DomainName", "corp.example"], "Grant-ClusterAccess": ["-Full"],
         "Invoke-Expression": ["-Command", "Get-Cluster"], "Set-ClusterQuorum": ["-NodeMajority"],
         "Test-Cluster": ["-Node", "127.0.0.1", "-Include", "Inventory"]}
WITH_CLUSTER = sorted(s.name for s in REGISTRY.values() if any(p.name == "Cluster" for p in s.params))


@pytest.mark.parametrize("cmd", WITH_CLUSTER)
def test_cluster_parameter_on_every_cmdlet(cmd: str, tmp_path: Path) -> None:
    """-Cluster <dir> is where each cmdlet looks: a directory holding no cluster is named in the error (Test-Cluster
    validates the named nodes only and says why)."""
    spec = REGISTRY[cmd.lower()]
    given = {a for a in EXTRA.get(cmd, []) if a.startswith("-")}
    args = [a for p in spec.params if p.mandatory and f"-{p.name}" not in given for a in _sample(p)]
    empty = tmp_path / "not-a-cluster"
    empty.mkdir()
    out, err = io.StringIO(), io.StringIO()
    code = main([cmd, *args, *EXTRA.get(cmd, []), "-Cluster", str(empty)], stdout=out, stderr=err, cwd=str(tmp_path))
    assert f"'{empty}' holds no cluster (cluster.json is missing)" in err.getvalue(), err.getvalue()
    assert code == (0 if cmd == "Test-Cluster" else 1)


def test_cmdlets_that_open_no_service_take_no_cluster() -> None:
    for cmd in ("Get-Help", "Get-Command"):
        code, _, err = cli(cmd, "-Cluster", "x")
        assert code == 2 and "cannot be found that matches parameter name 'Cluster'" in err, err
    code, _, err = cli("Get-Help", "Get-Help", "-AsJson")  # its output is text: no object to convert
    assert code == 2 and "'AsJson'" in err, err


def test_get_command_and_get_help_name() -> None:
    code, out, _ = cli("Get-Command", "-Name", "Get-SmbS*", "-AsJson")
    assert code == 0 and [c["Name"] for c in json.loads(out)] == ["Get-SmbSession", "Get-SmbShare", "Get-SmbShareAccess"]
    code, out, _ = cli("Get-Help", "-Name", "new-smbshare")
    assert code == 0 and out.startswith("NAME\n    New-SmbShare\n") and "-CATimeout" in out
    code, _, err = cli("Get-Help", "-Name", "Get-Nothing")
    assert code == 1 and "'Get-Nothing' is not recognized" in err


def test_new_cluster_on_a_real_store(tmp_path: Path) -> None:
    """New-Cluster through the real ClusterClient over a real embedded store (no node runs yet)."""
    from sofs.cluster.client import ClusterClient
    from sofs.cluster.store_embedded import open_embedded
    from sofs.management.services.cluster import ClusterService

    async def factory(kind: str, **_: Any) -> Any:
        assert kind == "cluster"
        return ClusterService(ClusterClient(await open_embedded(tmp_path)))

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), service_factory=factory, stdout=out, stderr=err), out.getvalue(), err.getvalue()

    code, _, err = run("New-Cluster", "-Name", "c1", "-Node", "n1,n2", "-StaticAddress", "192.0.2.10", "-NoStorage")
    assert code == 0, err
    code, out, _ = run("Get-Cluster", "-AsJson")
    assert json.loads(out)["StaticAddress"] == ["192.0.2.10"]
    assert [n["Name"] for n in json.loads(run("Get-ClusterNode", "-AsJson")[1])] == ["n1", "n2"]
    code, _, err = run("New-Cluster", "-Name", "c2", "-Node", "n1", "-Force")
    assert code == 1 and "already" in err, err  # -Force does not replace a cluster
    code, _, err = run("New-Cluster", "-Name", "c3", "-Node", "n1", "-StaticAddress", "not-an-address")
    assert code == 1 and "not-an-address" in err, err
