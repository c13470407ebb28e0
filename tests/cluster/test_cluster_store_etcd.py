"""EtcdStore against a real 3-member etcd cluster on loopback: the ClusterStore contract suite,
the same suite again with the member the clients connect to killed, and failover mid-operation."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from contract_store import StoreContract, next_event, prefix
from etcd_fixture import EtcdCluster, etcd_available

from sofs.cluster.store import ClusterStore, EventType
from sofs.cluster.store_etcd import EtcdStore, open_etcd_store, prefix_end

pytestmark = [
    pytest.mark.etcd,
    pytest.mark.skipif(not etcd_available(), reason="etcd not installed (Debian package etcd-server)"),
]

LEASE_TTL = 1.0  # etcd's minimum with election-timeout 500 ms
REAP_DELAY = 0.7  # etcd checks for expired leases every 500 ms, then revokes through raft


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    c = EtcdCluster(tmp_path_factory.mktemp("etcd"), 3)
    c.start()
    try:
        yield c
    finally:
        c.stop()


class EtcdHarness:
    lease_ttl = LEASE_TTL

    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = endpoints

    async def open(self) -> ClusterStore:
        return EtcdStore(self.endpoints)

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds + (REAP_DELAY if seconds >= self.lease_ttl else 0.0))

    @property
    def child_opener(self) -> Callable[[], Awaitable[ClusterStore]]:
        return functools.partial(open_etcd_store, self.endpoints)


def test_prefix_end() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\x00"
    assert prefix_end(b"") == b"\x00"


class TestEtcdStore(StoreContract):
    @pytest.fixture
    def harness(self, cluster: EtcdCluster) -> EtcdHarness:
        return EtcdHarness(cluster.endpoints)


@pytest.fixture(scope="class")
def degraded(cluster: EtcdCluster) -> Iterator[EtcdCluster]:
    """Member 0, the first endpoint every new client talks to, is dead for the whole class."""
    cluster.kill(0)
    try:
        yield cluster
    finally:
        cluster.restart(0)


class TestEtcdStoreMemberDown(StoreContract):
    """The whole contract again with the clients' first endpoint killed: every client fails over."""

    @pytest.fixture
    def harness(self, degraded: EtcdCluster) -> EtcdHarness:
        return EtcdHarness(degraded.endpoints)


def test_kill_connected_member_mid_use(cluster: EtcdCluster) -> None:
    """A client with a lease and an open watch loses the member it talks to; everything goes on."""
    async def main() -> None:
        s = EtcdStore(cluster.endpoints)
        w = EtcdStore(cluster.endpoints)
        p = prefix()
        lease = await s.grant(5)
        await s.put(p + "hb", b"1", lease=lease)
        start = await s.revision() + 1
        rev = await s.put(p + "k", b"before")
        async with contextlib.aclosing(w.watch(p, start)) as events:
            first = await next_event(events)
            assert (first.key, first.revision) == (p + "k", rev)
            victim = cluster.endpoints.index(s.current_endpoint)
            assert victim == cluster.endpoints.index(w.current_endpoint)
            cluster.kill(victim)
            try:
                t0 = time.monotonic()
                rev2 = await s.put(p + "k", b"after")      # fails over, retried: put is safe to repeat
                failover_s = time.monotonic() - t0
                assert s.current_endpoint != cluster.endpoints[victim]
                assert await s.cas(p + "k", b"cas", rev2)
                assert await s.keepalive(lease) > 0
                kv = await s.get(p + "hb")
                assert kv is not None and kv.lease == lease
                got = [await next_event(events) for _ in range(2)]   # the watch resumes, no gap
                assert [(e.type, e.kv.value) for e in got] == [(EventType.PUT, b"after"),
                                                               (EventType.PUT, b"cas")]
                assert got[0].revision == rev2
                print(f"failover after member kill: {failover_s * 1000:.0f} ms")
            finally:
                cluster.restart(victim)
        await s.close()
        await w.close()
    asyncio.run(main())


def test_no_quorum_is_loud(tmp_path: Path) -> None:
    """With 2 of 3 members dead every operation raises StoreUnavailable within the timeout."""
    from sofs.cluster.store import StoreUnavailable

    async def main(c: EtcdCluster) -> None:
        s = EtcdStore(c.endpoints, timeout=2.0, attempt_timeout=0.5)
        await s.put("/q/k", b"1")
        c.kill(0)
        c.kill(1)
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await s.get("/q/k")
        with pytest.raises(StoreUnavailable):
            await s.cas("/q/k", b"2", 1)
        assert time.monotonic() - t0 < 6
        await s.close()

    with EtcdCluster(tmp_path, 3) as c:
        asyncio.run(main(c))


def test_measure_cas_latency(cluster: EtcdCluster) -> None:
    """Not a benchmark: prints the CAS round trip (3 members, loopback) for the report."""
    async def main() -> None:
        s = EtcdStore(cluster.endpoints)
        k = prefix() + "lat"
        await s.put(k, b"0")
        kv = await s.get(k)
        assert kv is not None
        rev, n, raced = kv.mod_revision, 200, 0
        t0 = time.perf_counter()
        for i in range(n):
            # our write gets the next *global* revision, unless another test's write (a lease expiring
            # in the shared etcd) came in between: then read the current revision and redo the CAS
            if not await s.cas(k, str(i).encode(), rev):
                raced += 1
                kv = await s.get(k)
                assert kv is not None and await s.cas(k, str(i).encode(), kv.mod_revision)
                rev = kv.mod_revision
            rev += 1
        dt = (time.perf_counter() - t0) / n
        print(f"etcd CAS latency: {dt * 1e3:.2f} ms/op over {n} sequential ops ({raced} re-reads)")
        await s.close()
    asyncio.run(main())
