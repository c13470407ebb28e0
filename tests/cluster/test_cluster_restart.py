"""Issue 15, acceptance 6 and 7, with real node processes (``sofs cluster up 3``, loopback, embedded store).

- A cluster stopped with ``sofs cluster down`` (every node left cleanly and gave up its vote), and one
  whose nodes were all killed with SIGKILL, starts again with ``sofs cluster up 3`` on the same state
  directory: its shares, its quorum settings and the persistent handle journal of a CA share are
  intact (the client reconnects its persistent handle with DH2C and reads what it wrote).
- Last man standing: 3 nodes + a disk witness; SIGKILL two nodes one after the other (the second once
  the first is Down, i.e. Get-ClusterNode shows it Down with DynamicWeight 0 — the survivors adjust the
  votes one heartbeat after marking it Down): the last node keeps serving its shares. SIGKILL of two
  nodes at once stops it.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cluster_proc import free_port_on, kill_quietly, node_pids, port_open, sofs, wait_for

from sofs.cli.cluster_cmd import start_node
from sofs.cluster.client import ClusterClient
from sofs.cluster.config import NodeProcess, load_cluster_config, write_cluster_config
from sofs.cluster.store_embedded import EmbeddedStore
from tests.conftest import USERS

smbprotocol = pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
)
from smbprotocol.exceptions import SMBException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.interop.test_ca_durable import RW, _ctx, _lease

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARE = "CA"
DELAY_MS, THRESHOLD = 200, 5
TTL = DELAY_MS / 1000 * THRESHOLD


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n')
    port = free_port_on(list(ADDR.values()))
    up(state, port)
    try:
        for args in (["Set-ClusterQuorum", "-DiskWitness", str(state / "witness")],
                     ["New-SmbShare", "-Name", SHARE, "-Path", rf"C:\ClusterStorage\Volume1\Shares\{SHARE}",
                      "-FullAccess", "alice", "-ContinuouslyAvailable", "$true", "-CreatePath"]):
            r = sofs(*args, state=state)
            assert r.returncode == 0, r.stdout + r.stderr
        yield state, port
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def up(state: Path, port: int) -> None:
    r = sofs("cluster", "up", "3", "--name", "rs", "--state-dir", str(state), "--delay-ms", str(DELAY_MS),
             "--threshold", str(THRESHOLD), "--smb-port", str(port), "--timeout", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count(" Up ") == 3, r.stdout


def connect(addr: str, port: int, guid: uuid.UUID) -> tuple[Connection, TreeConnect]:
    conn = Connection(guid, addr, port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=5)
    s = Session(conn, "alice", USERS["alice"], require_encryption=False)
    s.connect()
    tree = TreeConnect(s, rf"\\{addr}\{SHARE}")
    tree.connect()
    return conn, tree


def until(fn, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (SMBException, OSError, ValueError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout} s: {e!r}") from e
            time.sleep(0.2)


class Handle:
    """A persistent handle on vm.vhdx opened through n1; ``reconnect()`` reclaims it (DH2C)."""

    def __init__(self, port: int) -> None:
        self.port, self.guid, self.create_guid, self.lease_key = port, uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
        conn, tree = until(lambda: connect(ADDR["n1"], port, self.guid), 30, "tree connect on n1")
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, self.create_guid
        op = Open(tree, "vm.vhdx")
        rsp = op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                        CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                        [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(self.lease_key)],
                        oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        assert any(isinstance(c, SMB2CreateDurableHandleResponseV2) and c["flags"].get_value() & 0x2 for c in rsp)
        self.data = b"written before the cluster stopped\n" * 64
        op.write(self.data, 0)
        self.file_id = op.file_id
        self.conn = conn

    def drop(self) -> None:
        with contextlib.suppress(SMBException, OSError, ValueError):
            self.conn.disconnect(close=False)

    def reconnect(self) -> bytes:
        """DH2C through each node in turn (any node reaches the volume's coordinator, which restored the
        handle from the volume's journal)."""
        nodes = iter(sorted(ADDR) * 1000)

        def once() -> tuple[Connection, Open]:
            node = next(nodes)
            c2, t2 = connect(ADDR[node], self.port, self.guid)
            rc = SMB2CreateDurableHandleReconnectV2()
            rc["file_id"], rc["create_guid"], rc["flags"] = self.file_id, self.create_guid, 0x2
            o2 = Open(t2, "vm.vhdx")
            try:
                o2.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                          CreateDisposition.FILE_OPEN, 0x40,
                          [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, rc),
                           _lease(self.lease_key)], oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
            except BaseException:
                with contextlib.suppress(SMBException, OSError, ValueError):
                    c2.disconnect(close=False)
                raise
            return c2, o2
        self.conn, op = until(once, 40, "DH2C on any node")
        return bytes(op.read(0, len(self.data)))


