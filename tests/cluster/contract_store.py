"""The ClusterStore contract suite, reused by every backend's test file.

Usage from a backend test module (see test_cluster_store_embedded.py)::

    from contract_store import StoreContract, StoreHarness

    class TestMyStore(StoreContract):
        @pytest.fixture
        def harness(self, tmp_path) -> Iterator[StoreHarness]:
            yield MyHarness(...)

A harness gives the suite three things (see :class:`StoreHarness`): ``open()`` a new client of the
*same* store, ``advance(seconds)`` to let lease time pass (a fake clock bump for the embedded store,
a real sleep for etcd), and optionally ``child_opener`` so that another *process* can open the same
store for the multi-process race. Each test works under its own random key prefix, so one store may
be shared by the whole suite. Tests are sync functions running their body with ``asyncio.run``
(pytest-asyncio is not installed).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol

import pytest

from sofs.cluster.store import (
    KV,
    ClusterStore,
    Compare,
    Delete,
    EventType,
    LeaseId,
    LeaseNotFound,
    Put,
    StoreClosed,
    WatchEvent,
)

STEP_TIMEOUT = 15.0


class StoreHarness(Protocol):
    lease_ttl: float
    """TTL (seconds) the suite grants; the backend may round it up."""

    async def open(self) -> ClusterStore:
        """A new client connected to the same store as every other ``open()`` of this harness."""

    async def advance(self, seconds: float) -> None:
        """Let at least ``seconds`` of lease time pass (fake clock: bump; real backend: sleep)."""

    @property
    def child_opener(self) -> Callable[[], Awaitable[ClusterStore]] | None:
        """A picklable zero-arg async callable opening the same store in a child process, or None."""


def contract(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Turn ``async def test_x(self, harness)`` into a sync pytest test with a fresh event loop."""

    @functools.wraps(fn)
    def wrapper(self: Any, harness: StoreHarness) -> None:
        asyncio.run(asyncio.wait_for(fn(self, harness), 120))

    del wrapper.__wrapped__  # type: ignore[attr-defined]  # pytest must see (self, harness)
    return wrapper


@contextlib.asynccontextmanager
async def clients(h: StoreHarness, n: int = 1) -> AsyncIterator[list[ClusterStore]]:
    stores = [await h.open() for _ in range(n)]
    try:
        yield stores
    finally:
        for s in stores:
            await s.close()


def prefix() -> str:
    return f"/contract/{uuid.uuid4().hex}/"


async def next_event(events: AsyncIterator[WatchEvent]) -> WatchEvent:
    return await asyncio.wait_for(events.__anext__(), STEP_TIMEOUT)


async def _race_child(opener: Callable[[], Awaitable[ClusterStore]], key: str, rev: int, me: str) -> bool:
    store = await opener()
    try:
        return await store.cas(key, me.encode(), rev)
    finally:
        await store.close()


def _race_entry(opener: Callable[[], Awaitable[ClusterStore]], key: str, rev: int, me: str,
                start: Any, out: Any) -> None:
    start.wait(30)
    out.put((me, asyncio.run(_race_child(opener, key, rev, me))))


