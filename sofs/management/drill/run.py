"""``Invoke-ClusterFailoverDrill``: what Hyper-V-like virtual machines live through during a failover.

For each chosen event the drill starts ``-VMCount`` VM processes (:mod:`sofs.management.drill.vm`:
each a preallocated file on a continuously available share opened with a persistent handle and an App
Instance ID, random 4 KiB / 64 KiB reads and write-through writes, flushes, every written block
verified), spread over the nodes' addresses, lets them run, applies the event, lets them run on, and
collects what each VM saw:

- ``Kill``: SIGKILL of a node (``-Node``, else the one the first VM talks to); restarted once it is
  marked Down. Its VMs reclaim their handles (DH2C) on another node.
- ``Drain``: ``Suspend-ClusterNode -Drain`` of that node, then ``Resume-ClusterNode``.
- ``LiveMigration``: the first VM is paused and a new process (the destination host) opens its file
  through the same node with the same App Instance ID, which must close the old host's handle; the VM
  goes on there. ``LiveMigrationOtherNode``: the same through another node (the volume's
  coordinator holds the opens of every node, so the new host's open closes the old host's handle
  whichever node each talks to).
- ``VolumeMove``: ``Move-ClusterSharedVolume`` of the share's volume (its coordinator) to ``-Node``,
  else to another node the cluster picks, under the VMs' I/O: the new coordinator replays the journal
  and the nodes re-register their clients' opens; the VMs must not notice beyond a pause.

The report (HTML) gives per event and per VM the pause (longest time between two completed I/Os),
the errors the application saw, lost and corrupt blocks (both must be 0), and the timeline of its
handle (disconnect, reconnect attempts, reclaim with the node and time, migration).
"""
from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from sofs.cluster.config import NodeProcess, load_cluster_config, write_cluster_config
from sofs.cluster.processes import REPO_ROOT, node_alive, start_node
from sofs.management.errors import ManagementError
from sofs.management.services.csv import CsvService, volume_name

EVENTS = ("Kill", "Drain", "LiveMigration", "LiveMigrationOtherNode", "VolumeMove")


