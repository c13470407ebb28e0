"""The ClusterStore contract on the embedded SQLite backend, plus its own specifics."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from contract_store import StoreContract, next_event, prefix

from sofs.cluster.store import ClusterStore, StoreUnavailable, WatchCompacted
from sofs.cluster.store_embedded import EmbeddedStore, prefix_end


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class EmbeddedHarness:
    lease_ttl = 10.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = FakeClock()

    async def open(self) -> ClusterStore:
        return await EmbeddedStore.open(self.path, clock=self.clock, poll_interval=0.002)

    async def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    @property
    def child_opener(self) -> Callable[[], Awaitable[ClusterStore]]:
        return functools.partial(EmbeddedStore.open, str(self.path))


class TestEmbeddedStoreContract(StoreContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> EmbeddedHarness:
        return EmbeddedHarness(tmp_path / "state")


def test_prefix_end() -> None:
    assert prefix_end("") is None
    assert prefix_end("/a/") == "/a0"
    assert "/a/zzz" < prefix_end("/a/")  # type: ignore[operator]


def test_watch_compacted(tmp_path: Path) -> None:
    async def body() -> None:
        s = await EmbeddedStore.open(tmp_path, history=5, poll_interval=0.001)
        p = prefix()
        for i in range(1001):
            await s.put(p + "k", str(i).encode())
        with pytest.raises(WatchCompacted):
            async with contextlib.aclosing(s.watch(p, 1)) as events:
                await next_event(events)
        rev = await s.revision()
        async with contextlib.aclosing(s.watch(p, rev)) as events:
            assert (await next_event(events)).revision == rev
        await s.close()

    asyncio.run(body())


def test_leases_from_another_boot_are_expired(tmp_path: Path) -> None:
    async def body() -> None:
        s = await EmbeddedStore.open(tmp_path)
        lease = await s.grant(1000)
        await s.put("/hb", b"", lease=lease)
        await s.close()
        con = sqlite3.connect(tmp_path / "store.sqlite")
        con.execute("UPDATE meta SET value='other-boot' WHERE name='boot_id'")
        con.commit()
        con.close()
        s = await EmbeddedStore.open(tmp_path)
        assert await s.get("/hb") is None
        await s.close()

    asyncio.run(body())


def test_locked_database_is_unavailable(tmp_path: Path) -> None:
    async def body() -> None:
        s = await EmbeddedStore.open(tmp_path, busy_timeout_s=0.05)
        con = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable):
                await s.put("/k", b"1")
        finally:
            con.execute("ROLLBACK")
            con.close()
        await s.put("/k", b"1")
        await s.close()

    asyncio.run(body())


def test_injected_poll_wait_drives_watch(tmp_path: Path) -> None:
    async def body() -> None:
        polls = 0

        async def poll_wait() -> None:
            nonlocal polls
            polls += 1
            await asyncio.sleep(0)

        s = await EmbeddedStore.open(tmp_path, poll_wait=poll_wait)
        start = await s.revision() + 1
        async with contextlib.aclosing(s.watch("/w/", start)) as events:
            task = asyncio.ensure_future(next_event(events))
            while polls < 3:
                await asyncio.sleep(0)
            await s.put("/w/x", b"1")
            assert (await task).key == "/w/x"
        await s.close()

    asyncio.run(body())
