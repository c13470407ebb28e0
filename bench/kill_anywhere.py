"""Issue 13 acceptance 2: kill anywhere, N rounds, with real node processes (a benchmark, not a test).

A 3-node embedded cluster (loopback 127.0.0.11-13, default heartbeat settings) with a continuously
available share on Volume1. Each round:

1. client A opens ``round-N.vhdx`` on node X with a persistent handle, an RWH lease and a byte-range
   lock, and writes 4 KiB blocks in a loop (every acknowledged block is recorded);
2. X is killed with SIGKILL: the volume's coordinator in even rounds, another node in odd rounds;
3. meanwhile client B, connected to a surviving node before the kill, tries a read-write and a
   read-only open of the file: both must fail with STATUS_FILE_NOT_AVAILABLE (the handle waits for
   its client; with no open, B cannot reach the locked range);
4. A reconnects (DH2C, same ClientGuid, same lease key) to a survivor chosen before the kill,
   retrying on that node only, and writes again; the pause is the time from the kill to that first
   acknowledged write. The target is the volume's coordinator after the kill in rounds 0, 1 (mod 4)
   and the other survivor in rounds 2, 3: when another node dies the coordinator stays; when the
   coordinator dies, its successor is predicted before the kill with the cluster's own pure placement
   rule (``sofs.cluster.placement.place`` over ``Get-ClusterNode``/``Get-ClusterGroup``) and the
   prediction is checked against ``Get-ClusterSharedVolume`` afterwards — so half the reclaims go to
   the coordinator and half to a non-coordinator node;
5. every acknowledged block is read back and checked; X is restarted before the next round (a
   restarted node joins as a serving node; the volume's state stays with its coordinator).

Prints one line per round and the median / max pause. ``--rounds 20`` is the acceptance run.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from cluster_proc import csv_coordinator, free_port_on, kill_quietly, node_pids, sofs
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequestV2,
)
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from sofs.cli.cluster_cmd import start_node
from sofs.cluster.config import NodeProcess, load_cluster_config, write_cluster_config
from sofs.cluster.placement import GroupView, NodeView, place
from sofs.cluster.processes import node_alive
from tests.conftest import USERS, tmpfs_dir
from tests.interop.test_ca_durable import RW, _ctx, _lease, _lock

ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
BLOCK = 4096
SHARE = "CA"


def connect(addr: str, port: int, guid: uuid.UUID, user: str = "alice") -> tuple[Connection, TreeConnect]:
    conn = Connection(guid, addr, port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=5)
    s = Session(conn, user, USERS[user], require_encryption=False)
    s.connect()
    tree = TreeConnect(s, rf"\\{addr}\{SHARE}")
    tree.connect()
    return conn, tree


def block(round_no: int, i: int) -> bytes:
    return hashlib.sha256(f"{round_no}-{i}".encode()).digest() * (BLOCK // 32)


def cluster_up(state: Path) -> int:
    state.mkdir(parents=True)
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n'
                                    f'[[user]]\nname = "bob"\npassword = "{USERS["bob"]}"\n')
    d = state / "ClusterStorage" / "Volume1" / "Shares" / SHARE
    d.mkdir(parents=True)
    d.chmod(0o777)
    port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "kill", "--state-dir", str(state), "--smb-port", str(port), timeout=120)
    if r.returncode:
        raise SystemExit(r.stdout + r.stderr)
    r = sofs("New-SmbShare", "-Name", SHARE, "-Path", rf"C:\ClusterStorage\Volume1\Shares\{SHARE}",
             "-FullAccess", "alice,bob", "-ContinuouslyAvailable", "$true", state=state)
    if r.returncode:
        raise SystemExit(r.stdout + r.stderr)
    return port


def restart(state: Path, name: str) -> None:
    cfg = load_cluster_config(state)
    assert cfg is not None
    nodes = dict(cfg.nodes)
    nodes[name] = NodeProcess(ADDR[name], start_node(state, name, no_smb=False, detach=True).pid)
    write_cluster_config(__import__("dataclasses").replace(cfg, nodes=nodes))


def listening(addr: str, port: int) -> bool:
    """A node is Up in the cluster a moment before its SMB listener is."""
    try:
        socket.create_connection((addr, port), timeout=1).close()
    except OSError:
        return False
    return True


def _as_list(d: object) -> list[dict[str, object]]:
    """A cmdlet's -AsJson output: one object, or a list when there are several."""
    return d if isinstance(d, list) else [d]  # type: ignore[list-item]


