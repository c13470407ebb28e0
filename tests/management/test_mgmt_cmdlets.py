"""Cmdlets end to end through the CLI entry point, against the in-memory fake ClusterClient."""
from __future__ import annotations

import io
import json
from typing import Any

import pytest
from mgmt_fakes import FakeClusterClient, FakeNode, three_nodes

from sofs.cli.cmdlet_cmd import main
from sofs.management.services.cluster import ClusterService


def run(client: FakeClusterClient, *argv: str, cwd: str = ".") -> tuple[int, str, str]:
    async def factory(kind: str) -> Any:
        assert kind == "cluster"
        return ClusterService(client)

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=factory, stdout=out, stderr=err, cwd=cwd)
    return code, out.getvalue(), err.getvalue()


def test_new_cluster_and_get() -> None:
    c = FakeClusterClient()
    code, out, err = run(c, "New-Cluster", "-Name", "c1", "-Node", "n1,n2,n3", "-NoStorage",
                         "-StaticAddress", "10.0.0.50")
    assert (code, err) == (0, "")
    assert c.calls[0] == ("create_cluster", "c1", ("n1", "n2", "n3"), ("10.0.0.50",), True)
    assert out == "\nName\n----\nc1\n\n"
    code, out, _ = run(c, "Get-ClusterNode")
    assert out == ("\nName State Type\n---- ----- ----\nn1   Up    Node\nn2   Up    Node\nn3   Up    Node\n\n")


def test_new_cluster_argv_with_spaces_in_list() -> None:
    c = FakeClusterClient()
    code, _, err = run(c, "New-Cluster", "c2", "-Node", "n1,", "n2")
    assert code == 0, err
    assert c.calls[0][2] == ("n1", "n2")


def test_get_cluster_group_and_resource_and_quorum() -> None:
    c = three_nodes()
    _, out, _ = run(c, "Get-ClusterGroup")
    assert out == ("\nName    OwnerNode State\n----    --------- -----\nSOFS01  n1        Online\n"
                   "Volume1 n2        Online\n\n")
    _, out, _ = run(c, "Get-ClusterResource", "SOFS01*")
    assert "SOFS01 Resource Online OwnerGroup" not in out and "SOFS01 Resource" in out
    _, out, _ = run(c, "Get-ClusterQuorum")
    assert out == ("\nCluster QuorumResource WitnessState WitnessOwnerNode\n"
                   "------- -------------- ------------ ----------------\nc1\n\n")


def test_set_quorum_variants() -> None:
    c = three_nodes()
    code, out, err = run(c, "Set-ClusterQuorum", "-FileShareWitness", r"\\127.0.0.1\witness")
    assert code == 0, err
    assert c.calls[-1] == ("set_quorum", {"type": "NodeAndFileShareMajority",
                                          "witness": {"type": "fileshare", "share": r"\\127.0.0.1\witness"}})
    assert "c1      File Share Witness" in out
    code, out, err = run(c, "Set-ClusterQuorum", "-CloudWitness", "-AccountName", "devstoreaccount1",
                         "-AccessKey", "k==", "-Endpoint", "http://127.0.0.1:10000/devstoreaccount1")
    assert code == 0, err
    assert c.calls[-1][1]["witness"]["access_key"] == "k=="
    code, out, _ = run(c, "Get-ClusterQuorum", "-AsJson")
    assert json.loads(out) == {"Cluster": "c1", "QuorumResource": "Cloud Witness",
                               "QuorumType": "NodeAndCloudMajority", "WitnessState": "", "WitnessOwnerNode": "",
                               "WitnessLocation": "devstoreaccount1@http://127.0.0.1:10000/devstoreaccount1",
                               "WitnessDynamicWeight": 0}  # the access key never shows
    code, _, err = run(c, "Set-ClusterQuorum", "-DiskWitness", "/tmp/w.lock")
    assert code == 0 and c.calls[-1][1]["witness"] == {"type": "disk", "path": "/tmp/w.lock"}
    code, _, _ = run(c, "Set-ClusterQuorum", "-NodeMajority")
    assert code == 0 and c.calls[-1][1] == {"type": "NodeMajority"}


@pytest.mark.parametrize("argv,code,msg", [
    (["Set-ClusterQuorum"], 1, "Parameter set cannot be resolved"),
    (["Set-ClusterQuorum", "-NodeMajority", "-CloudWitness"], 1, "exactly one of"),
    (["Set-ClusterQuorum", "-FileShareWitness", "srv/share"], 1, "is not a UNC path"),
    (["Set-ClusterQuorum", "-CloudWitness", "-AccountName", "a"], 1, "needs -AccountName and -AccessKey"),
    (["Set-ClusterQuorum", "-A", "x"], 2, "Possible matches include: -AccountName -AccessKey -AsJson."),
    (["Get-ClusterNode", "-Nmae", "x"], 2, "A parameter cannot be found that matches parameter name 'Nmae'."),
    (["Get-ClusterNode", "n9"], 1, "The cluster node 'n9' was not found."),
    (["Get-Clustr"], 1, "The term 'Get-Clustr' is not recognized"),
    (["Move-ClusterGroup"], 2, "missing mandatory parameters: Name."),
    (["Move-ClusterGroup", "SOFS01", "n9"], 1, "The cluster node 'n9' was not found."),
    (["New-Cluster", "-Name", "bad_name!", "-Node", "a"], 1, "is not valid"),
    (["Add-ClusterNode", "n1"], 1, "already a member"),
    (["Remove-ClusterNode", "n1,n2,n3"], 1, "destroy the cluster"),
])
def test_errors(argv: list[str], code: int, msg: str) -> None:
    got, out, err = run(three_nodes(), *argv)
    assert got == code and out == ""
    assert msg in err
    if code == 1:
        assert err.startswith(f"{argv[0]} : ") and "+ CategoryInfo" in err


