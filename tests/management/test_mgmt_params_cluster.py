"""Issue 15 acceptance 4, cluster side: node, role, volume, quorum, account, log, validation, format and
storage cmdlet parameters take effect on a real 3-node cluster (``sofs cluster up 3``) — or are refused
with a message naming the problem.

Registered in ``param_tests.py``; ``test_mgmt_params.py`` checks that every parameter Get-Help prints
has such a test."""
from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

import pytest
from params_cluster import ADDR, Live, live, until  # noqa: F401  (live: the module's cluster fixture)

from sofs.management.cmdlets import REGISTRY
from tests.conftest import USERS

pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import SMBException
from smbprotocol.session import Session

pytestmark = pytest.mark.interop


def logs_on(live: Live, user: str, password: str) -> bool:
    conn = Connection(uuid.uuid4(), ADDR["n2"], live.port, require_signing=False)
    until(lambda: _connected(conn), 20, "n2 accepts SMB connections")
    try:
        Session(conn, user, password, require_encryption=False).connect()
        return True
    except SMBException:
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.disconnect()


def _connected(conn: Connection) -> bool:
    try:
        conn.connect(Dialects.SMB_3_1_1, timeout=5)
        return True
    except ValueError:  # smbprotocol's "Failed to connect" (the node's SMB server not listening yet)
        return False


def test_as_json_on_every_query(live: Live) -> None:
    """-AsJson: every Get-* cmdlet that needs no argument prints JSON of the objects its table shows."""
    piped = {"Get-ClusterParameter"}  # needs a resource from the pipeline: test_role_parameters
    names = [s.name for s in REGISTRY.values() if s.name.startswith("Get-") and not any(p.mandatory for p in s.params)
             and any(p.name == "AsJson" for p in s.params) and s.name not in piped]
    assert len(names) > 20
    for name in names:
        rows = live.json(name)
        table = live.ok(name)
        for row in rows[:3]:
            first = next(iter(row.values()))
            assert str(first) in table or first in ("", None) or isinstance(first, (bool, list, dict)), (name, row)
    assert live.json("New-LocalUser", "-Name", "jsonuser", "-Password", "json password")[0]["Name"] == "jsonuser"


def test_accounts_disabled_enable_and_cluster_access(live: Live) -> None:
    live.ok("New-LocalUser", "-Name", "carol", "-Password", "carol password", "-Disabled")
    assert live.json("Get-LocalUser", "carol")[0]["Enabled"] is False
    assert not logs_on(live, "carol", "carol password")
    live.ok("Enable-LocalUser", "-Name", "carol")
    live.ok("Set-LocalUser", "-Name", "carol", "-Description", "the night shift")
    assert live.json("Get-LocalUser", "carol")[0]["Description"] == "the night shift"
    until(lambda: logs_on(live, "carol", "carol password"), 20, "carol enabled on the nodes")
    live.ok("Grant-ClusterAccess", "-User", "carol", "-ReadOnly")
    live.ok("New-LocalUser", "-Name", "dave", "-Password", "dave password")
    live.ok("Grant-ClusterAccess", "-User", "dave", "-Full")
    assert [(u["Name"], u["ClusterAccess"]) for u in live.json("Get-ClusterAccess", "-User", "carol")] == \
        [("carol", "Read")]
    assert {u["Name"] for u in live.json("Get-ClusterAccess")} >= {"carol", "dave"}
    live.ok("Remove-ClusterAccess", "-User", "carol")
    assert live.json("Get-ClusterAccess", "-User", "carol") == []
    assert [u["Name"] for u in live.json("Get-ClusterAccess", "-User", "dave")] == ["dave"]
    assert "was not found" in live.refused("Remove-ClusterAccess", "-User", "nobody")