def up_nodes(state: Path) -> set[str]:
    r = sofs("Get-ClusterNode", "-AsJson", state=state)
    if r.returncode:
        return set()
    return {str(n["Name"]) for n in _as_list(json.loads(r.stdout)) if n.get("State") == "Up"}


def coordinator_after(state: Path, victim: str, coord: str) -> str:
    """The node that will coordinate the volume once ``victim`` is Down, by the cluster's own rule
    (``place``: sticky owners, an orphaned group to a preferred owner, else the least loaded node)."""
    if victim != coord:
        return coord
    nodes = _as_list(json.loads(sofs("Get-ClusterNode", "-AsJson", state=state).stdout))
    groups = _as_list(json.loads(sofs("Get-ClusterGroup", "-AsJson", state=state).stdout))
    view = [NodeView(str(x["Name"]), x["Name"] != victim and x.get("State") in ("Up", "Paused"),
                     paused=x.get("State") == "Paused") for x in nodes]
    placed = place(view, [GroupView(str(g["Name"]), tuple(g.get("PreferredOwners") or ())) for g in groups],
                   {str(g["Name"]): (str(g["OwnerNode"]) or None) for g in groups})
    csv = next(str(g["Name"]) for g in groups if str(g["Name"]).startswith("Cluster Virtual Disk"))
    succ = placed.get(csv)
    if succ is None:
        raise SystemExit(f"placement predicts no owner for {csv} once {victim} is down")
    return succ


