"""The pure storage rules: resiliency choice, health from PG states, repair progress, Ceph placement/conf."""
from __future__ import annotations

import base64
import struct

import pytest

from sofs.storage.ceph_cluster import keyring_text, new_key
from sofs.storage.ceph_conf import bootstrap_commands, plan, render_conf
from sofs.storage.model import (
    StorageRuleError,
    check_volume_name,
    disk_status,
    repair_job,
    resiliency,
    volume_health,
)


@pytest.mark.parametrize("name,disks,copies,expected", [
    ("Mirror", 3, None, ("Mirror", 3, 2)),
    ("mirror", 2, None, ("Mirror", 2, 1)),
    ("Mirror", 3, 2, ("Mirror", 2, 1)),
    ("Mirror", 6, None, ("Mirror", 3, 2)),
    ("Parity", 3, None, ("Parity", 1, 1)),
])
def test_resiliency(name: str, disks: int, copies: int | None, expected: tuple[str, int, int]) -> None:
    r = resiliency(name, disks, copies)
    assert (r.name, r.copies, r.fault_domain_redundancy) == expected
    if r.name == "Parity":
        assert (r.ec_k, r.ec_m) == (2, 1)


@pytest.mark.parametrize("name,disks,copies,why", [
    ("Mirror", 2, 3, "needs 3 fault domains"),
    ("Mirror", 1, None, "needs 2 fault domains"),
    ("Mirror", 3, 4, "2 or 3"),
    ("Parity", 2, None, "at least 3 fault domains"),
    ("Parity", 3, 2, "NumberOfDataCopies 1"),
    ("Simple", 3, None, "Mirror or Parity"),
    ("Raid5", 3, None, "Unknown resiliency"),
])
def test_resiliency_refusals(name: str, disks: int, copies: int | None, why: str) -> None:
    with pytest.raises(StorageRuleError, match=why):
        resiliency(name, disks, copies)


@pytest.mark.parametrize("states,expected_pgs,health", [
    (["active+clean"] * 8, 8, ("Healthy", "OK")),
    (["active+clean+scrubbing"] + ["active+clean"] * 7, 8, ("Healthy", "OK")),
    (["active+undersized+degraded"] * 8, 8, ("Warning", "Degraded")),
    (["active+recovering+degraded"] + ["active+clean"] * 7, 8, ("Warning", "InService")),
    (["active+undersized+degraded+remapped+backfilling"] + ["active+clean"] * 7, 8, ("Warning", "InService")),
    (["down"] + ["active+clean"] * 7, 8, ("Unhealthy", "Detached")),
    (["peering"] + ["active+clean"] * 7, 8, ("Unhealthy", "Detached")),
    (["creating+peering"] * 8, 8, ("Warning", "Starting")),
    (["active+clean"] * 4, 8, ("Warning", "Starting")),
    ([], 8, ("Warning", "Starting")),
])
def test_volume_health(states: list[str], expected_pgs: int, health: tuple[str, str]) -> None:
    assert volume_health(states, expected_pgs) == health


@pytest.mark.parametrize("up,in_,expected", [
    (True, True, ("Healthy", "OK")),
    (False, True, ("Warning", "Lost Communication")),
    (False, False, ("Unhealthy", "Lost Communication")),
    (True, False, ("Unhealthy", "Removing From Pool")),
])
def test_disk_status(up: bool, in_: bool, expected: tuple[str, str]) -> None:
    assert disk_status(up, in_) == expected


def _pg(state: str, objects: int, degraded: int, nbytes: int) -> dict[str, object]:
    return {"state": state, "acting": [0, 1], "up": [0, 1, 2],
            "stat_sum": {"num_objects": objects, "num_objects_degraded": degraded, "num_objects_misplaced": 0,
                         "num_bytes": nbytes}}


def test_repair_job_progress() -> None:
    assert repair_job("V", [_pg("active+clean", 10, 0, 100)]) is None
    job = repair_job("V", [_pg("active+recovering+degraded", 10, 15, 1000), _pg("active+clean", 10, 0, 1000)])
    assert job is not None
    assert (job.name, job.job_state, job.bytes_total) == ("V-Repair", "Running", 2000)
    assert job.percent_complete == 75  # 60 copies wanted, 15 missing
    waiting = repair_job("V", [_pg("active+undersized+degraded", 10, 10, 1000)])
    assert waiting is not None and waiting.job_state == "Suspended"


def test_volume_names() -> None:
    check_volume_name("Volume1")
    for bad in ("", "a/b", "..", "x" * 65, "-v"):
        with pytest.raises(StorageRuleError):
            check_volume_name(bad)


def test_plan_places_a_mon_and_mds_per_node_and_the_mgr_on_the_first() -> None:
    p = plan("f", [("n1", "127.0.0.11"), ("n2", "127.0.0.12"), ("n3", "127.0.0.13")], disks_per_node=2,
             mon_ports={"n2": 3301})
    assert [d.name for d in p.of_kind("mon")] == ["mon.n1", "mon.n2", "mon.n3"]
    assert [(d.id, d.node) for d in p.of_kind("osd")] == [("0", "n1"), ("1", "n1"), ("2", "n2"), ("3", "n2"),
                                                            ("4", "n3"), ("5", "n3")]
    assert [d.node for d in p.of_kind("mgr")] == ["n1"]
    assert p.mon_host == "v2:127.0.0.11:3300,v2:127.0.0.12:3301,v2:127.0.0.13:3300"
    assert sorted(d.name for d in p.on_node("n3")) == ["mds.n3", "mon.n3", "osd.4", "osd.5"]
    assert (p.failure_domain, p.fault_domains) == ("host", 3)
    one = plan("f", [("t1", "127.0.0.9")], disks_per_node=3)
    assert (one.failure_domain, one.fault_domains) == ("osd", 3)
    assert "osd crush chooseleaf type = 0" in render_conf(one, "/s") and "chooseleaf type = 1" in render_conf(p, "/s")
    with pytest.raises(ValueError):
        plan("f", [])


def test_conf_binds_each_daemon_to_its_node_and_keeps_state_private() -> None:
    p = plan("f", [("n1", "127.0.0.11"), ("n2", "127.0.0.12")])
    conf = render_conf(p, "/s/ceph")
    assert ("[osd.1]\npublic addr = 127.0.0.12\ncluster addr = 127.0.0.12\nosd data = /s/ceph/n2/osd.1\n"
            "crush location = root=default host=n2") in conf
    assert "[mon.n1]\npublic addr = 127.0.0.11\nmon addr = v2:127.0.0.11:3300\nmon data = /s/ceph/n1/mon" in conf
    assert "auth cluster required = cephx" in conf and "ms bind msgr1 = false" in conf
    assert "mgr initial modules = iostat" in conf  # no module that listens on a port
    for line in conf.splitlines():
        if "=" in line and "/" in line.split("=", 1)[1] and "fsname" not in line:
            assert line.split("=", 1)[1].strip().startswith("/s/ceph"), line
    cmds = bootstrap_commands(p, {"0": "u0", "1": "u1"})
    assert cmds[:2] == ["osd new u0 0", "osd new u1 1"]
    assert "fs new cephfs cephfs_metadata cephfs_data" in cmds


def test_cephx_key_format() -> None:
    raw = base64.b64decode(new_key(now=1000.0))
    assert len(raw) == 28
    assert struct.unpack_from("<HIIH", raw) == (1, 1000, 0, 16)
    text = keyring_text("client.smb", "KEY", {"mon": "allow r"})
    assert text == '[client.smb]\n\tkey = KEY\n\tcaps mon = "allow r"\n'
