"""Test-Cluster: each check against injected fakes and real loopback sockets; the HTML report parsed."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import socket
from html.parser import HTMLParser
from typing import Any

import pytest
from mgmt_fakes import three_nodes

from sofs.cli.cmdlet_cmd import main
from sofs.management.services.cluster import ClusterService
from sofs.management.testcluster import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckEnv,
    NodeTarget,
    Progress,
    check_clock_skew,
    check_reachability,
    check_smb_port,
    check_store,
    check_volumes,
    check_witness,
    run_checks,
    select_checks,
    tcp_probe,
)

NOW = 1_800_000_000.0


def env(**kw: Any) -> CheckEnv:
    base: dict[str, Any] = {"nodes": [], "now": lambda: NOW}
    base.update(kw)
    return CheckEnv(**base)


def answers(mapping: dict[str, str]) -> Any:
    async def connect(host: str, port: int, timeout: float) -> str:
        return mapping[host]
    return connect


def n(name: str, addr: str, hb: float | None = NOW, member: bool = True, state: str = "Up") -> NodeTarget:
    return NodeTarget(name, addr, 445, member, state, hb)


def go(coro: Any) -> Any:
    return asyncio.run(coro)


def test_reachability() -> None:
    nodes = [n("a", "127.0.0.11"), n("b", "127.0.0.12", state="Down"), n("c", "127.0.0.13", state="Down")]
    e = env(nodes=nodes, connect=answers({"127.0.0.11": "open", "127.0.0.12": "refused",
                                          "127.0.0.13": "unreachable: timed out"}))
    status, detail = go(check_reachability(e))
    assert status == FAIL  # c: no network answer and an expired heartbeat lease
    assert "b (127.0.0.12): network answers; heartbeat lease expired (state Down)" in detail
    e.nodes = nodes[:2]
    assert go(check_reachability(e))[0] == WARN
    e.nodes = nodes[:1]
    assert go(check_reachability(e))[0] == PASS


def test_smb_port_real_sockets() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        assert go(tcp_probe("127.0.0.1", port, 1)) == "open"
        assert go(tcp_probe("127.0.0.1", closed_port, 1)) == "refused"
        e = env(nodes=[NodeTarget("a", "127.0.0.1", port)])
        assert go(check_smb_port(e))[0] == PASS
        e = env(nodes=[NodeTarget("a", "127.0.0.1", port), NodeTarget("b", "127.0.0.1", closed_port)])
        status, detail = go(check_smb_port(e))
        assert status == FAIL and f"b: 127.0.0.1:{closed_port} refused" in detail
    finally:
        srv.close()


@pytest.mark.parametrize("offset,status", [(0.0, PASS), (-0.9, PASS), (3.0, PASS), (-7.0, PASS), (10.0, WARN),
                                           (400.0, FAIL), (-400.0, PASS)])
def test_clock_skew_without_refresh_detects_ahead_only(offset: float, status: str) -> None:
    assert go(check_clock_skew(env(nodes=[n("a", "x", NOW + offset)])))[0] == status


# refresh 2 s + delay 1 s + slack 1 s = a sample up to 4 s old is fresh
@pytest.mark.parametrize("offset,status", [(0.0, PASS), (-3.9, PASS), (3.0, PASS), (-9.0, PASS), (-9.5, WARN),
                                           (10.0, WARN), (-305.0, FAIL), (400.0, FAIL)])
def test_clock_skew_with_refresh_detects_both_directions(offset: float, status: str) -> None:
    node = NodeTarget("a", "x", 445, True, "Up", NOW + offset, heartbeat_refresh_s=2.0)
    got, detail = go(check_clock_skew(env(nodes=[node], heartbeat_delay_s=1.0)))
    assert got == status, detail
    if offset < -4.0:
        assert "behind" in detail


def test_clock_skew_skip_without_reports() -> None:
    assert go(check_clock_skew(env(nodes=[n("a", "x", None)])))[0] == SKIP


def test_store_roundtrip_real_embedded(tmp_path: Any) -> None:
    from sofs.cluster.store_embedded import open_embedded

    async def body() -> tuple[str, str]:
        store = await open_embedded(tmp_path)
        try:
            return await check_store(env(store=store))
        finally:
            await store.close()

    status, detail = go(body())
    assert status == PASS, detail
    assert "cas expecting an absent key refused" in detail


def test_store_broken_and_missing() -> None:
    class Broken:
        async def put(self, *a: Any) -> int:
            raise ConnectionError("store down")

    status, detail = go(check_store(env(store=Broken())))
    assert status == FAIL and "ConnectionError: store down" in detail
    assert go(check_store(env()))[0] == FAIL


def test_witness_disk_real(tmp_path: Any) -> None:
    from sofs.management.cmdlets.test_cluster import probe_witness
    cfg = {"type": "disk", "path": str(tmp_path / "witness.lock"), "timeout": 2}
    status, detail = go(check_witness(env(witness=cfg, probe_witness=probe_witness)))
    assert status == PASS, detail
    cfg = {"type": "disk", "path": "/nonexistent-dir-sofs/w.lock", "timeout": 2}
    status, detail = go(check_witness(env(witness=cfg, probe_witness=probe_witness)))
    assert status == FAIL, detail


def test_witness_none() -> None:
    assert go(check_witness(env(nodes=[n("a", "x"), n("b", "y")])))[0] == WARN
    assert go(check_witness(env(nodes=[n("a", "x")])))[0] == SKIP


def test_volumes(tmp_path: Any) -> None:
    ok = tmp_path / "v1"
    ok.mkdir()
    status, detail = go(check_volumes(env(volume_paths=[str(ok)])))
    assert status in (PASS, WARN) and "writable" in detail and os.listdir(ok) == []
    status, detail = go(check_volumes(env(volume_paths=[str(ok), str(tmp_path / "missing")])))
    assert status == FAIL and "does not exist" in detail
    assert go(check_volumes(env()))[0] == SKIP


def test_select_and_crashing_check() -> None:
    assert [c.name for c in select_checks(["Network"])] == ["Validate node reachability", "Validate SMB port"]
    assert len(select_checks(["Scale-Out File Server"])) == 7
    assert "Validate witness" not in [c.name for c in select_checks(None, ["quorum"])]
    with pytest.raises(ValueError, match="not known"):
        select_checks(["Bogus"])
    from sofs.management.testcluster import Check

    async def boom(e: CheckEnv) -> tuple[str, str]:
        raise RuntimeError("kaput")

    res = go(run_checks(env(), [Check("Boom", "X", boom)]))
    assert res[0].status == FAIL and "RuntimeError: kaput" in res[0].detail


def test_progress_plain_and_tty() -> None:
    s = io.StringIO()
    p = Progress(s, 3, tty=False)
    p.step(1, "A")
    p.step(2, "B")
    p.done()
    assert s.getvalue() == "[1/3] A ...\n[2/3] B ...\n"
    s = io.StringIO()
    p = Progress(s, 2, tty=True)
    p.step(2, "B")
    p.done()
    assert "\r\x1b[K[" in s.getvalue() and "[2/2] B ..." in s.getvalue()


class ReportParser(HTMLParser):
    """Collects the report's test rows, summary counts and per-test sections."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.summary: dict[str, int] = {}
        self.sections: dict[str, dict[str, str]] = {}
        self.overall = ""
        self._stack: list[tuple[str, dict[str, str | None]]] = []
        self._cells: list[str] | None = None
        self._text = ""
        self._section: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._stack.append((tag, a))
        if tag == "tr" and ("test" in (a.get("class") or "").split() or a.get("class") == "summary-row"):
            self._cells = []
        if tag == "section":
            self._section = a.get("id")
            self.sections[self._section or ""] = {}
        self._text = ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        _, a = self._stack.pop()
        if tag == "td" and self._cells is not None:
            self._cells.append(self._text.strip())
        elif tag == "tr" and self._cells is not None:
            if a.get("class") == "summary-row":
                self.summary[self._cells[0]] = int(self._cells[1])
            else:
                self.rows.append(self._cells)
            self._cells = None
        elif tag == "p" and a.get("id") == "overall":
            self.overall = self._text.strip()
        elif self._section and (tag in ("h2", "pre") or (tag == "p" and a.get("class") == "status")):
            self.sections[self._section][tag if tag != "p" else "status"] = self._text
        elif tag == "section":
            self._section = None
        if tag != "a":  # a link's text is part of its table cell
            self._text = ""