def check_restored(state: Path) -> None:
    r = sofs("Get-SmbShare", "-Name", SHARE, "-AsJson", state=state)
    assert r.returncode == 0 and '"ContinuouslyAvailable": true' in r.stdout, r.stdout + r.stderr
    r = sofs("Get-ClusterQuorum", state=state)
    assert r.returncode == 0 and "Disk Witness" in r.stdout, r.stdout + r.stderr
    r = sofs("Get-ClusterNode", state=state)
    assert r.returncode == 0 and r.stdout.count(" Up ") == 3, r.stdout + r.stderr


def test_cluster_starts_again_after_down_and_after_kill_all(cluster: tuple[Path, int]) -> None:
    state, port = cluster
    h = Handle(port)
    h.drop()
    journals = state / "ClusterStorage" / "Volume1" / ".sofs" / "journal"  # the coordinator's, on the volume
    r = sofs("cluster", "down", "--state-dir", str(state))
    assert r.returncode == 0 and "stopped 3" in r.stdout, r.stdout + r.stderr
    assert any(journals.glob("journal.*")), "the volume's journal is still on the volume"
    t0 = time.monotonic()
    up(state, port)
    print(f"\nRESTART after `sofs cluster down`: every node Up {time.monotonic() - t0:.1f} s after `cluster up`")
    check_restored(state)
    assert h.reconnect() == h.data
    h.drop()

    for pid in node_pids(state).values():
        kill_quietly(pid)
    t0 = time.monotonic()
    up(state, port)
    print(f"RESTART after SIGKILL of every node: every node Up {time.monotonic() - t0:.1f} s after `cluster up`")
    check_restored(state)
    assert h.reconnect() == h.data
    h.drop()


async def states(client: ClusterClient) -> dict[str, str]:
    return {n.name: n.state for n in await client.get_nodes()}


def restart(state: Path, names: list[str]) -> None:
    cfg = load_cluster_config(state)
    assert cfg is not None
    nodes = dict(cfg.nodes)
    for n in names:
        nodes[n] = NodeProcess(ADDR[n], start_node(state, n, no_smb=False, detach=True).pid)
    write_cluster_config(replace(cfg, nodes=nodes))


def test_last_man_standing_with_disk_witness(cluster: tuple[Path, int]) -> None:
    state, port = cluster

    async def body() -> None:
        store = await EmbeddedStore.open(state)
        client = ClusterClient(store)
        try:
            for victim in ("n1", "n2"):
                kill_quietly(node_pids(state)[victim])

                async def down(v: str = victim) -> bool:  # Down, and its vote removed (DynamicWeight 0)
                    return any(n.name == v and n.state == "Down" and n.dynamic_weight == 0
                               for n in await client.get_nodes())
                await wait_for(down, TTL * 4 + 5, f"{victim} Down")
            await asyncio.sleep(TTL * 2)  # well past the moment the second node was marked Down

            async def n3_owns_all() -> bool:
                return all(g.owner_node == "n3" and g.state == "Online" for g in await client.get_groups())
            await wait_for(n3_owns_all, 10, "n3 to own every group")
            assert await port_open(ADDR["n3"], port)
            conn, _tree = until(lambda: connect(ADDR["n3"], port, uuid.uuid4()), 10, "tree connect on n3")
            conn.disconnect()
            votes = (await client.get_quorum()).votes
            assert votes == {"n1": 0, "n2": 0, "n3": 1}, votes
            q = await wait_for(lambda: asyncio.to_thread(sofs, "Get-ClusterQuorum", state=state), 1, "quorum")
            assert "Disk Witness   Online       n3" in q.stdout, q.stdout + q.stderr
            print(f"\nLAST MAN STANDING: n1, n2 killed one after the other; n3 serves alone, votes {votes}"
                  f"\n{q.stdout.strip()}")

            restart(state, ["n1", "n2"])

            async def all_up() -> bool:
                return (set((await states(client)).values()) == {"Up"}
                        and (await client.get_quorum()).votes == {"n1": 1, "n2": 1, "n3": 1})
            await wait_for(all_up, 30, "n1 and n2 back Up with their votes")
            for n in ("n1", "n2"):
                kill_quietly(node_pids(state)[n])
            killed = time.monotonic()

            async def n3_fenced() -> bool:
                return not await port_open(ADDR["n3"], port, timeout=0.2)
            await wait_for(n3_fenced, TTL * 4 + 5, "n3 to stop serving", interval=0.05)
            print(f"SIMULTANEOUS: n1 and n2 killed at once; n3 stopped serving {time.monotonic() - killed:.2f} s "
                  f"later (TTL {TTL} s)")
            await asyncio.sleep(TTL * 2)
            assert not await port_open(ADDR["n3"], port), "n3 serves again with 1 vote of 3"
        finally:
            await store.close()
    asyncio.run(body())