@dataclass(frozen=True, slots=True)
class DrillResult:
    """One VM through one event (``Invoke-ClusterFailoverDrill`` output)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("event", "vm", "pause_s", "errors", "lost_blocks", "corrupt_blocks",
                                           "result")
    event: str
    vm: str
    pause_s: float
    errors: int
    lost_blocks: int
    corrupt_blocks: int
    result: str  # Passed | Failed | NotRun
    detail: str = ""
    timeline: tuple[dict[str, Any], ...] = field(default=(), metadata={"hidden": True})


@dataclass
class DrillSpec:
    state_dir: Path
    share: str
    share_dir: Path
    volume: str  # the share's cluster shared volume (VolumeMove)
    nodes: dict[str, str]  # name -> address
    pids: Callable[[], dict[str, int]]
    port: int
    user: str
    password: str
    vms: int = 2
    size: int = 8 << 20
    warmup_s: float = 3.0
    after_s: float = 6.0
    node: str | None = None
    work_dir: Path = Path(".")
    progress: Callable[[str], None] = lambda _m: None


class Drill:
    def __init__(self, spec: DrillSpec, cluster: Any) -> None:
        self.spec = spec
        self.cluster = cluster  # ClusterService

    def _vm_spec(self, event: str, i: int, app_id: str, **extra: Any) -> Path:
        s = self.spec
        d = s.work_dir / event
        d.mkdir(parents=True, exist_ok=True)
        name = f"vm{i + 1}"
        spec = {"name": name, "nodes": list(s.nodes.values()), "port": s.port, "share": s.share, "user": s.user,
                "password": s.password, "path": f"drill-{event.lower()}-{name}.vhdx", "size": s.size,
                "app_instance_id": app_id, "duration": s.warmup_s + s.after_s + 10, "seed": i, "first_node": i,
                "result": str(d / f"{name}{extra.get('suffix', '')}.json"), "handoff": str(d / f"{name}.handoff.json"),
                "ready": str(d / f"{name}{extra.get('suffix', '')}.ready"),
                **{k: v for k, v in extra.items() if k != "suffix"}}
        path = d / f"{name}{extra.get('suffix', '')}.spec.json"
        path.write_text(json.dumps(spec))
        return path

    def _start_vm(self, spec_path: Path) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=REPO_ROOT)
        return subprocess.Popen([sys.executable, "-m", "sofs.management.drill.vm", str(spec_path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)

    async def _ready(self, procs: dict[Path, subprocess.Popen[bytes]], timeout: float = 90) -> None:
        """Wait until every VM has opened and preallocated its file (its I/O loop runs)."""
        deadline = time.monotonic() + timeout
        for sp, proc in procs.items():
            ready = Path(json.loads(sp.read_text())["ready"])
            while not ready.exists() and proc.poll() is None:
                if time.monotonic() > deadline:
                    raise ManagementError("the VMs did not start within 90 s", "OperationTimeout")
                await asyncio.sleep(0.05)

    async def _state(self, name: str) -> str:
        return (await self.cluster.get_nodes([name]))[0].state

    async def _wait_state(self, name: str, want: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while await self._state(name) != want:
            if time.monotonic() > deadline:
                raise ManagementError(f"node {name} did not become {want} within {timeout:.0f} s", "OperationTimeout")
            await asyncio.sleep(0.2)

    async def run_event(self, event: str) -> list[DrillResult]:
        s = self.spec
        target = s.node or next(iter(s.nodes))
        app_ids = [str(uuid.uuid4()) for _ in range(s.vms)]
        specs = [self._vm_spec(event, i, app_ids[i]) for i in range(s.vms)]
        procs = {p: self._start_vm(p) for p in specs}
        await self._ready(procs)
        s.progress(f"{event}: {s.vms} VM(s) running; event in {s.warmup_s:.0f} s")
        await asyncio.sleep(s.warmup_s)
        detail = ""
        if event == "Kill":
            pid = s.pids()[target]
            os.kill(pid, signal.SIGKILL)
            t0 = time.monotonic()
            await self._wait_state(target, "Down", 60)
            detail = f"SIGKILL of {target}; Down after {time.monotonic() - t0:.1f} s; restarted"
            restart_node(s.state_dir, target)
        elif event == "Drain":
            await self.cluster.suspend_node(target, drain=True)
            await asyncio.sleep(2)
            await self.cluster.resume_node(target)
            detail = f"Suspend-ClusterNode -Drain {target}, Resume-ClusterNode after 2 s"
        elif event == "VolumeMove":
            csvs = CsvService(self.cluster)
            before = (await csvs.get_csvs([s.volume]))[0]
            dest = s.node if s.node and s.node != before.node else None
            t0 = time.monotonic()
            after = await csvs.move_csv(before.name, dest)
            detail = (f"Move-ClusterSharedVolume {volume_name(before.name)} {before.node} -> {after.node} "
                      f"({time.monotonic() - t0:.1f} s)")
        elif event in ("LiveMigration", "LiveMigrationOtherNode"):
            first = next(iter(procs))
            procs[first].send_signal(signal.SIGUSR1)
            handoff = Path(json.loads(first.read_text())["handoff"])
            deadline = time.monotonic() + 30
            while not handoff.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            other = event == "LiveMigrationOtherNode"
            dest = self._vm_spec(event, 0, app_ids[0], resume_from=str(handoff), first_node=1 if other else 0,
                                 suffix="-dest")
            procs[dest] = self._start_vm(dest)
            detail = ("vm1 paused on its host, reopened by a new process (same App Instance ID) through "
                      + ("another node" if other else "the same node"))
        s.progress(f"{event}: {detail}; VMs run on for {s.after_s:.0f} s")
        while any(p.poll() is None for p in procs.values()):
            await asyncio.sleep(0.2)
        if event == "Kill":
            await self._wait_state(target, "Up", 60)
        return self._collect(event, list(procs), detail)

    def _collect(self, event: str, specs: list[Path], detail: str) -> list[DrillResult]:
        by_vm: dict[str, list[dict[str, Any]]] = {}
        for sp in specs:
            spec = json.loads(sp.read_text())
            try:
                r = json.loads(Path(spec["result"]).read_text())
            except (OSError, ValueError):
                r = {"vm": spec["name"], "errors": ["the VM process left no result"], "max_stall_s": 0,
                     "lost_blocks": 0, "corrupt_blocks": 0, "timeline": []}
            by_vm.setdefault(spec["name"], []).append(r)
        out = []
        for vm, parts in sorted(by_vm.items()):
            errors = [e for p in parts for e in p["errors"]]
            timeline = sorted((t for p in parts for t in p["timeline"]), key=lambda t: t["t"])
            pause = max(p["max_stall_s"] for p in parts)
            if len(parts) == 2:  # migrated: the pause spans the switch from the old host to the new one
                paused = next((t["t"] for t in timeline if t["kind"] == "paused_for_migration"), None)
                resumed = next((t["t"] for t in timeline if t["kind"] == "opened" and paused and t["t"] > paused),
                               None)
                if paused and resumed:
                    pause = max(pause, resumed - paused)
                closed = "the old host's handle was not closed by the new host's open"
                if not any(t["kind"] == "closed_by_new_host" for t in timeline) and closed not in errors:
                    errors.append(closed)
            lost = sum(p["lost_blocks"] for p in parts)
            corrupt = sum(p["corrupt_blocks"] for p in parts)
            ok = not errors and lost == 0 and corrupt == 0
            out.append(DrillResult(event, vm, round(pause, 3), len(errors), lost, corrupt, "Passed" if ok else "Failed",
                                   "; ".join([detail, *errors]), tuple(timeline)))
        return out


def restart_node(state_dir: Path, name: str) -> None:
    """Start the node again and record its process in cluster.json (so `sofs cluster down` stops it)."""
    proc = start_node(state_dir, name, no_smb=False, detach=True)
    cfg = load_cluster_config(state_dir)
    if cfg is not None and name in cfg.nodes:
        write_cluster_config(replace(cfg, nodes={**cfg.nodes, name: NodeProcess(cfg.nodes[name].address, proc.pid)}))


def report_html(results: list[DrillResult], title: str) -> str:
    def esc(x: Any) -> str:
        return html.escape(str(x))
    rows = []
    for r in results:
        tl = "".join(f"<li>{time.strftime('%H:%M:%S', time.localtime(t['t']))}.{int(t['t'] * 1000) % 1000:03d} "
                     f"<b>{esc(t['kind'])}</b> {esc({k: v for k, v in t.items() if k not in ('t', 'kind')} or '')}</li>"
                     for t in r.timeline)
        rows.append(f"<tr class='{r.result}'><td>{esc(r.event)}</td><td>{esc(r.vm)}</td><td>{r.pause_s:.3f}</td>"
                    f"<td>{r.errors}</td><td>{r.lost_blocks}</td><td>{r.corrupt_blocks}</td><td>{esc(r.result)}</td>"
                    f"<td>{esc(r.detail)}<details><summary>handle timeline ({len(r.timeline)})</summary><ul>{tl}"
                    f"</ul></details></td></tr>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
            "body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}.Failed{background:#fde2e1}"
            ".Passed{background:#e3f6ea}.NotRun{background:#f3f3f3}</style></head><body>"
            f"<h1>{esc(title)}</h1><p>Pause: the longest time between two completed I/Os of a VM (for a live "
            "migration, from the pause on the old host to the open on the new one). Lost: blocks whose "
            "acknowledged write-through write was gone; corrupt: blocks holding neither the last nor the "
            "previous write. Both must be 0.</p><table><tr><th>Event</th><th>VM</th><th>Pause (s)</th>"
            "<th>Errors</th><th>Lost</th><th>Corrupt</th><th>Result</th><th>Detail and timeline</th></tr>"
            + "".join(rows) + "</table></body></html>")


async def run_drill(spec: DrillSpec, cluster: Any, events: list[str]) -> list[DrillResult]:
    for e in events:
        if e not in EVENTS:
            raise ManagementError(f"Unknown drill event '{e}' (use {', '.join(EVENTS)}).", "InvalidArgument", e)
    if spec.vms < 1 or spec.size < 64 << 10:
        raise ManagementError("-VMCount must be at least 1 and -VMSize at least 64KB.", "InvalidArgument")
    if "VolumeMove" in events and not spec.volume:
        raise ManagementError(f"The share '{spec.share}' is not on a cluster shared volume: VolumeMove needs one "
                              "(a share under C:\\ClusterStorage\\<Volume>).", "InvalidArgument", spec.share)
    if spec.node is not None and spec.node not in spec.nodes:
        raise ManagementError(f"The cluster node '{spec.node}' was not found.", "ObjectNotFound", spec.node)
    for name, pid in spec.pids().items():
        if not node_alive(pid):
            raise ManagementError(f"Node {name} has no running process on this machine: the drill needs every "
                                  "node of an embedded cluster running (`sofs cluster up`).", "InvalidOperation")
    drill = Drill(spec, cluster)
    out: list[DrillResult] = []
    for e in events:
        out += await drill.run_event(e)
    return out
