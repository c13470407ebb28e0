"""Issue 13 acceptance 2: kill anywhere, N rounds, with real node processes (a benchmark, not a test).

A 3-node embedded cluster (loopback 127.0.0.11-13, default heartbeat settings) with a continuously
available share on Volume1. Each round:

1. client A opens ``round-N.vhdx`` on node X with a persistent handle, an RWH lease and a byte-range
   lock, and writes 4 KiB blocks in a loop (every acknowledged block is recorded);
2. X is killed with SIGKILL: the volume's coordinator in even rounds, another node in odd rounds;
3. meanwhile client B, on a surviving node, tries a read-write open, a read-only open and (through
   an open of another file it may make) nothing of the file: every attempt must fail (the handle
   waits: STATUS_FILE_NOT_AVAILABLE) until A is back;
4. A reconnects (DH2C, same ClientGuid, same lease key) — to the volume's coordinator in half the
   rounds, to a non-coordinator node in the other half — retrying on that node only, and writes again;
   the pause is the time from the kill to that first acknowledged write;
5. every acknowledged block is read back and checked; X is restarted before the next round (a
   restarted node joins as a serving node; the volume's state stays with its coordinator).

Prints one line per round and the median / max pause. ``--rounds 20`` is the acceptance run.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
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

from cluster_proc import free_port_on, kill_quietly, node_pids, sofs
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


def coordinator(state: Path) -> str:
    while True:
        r = sofs("Get-ClusterSharedVolume", "-AsJson", state=state)
        if r.returncode == 0:
            d = json.loads(r.stdout)
            if d.get("State") == "Online" and d.get("Node"):
                return str(d["Node"])
        time.sleep(0.1)


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


def up_nodes(state: Path) -> set[str]:
    r = sofs("Get-ClusterNode", "-AsJson", state=state)
    if r.returncode:
        return set()
    d = json.loads(r.stdout)
    return {n["Name"] for n in (d if isinstance(d, list) else [d]) if n.get("State") == "Up"}


def one_round(state: Path, port: int, n: int) -> dict[str, object]:
    coord = coordinator(state)
    names = sorted(ADDR)
    victim = coord if n % 2 == 0 else next(x for x in names if x != coord)
    guid, cg, lk = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
    name = f"round-{n}.vhdx"
    conn, tree = connect(ADDR[victim], port, guid)
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
    survivors = [x for x in names if x != victim]
    # B: every attempt on the file fails while A is away
    refused, granted = 0, 0
    b_conn, b_tree = connect(ADDR[survivors[0]], port, uuid.uuid4(), "bob")
    for access in (RW, 0x1):
        try:
            o = Open(b_tree, name)
            o.create(ImpersonationLevel.Impersonation, access, 0x80, 7, CreateDisposition.FILE_OPEN, 0x40)
            granted += 1
            o.close()
        except SMBResponseException:
            refused += 1
    b_conn.disconnect()
    new_coord = coordinator(state)
    target = new_coord if n % 4 < 2 else next(x for x in survivors if x != new_coord)
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
    lost = [i for i in sorted(acked) if o2.read(i * BLOCK, BLOCK) != block(n, i)]
    o2.close()
    c2.disconnect()
    return {"round": n, "killed": victim, "role": "coordinator" if victim == coord else "other",
            "reclaim_on": target, "reclaim_role": "coordinator" if target == new_coord else "other",
            "tries": tries, "pause_s": pause, "acked": len(acked), "lost": len(lost),
            "refused": refused, "granted": granted}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    root = tmpfs_dir("sofs-kill-")
    state = root / "cluster"
    port = cluster_up(state)
    pauses = []
    try:
        for n in range(a.rounds):
            down = set(ADDR) - up_nodes(state)
            for x in sorted(down):  # a round needs three nodes (the previous one's victim comes back)
                restart(state, x)
            deadline = time.monotonic() + 60
            while up_nodes(state) != set(ADDR):
                if time.monotonic() > deadline:
                    raise SystemExit("the cluster did not come back to three Up nodes")
                time.sleep(0.2)
            r = one_round(state, port, n)
            pauses.append(float(r["pause_s"]))  # type: ignore[arg-type]
            print(json.dumps(r), flush=True)
            if r["lost"] or r["granted"]:
                print("FAILED: lost writes or another client got the file", flush=True)
                return 1
    finally:
        sofs("cluster", "down", "--state-dir", str(state), timeout=60)
    print(f"# {len(pauses)} rounds: pause from SIGKILL to the first write after the reclaim: "
          f"median {statistics.median(pauses):.2f} s, max {max(pauses):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