def test_node_parameters(live: Live) -> None:
    live.ok("Add-ClusterNode", "-Name", "n4", "-NoStorage")
    assert [n["Name"] for n in live.json("Get-ClusterNode", "-Name", "n4")] == ["n4"]
    live.ok("Remove-ClusterNode", "-Name", "n4", "-Force")
    assert "n4" not in {n["Name"] for n in live.json("Get-ClusterNode")}
    err = live.refused("New-Cluster", "-Name", "again", "-Node", "n1", "-Force")
    assert "already" in err, err
    # -ForceDrain drains: the node's roles move to the others, then it is Paused
    live.ok("Move-ClusterGroup", "-Name", live.json("Get-ClusterGroup")[0]["Name"], "-Node", "n3")
    live.ok("Suspend-ClusterNode", "-Name", "n3", "-ForceDrain")

    def drained() -> bool:
        (n3,) = live.json("Get-ClusterNode", "-Name", "n3")
        return n3["State"] == "Paused" and n3["DrainStatus"] == "Completed" and \
            all(g["OwnerNode"] != "n3" for g in live.json("Get-ClusterGroup"))
    until(drained, 20, "n3 drained and paused")
    live.ok("Resume-ClusterNode", "-Name", "n3")
    until(lambda: live.json("Get-ClusterNode", "-Name", "n3")[0]["State"] == "Up", 20, "n3 resumed")


def test_volume_parameters(live: Live) -> None:
    live.ok("New-SmbShare", "-Name", "VOLS", "-Path", r"C:\ClusterStorage\Volume1\Shares\VOLS", "-CreatePath",
            "-FullAccess", "alice")  # a share on Volume1 makes it a cluster shared volume
    until(lambda: live.ps("Get-ClusterSharedVolume", "Volume1")[0] == 0, 20, "Volume1 is a CSV")
    (vol,) = live.json("Get-ClusterSharedVolume", "-Name", "Volume1")
    assert "was not found" in live.refused("Get-ClusterSharedVolume", "-Name", "Nope")
    target = next(n for n in ("n1", "n2", "n3") if n != vol["Node"])
    live.ok("Move-ClusterSharedVolume", "-Name", "Volume1", "-Node", target)
    until(lambda: live.json("Get-ClusterSharedVolume", "Volume1")[0]["Node"] == target, 20, "coordinator moved")
    rows = live.json("Get-ClusterSharedVolumeState", "-Name", "Volume1", "-Node", "n2")
    assert [(r["Node"], r["VolumeFriendlyName"]) for r in rows] == [("n2", "Volume1")], rows
    assert len(live.json("Get-ClusterSharedVolumeState", "-Name", "Volume1")) == 3
    assert "was not found" in live.refused("Get-ClusterSharedVolumeState", "-Name", "Nope")


def test_role_parameters(live: Live) -> None:
    live.ok("Add-ClusterScaleOutFileServerRole", "-Name", "PRMROLE")
    res = [r["Name"] for r in live.json("Get-ClusterResource") if r["OwnerGroup"] == "PRMROLE"]
    assert res, live.ok("Get-ClusterResource")
    live.ok("Get-ClusterResource", res[0], "|", "Set-ClusterParameter", "-Name", "HostRecordTTL", "-Value", "7")
    (param,) = live.json("Get-ClusterResource", res[0], "|", "Get-ClusterParameter", "-Name", "HostRecordTTL")
    assert param["Value"] == 7, param
    live.ok("Remove-ClusterGroup", "-Name", "PRMROLE", "-RemoveResources", "-Force")
    assert "PRMROLE" not in {g["Name"] for g in live.json("Get-ClusterGroup")}
    assert not [r for r in live.json("Get-ClusterResource") if r["OwnerGroup"] == "PRMROLE"]


def test_quorum_no_witness(live: Live, tmp_path: Path) -> None:
    live.ok("Set-ClusterQuorum", "-DiskWitness", str(tmp_path / "witness.lock"))
    assert live.json("Get-ClusterQuorum")[0]["QuorumResource"] == "Disk Witness"
    live.ok("Set-ClusterQuorum", "-NoWitness")
    (q,) = live.json("Get-ClusterQuorum")
    assert (q["QuorumType"], q["QuorumResource"]) == ("NodeMajority", ""), q
    live.ok("Set-ClusterQuorum", "-DiskWitness", str(tmp_path / "witness.lock"))
    live.ok("Set-ClusterQuorum", "-NodeMajority")
    assert live.json("Get-ClusterQuorum")[0]["QuorumType"] == "NodeMajority"


def test_names_select_or_refuse(live: Live) -> None:
    (info,) = live.json("Get-Cluster")
    assert live.json("Get-Cluster", "-Name", info["Name"].upper())[0]["Name"] == info["Name"]
    assert f"this is cluster '{info['Name']}'" in live.refused("Get-Cluster", "-Name", "other")
    assert [g["Name"] for g in live.json("Get-ClusterGroup", "-Name", "Cluster Group")] == ["Cluster Group"]
    assert "was not found" in live.refused("Get-ClusterGroup", "-Name", "Nope")


