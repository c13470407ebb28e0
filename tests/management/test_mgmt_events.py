"""The cluster event log: diff_events as a table, the log files, Get-ClusterLog's window; the metrics'
bucket bounds agree with the server's counters."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from sofs.management.clusterlog import write_cluster_log
from sofs.management.errors import ManagementError
from sofs.management.events import (
    ClusterEvent,
    ClusterView,
    WitnessClientView,
    append_events,
    diff_events,
    read_events,
)

UP3 = {"n1": "Up", "n2": "Up", "n3": "Up"}
HOST1 = WitnessClientView("HOST1", "n3", "n1", "VMS")
BASE = ClusterView(UP3, {"Cluster Group": ("n1", 1), "Volume1": ("n2", 1)}, dict.fromkeys(UP3, 1), "n1", True,
                   {"vms": "{}"}, {"r1": HOST1})


def kinds(prev: ClusterView | None, cur: ClusterView) -> list[tuple[str, str]]:
    return [(k, s) for k, s, _m, _sev, _d in diff_events(prev, cur)]


@pytest.mark.parametrize(("change", "expected"), [
    ({}, []),
    ({"nodes": {**UP3, "n2": "Down"}}, [("NodeDown", "n2")]),
    ({"nodes": {**UP3, "n3": "Paused"}}, [("NodePaused", "n3")]),
    ({"nodes": {**UP3, "n4": "Joining"}}, [("NodeJoining", "n4")]),
    ({"nodes": {"n1": "Up", "n2": "Up"}}, [("NodeRemoved", "n3")]),
    ({"quorum": False}, [("QuorumLost", "")]),
    ({"votes": {"n1": 1, "n2": 1, "n3": 0}}, [("VotesChanged", "")]),
    ({"owners": {"Cluster Group": ("n3", 2), "Volume1": ("n2", 1)}}, [("OwnerChanged", "Cluster Group")]),
    ({"witness_holder": ""}, [("WitnessHolderChanged", "")]),
    ({"shares": {}}, [("ShareRemoved", "vms")]),
    ({"shares": {"vms": "{}", "sql": "{}"}}, [("ShareAdded", "sql")]),
    ({"shares": {"vms": '{"x": 1}'}}, [("ShareChanged", "vms")]),
    ({"witness_clients": {"r1": HOST1, "r2": WitnessClientView("HOST2", "n2", "n1", "SOFS")}},
     [("WitnessClientRegistered", "HOST2")]),
    ({"witness_clients": {}}, [("WitnessClientUnregistered", "HOST1")]),
    ({"witness_clients": {"r1": WitnessClientView("HOST1", "n3", "n1", "VMS", 1, "unavailable")}},
     [("WitnessClientNotified", "HOST1")]),
    ({"witness_clients": {"r1": WitnessClientView("HOST1", "n3", "n1", "VMS", 0, "available", ("127.0.0.12",))}},
     []),  # a pending move is not a notice until a node delivers it
])
def test_diff_events_table(change: dict[str, object], expected: list[tuple[str, str]]) -> None:
    cur = ClusterView(**{**{f: getattr(BASE, f) for f in BASE.__dataclass_fields__}, **change})  # type: ignore[arg-type]
    assert kinds(BASE, cur) == expected


def test_failover_is_told_from_a_move() -> None:
    down = ClusterView({**UP3, "n1": "Down"}, {"Cluster Group": ("n2", 2), "Volume1": ("n2", 1)}, BASE.votes,
                       "n1", True, BASE.shares, BASE.witness_clients)
    (node, owner) = diff_events(BASE, down)
    assert node[0] == "NodeDown" and owner[0] == "OwnerChanged" and owner[4]["failover"] is True
    assert owner[3] == "Warning" and "failover" in owner[2]
    moved = ClusterView(UP3, {"Cluster Group": ("n2", 2), "Volume1": ("n2", 1)}, BASE.votes, "n1", True, BASE.shares,
                        BASE.witness_clients)
    assert diff_events(BASE, moved)[0][4]["failover"] is False
    assert kinds(None, BASE) == [("RecorderStarted", "")]


@pytest.mark.parametrize(("after", "message", "severity"), [
    (WitnessClientView("HOST1", "n3", "n1", "VMS", 1, "unavailable"), "told n3 is unavailable", "Warning"),
    (WitnessClientView("HOST1", "n3", "n1", "VMS", 2, "available"), "told of a change of n3", "Information"),
    (WitnessClientView("HOST1", "n2", "n1", "VMS", 1), "told to move to n2", "Information"),
])
def test_witness_notices_say_what_the_client_was_told(after: WitnessClientView, message: str, severity: str) -> None:
    cur = ClusterView(BASE.nodes, BASE.owners, BASE.votes, BASE.witness_holder, True, BASE.shares, {"r1": after})
    ((kind, subject, text, sev, details),) = diff_events(BASE, cur)
    assert (kind, subject, sev, details["notices"]) == ("WitnessClientNotified", "HOST1", severity, after.notices)
    assert message in text


def test_log_files_window_and_cluster_log(tmp_path: Path) -> None:
    now = time.time()
    append_events(tmp_path, [ClusterEvent(now - 3600, "n1", "NodeDown", "n2", "old"),
                             ClusterEvent(now - 5, "n1", "NodeUp", "n2", "node n2 is Up")])
    append_events(tmp_path, [ClusterEvent(now - 4, "n2", "ShareAdded", "vms", "share vms created")])
    with open(tmp_path / "events" / "n1.jsonl", "a") as f:
        f.write('{"cut by a crash')  # a torn last line is skipped
    assert [e.kind for e in read_events(tmp_path)] == ["NodeDown", "NodeUp", "ShareAdded"]
    assert [e.kind for e in read_events(tmp_path, since=now - 60)] == ["NodeUp", "ShareAdded"]
    assert [e.kind for e in read_events(tmp_path, nodes=["n2"])] == ["ShareAdded"]
    assert [e.kind for e in read_events(tmp_path, limit=1)] == ["ShareAdded"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 2))
    (tmp_path / "n1.log").write_text(f"{stamp},250 INFO sofs.cluster.agent: n1: state Up\nTraceback (x)\n"
                                     "2001-01-01 00:00:00,000 INFO ancient\n")
    out = tmp_path / "out"
    out.mkdir()
    files = write_cluster_log(tmp_path, ["n1", "n2"], str(out), minutes=10, now=now)
    assert [f.name for f in files] == ["n1_cluster.log", "n2_cluster.log"]
    text = (out / "n1_cluster.log").read_text()
    assert "[NodeUp] node n2 is Up" in text and "state Up" in text and "Traceback (x)" in text
    assert "old" not in text and "ancient" not in text
    assert text.index("[NodeUp]") < text.index("state Up")
    with pytest.raises(ManagementError):
        write_cluster_log(tmp_path, ["n1"], str(tmp_path / "missing"))
    with pytest.raises(ManagementError):
        write_cluster_log(tmp_path, ["n1"], str(out), minutes=0)


def test_server_counters_by_name() -> None:
    from sofs.server.stats import RequestStats
    s = RequestStats()
    s.record(0x0009, 0, 0.0003)
    s.record(0x0009, 0xC0000022, 20.0)
    assert s.named_counts() == {("WRITE", "SUCCESS"): 1, ("WRITE", "ACCESS_DENIED"): 1}
    hist, total = s.named_latency()["WRITE"]
    assert hist[2] == 1 and hist[-1] == 1 and total == pytest.approx(20.0003)


def test_worker_counters_travel_and_add_up() -> None:
    """A worker's snapshot crosses the control channel (msgpack) and adds into the node's counters."""
    from sofs.server.stats import RequestStats
    from sofs.server.workerlink import Reassembly, encode

    main, worker = RequestStats(), RequestStats()
    main.record(0x0009, 0, 0.0003)
    worker.record(0x0009, 0, 0.0003)
    worker.record(0x0009, 0xC0000022, 20.0)
    worker.record(0x0005, 0, 0.001)
    worker.bytes_written = 8192
    rx = Reassembly()
    msgs = [m for d in encode(("stats", worker.snapshot())) for m in [rx.feed(d)] if m is not None]
    total = RequestStats()
    total.add(main.snapshot())
    total.add(msgs[0][1])
    assert total.named_counts() == {("WRITE", "SUCCESS"): 2, ("WRITE", "ACCESS_DENIED"): 1, ("CREATE", "SUCCESS"): 1}
    hist, seconds = total.named_latency()["WRITE"]
    assert hist[2] == 2 and hist[-1] == 1 and seconds == pytest.approx(20.0006)
    assert total.bytes_written == 8192


def test_handle_events_become_cluster_events() -> None:
    """Handle reclaims (issue 15 item 4): the coordinator's HandleStats queue -> the event log's entries."""
    from sofs.handlestate.stats import HandleStats
    from sofs.management.events import handle_event

    hs = HandleStats(clock=lambda: 1000.0)
    hs.reclaimed("volume1", "n2", r"Shares\VMS\vm1.vhdx", 0x51, True)
    hs.reregistered("volume1", "n3", 4, 0)
    hs.reregistered("volume1", "n1", 2, 1)
    hs.superseded("volume1", "n1", r"Shares\VMS\vm1.vhdx", 0x51)
    evs = [handle_event(e, "n2") for e in hs.take_events()]
    assert not hs.take_events()  # taken once
    assert [(e.kind, e.severity, e.node, e.time) for e in evs] == [
        ("HandleReclaimed", "Information", "n2", 1000.0), ("HandlesReregistered", "Information", "n2", 1000.0),
        ("HandlesReregistered", "Warning", "n2", 1000.0), ("HandleSuperseded", "Information", "n2", 1000.0)]
    assert evs[0].message == r"volume volume1: persistent handle of Shares\VMS\vm1.vhdx (0x51) reclaimed by its client through n2"
    assert "n3 re-registered 4 open(s)" in evs[1].message and "1 not taken back" in evs[2].message
    assert evs[0].details["node"] == "n2" and evs[2].details["refused"] == 1
    assert dict(hs.event_counts) == {"HandleReclaimed": 1, "HandlesReregistered": 6, "HandleSuperseded": 1}
