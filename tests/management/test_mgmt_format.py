"""Golden tests for the PowerShell-like formatter."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import ClassVar

from sofs.management.format import format_default, format_list, format_table, pascal, render, to_json
from sofs.management.services.models import GroupInfo, NodeInfo, QuorumInfo


class Mode(enum.Enum):
    ON = "On"


@dataclass(frozen=True)
class Share:
    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "scope_name", "path", "description")
    name: str
    scope_name: str
    path: str
    description: str = ""
    ca_timeout: int = 0
    secret: str = field(default="x", metadata={"hidden": True})


NODES = [NodeInfo("n1", "Up", address="127.0.0.11"), NodeInfo("node-two", "Down", address="127.0.0.12")]


def test_table_golden() -> None:
    assert format_table(NODES) == (
        "\n"
        "Name     State Type\n"
        "----     ----- ----\n"
        "n1       Up    Node\n"
        "node-two Down  Node\n"
        "\n")


def test_table_numbers_right_aligned_and_empty_trailing() -> None:
    rows = [{"Name": "a", "Size": 5, "Note": ""}, {"Name": "bbb", "Size": 12345, "Note": None}]
    assert format_table(rows) == (
        "\n"
        "Name  Size Note\n"
        "----  ---- ----\n"
        "a        5\n"
        "bbb  12345\n"
        "\n")


def test_list_golden() -> None:
    g = GroupInfo("SOFS01", "n1", "Online", "ScaleOutFileServer", 3, ("n1", "n2"))
    assert format_list([g]) == (
        "\n"
        "Name            : SOFS01\n"
        "OwnerNode       : n1\n"
        "State           : Online\n"
        "GroupType       : ScaleOutFileServer\n"
        "Epoch           : 3\n"
        "PreferredOwners : {n1, n2}\n"
        "\n")


def test_list_two_objects_and_selected_properties() -> None:
    assert format_list(NODES, ["name", "State"]) == "\nName  : n1\nState : Up\n\nName  : node-two\nState : Down\n\n"


def test_default_view_and_hidden_fields() -> None:
    s = Share("VMS", "SOFS01", r"C:\ClusterStorage\Volume1\Shares\VMS")
    assert format_default([s]) == (
        "\n"
        "Name ScopeName Path                                 Description\n"
        "---- --------- ----                                 -----------\n"
        "VMS  SOFS01    C:\\ClusterStorage\\Volume1\\Shares\\VMS\n"
        "\n")
    assert "Secret" not in format_list([s])
    big = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}  # 5+ properties without a view: a list, as PowerShell
    assert format_default([big]).startswith("\nA : 1\nB : 2\n")
    assert format_default([]) == ""


def test_render_values() -> None:
    assert [render(v) for v in (None, True, False, Mode.ON, 1.5, ["a", "b"], {"k": 1})] == [
        "", "True", "False", "On", "1.5", "{a, b}", "@{k=1}"]
    assert pascal("same_subnet_threshold") == "SameSubnetThreshold" and pascal("OwnerNode") == "OwnerNode"


def test_json_golden() -> None:
    q = QuorumInfo("c1", "Cloud Witness", "NodeAndCloudMajority", {"access_key": "secret"})
    assert to_json([q]) == (
        "{\n"
        '  "Cluster": "c1",\n'
        '  "QuorumResource": "Cloud Witness",\n'
        '  "QuorumType": "NodeAndCloudMajority",\n'
        '  "WitnessState": "",\n'
        '  "WitnessOwnerNode": "",\n'
        '  "WitnessLocation": "",\n'
        '  "WitnessDynamicWeight": 0\n'
        "}\n")
    data = json.loads(to_json(NODES))
    assert [d["Name"] for d in data] == ["n1", "node-two"] and data[0]["SmbPort"] == 445
