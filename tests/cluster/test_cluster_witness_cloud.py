"""Cloud witness (Azure Blob lease through azure-storage-blob) against the Azurite emulator."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from azurite_fixture import ACCOUNT, KEY, Azurite, azurite_skip_reason
from etcd_fixture import free_ports
from test_cluster_witness_contract import WitnessContract, WitnessHarness

from sofs.cluster.witness_cloud import CloudWitness, blob_endpoint, lease_id_for

pytestmark = pytest.mark.azurite
TTL = 15  # the shortest lease Azure (and Azurite) grant
_skip = azurite_skip_reason()


def test_lease_ttl_clamped_and_ids_stable() -> None:
    assert CloudWitness(ACCOUNT, KEY, ttl=1).ttl == 15
    assert CloudWitness(ACCOUNT, KEY, ttl=600).ttl == 60
    assert lease_id_for("c", "n1") == lease_id_for("c", "n1") != lease_id_for("c", "n2")


def test_blob_endpoint() -> None:
    assert blob_endpoint("acct", None) == "https://acct.blob.core.windows.net"
    assert blob_endpoint("acct", "core.usgovcloudapi.net") == "https://acct.blob.core.usgovcloudapi.net"
    assert blob_endpoint("a", "http://127.0.0.1:10000/a/") == "http://127.0.0.1:10000/a"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if _skip:
        pytest.skip(_skip)
    with Azurite(tmp_path_factory.mktemp("azurite")) as a:
        yield a


class TestCloudWitness(WitnessContract):
    @pytest.fixture
    def wh(self, azurite: Azurite) -> WitnessHarness:
        dead = f"http://127.0.0.1:{free_ports(1)[0]}/{ACCOUNT}"
        return WitnessHarness(
            make=lambda: CloudWitness(ACCOUNT, KEY, endpoint=azurite.endpoint, ttl=TTL, timeout=3.0),
            unreachable=lambda: CloudWitness(ACCOUNT, KEY, endpoint=dead, ttl=TTL, timeout=1.0),
            ttl=TTL,
        )

    # these two wait out the 15 s minimum lease (15-20 s each): slow, to keep the default run short
    @pytest.mark.slow
    def test_holder_stops_renewing_other_wins_after_ttl(self, wh: WitnessHarness) -> None:
        WitnessContract.test_holder_stops_renewing_other_wins_after_ttl(self, wh)

    @pytest.mark.slow
    def test_renewing_holder_keeps_it(self, wh: WitnessHarness) -> None:
        WitnessContract.test_renewing_holder_keeps_it(self, wh)


def test_restarted_node_retakes_its_own_lease(azurite: Azurite) -> None:
    """Same (cluster, node) → same lease id: a restarted node renews instead of waiting 15 s."""
    async def main() -> None:
        a1 = CloudWitness(ACCOUNT, KEY, endpoint=azurite.endpoint, ttl=TTL)
        c1 = await a1.acquire("restart", "n1", 1)
        assert c1 is not None
        await a1.close()
        a2 = CloudWitness(ACCOUNT, KEY, endpoint=azurite.endpoint, ttl=TTL)   # "after a restart"
        c2 = await a2.acquire("restart", "n1", 2)
        assert c2 is not None and c2.generation == c1.generation and c2.token == c1.token
        await a2.release(c2)
        await a2.close()
    asyncio.run(main())


def test_break_lease_frees_it(azurite: Azurite) -> None:
    async def main() -> None:
        a = CloudWitness(ACCOUNT, KEY, endpoint=azurite.endpoint, ttl=TTL, cluster_id="brk")
        b = CloudWitness(ACCOUNT, KEY, endpoint=azurite.endpoint, ttl=TTL, cluster_id="brk")
        ca = await a.acquire("brk", "n1", 1)
        assert ca is not None
        assert await b.acquire("brk", "n2", 1) is None
        await b.break_lease()
        assert (await b.probe()).holder is None
        cb = await b.acquire("brk", "n2", 1)
        assert cb is not None and cb.generation == ca.generation + 1
        assert await a.renew(ca) is None
        await a.close()
        await b.close()
    asyncio.run(main())


def test_bad_key_is_unreachable(azurite: Azurite) -> None:
    async def main() -> None:
        w = CloudWitness(ACCOUNT, "d3Jvbmcga2V5", endpoint=azurite.endpoint, ttl=TTL, timeout=3)
        assert await w.acquire("badkey", "n1", 1) is None
        st = await w.probe()
        assert not st.reachable
        await w.close()
    asyncio.run(main())