def one_round(state: Path, port: int, n: int) -> dict[str, object]:
    """One round. Everything a client would not do between the kill and its reconnect (cmdlets,
    new sessions of the observer B) happens before the kill: B is connected already, and the node A
    reconnects to is chosen beforehand (a client retries the server it knows, it asks no cmdlet)."""
    coord = csv_coordinator(state)
    names = sorted(ADDR)
    victim = coord if n % 2 == 0 else next(x for x in names if x != coord)
    survivors = [x for x in names if x != victim]
    # rounds 0, 1 (mod 4): A reclaims on the coordinator after the kill; rounds 2, 3: on the other survivor
    expected = coordinator_after(state, victim, coord)
    target = expected if n % 4 < 2 else next(x for x in survivors if x != expected)
    guid, cg, lk = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
    name = f"round-{n}.vhdx"
    conn, tree = connect(ADDR[victim], port, guid)
    b_conn, b_tree = connect(ADDR[next(x for x in survivors if x != target)], port, uuid.uuid4(), "bob")
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, cg
    op = Open(tree, name)
    op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
              CreateDisposition.FILE_OVERWRITE_IF, 0x40,
              [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(lk)],
              oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    _lock(op)
    file_id = op.file_id
    acked: set[int] = set()
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 2000:
            try:
                op.write(block(n, i), i * BLOCK)
            except (SMBException, OSError, ValueError):
                return
            acked.add(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    kill_quietly(node_pids(state)[victim])
    stop.set()
    t.join(10)
    with contextlib.suppress(SMBException, OSError, ValueError):
        conn.disconnect(close=False)
    # B (already connected to a survivor): every attempt on the file fails while A is away
    refused: list[str] = []
    granted = 0
    for access in (RW, 0x1):  # read-write, then read-only (with no open, B cannot reach the locked range)
        try:
            o = Open(b_tree, name)
            o.create(ImpersonationLevel.Impersonation, access, 0x80, 7, CreateDisposition.FILE_OPEN, 0x40)
            granted += 1
            o.close()
        except SMBResponseException as e:
            refused.append(f"{e.status:#x}")
    t_b = time.monotonic() - t0
    tries = 0
    while True:
        tries += 1
        try:
            c2, t2 = connect(ADDR[target], port, guid)
            rc = SMB2CreateDurableHandleReconnectV2()
            rc["file_id"], rc["create_guid"], rc["flags"] = file_id, cg, 0x2
            o2 = Open(t2, name)
            o2.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                      CreateDisposition.FILE_OPEN, 0x40,
                      [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, rc), _lease(lk)],
                      oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
            i = max(acked, default=-1) + 1
            o2.write(block(n, i), i * BLOCK)
            acked.add(i)
            break
        except (SMBException, OSError, ValueError) as e:
            if time.monotonic() - t0 > 60:
                raise SystemExit(f"round {n}: no reclaim on {target} within 60 s: {e!r}") from e
            time.sleep(0.05)
    pause = time.monotonic() - t0
    with contextlib.suppress(SMBException, OSError, ValueError):
        b_conn.disconnect()
    new_coord = csv_coordinator(state)
    lost = [i for i in sorted(acked) if o2.read(i * BLOCK, BLOCK) != block(n, i)]
    o2.close()
    c2.disconnect()
    return {"round": n, "killed": victim, "role": "coordinator" if victim == coord else "other",
            "reclaim_on": target, "reclaim_role": "coordinator" if target == new_coord else "other",
            "coordinator_predicted": expected, "coordinator_after": new_coord,
            "tries": tries, "pause_s": round(pause, 3), "b_refused_after_s": round(t_b, 3),
            "acked": len(acked), "lost": len(lost), "refused": refused, "granted": granted}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    root = tmpfs_dir("sofs-kill-")
    state = root / "cluster"
    port = cluster_up(state)
    pauses: list[float] = []
    results: list[dict[str, object]] = []
    try:
        for n in range(a.rounds):
            cfg = load_cluster_config(state)
            assert cfg is not None
            # a round needs three nodes: the previous round's victim comes back (whether or not the
            # others already saw it go: a non-coordinator is marked Down after the heartbeat threshold)
            down = {x for x, p in cfg.nodes.items() if not node_alive(p.pid)}
            for x in sorted(down):
                restart(state, x)
            deadline = time.monotonic() + 60
            while up_nodes(state) != set(ADDR) or not all(listening(a, port) for a in ADDR.values()):
                if time.monotonic() > deadline:
                    raise SystemExit("the cluster did not come back to three Up nodes serving SMB")
                time.sleep(0.2)
            r = one_round(state, port, n)
            pauses.append(float(r["pause_s"]))  # type: ignore[arg-type]
            results.append(r)
            print(json.dumps(r), flush=True)
            if r["lost"] or r["granted"] or any(x != "0xc0000467" for x in r["refused"]):  # type: ignore[attr-defined]
                print("FAILED: lost writes, or another client was not refused with STATUS_FILE_NOT_AVAILABLE",
                      flush=True)
                return 1
    finally:
        sofs("cluster", "down", "--state-dir", str(state), timeout=60)
    print(f"# {len(pauses)} rounds: pause from SIGKILL to the first write after the reclaim: "
          f"median {statistics.median(pauses):.2f} s, max {max(pauses):.2f} s")
    wrong = [r["round"] for r in results if r["coordinator_predicted"] != r["coordinator_after"]]
    print(f"#   successor predicted right in {len(results) - len(wrong)} of {len(results)} rounds"
          + (f" (wrong in rounds {wrong})" if wrong else ""))
    for role in ("coordinator", "other"):
        sel = [float(r["pause_s"]) for r in results if r["reclaim_role"] == role]  # type: ignore[arg-type]
        if sel:
            print(f"#   reclaimed on the {role}: {len(sel)} rounds, median {statistics.median(sel):.2f} s, "
                  f"max {max(sel):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
