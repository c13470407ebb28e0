"""The cluster records of the coordinator link: the link secret New-Cluster stores, the link ports."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sofs.cluster.client import ClusterClient, ClusterError
from sofs.cluster.model import NodeRecord, decode, encode
from sofs.cluster.store_embedded import EmbeddedStore


def run(tmp_path: Path, body) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = await EmbeddedStore.open(tmp_path)
        try:
            await body(ClusterClient(store))
        finally:
            await store.close()
    asyncio.run(main())


def test_new_cluster_stores_a_random_link_secret(tmp_path: Path) -> None:
    secrets: list[bytes] = []

    async def body(c: ClusterClient) -> None:
        with pytest.raises(ClusterError, match="No cluster"):
            await c.link_secret()
        await c.create_cluster("c1", ["n1", "n2"])
        secret = await c.link_secret()
        assert len(secret) == 32 and await c.link_secret() == secret
        assert secret.hex() not in repr(await c.get_cluster())  # Get-Cluster does not show it
        secrets.append(secret)

    run(tmp_path / "a", body)
    run(tmp_path / "b", body)
    assert secrets[0] != secrets[1]


def test_a_cluster_without_a_secret_gets_exactly_one(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1"])
        await c.store.delete(c.keys.link_secret)  # as created before link secrets existed
        got = await asyncio.gather(*(c.link_secret() for _ in range(5)))
        assert len(set(got)) == 1 and len(got[0]) == 32
    run(tmp_path, body)


def test_link_ports(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1", "n2"])
        assert {n.link_port for n in await c.get_nodes()} == {0}  # each node picks one and writes it
        assert (await c.set_link_port("n2", 40123)).link_port == 40123
        assert [n.link_port for n in await c.get_nodes()] == [0, 40123]
        with pytest.raises(ClusterError, match="Invalid port"):
            await c.set_link_port("n1", 0)
    run(tmp_path / "a", body)

    async def fixed(c: ClusterClient) -> None:
        await c.create_cluster("c1", ["n1", "n2"], link_port=3343)
        assert {n.link_port for n in await c.get_nodes()} == {3343}
    run(tmp_path / "b", fixed)


def test_older_node_records_read_as_port_zero() -> None:
    old = b'{"address": "127.0.0.11", "id": 1, "name": "n1", "smb_port": 445}'
    assert decode(NodeRecord, old).link_port == 0
    assert decode(NodeRecord, encode(NodeRecord("n1", 1, "a", link_port=5))).link_port == 5
