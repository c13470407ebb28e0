"""Issue 14 acceptance 6: how long a client of a continuously available share is without its file after
its node fails — following the Witness service, and relying on its own timeout (a benchmark, not a test).

A 3-node embedded cluster (loopback 127.0.0.11-13; heartbeat SameSubnetDelay × SameSubnetThreshold as
given, the cluster's defaults 1000 ms × 10 unless told) with the Scale-Out File Server role SOFS, a CA
share of the role on Volume1 and the Witness service on every node. Each round two clients connect to
the same node X and write 4 KiB blocks through a persistent handle, each on its own file
(``tests/cluster/failover_client.py``):

- **witness**: Samba's witness client (python3-samba) registered with another node W for X's address,
  waiting in AsyncNotify; on RESOURCE_CHANGE it reconnects to W and reclaims its handle (DH2C);
- **own timeout**: the same client without the witness: each request waits ``--request-timeout``
  seconds; when a request fails (connection reset or timeout) it reconnects to the other nodes in turn
  (charitably skipping X) and reclaims its handle.

The witness client also has the same timeout and also reacts to a reset connection (a client that
follows the witness does not ignore its own connection). Failure modes (``--modes``, alternating):

- ``freeze``: X is stopped with SIGSTOP, and killed -9 when both clients are back. Its connections go
  silent, as when a machine crashes or loses its network: nothing tells the client.
- ``kill``: X is killed -9. On one machine the kernel then resets every connection of the dead process
  at once, so the client learns of the failure from its connection immediately.

X is the volume's coordinator in even rounds and another node in odd rounds. The pause is the time
from the failure to the client's first acknowledged write on the reclaimed handle; every acknowledged
block is read back. One JSON line per round, then the median and max pause per mode and client.
"""
from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tests", ROOT / "tests" / "cluster", ROOT / "bench"):
    sys.path.insert(0, str(p))

from cluster_proc import free_port_on, kill_quietly, node_pids, sofs
from failover_client import CaWriter, WitnessFollower
from kill_anywhere import ADDR, coordinator, restart, up_nodes

from sofs.cluster.processes import node_alive
from tests.conftest import USERS, tmpfs_dir

SHARE = "CA"


def cluster_up(state: Path, delay_ms: int, threshold: int) -> tuple[int, int]:
    state.mkdir(parents=True)
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n')
    d = state / "ClusterStorage" / "Volume1" / "Shares" / SHARE
    d.mkdir(parents=True)
    d.chmod(0o777)
    both = [*ADDR.values(), *(a.replace("127.0.0.", "127.0.1.") for a in ADDR.values())]
    port, wport = free_port_on(both), free_port_on(both)
    for args in (("cluster", "up", "3", "--name", "swnb", "--state-dir", str(state), "--smb-port", str(port),
                  "--witness-port", str(wport), "--delay-ms", str(delay_ms), "--threshold", str(threshold)),
                 ("Add-ClusterScaleOutFileServerRole", "SOFS"),
                 ("New-SmbShare", "-Name", SHARE, "-Path", rf"C:\ClusterStorage\Volume1\Shares\{SHARE}",
                  "-FullAccess", "alice", "-ContinuouslyAvailable", "$true")):
        r = sofs(*args, state=state, timeout=120)
        if r.returncode:
            raise SystemExit(f"{args[0]}: {r.stdout}{r.stderr}")
    return port, wport