def test_move_group_suspend_resume() -> None:
    c = three_nodes()
    code, out, _ = run(c, "Move-ClusterGroup", "SOFS01", "n3")
    assert code == 0 and c.calls[-1] == ("move_group", "SOFS01", "n3")
    assert "SOFS01 n3        Online" in out
    code, out, _ = run(c, "Move-ClusterGroup", "-Name", "SOFS01")  # no -Node: first other Up node
    assert c.calls[-1] == ("move_group", "SOFS01", "n1")
    code, out, _ = run(c, "Suspend-ClusterNode", "n1", "-Drain")
    assert code == 0 and c.calls[-1] == ("suspend_node", "n1", True)
    assert "n1   Paused Node" in out
    code, _, err = run(c, "Move-ClusterGroup", "Volume1", "n1")
    assert code == 1 and "is Paused" in err
    code, out, _ = run(c, "Resume-ClusterNode", "n1")
    assert code == 0 and "n1   Up    Node" in out


def test_suspend_drain_false_and_pipeline() -> None:
    c = three_nodes()
    code, _, err = run(c, "Suspend-ClusterNode", "n2", "-Drain:$false")
    assert code == 0, err
    assert c.calls[-1] == ("suspend_node", "n2", False)
    code, _out, err = run(c, "Get-ClusterNode", "n3", "|", "Suspend-ClusterNode", "-Drain")
    assert code == 0, err
    assert c.calls[-1] == ("suspend_node", "n3", True)


def test_add_remove_node() -> None:
    c = three_nodes()
    code, out, _ = run(c, "Add-ClusterNode", "-Name", "n4")
    assert code == 0 and "n4   Up    Node" in out
    code, out, _ = run(c, "Remove-ClusterNode", "n4", "-Force")
    assert code == 0 and out == "" and [n.name for n in c.nodes] == ["n1", "n2", "n3"]


def test_property_assignment() -> None:
    c = three_nodes()
    code, out, err = run(c, "Invoke-Expression", "(Get-Cluster).SameSubnetThreshold = 5")
    assert code == 0, err
    assert c.calls[-1] == ("set_cluster_property", "same_subnet_threshold", 5)
    code, out, err = run(c, "(Get-Cluster).SameSubnetDelay = 2000")  # whole line form
    assert code == 0, err
    assert c.calls[-1] == ("set_cluster_property", "same_subnet_delay", 2000)
    code, _, err = run(c, "(Get-Cluster).SameSubnetThreshold = 500")
    assert code == 1 and "out of range (2-120)" in err
    code, _, err = run(c, "(Get-Cluster).Name = x")
    assert code == 1 and "'Name' is a ReadOnly property." in err
    code, _, err = run(c, "(Get-Cluster).Bogus = x")
    assert code == 1 and "The property 'Bogus' cannot be found" in err
    code, _, err = run(c, "(Get-ClusterNode n1).State = Down")
    assert code == 1 and "ReadOnly" in err
    _, out, _ = run(c, "Get-Cluster", "|", "Format-List", "SameSubnet*,Name")
    assert out == "\nName : c1\n\n"  # Format-List names are literal, wildcards not expanded


def test_format_and_json_sinks() -> None:
    c = three_nodes()
    _, out, _ = run(c, "Get-ClusterNode", "n1", "|", "Format-List", "Name,State,Address")
    assert out == "\nName    : n1\nState   : Up\nAddress : 127.0.0.11\n\n"
    _, out, _ = run(c, "Get-ClusterGroup", "|", "ConvertTo-Json", "-Compress")
    data = json.loads(out)
    assert [g["OwnerNode"] for g in data] == ["n1", "n2"]
    _, out, _ = run(c, "Get-ClusterNode", "|", "Format-Table", "Name,Address")
    assert out.splitlines()[1:3] == ["Name Address", "---- -------"]


def test_get_command_and_help() -> None:
    c = three_nodes()
    code, out, _ = run(c, "Get-Command", "*-ClusterNode")
    assert code == 0
    for name in ("Add-ClusterNode", "Get-ClusterNode", "Remove-ClusterNode", "Resume-ClusterNode",
                 "Suspend-ClusterNode"):
        assert name in out
    code, out, _ = run(c, "Get-Help", "Move-ClusterGroup")
    assert "Move-ClusterGroup [-Name] <String> [[-Node] <String>]" in out


def test_no_cluster_error() -> None:
    from sofs.management.errors import ManagementError

    async def factory(kind: str) -> Any:
        raise ManagementError("No running cluster was found.", "ConnectionError")

    err = io.StringIO()
    code = main(["Get-ClusterNode"], service_factory=factory, stdout=io.StringIO(), stderr=err)
    assert code == 1 and err.getvalue().startswith("Get-ClusterNode : No running cluster was found.")


def test_node_states_from_enums() -> None:
    import enum

    class St(enum.Enum):
        UP = "up"
        DOWN = "down"

    c = three_nodes()
    c.nodes = [FakeNode("a", state=St.UP), FakeNode("b", state=St.DOWN)]  # type: ignore[arg-type]
    _, out, _ = run(c, "Get-ClusterNode")
    assert "a    Up    Node" in out and "b    Down  Node" in out