def test_test_cluster_cmdlet_writes_html_report(tmp_path: Any) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    client = three_nodes()
    for i, node in enumerate(client.nodes):  # n1 listens, n2/n3 refuse (no SMB server on their address)
        client.nodes[i] = type(node)(**{**node.__dict__, "address": "127.0.0.1" if i == 0 else node.address,
                                        "smb_port": port})
    vol = tmp_path / "Volume1"
    vol.mkdir()
    client.volumes = [str(vol)]

    async def factory(kind: str) -> Any:
        from sofs.cluster.store_embedded import open_embedded
        client.store = await open_embedded(tmp_path / "state")
        return ClusterService(client)

    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(["Test-Cluster", "-Node", "n1,n2,n3", "-ReportName", "report"], service_factory=factory,
                    stdout=out, stderr=err, cwd=str(tmp_path))
    finally:
        srv.close()
        if client.store is not None:
            asyncio.run(client.store.close())
    assert code == 0, err.getvalue()
    assert "[1/7] List cluster nodes ..." in err.getvalue() and "WARNING: Test Result: Failed" in err.getvalue()
    text = out.getvalue()
    assert "Validate SMB port" in text and f"Test report file path: {tmp_path / 'report.htm'}" in text

    p = ReportParser()
    p.feed((tmp_path / "report.htm").read_text())
    got = {r[1]: r[2] for r in p.rows}
    assert got == {"List cluster nodes": "Pass", "Validate node reachability": "Pass",
                   "Validate SMB port": "Fail", "Validate clock skew": "Pass",
                   "Validate cluster store": "Pass", "Validate witness": "Skip",
                   "Validate volume paths": got["Validate volume paths"]}
    assert got["Validate volume paths"] in ("Pass", "Warn")
    assert p.overall == "Failed"
    assert p.summary["Fail"] == 1 and sum(p.summary.values()) == 7
    smb = next(s for s in p.sections.values() if s.get("h2") == "Validate SMB port")
    assert smb["status"] == "Fail" and "n2: 127.0.0.12" in smb["pre"] and "n1: 127.0.0.1" in smb["pre"]


def test_test_cluster_default_report_name_and_no_cluster(tmp_path: Any) -> None:
    from sofs.management.errors import ManagementError

    async def factory(kind: str) -> Any:
        raise ManagementError("No running cluster was found.", "ConnectionError")

    out, err = io.StringIO(), io.StringIO()
    code = main(["Test-Cluster", "-Node", "127.0.0.1", "-Include", "Inventory", "-AsJson"], service_factory=factory,
                stdout=out, stderr=err, cwd=str(tmp_path))
    assert code == 0
    assert "no running cluster" in err.getvalue()
    import json
    assert json.loads(out.getvalue())["Status"] == "Pass"  # one result object, no report-path text
    (report,) = os.listdir(tmp_path)
    assert report.startswith(f"Validation Report {dt.date.today():%Y.%m.%d} At ") and report.endswith(".htm")
