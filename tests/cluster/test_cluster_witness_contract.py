"""The Witness contract, reused by every witness backend (sofs.cluster.witness).

A backend test module subclasses :class:`WitnessContract` as ``TestXxx`` and provides a ``wh``
fixture returning a :class:`WitnessHarness`: ``make()`` builds a new witness client (a new "node")
of the same witness, ``unreachable()`` one pointed at a witness that cannot be reached. The disk
witness runs the contract here; the file-share and cloud witnesses in their own modules. Real time
is used (the point is the real mechanisms); TTLs are short except the cloud's (Azure minimum 15 s).
"""
from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sofs.cluster.witness import Witness, from_config
from sofs.cluster.witness_disk import DiskWitness


@dataclass
class WitnessHarness:
    make: Callable[[], Witness]
    unreachable: Callable[[], Witness]
    ttl: float


def contract(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(self: Any, wh: WitnessHarness) -> None:
        asyncio.run(asyncio.wait_for(fn(self, wh), 120))

    del wrapper.__wrapped__  # type: ignore[attr-defined]  # pytest must see (self, wh)
    return wrapper


def cluster_id() -> str:
    return "c" + uuid.uuid4().hex[:10]


class WitnessContract:
    @contract
    async def test_two_claimants_one_wins(self, wh: WitnessHarness) -> None:
        cid = cluster_id()
        a, b = wh.make(), wh.make()
        try:
            ca, cb = await asyncio.gather(a.acquire(cid, "n1", 3), b.acquire(cid, "n2", 3))
            assert (ca is None) != (cb is None), (ca, cb)
            claim = ca or cb
            assert claim is not None and claim.cluster_id == cid and claim.epoch == 3
            assert claim.valid_until > time.monotonic()
            loser = b if ca else a
            assert await loser.acquire(cid, "n3", 3) is None
            loser.cluster_id = cid
            st = await loser.probe()
            assert st.reachable and st.holder == claim.node and st.epoch == 3, st
            holder = a if ca else b
            again = await holder.acquire(cid, claim.node, 4)   # take-or-renew by the holder
            assert again is not None and again.generation == claim.generation and again.epoch == 4
        finally:
            await a.close()
            await b.close()

    @contract
    async def test_holder_stops_renewing_other_wins_after_ttl(self, wh: WitnessHarness) -> None:
        cid = cluster_id()
        a, b = wh.make(), wh.make()
        try:
            ca = await a.acquire(cid, "n1", 1)
            assert ca is not None
            t0 = time.monotonic()
            cb = None
            while cb is None and time.monotonic() - t0 < wh.ttl * 3 + 5:
                cb = await b.acquire(cid, "n2", 2)
                if cb is None:
                    await asyncio.sleep(wh.ttl / 10)
            took = time.monotonic() - t0
            assert cb is not None and cb.generation > ca.generation
            assert took >= wh.ttl * 0.9, took   # never before the holder's claim ran out
            assert time.monotonic() >= ca.valid_until
            print(f"{b.kind} witness: dead holder replaced after {took:.2f} s (ttl {wh.ttl} s)")
            assert await a.renew(ca) is None    # the stale holder learns it lost
            b.cluster_id = cid
            assert (await b.probe()).holder == "n2"
        finally:
            await a.close()
            await b.close()

    @contract
    async def test_renewing_holder_keeps_it(self, wh: WitnessHarness) -> None:
        cid = cluster_id()
        a, b = wh.make(), wh.make()
        try:
            claim = await a.acquire(cid, "n1", 1)
            assert claim is not None
            end = time.monotonic() + wh.ttl * 1.25
            while time.monotonic() < end:
                assert await b.acquire(cid, "n2", 1) is None
                await asyncio.sleep(wh.ttl / 4)
                renewed = await a.renew(claim)
                assert renewed is not None and renewed.valid_until > claim.valid_until
                claim = renewed
        finally:
            await a.close()
            await b.close()

    @contract
    async def test_release_frees_at_once(self, wh: WitnessHarness) -> None:
        cid = cluster_id()
        a, b = wh.make(), wh.make()
        try:
            ca = await a.acquire(cid, "n1", 1)
            assert ca is not None
            await a.release(ca)
            b.cluster_id = cid
            assert (await b.probe()).holder is None
            cb = await b.acquire(cid, "n2", 1)
            assert cb is not None
        finally:
            await a.close()
            await b.close()

    @contract
    async def test_unreachable_fails_fast(self, wh: WitnessHarness) -> None:
        w = wh.unreachable()
        try:
            t0 = time.monotonic()
            assert await w.acquire(cluster_id(), "n1", 1) is None
            st = await w.probe()
            assert not st.reachable and st.detail
            assert time.monotonic() - t0 < 2 * w.timeout + 2
        finally:
            await w.close()

    @contract
    async def test_from_config_round_trip(self, wh: WitnessHarness) -> None:
        cid = cluster_id()
        a = wh.make()
        try:
            claim = await a.acquire(cid, "n1", 9)
            assert claim is not None
            b = from_config({**a.config(), "cluster_id": cid})
            try:
                assert type(b) is type(a)
                st = await b.probe()
                assert st.reachable and st.holder == "n1" and st.epoch == 9
            finally:
                await b.close()
        finally:
            await a.close()


class TestDiskWitnessContract(WitnessContract):
    @pytest.fixture
    def wh(self, tmp_path: Path) -> WitnessHarness:
        return WitnessHarness(
            make=lambda: DiskWitness(str(tmp_path / "witness"), ttl=0.5, timeout=1.0),
            unreachable=lambda: DiskWitness(str(tmp_path / "no-such-volume" / "w"), ttl=0.5, timeout=1.0),
            ttl=0.5,
        )