def test_invoke_expression_command(live: Live) -> None:
    live.ok("Invoke-Expression", "-Command", "(Get-Cluster).SameSubnetThreshold = 7")
    assert live.json("Get-Cluster")[0]["SameSubnetThreshold"] == 7
    live.ok("Invoke-Expression", "-Command", "(Get-Cluster).SameSubnetThreshold = 5")


def test_format_parameters(live: Live) -> None:
    out = live.ok("Get-ClusterNode", "|", "Format-Table", "-Property", "Name,State", "-AutoSize")
    assert out.splitlines()[1].split() == ["Name", "State"] and "n1" in out and "NodeWeight" not in out
    out = live.ok("Get-ClusterNode", "-Name", "n1", "|", "Format-List", "-Property", "Name,NodeWeight")
    assert [ln.split(":")[0].strip() for ln in out.splitlines() if ln.strip()] == ["Name", "NodeWeight"]
    out = live.ok("Get-ClusterNode", "-Name", "n1", "|", "ConvertTo-Json", "-Compress", "-Depth", "1")
    assert "\n" not in out.strip() and json.loads(out)["Name"] == "n1"
    deep = json.loads(live.ok("Get-Cluster", "|", "ConvertTo-Json", "-Depth", "0"))
    assert isinstance(deep["StaticAddress"], str)  # nested deeper than -Depth: its text


def test_cluster_log_node_and_local_time(live: Live, tmp_path: Path) -> None:
    out = tmp_path / "utc"
    out.mkdir()
    live.ok("Get-ClusterLog", "-Node", "n2", "-Destination", str(out), "-TimeSpan", "30")
    assert sorted(os.listdir(out)) == ["n2_cluster.log"]
    utc = (out / "n2_cluster.log").read_text()
    assert "UTC" in utc.splitlines()[0] and ", start .. " not in utc.splitlines()[0]  # the 30 minutes' window
    assert "positive number of minutes" in live.refused("Get-ClusterLog", "-Destination", str(out), "-TimeSpan", "0")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"  # UTC+9, no daylight saving
    time.tzset()
    try:
        live.ok("Get-ClusterLog", "-Node", "n2", "-Destination", str(tmp_path), "-UseLocalTime")
    finally:
        if old is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = old
        time.tzset()
    local = (tmp_path / "n2_cluster.log").read_text()
    assert "local time" in local.splitlines()[0] and ", start .. " in local.splitlines()[0]  # no -TimeSpan: all
    stamp = next(ln.split()[0] for ln in local.splitlines()[1:] if "[" in ln)
    assert stamp not in utc  # the same events, nine hours later on the clock
    assert "was not found" in live.refused("Get-ClusterLog", "-Node", "n9", "-Destination", str(tmp_path))


def test_test_cluster_parameters(live: Live, tmp_path: Path) -> None:
    extra = tmp_path / "extra-volume"
    extra.mkdir()
    code, out, err = live.ps("Test-Cluster", "-Ignore", "Quorum,Network", "-VolumePath", str(extra), "-Force",
                             "-ReportName", str(tmp_path / "r1"), "-AsJson")
    assert code == 0, err
    rows = {r["Name"]: r for r in json.loads(out)}
    assert "Validate witness" not in rows and "Validate SMB port" not in rows and "List cluster nodes" in rows
    assert str(extra) in rows["Validate volume paths"]["Detail"]
    # -SmbPort: the port asked of nodes outside the cluster (the cluster's port answers, port 1 does not)
    for port, want in ((live.port, "Pass"), (1, "Fail")):
        code, out, err = live.ps("Test-Cluster", "-Node", ADDR["n1"], "-Include", "Validate SMB port", "-SmbPort",
                                 str(port), "-ReportName", str(tmp_path / f"p{port}"), "-AsJson")
        assert json.loads(out)["Status"] == want, (port, out, err)


