"""ClusterClient against the embedded store (no node processes: heartbeats written by hand)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sofs.cluster.client import ClusterClient, ClusterError
from sofs.cluster.config import ClusterConfig, load_cluster_config, write_cluster_config
from sofs.cluster.model import CLUSTER_GROUP, Heartbeat, encode
from sofs.cluster.store_embedded import EmbeddedStore


def run(tmp_path: Path, body: Callable[[ClusterClient], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await EmbeddedStore.open(tmp_path)
        client = ClusterClient(store)
        try:
            await body(client)
        finally:
            await store.close()
    asyncio.run(main())


async def beat(c: ClusterClient, *names: str, joining: bool = False) -> None:
    for n in names:
        await c.store.put(c.keys.heartbeat(n), encode(Heartbeat(n, 1, "127.0.0.1", joining=joining)))


def test_new_cluster_and_reads(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        info = await c.create_cluster("c1", ["n1", "n2", "n3"], static_address=["10.0.0.50"], no_storage=True)
        assert (info.name, info.same_subnet_delay, info.same_subnet_threshold) == ("c1", 1000, 10)
        assert info.quorum_type == "NodeMajority" and info.static_address == ("10.0.0.50",)
        nodes = await c.get_nodes()
        assert [(n.name, n.address, n.state) for n in nodes] == [
            ("n1", "127.0.0.11", "Down"), ("n2", "127.0.0.12", "Down"), ("n3", "127.0.0.13", "Down")]
        assert sum(n.dynamic_weight for n in nodes) == 3
        await beat(c, "n1", "n2")
        await beat(c, "n3", joining=True)
        assert [n.state for n in await c.get_nodes()] == ["Up", "Up", "Joining"]
        groups = await c.get_groups()
        assert [(g.name, g.state, g.group_type) for g in groups] == [(CLUSTER_GROUP, "Offline", "Cluster")]
        assert {r.name for r in await c.get_resources()} == {"Cluster Name", "Cluster IP Address"}
        with pytest.raises(ClusterError, match="already exists"):
            await c.create_cluster("c2", ["x"])
    run(tmp_path, body)


@pytest.mark.parametrize(("args", "match"), [
    (("bad name!", ["n1"]), "Invalid cluster name"),
    (("c", []), "at least one node"),
    (("c", ["n1", "N1"]), "Duplicate"),
    (("c", ["n1"], "not-an-ip"), "Invalid IP"),
])
def test_new_cluster_bad_input(tmp_path: Path, args: tuple, match: str) -> None:  # type: ignore[type-arg]
    async def body(c: ClusterClient) -> None:
        with pytest.raises(ClusterError, match=match):
            await c.create_cluster(*args)
    run(tmp_path, body)


def test_properties(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        with pytest.raises(ClusterError, match="No cluster"):
            await c.get_cluster()
        await c.create_cluster("c1", ["n1"])
        assert (await c.set_cluster_property("SameSubnetThreshold", 5)).same_subnet_threshold == 5
        assert (await c.set_cluster_property("same_subnet_delay", "250")).same_subnet_delay == 250
        assert (await c.set_cluster_property("Description", "hi")).description == "hi"
        with pytest.raises(ClusterError, match="between"):
            await c.set_cluster_property("SameSubnetThreshold", 0)
        with pytest.raises(ClusterError, match="Unknown or read-only"):
            await c.set_cluster_property("Name", "x")
        with pytest.raises(ClusterError, match="integer"):
            await c.set_cluster_property("SameSubnetDelay", "fast")
    run(tmp_path, body)


def test_quorum_modes(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1", "n2"])
        q = await c.get_quorum()
        assert q.quorum_type == "NodeMajority" and q.witness is None and sum(q.votes.values()) == 1
        q = await c.set_quorum({"type": "NodeAndFileShareMajority",
                                "witness": {"type": "fileshare", "share": "\\\\srv\\w"}})
        assert q.quorum_type == "NodeAndFileShareMajority" and q.quorum_resource == "File Share Witness"
        assert sum(q.votes.values()) == 2 and q.witness_dynamic_weight == 1
        assert "File Share Witness" in {r.name for r in await c.get_resources()}
        q = await c.set_quorum("NodeMajority")
        assert q.witness is None and "File Share Witness" not in {r.name for r in await c.get_resources()}
        with pytest.raises(ClusterError, match="needs a witness"):
            await c.set_quorum({"type": "NodeAndCloudMajority"})
    run(tmp_path, body)


def test_move_suspend_resume(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1", "n2", "n3"])
        await beat(c, "n1", "n2")
        g = await c.create_group("Volume1")
        assert (g.owner_node, g.epoch, g.state) == ("", 0, "Offline")
        moved = await c.move_group("Volume1", "n2")
        assert (moved.owner_node, moved.epoch, moved.state) == ("n2", 1, "Online")
        with pytest.raises(ClusterError, match="Down"):
            await c.move_group("Volume1", "n3")
        with pytest.raises(ClusterError, match="not found"):
            await c.move_group("Volume1", "n9")
        auto = await c.move_group("volume1")
        assert (auto.owner_node, auto.epoch) == ("n1", 2)
        n = await c.suspend_node("n1", drain=True)
        assert (n.state, n.drain_status) == ("Paused", "InProgress")
        n = await c.resume_node("N1")
        assert (n.state, n.drain_status) == ("Up", "NotInitiated")
        with pytest.raises(ClusterError, match="already exists"):
            await c.create_group("Volume1")
    run(tmp_path, body)


def test_add_remove_node(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1", "n2"])
        n = await c.add_node("n3")
        assert (n.address, n.id) == ("127.0.0.13", "3")
        assert sum(x.dynamic_weight for x in await c.get_nodes()) == 3
        with pytest.raises(ClusterError, match="already a member"):
            await c.add_node("n3")
        await beat(c, "n1")
        await c.create_group("V")
        await c.move_group("V", "n1")
        await c.remove_node("n1")
        assert [x.name for x in await c.get_nodes()] == ["n2", "n3"]
        g = next(g for g in await c.get_groups() if g.name == "V")
        assert (g.owner_node, g.epoch) == ("", 2)
        await c.remove_node("n2")
        with pytest.raises(ClusterError, match="last node"):
            await c.remove_node("n3")
    run(tmp_path, body)


def test_config_roundtrip_and_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOFS_CLUSTER_CONFIG", raising=False)
    monkeypatch.setenv("SOFS_CLUSTER_DIR", str(tmp_path / "nowhere"))
    assert load_cluster_config() is None
    cfg = ClusterConfig(tmp_path / "st", name="c1")
    write_cluster_config(cfg)
    monkeypatch.setenv("SOFS_CLUSTER_DIR", str(tmp_path / "st"))
    got = load_cluster_config()
    assert got == cfg

    async def main() -> None:
        assert got is not None
        c = await ClusterClient.connect(got)
        await c.create_cluster("c1", ["n1"])
        assert (await c.get_cluster()).store.startswith("embedded:")
        await c.close()
    asyncio.run(main())


def test_smb_port_and_embedded_volumes(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1", "n2"], smb_port=4455)
        assert {n.smb_port for n in await c.get_nodes()} == {4455}
        assert (await c.set_smb_port("n2", 4456)).smb_port == 4456
        with pytest.raises(ClusterError):
            await c.set_smb_port("n1", 70000)
        with pytest.raises(ClusterError):
            await c.create_cluster("c2", ["n1"], smb_port=0)
        assert await c.get_volumes() == []  # no volume root known
        (tmp_path / "ClusterStorage" / "Volume1").mkdir(parents=True)
        c.volume_root = str(tmp_path / "ClusterStorage")
        vols = await c.get_volumes()
        assert [(v.name, v.path) for v in vols] == [("Volume1", str(tmp_path / "ClusterStorage" / "Volume1"))]
    run(tmp_path, body)
