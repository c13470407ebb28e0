"""Real node processes: each runs a coordinator link server on its own address and publishes its port."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_proc import free_port_on, sofs, wait_for

from sofs.cluster.client import ClusterClient
from sofs.cluster.config import load_cluster_config
from sofs.handlestate.api import FileFacts, NotCoordinator
from sofs.server.coordlink_client import RemoteService
from sofs.server.coordlink_proto import LinkRefused, Reason

ADDRESSES = ["127.0.0.11", "127.0.0.12"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "cluster"
    r = sofs("cluster", "up", "2", "--name", "lk", "--state-dir", str(state),
             "--smb-port", str(free_port_on(ADDRESSES)))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield state
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


class NullSink:
    def oplock_break(self, persistent_id: int, level: int) -> bool:
        return True

    def lease_break(self, *args: object) -> bool:
        return True

    async def revoked(self, persistent_id: int) -> None:
        pass

    def watching(self, on: bool) -> None:
        pass

    async def file_facts(self, facts: FileFacts) -> None:
        pass


def test_every_node_listens_for_links_with_the_cluster_secret(cluster: Path) -> None:
    async def go() -> None:
        cfg = load_cluster_config(cluster)
        assert cfg is not None
        client = await ClusterClient.connect(cfg)
        try:
            async def ports() -> dict[str, tuple[str, int]] | None:
                nodes = await client.get_nodes()
                return {n.name: (n.address, n.link_port) for n in nodes} if all(n.link_port for n in nodes) else None
            found = await wait_for(ports, 30, "both nodes to publish their link port")
            secret = await client.link_secret()
        finally:
            await client.close()
        for name, (address, port) in found.items():
            assert address == ADDRESSES[int(name[1:]) - 1]
            # authenticated and answered: no coordinator registered for that volume (yet)
            with pytest.raises(NotCoordinator, match="does not coordinate 'Volume1'"):
                await RemoteService.connect(address, port, secret=secret, name="t", volume="Volume1",
                                            sink=NullSink())
            with pytest.raises(LinkRefused) as e:
                await RemoteService.connect(address, port, secret=b"x" * 32, name="t", volume="Volume1",
                                            sink=NullSink())
            assert e.value.reason == Reason.AUTH
    asyncio.run(go())
