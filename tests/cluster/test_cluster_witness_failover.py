"""A client that follows the Witness service reclaims its persistent handle on another node when its own
node stops answering (issue 14 acceptance 6; the timing comparison is ``bench/witness_failover.py``).

Three real ``sofs node`` processes (SameSubnetDelay 200 ms × Threshold 5), the Scale-Out File Server
role SOFS, a continuously available share of the role on Volume1, the Witness service on every node.
The client opens a file on node X (the volume's coordinator, the harder case) with a persistent handle
and writes; Samba's witness client (python3-samba) is registered with another node W for X's address.
X is frozen (SIGSTOP: like a machine that died, its connections go silent — no reset reaches the
client), then killed -9 once the client is back. The client's own request timeout is far away (300 s),
so only the witness can send it elsewhere: RESOURCE_CHANGE unavailable → reconnect to W → DH2C → it
writes again, and every acknowledged block reads back.
"""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_proc import csv_coordinator, free_port_on, kill_quietly, node_pids, sofs
from test_cluster_witness_swn import _samba_python

from tests.conftest import USERS

pytest.importorskip("smbprotocol")
from failover_client import CaWriter, WitnessFollower

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARE = "CA"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    if not _samba_python():
        pytest.skip("python3-samba (Samba's client bindings) is not installed")
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n')
    vol = state / "ClusterStorage" / "Volume1" / "Shares" / SHARE
    vol.mkdir(parents=True)
    vol.chmod(0o777)
    both = [*ADDR.values(), *(a.replace("127.0.0.", "127.0.1.") for a in ADDR.values())]
    port, wport = free_port_on(both), free_port_on(both)
    r = sofs("cluster", "up", "3", "--name", "swnf", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(port), "--witness-port", str(wport))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = sofs("Add-ClusterScaleOutFileServerRole", "SOFS", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        r = sofs("New-SmbShare", "-Name", SHARE, "-Path", rf"C:\ClusterStorage\Volume1\Shares\{SHARE}",
                 "-FullAccess", "alice", "-ContinuouslyAvailable", "$true", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        yield state, port, wport
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def test_witness_follower_reclaims_on_another_node(cluster: tuple[Path, int, int]) -> None:
    state, port, wport = cluster
    victim = csv_coordinator(state, 30)
    witness = next(n for n in sorted(ADDR) if n != victim)
    r = sofs("Get-SmbShare", "-Name", SHARE, state=state)
    assert "SOFS" in r.stdout, r.stdout  # the share is the role's (ScopeName SOFS): scale-out + CA
    writer = CaWriter("follower", SHARE, port, "alice", USERS["alice"], request_timeout=300,
                      others=[ADDR[n] for n in sorted(ADDR) if n != victim])
    writer.open(ADDR[victim])
    follower = WitnessFollower(writer, ADDR[witness], wport, "SOFS", ADDR[victim])
    pid = node_pids(state)[victim]
    try:
        follower.wait_registered()
        writer.start()
        time.sleep(0.5)
        acked_before = len(writer.acked)
        assert acked_before > 0, writer.error
        t_fail = time.time()
        kill_quietly(pid, signal.SIGSTOP)
        assert writer.wait_back(60), f"the client did not get back: {writer.error} {list(follower.events.queue)}"
        assert not writer.error, writer.error
        kill_quietly(pid)  # the frozen node is killed -9 once the client is back
        assert writer.learned_by == "witness RESOURCE_CHANGE", writer.learned_by
        assert writer.reclaimed_on == ADDR[witness]
        assert writer.lost_blocks() == []
        print(f"\n{victim} (coordinator) frozen, then killed -9: RESOURCE_CHANGE after "
              f"{writer.t_learned - t_fail:.2f} s, writing again on {witness} after {writer.t_back - t_fail:.2f} s; "
              f"{len(writer.acked)} blocks acknowledged, all read back")
        r = sofs("Get-SmbWitnessClient", state=state)
        assert "FOLLOWER" in r.stdout, r.stdout
    finally:
        kill_quietly(pid)
        follower.close()
        writer.close()