class StoreContract:
    """Every backend must pass these. Subclass as ``TestXxx`` and provide a ``harness`` fixture."""

    # ---- single keys ----

    @contract
    async def test_get_absent_is_none(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            assert await s.get(prefix() + "nope") is None

    @contract
    async def test_put_get_versions_and_revisions(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            k = prefix() + "k"
            r1 = await s.put(k, b"a")
            kv1 = await s.get(k)
            assert kv1 == KV(k, b"a", r1, r1, 1, None)
            r2 = await s.put(k, b"b")
            assert r2 > r1
            kv2 = await s.get(k)
            assert kv2 is not None
            assert (kv2.value, kv2.mod_revision, kv2.create_revision, kv2.version) == (b"b", r2, r1, 2)
            assert await s.revision() >= r2

    @contract
    async def test_values_are_bytes_verbatim(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            k = prefix() + "bin"
            blob = bytes(range(256)) * 4
            await s.put(k, blob)
            kv = await s.get(k)
            assert kv is not None and kv.value == blob
            await s.put(k, b"")
            kv = await s.get(k)
            assert kv is not None and kv.value == b""

    @contract
    async def test_create_if_absent(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            k = prefix() + "c"
            assert await s.create(k, b"1") is True
            assert await s.create(k, b"2") is False
            kv = await s.get(k)
            assert kv is not None and kv.value == b"1"

    @contract
    async def test_cas(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            k = prefix() + "cas"
            assert await s.cas(k, b"x", 0) is True  # 0 = absent
            kv = await s.get(k)
            assert kv is not None
            assert await s.cas(k, b"y", 0) is False
            assert await s.cas(k, b"y", kv.mod_revision + 1000) is False
            assert await s.cas(k, b"y", kv.mod_revision) is True
            assert await s.cas(k, b"z", kv.mod_revision) is False  # stale token
            kv2 = await s.get(k)
            assert kv2 is not None and kv2.value == b"y" and kv2.mod_revision > kv.mod_revision

    @contract
    async def test_cas_is_aba_safe_across_recreate(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            k = prefix() + "aba"
            await s.put(k, b"v")
            old = await s.get(k)
            assert old is not None
            await s.delete(k)
            await s.put(k, b"v")
            new = await s.get(k)
            assert new is not None and new.version == 1 and new.mod_revision != old.mod_revision
            assert await s.cas(k, b"w", old.mod_revision) is False

    @contract
    async def test_delete_and_cas_delete(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            k = prefix() + "d"
            assert await s.delete(k) is False
            await s.put(k, b"1")
            kv = await s.get(k)
            assert kv is not None
            assert await s.cas_delete(k, kv.mod_revision + 1) is False
            assert await s.get(k) is not None
            assert await s.cas_delete(k, kv.mod_revision) is True
            assert await s.get(k) is None
            await s.put(k, b"2")
            assert await s.delete(k) is True
            assert await s.get(k) is None

    @contract
    async def test_list_prefix_sorted_snapshot(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            for name in ["b", "a", "c/x", "c/y"]:
                await s.put(p + name, name.encode())
            await s.put(p[:-1] + "-other", b"not mine")
            listing = await s.list(p)
            assert [kv.key for kv in listing.kvs] == [p + "a", p + "b", p + "c/x", p + "c/y"]
            assert listing.revision >= max(kv.mod_revision for kv in listing.kvs)
            assert [kv.key for kv in (await s.list(p + "c/")).kvs] == [p + "c/x", p + "c/y"]
            assert (await s.list(p + "zzz")).kvs == ()

    @contract
    async def test_delete_prefix_single_revision(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            for name in ["a", "b", "c"]:
                await s.put(p + "del/" + name, b"")
            await s.put(p + "keep", b"")
            before = await s.revision()
            assert await s.delete_prefix(p + "del/") == 3
            assert await s.revision() == before + 1
            assert [kv.key for kv in (await s.list(p)).kvs] == [p + "keep"]
            with pytest.raises(ValueError):
                await s.delete_prefix("")

    # ---- transactions ----

    @contract
    async def test_txn_success_and_failure_branches(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            await s.put(p + "a", b"1")
            a = await s.get(p + "a")
            assert a is not None
            res = await s.txn(
                [Compare(p + "a", mod_revision=a.mod_revision), Compare(p + "b", mod_revision=0)],
                [Put(p + "a", b"2"), Put(p + "b", b"new"), Delete(p + "zz")],
                [Put(p + "fail", b"x")],
            )
            assert res.succeeded
            a2, b2 = await s.get(p + "a"), await s.get(p + "b")
            assert a2 is not None and b2 is not None
            assert a2.value == b"2" and b2.value == b"new"
            assert a2.mod_revision == b2.mod_revision == res.revision  # one revision
            assert await s.get(p + "fail") is None
            res2 = await s.txn(
                [Compare(p + "a", mod_revision=a.mod_revision)], [Put(p + "a", b"3")], [Put(p + "fail", b"x")]
            )
            assert not res2.succeeded
            a3 = await s.get(p + "a")
            assert a3 is not None and a3.value == b"2"
            assert (await s.get(p + "fail")) is not None

    @contract
    async def test_txn_value_and_exists_compares(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            await s.put(p + "v", b"on")
            assert (await s.txn([Compare(p + "v", value=b"on")], [Put(p + "r", b"1")])).succeeded
            assert not (await s.txn([Compare(p + "v", value=b"off")], [Put(p + "r", b"2")])).succeeded
            assert (await s.txn([Compare(p + "v")], [Delete(p + "v")])).succeeded
            assert not (await s.txn([Compare(p + "v")], [Put(p + "r", b"3")])).succeeded
            assert not (await s.txn([Compare(p + "v", value=b"")], [Put(p + "r", b"4")])).succeeded
            r = await s.get(p + "r")
            assert r is not None and r.value == b"1"

    @contract
    async def test_txn_failure_branch_empty_changes_nothing(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            before = await s.revision()
            res = await s.txn([Compare(p + "x", value=b"nope")], [Put(p + "x", b"1")])
            assert not res.succeeded
            assert await s.get(p + "x") is None
            assert res.revision >= before

    @contract
    async def test_concurrent_cas_exactly_one_wins(self, h: StoreHarness) -> None:
        async with clients(h, 4) as stores:
            k = prefix() + "race"
            await stores[0].put(k, b"start")
            kv = await stores[0].get(k)
            assert kv is not None
            results = await asyncio.gather(
                *(st.cas(k, f"w{i}".encode(), kv.mod_revision) for i, st in enumerate(stores))
            )
            assert sum(results) == 1
            winner = results.index(True)
            final = await stores[1].get(k)
            assert final is not None and final.value == f"w{winner}".encode()

    @contract
    async def test_concurrent_create_exactly_one_wins(self, h: StoreHarness) -> None:
        async with clients(h, 4) as stores:
            k = prefix() + "create-race"
            results = await asyncio.gather(*(st.create(k, f"w{i}".encode()) for i, st in enumerate(stores)))
            assert sum(results) == 1

    def test_multiprocess_cas_race(self, harness: StoreHarness) -> None:
        opener = harness.child_opener
        if opener is None:
            pytest.skip("harness has no child_opener")

        async def setup() -> tuple[str, int]:
            async with clients(harness) as (s,):
                k = prefix() + "mp-race"
                await s.put(k, b"start")
                kv = await s.get(k)
                assert kv is not None
                return k, kv.mod_revision

        key, rev = asyncio.run(setup())
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_race_entry, args=(opener, key, rev, f"p{i}", start, out))
                 for i in range(4)]
        for p in procs:
            p.start()
        start.set()
        results = dict(out.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(30)
        assert sum(results.values()) == 1, results
        winner = next(name for name, won in results.items() if won)

        async def check() -> None:
            async with clients(harness) as (s,):
                kv = await s.get(key)
                assert kv is not None and kv.value == winner.encode()

        asyncio.run(check())

    # ---- leases ----

    @contract
    async def test_lease_keys_vanish_when_not_renewed(self, h: StoreHarness) -> None:
        async with clients(h, 2) as (s, other):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            ttl = await s.lease_ttl(lease)
            assert ttl is not None and 0 < ttl <= max(h.lease_ttl, 1.0) * 1.01 + 1
            assert await s.create(p + "hb", b"alive", lease=lease)
            await s.put(p + "plain", b"stays")
            kv = await other.get(p + "hb")
            assert kv is not None and kv.lease == lease
            await h.advance(h.lease_ttl * 1.5)
            assert await other.get(p + "hb") is None
            assert await other.get(p + "plain") is not None
            assert await s.lease_ttl(lease) is None
            with pytest.raises(LeaseNotFound):
                await s.keepalive(lease)

    @contract
    async def test_keepalive_extends_lease(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            await s.put(p + "hb", b"x", lease=lease)
            for _ in range(3):
                await h.advance(h.lease_ttl * 0.6)
                assert await s.keepalive(lease) > 0
            assert await s.get(p + "hb") is not None
            await h.advance(h.lease_ttl * 1.5)
            assert await s.get(p + "hb") is None

    @contract
    async def test_revoke_deletes_keys_now(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            await s.put(p + "a", b"1", lease=lease)
            await s.put(p + "b", b"2", lease=lease)
            await s.revoke(lease)
            assert (await s.list(p)).kvs == ()
            await s.revoke(lease)  # unknown lease: not an error
            with pytest.raises(LeaseNotFound):
                await s.keepalive(lease)

    @contract
    async def test_put_with_unknown_lease_fails_and_changes_nothing(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            await s.revoke(lease)
            with pytest.raises(LeaseNotFound):
                await s.put(p + "k", b"1", lease=lease)
            with pytest.raises(LeaseNotFound):
                await s.txn([], [Put(p + "k2", b"1"), Put(p + "k", b"1", lease=lease)])
            assert (await s.list(p)).kvs == ()

    @contract
    async def test_put_without_lease_detaches(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            await s.put(p + "k", b"1", lease=lease)
            await s.put(p + "k", b"2")
            kv = await s.get(p + "k")
            assert kv is not None and kv.lease is None
            await s.revoke(lease)
            assert await s.get(p + "k") is not None

    @contract
    async def test_cas_with_lease_attaches(self, h: StoreHarness) -> None:
        async with clients(h) as (s,):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            assert await s.cas(p + "owner", b"n1", 0, lease=lease)
            await s.revoke(lease)
            assert await s.get(p + "owner") is None

    # ---- watch ----

    @contract
    async def test_watch_from_revision_sees_everything_in_order(self, h: StoreHarness) -> None:
        async with clients(h, 2) as (s, w):
            p = prefix()
            start = await s.revision() + 1
            r1 = await s.put(p + "a", b"1")
            r2 = await s.put(p + "b", b"2")
            await s.put(prefix() + "elsewhere", b"x")
            r3 = await s.put(p + "a", b"3")
            assert await s.delete(p + "b")
            async with contextlib.aclosing(w.watch(p, start)) as events:
                got = [await next_event(events) for _ in range(4)]
                assert [(e.type, e.key, e.kv.value) for e in got] == [
                    (EventType.PUT, p + "a", b"1"),
                    (EventType.PUT, p + "b", b"2"),
                    (EventType.PUT, p + "a", b"3"),
                    (EventType.DELETE, p + "b", b""),
                ]
                assert [e.revision for e in got[:3]] == [r1, r2, r3]
                assert got[3].revision > r3
                assert got[2].kv.version == 2 and got[2].kv.create_revision == r1
                # live events after the replay
                r5 = await s.put(p + "c", b"5")
                e = await next_event(events)
                assert (e.type, e.key, e.revision) == (EventType.PUT, p + "c", r5)

    @contract
    async def test_watch_without_start_skips_history(self, h: StoreHarness) -> None:
        async with clients(h, 2) as (s, w):
            p = prefix()
            await s.put(p + "old", b"1")
            async with contextlib.aclosing(w.watch(p)) as events:
                pending = asyncio.ensure_future(events.__anext__())
                for i in range(200):  # the watch is set up asynchronously: write until seen
                    await s.put(p + "new", str(i).encode())
                    done, _ = await asyncio.wait([pending], timeout=0.05)
                    if done:
                        break
                ev = await asyncio.wait_for(pending, STEP_TIMEOUT)
                assert ev.key == p + "new"

    @contract
    async def test_watch_txn_events_share_revision(self, h: StoreHarness) -> None:
        async with clients(h, 2) as (s, w):
            p = prefix()
            start = await s.revision() + 1
            res = await s.txn([], [Put(p + "x", b"1"), Put(p + "y", b"2")])
            async with contextlib.aclosing(w.watch(p, start)) as events:
                got = [await next_event(events) for _ in range(2)]
            assert {e.key for e in got} == {p + "x", p + "y"}
            assert {e.revision for e in got} == {res.revision}

    @contract
    async def test_watch_sees_lease_expiry_as_deletes(self, h: StoreHarness) -> None:
        async with clients(h, 2) as (s, w):
            p = prefix()
            lease = await s.grant(h.lease_ttl)
            await s.put(p + "hb1", b"", lease=lease)
            await s.put(p + "hb2", b"", lease=lease)
            start = await s.revision() + 1
            await h.advance(h.lease_ttl * 1.5)
            assert await w.get(p + "hb1") is None
            async with contextlib.aclosing(w.watch(p, start)) as events:
                got = [await next_event(events) for _ in range(2)]
            assert {(e.type, e.key) for e in got} == {(EventType.DELETE, p + "hb1"), (EventType.DELETE, p + "hb2")}
            assert got[0].revision == got[1].revision

    @contract
    async def test_two_watchers_see_the_same_sequence(self, h: StoreHarness) -> None:
        async with clients(h, 3) as (s, w1, w2):
            p = prefix()
            start = await s.revision() + 1
            for i in range(10):
                await s.put(p + f"k{i % 3}", str(i).encode())
            seqs = []
            for w in (w1, w2):
                async with contextlib.aclosing(w.watch(p, start)) as events:
                    seqs.append([(e.revision, e.key, e.kv.value) for e in [await next_event(events)
                                                                           for _ in range(10)]])
            assert seqs[0] == seqs[1]
            assert [r for r, _, _ in seqs[0]] == sorted(r for r, _, _ in seqs[0])

    # ---- lifecycle ----

    @contract
    async def test_close_is_idempotent_and_final(self, h: StoreHarness) -> None:
        s = await h.open()
        await s.put(prefix() + "k", b"1")
        await s.close()
        await s.close()
        with pytest.raises(StoreClosed):
            await s.get(prefix() + "k")

    @contract
    async def test_data_shared_between_clients(self, h: StoreHarness) -> None:
        async with clients(h, 2) as (a, b):
            k = prefix() + "shared"
            rev = await a.put(k, b"from a")
            kv = await b.get(k)
            assert kv is not None and kv.value == b"from a" and kv.mod_revision == rev
            assert await b.cas(k, b"from b", rev)
            kv = await a.get(k)
            assert kv is not None and kv.value == b"from b"


__all__ = ["LeaseId", "StoreContract", "StoreHarness", "clients", "contract", "next_event", "prefix"]
