"""Start, stop and query the private Ceph of a sofs cluster (daemons from Debian's Ceph 16.2 packages).

Everything lives in one directory (``<cluster state dir>/ceph``): ``ceph.conf``, ``plan.json`` (the
placement of :func:`sofs.storage.ceph_conf.plan`), keyrings, per-node daemon data
(``<node>/mon``, ``<node>/osd.N`` with its sparse block file, ``<node>/mds``, ``<node>/mgr``), pid
files in ``run/`` and logs in ``log/``. Daemons fork into the background and write their pid files;
a pid is only ever signalled after ``/proc`` shows a ``ceph-*`` process started with this
``ceph.conf`` (pid reuse, and other Ceph instances on the machine, are left alone).

Keys are made here (a cephx secret is 16 random bytes in a small header, base64) and imported into
the monitors at mkfs time, so bootstrapping needs no ``ceph auth`` round trips.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sofs.storage.ceph_conf import (
    CLIENT,
    FS_NAME,
    MON_PORT,
    CephPlan,
    Daemon,
    bootstrap_commands,
    plan,
    render_conf,
)

BINARIES = ("ceph-mon", "ceph-osd", "ceph-mds", "ceph-mgr", "ceph", "monmaptool")
CAPS = {
    "mon": {"mon": "allow *"},
    "client.admin": {"mon": "allow *", "osd": "allow *", "mds": "allow *", "mgr": "allow *"},
    "mgr": {"mon": "allow profile mgr", "osd": "allow *", "mds": "allow *"},
    "mds": {"mon": "allow profile mds", "osd": "allow rw tag cephfs *=*", "mds": "allow", "mgr": "allow profile mds"},
    "osd": {"mon": "allow profile osd", "mgr": "allow profile osd", "osd": "allow *"},
    # the nodes' client; it fences a dead node out (sofs.server.storage_fence, sofs.vfs.cephmon.fence_node):
    # blocklist its clients, mark its OSDs down, fail its MDS ('mds fail' needs the MDS service's rw;
    # pools, keys and the OSD map stay out of reach)
    f"client.{CLIENT}": {"mon": f"allow r fsname={FS_NAME}, allow service mds rw, allow command 'osd blocklist', "
                                "allow command 'osd down'",
                         "mds": f"allow rwps fsname={FS_NAME}",
                         "osd": f"allow rw tag cephfs data={FS_NAME}"},
}


class CephError(Exception):
    """Ceph could not be started, stopped or asked (the message says what and where the log is)."""


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def new_key(now: float | None = None) -> str:
    """A cephx secret: ``<u16 type=1 (AES)><u32 sec><u32 nsec><u16 len=16>`` + 16 random bytes, base64."""
    t = time.time() if now is None else now
    return base64.b64encode(struct.pack("<HIIH", 1, int(t), 0, 16) + os.urandom(16)).decode()


def keyring_text(entity: str, key: str, caps: dict[str, str]) -> str:
    lines = [f"[{entity}]", f"\tkey = {key}"]
    lines += [f'\tcaps {k} = "{v}"' for k, v in caps.items()]
    return "\n".join(lines) + "\n"


def free_port(address: str, start: int) -> int:
    """The first port from ``start`` that ``address`` can bind (monitors need a fixed port)."""
    for port in range(start, start + 200):
        with socket.socket() as s:
            try:
                s.bind((address, port))
            except OSError:
                continue
            return port
    raise CephError(f"no free port near {start} on {address}")


class CephCluster:
    """The Ceph of one sofs cluster, rooted at ``state`` (see the module docstring)."""

    def __init__(self, state: Path) -> None:
        self.state = Path(state).absolute()
        self.conf = self.state / "ceph.conf"
        self.admin_keyring = self.state / "ceph.client.admin.keyring"
        self.client_keyring = self.state / f"ceph.client.{CLIENT}.keyring"

    # --- plan -----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.state / "plan.json").exists()

    def plan(self) -> CephPlan:
        doc = json.loads((self.state / "plan.json").read_text())
        return CephPlan(doc["fsid"], tuple(Daemon(**d) for d in doc["daemons"]), int(doc["osd_size"]),
                        int(doc["port_min"]), int(doc["port_max"]))

    def _save_plan(self, p: CephPlan) -> None:
        doc = {"fsid": p.fsid, "daemons": [asdict(d) for d in p.daemons], "osd_size": p.osd_size,
               "port_min": p.port_min, "port_max": p.port_max}
        (self.state / "plan.json").write_text(json.dumps(doc, indent=2) + "\n")

    # --- bootstrap ------------------------------------------------------------------------------
    def bootstrap(self, nodes: list[tuple[str, str]], *, disks_per_node: int = 1, osd_size: int = 10 << 30,
                  timeout: float = 180.0) -> CephPlan:
        """Create a new Ceph for ``nodes`` (name, address) and start it; returns when it is ready."""
        if self.exists():
            raise CephError(f"{self.state} already holds a Ceph cluster")
        missing = missing_binaries()
        if missing:
            raise CephError("Ceph is not installed (missing " + ", ".join(missing) + "); scripts/setup.sh installs "
                            "ceph-mon ceph-osd ceph-mds ceph-mgr ceph-common")
        for sub in ("run", "log", "crash"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        ports = {n: free_port(a, MON_PORT) for n, a in nodes}
        p = plan(str(uuid.uuid4()), nodes, disks_per_node=disks_per_node, osd_size=osd_size, mon_ports=ports)
        self.conf.write_text(render_conf(p, str(self.state)))
        keys: dict[str, tuple[str, dict[str, str]]] = {
            "mon.": (new_key(), CAPS["mon"]), "client.admin": (new_key(), CAPS["client.admin"]),
            f"client.{CLIENT}": (new_key(), CAPS[f"client.{CLIENT}"])}
        for d in p.daemons:
            if d.kind != "mon":
                keys[d.name] = (new_key(), CAPS[d.kind])
        all_keys = self.state / "bootstrap.keyring"
        all_keys.write_text("".join(keyring_text(e, k, c) for e, (k, c) in keys.items()))
        self.admin_keyring.write_text(keyring_text("client.admin", *keys["client.admin"]))
        self.client_keyring.write_text(keyring_text(f"client.{CLIENT}", *keys[f"client.{CLIENT}"]))
        for f in (all_keys, self.admin_keyring, self.client_keyring):
            f.chmod(0o600)
        for d in p.daemons:
            data = self._data_dir(d)
            data.mkdir(parents=True, exist_ok=True)
            if d.kind != "mon":
                (data / "keyring").write_text(keyring_text(d.name, *keys[d.name]))
        monmap = self.state / "monmap"
        cmd = ["monmaptool", "--create", "--clobber", "--fsid", p.fsid]
        for m in p.of_kind("mon"):
            cmd += ["--addv", m.id, f"[v2:{m.address}:{m.port}]"]
        self._run([*cmd, str(monmap)], "monmaptool")
        self._parallel([["ceph-mon", "-c", str(self.conf), "--mkfs", "-i", m.id, "--monmap", str(monmap),
                         "--keyring", str(all_keys)] for m in p.of_kind("mon")], "ceph-mon --mkfs")
        all_keys.unlink()
        self._save_plan(p)
        for m in p.of_kind("mon"):
            self._start(m)
        uuids = {d.id: str(uuid.uuid4()) for d in p.of_kind("osd")}
        self._admin_batch(bootstrap_commands(p, uuids))
        self._parallel([["ceph-osd", "-c", str(self.conf), "-i", d.id, "--mkfs", "--osd-uuid", uuids[d.id]]
                        for d in p.of_kind("osd")], "ceph-osd --mkfs")
        self.start()
        self.wait_ready(timeout)
        return p

    def _data_dir(self, d: Daemon) -> Path:
        leaf = {"mon": "mon", "mgr": "mgr", "mds": "mds"}.get(d.kind, f"osd.{d.id}")
        return self.state / d.node / leaf

    def _run(self, cmd: list[str], what: str, stdin: str | None = None, timeout: float = 120) -> str:
        r = subprocess.run(cmd, check=False, input=stdin, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise CephError(f"{what} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-600:]}")
        return r.stdout

    def _parallel(self, cmds: list[list[str]], what: str) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(cmds))) as ex:
            for fut in [ex.submit(self._run, c, what) for c in cmds]:
                fut.result()

    # --- admin CLI ------------------------------------------------------------------------------
    def _cli(self) -> list[str]:
        return ["ceph", "-c", str(self.conf), "-n", "client.admin", "-k", str(self.admin_keyring),
                "--connect-timeout", "15"]

    def _admin_batch(self, cmds: list[str]) -> None:
        """Several monitor commands in one ``ceph`` process (each process start costs ~0.3 s)."""
        self._run(self._cli(), "ceph " + "; ".join(cmds), stdin="\n".join(cmds) + "\n")

    def ceph(self, *args: str, timeout: float = 60) -> Any:
        """``ceph ARGS -f json`` as the admin; the decoded JSON (None for commands without output)."""
        out = self._run([*self._cli(), *args, "-f", "json"], "ceph " + " ".join(args), timeout=timeout)
        return json.loads(out) if out.strip() else None

    def ceph_text(self, *args: str, timeout: float = 60) -> str:
        """``ceph ARGS`` as the admin, plain output (for commands whose answer is not JSON)."""
        return self._run([*self._cli(), *args], "ceph " + " ".join(args), timeout=timeout).strip()

    # --- daemons --------------------------------------------------------------------------------
    def pid(self, d: Daemon) -> int | None:
        """The live pid of daemon ``d`` (checked against /proc: a ceph-* process with our conf)."""
        try:
            pid = int((self.state / "run" / f"{d.name}.pid").read_text().strip())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            return None
        if not comm.startswith("ceph-") or st == "Z" or os.fsencode(str(self.conf)) not in argv:
            return None
        return pid

    def _start(self, d: Daemon) -> int:
        pid = self.pid(d)
        if pid is not None:
            return pid
        (self.state / "run" / f"{d.name}.pid").unlink(missing_ok=True)
        with open(self.state / "log" / f"{d.name}.stdout", "ab") as out:
            rc = subprocess.run([f"ceph-{d.kind}", "-c", str(self.conf), "-i", d.id], check=False, stdout=out,
                                stderr=out, stdin=subprocess.DEVNULL, timeout=120).returncode
        if rc != 0:
            raise CephError(f"ceph-{d.kind} -i {d.id} failed to start; see {self.state}/log/{d.name}.log")
        deadline = time.monotonic() + 15
        while (pid := self.pid(d)) is None:
            if time.monotonic() > deadline:
                raise CephError(f"{d.name} wrote no live pid file; see {self.state}/log/{d.name}.log")
            time.sleep(0.05)
        return pid

    def start(self, nodes: list[str] | None = None) -> dict[str, int]:
        """Start every daemon (of ``nodes``) that is not running; monitors first. Returns name → pid."""
        todo = [d for d in self.plan().daemons if nodes is None or d.node in nodes]
        out = {}
        for kind in ("mon", "osd", "mgr", "mds"):
            group = [d for d in todo if d.kind == kind]
            with ThreadPoolExecutor(max_workers=max(1, len(group))) as ex:
                for d, pid in zip(group, ex.map(self._start, group), strict=True):
                    out[d.name] = pid
        return out

    def stop(self, nodes: list[str] | None = None, timeout: float = 20.0, sig: int = signal.SIGTERM) -> list[str]:
        """Stop the daemons (of ``nodes``): MDSs and the manager, then OSDs, then monitors."""
        if not self.exists():
            return []
        stopped = []
        for kinds in (("mds", "mgr"), ("osd",), ("mon",)):
            group = [(d, self.pid(d)) for d in self.plan().daemons
                     if d.kind in kinds and (nodes is None or d.node in nodes)]
            live = [(d, pid) for d, pid in group if pid is not None]
            for _d, pid in live:
                os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while any(self.pid(d) for d, _ in live) and time.monotonic() < deadline:
                time.sleep(0.1)
            for d, pid in live:
                if self.pid(d) is not None:
                    os.kill(pid, signal.SIGKILL)
                stopped.append(d.name)
        return stopped

    def pids(self, node: str | None = None) -> dict[str, int]:
        return {d.name: pid for d in self.plan().daemons
                if (node is None or d.node == node) and (pid := self.pid(d)) is not None}

    # --- state ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return dict(self.ceph("status"))

    def ready(self) -> tuple[bool, str]:
        """HEALTH_OK, every OSD up and in, every PG active+clean, one MDS active (its standby-replay
        follower is listed beside it; HEALTH_OK alone came before any PG was active)."""
        try:
            s = self.status()
        except (CephError, subprocess.TimeoutExpired, ValueError) as e:
            return False, f"no answer from the monitors ({e})"
        n = len(self.plan().of_kind("osd"))
        om, pm = s["osdmap"], s["pgmap"]
        clean = sum(x["count"] for x in pm.get("pgs_by_state", []) if x["state_name"] == "active+clean")
        mds = [x.get("status") for x in s.get("fsmap", {}).get("by_rank", [])]
        ok = (s["health"]["status"] == "HEALTH_OK" and om["num_up_osds"] == n and om["num_in_osds"] == n
              and pm["num_pgs"] > 0 and clean == pm["num_pgs"] and mds.count("up:active") == 1)
        why = (f"{s['health']['status']} {sorted(s['health'].get('checks', {}))}; osds up {om['num_up_osds']}/{n}; "
               f"pgs active+clean {clean}/{pm['num_pgs']}; mds {mds}")
        return ok, why

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        why = ""
        while time.monotonic() < deadline:
            ok, why = self.ready()
            if ok:
                return
            time.sleep(0.5)
        raise CephError(f"Ceph not ready after {timeout:.0f} s: {why} (logs in {self.state}/log)")