def test_storage_confirm_force_and_redundancy(live: Live) -> None:
    for argv in (["Enable-ClusterStorageSpacesDirect", "-PoolFriendlyName", "S2D on prm", "-Confirm:$true"],
                 ["Remove-VirtualDisk", "-FriendlyName", "Volume1", "-Confirm:$true"]):
        assert "sofs never prompts" in live.refused(*argv)
    # -Confirm:$false -Force go on to the storage, which says why local storage cannot do it
    err = live.refused("Enable-ClusterStorageSpacesDirect", "-PoolFriendlyName", "S2D on prm", "-Confirm:$false",
                       "-Force")
    assert "one copy, no mirror" in err, err
    err = live.refused("New-Volume", "-FriendlyName", "VolR", "-ResiliencySettingName", "Simple",
                       "-PhysicalDiskRedundancy", "1")
    assert "tolerates no failure (-PhysicalDiskRedundancy 0)" in err, err
    assert live.json("New-Volume", "-FriendlyName", "VolR", "-ResiliencySettingName", "Simple",
                     "-PhysicalDiskRedundancy", "0")[0]["FriendlyName"] == "VolR"
    err = live.refused("Remove-VirtualDisk", "-FriendlyName", "VolR", "-Confirm:$false", "-Force")
    assert "does not delete" in err, err
    # -FriendlyName selects (wildcards where Windows has them) or names what is missing
    assert [v["FriendlyName"] for v in live.json("Get-VirtualDisk", "-FriendlyName", "VolR")] == ["VolR"]
    assert "'Nope'" in live.refused("Get-VirtualDisk", "-FriendlyName", "Nope")
    assert [p["FriendlyName"] for p in live.json("Get-StoragePool", "-FriendlyName", "Primordial")] == ["Primordial"]
    assert "'S2D on prm'" in live.refused("Get-StoragePool", "-FriendlyName", "S2D on prm")  # local storage: none
    assert live.json("Get-StoragePool", "-FriendlyName", "S2D*") == []  # a wildcard matching nothing: nothing
    disks = live.json("Get-PhysicalDisk")
    # the same disks (AllocatedSize is the live use of the host's file system: it moves between calls)
    assert [d["DeviceId"] for d in live.json("Get-PhysicalDisk", "-FriendlyName", "local*")] == \
        [d["DeviceId"] for d in disks] and disks
    assert live.json("Get-PhysicalDisk", "-FriendlyName", "no-such*") == []
    assert "'no-such-disk'" in live.refused("Get-PhysicalDisk", "-FriendlyName", "no-such-disk")


def test_drill_share_and_node_are_checked(live: Live, tmp_path: Path) -> None:
    live.ok("New-SmbShare", "-Name", "NOTCA", "-Path", r"C:\ClusterStorage\Volume1\Shares\NOTCA", "-CreatePath",
            "-FullAccess", "alice")
    err = live.refused("Invoke-ClusterFailoverDrill", "-Share", "NOTCA", "-User", "alice", "-Password", "x")
    assert "is not continuously available" in err, err
    live.ok("New-SmbShare", "-Name", "DRCA", "-Path", r"C:\ClusterStorage\Volume1\Shares\DRCA", "-CreatePath",
            "-FullAccess", "alice", "-ContinuouslyAvailable", "$true")
    err = live.refused("Invoke-ClusterFailoverDrill", "-Share", "DRCA", "-Node", "n9", "-User", "alice",
                       "-Password", "x")
    assert "'n9' was not found" in err, err
    # -Node takes effect: the drain hits the node named (the default is the first VM's node)
    (res,) = live.json("Invoke-ClusterFailoverDrill", "-Share", "DRCA", "-Event", "Drain", "-Node", "n3",
                       "-VMCount", "1", "-VMSize", "64KB", "-WarmupSeconds", "1", "-RunSeconds", "1", "-User",
                       "alice", "-Password", USERS["alice"], "-ReportName", str(tmp_path / "drill.htm"))
    assert (res["Event"], res["Result"], res["LostBlocks"]) == ("Drain", "Passed", 0), res
    assert "Suspend-ClusterNode -Drain n3" in res["Detail"], res
    until(lambda: live.json("Get-ClusterNode", "-Name", "n3")[0]["State"] == "Up", 20, "n3 resumed")


def test_witness_client_move_force_still_checks(live: Live) -> None:
    err = live.refused("Move-SmbWitnessClient", "-ClientName", "NOCLIENT", "-DestinationNode", "n2", "-Force")
    assert "NOCLIENT" in err, err