def _listening(addr: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((addr, port)) == 0


def one_round(state: Path, port: int, wport: int, n: int, mode: str, request_timeout: float) -> dict[str, object]:
    coord = coordinator(state)
    names = sorted(ADDR)
    victim = coord if n % 2 == 0 else next(x for x in names if x != coord)
    survivors = [x for x in names if x != victim]
    witness_node = survivors[n % 2]
    others = [ADDR[x] for x in survivors]
    follower = CaWriter(f"witness-{n}", SHARE, port, "alice", USERS["alice"], request_timeout=request_timeout,
                        others=others)
    plain = CaWriter(f"timeout-{n}", SHARE, port, "alice", USERS["alice"], request_timeout=request_timeout,
                     others=others)
    watcher = None
    pid = node_pids(state)[victim]
    try:
        for w in (follower, plain):
            w.open(ADDR[victim])
        watcher = WitnessFollower(follower, ADDR[witness_node], wport, "SOFS", ADDR[victim])
        watcher.wait_registered()
        for w in (follower, plain):
            w.start()
        time.sleep(0.5)
        t_fail = time.time()
        kill_quietly(pid, signal.SIGSTOP if mode == "freeze" else signal.SIGKILL)
        for w in (follower, plain):
            if not w.wait_back(request_timeout + 120) or w.error:
                raise SystemExit(f"round {n}: {w.name} did not get back: {w.error}")
        kill_quietly(pid)
        out: dict[str, object] = {"round": n, "mode": mode, "killed": victim,
                                  "role": "coordinator" if victim == coord else "other", "witness_node": witness_node}
        for key, w in (("witness", follower), ("timeout", plain)):
            lost = w.lost_blocks()
            if lost:
                raise SystemExit(f"round {n}: {w.name} lost acknowledged blocks {lost[:5]}")
            out[key] = {"pause_s": round(w.t_back - t_fail, 3), "learned_s": round(w.t_learned - t_fail, 3),
                        "learned_by": w.learned_by, "reclaimed_on": w.reclaimed_on, "acked": len(w.acked)}
        return out
    finally:
        kill_quietly(pid)
        if watcher is not None:
            watcher.close()
        for w in (follower, plain):
            w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="rounds in all, the modes taking turns")
    ap.add_argument("--modes", default="freeze,kill", help="freeze, kill or both (comma-separated)")
    ap.add_argument("--request-timeout", type=float, default=30.0,
                    help="seconds a request of either client waits for its answer (default 30)")
    ap.add_argument("--delay-ms", type=int, default=1000, help="SameSubnetDelay (cluster default 1000)")
    ap.add_argument("--threshold", type=int, default=10, help="SameSubnetThreshold (cluster default 10)")
    a = ap.parse_args()
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"freeze", "kill"}:
        raise SystemExit(f"--modes: freeze and/or kill, not {a.modes!r}")
    state = tmpfs_dir("sofs-swnb-") / "cluster"
    port, wport = cluster_up(state, a.delay_ms, a.threshold)
    print(f"# failure detection {a.delay_ms} ms x {a.threshold}; request timeout {a.request_timeout:g} s", flush=True)
    pauses: dict[tuple[str, str], list[float]] = {}
    try:
        for n in range(a.rounds):
            for x, pid in sorted(node_pids(state).items()):  # the previous round's victim comes back
                if not node_alive(pid):
                    restart(state, x)
            deadline = time.monotonic() + 120
            while up_nodes(state) != set(ADDR):
                if time.monotonic() > deadline:
                    raise SystemExit("the cluster did not come back to three Up nodes")
                time.sleep(0.2)
            while not all(_listening(a, wport) for a in ADDR.values()):  # a restarted node's witness
                if time.monotonic() > deadline:
                    raise SystemExit("the Witness service did not come back on every node")
                time.sleep(0.2)
            mode = modes[n % len(modes)]
            r = one_round(state, port, wport, n, mode, a.request_timeout)
            print(json.dumps(r), flush=True)
            for key in ("witness", "timeout"):
                pauses.setdefault((mode, key), []).append(float(r[key]["pause_s"]))  # type: ignore[index]
    finally:
        sofs("cluster", "down", "--state-dir", str(state), timeout=60)
    print("# pause from the failure to the first acknowledged write on the reclaimed handle (s)")
    print(f"# {'mode':7} {'client':8} {'rounds':>6} {'median':>7} {'max':>7}")
    for (mode, key), v in sorted(pauses.items()):
        print(f"# {mode:7} {key:8} {len(v):6d} {statistics.median(v):7.2f} {max(v):7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
