"""Gathering the nodes' logs through the store (sofs.management.logs_gather): the reply's encoding
(round trip, size cap keeps the newest rows), and the request/answer protocol over a real embedded store
with two responders, each on a state directory of its own."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sofs.cluster.store_embedded import open_embedded
from sofs.management.events import ClusterEvent, append_events
from sofs.management.logs_gather import (
    LogResponder,
    NodeLog,
    collect,
    decode_reply,
    encode_reply,
    gather,
    logs_prefix,
)


def test_reply_round_trip_and_cap() -> None:
    nl = NodeLog("n1", [ClusterEvent(10.0, "n1", "NodeUp", "n2", "node n2 is Up", details={"to": "Up"})],
                 [(float(i), f"line {i} " + "x" * 100) for i in range(100)])
    chunks, cut = encode_reply(nl, chunk=1000)
    assert not cut and len(chunks) > 5 and all(len(c) <= 1000 for c in chunks)
    back = decode_reply("n1", chunks, cut)
    assert back.events == nl.events and back.lines == nl.lines
    chunks, cut = encode_reply(nl, chunk=1000, cap=2000)
    back = decode_reply("n1", chunks, cut)
    assert cut and back.lines[-1] == nl.lines[-1] and len(back.lines) < 20  # the newest kept
    assert logs_prefix("/sofs/") == "/sofs.logs/"


def test_gather_from_responders_with_their_own_state_dirs(tmp_path: Path) -> None:
    now = time.time()
    for n in ("n1", "n2"):
        (tmp_path / n).mkdir()
        append_events(tmp_path / n, [ClusterEvent(now - 5 + i, n, "NodeUp", n, f"{n} event {i}") for i in range(3)])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 1)) + ",000"
    (tmp_path / "n2" / "n2.log").write_text(f"{stamp} INFO only on n2\n  a continuation line\n")

    async def main() -> None:
        store = await open_embedded(tmp_path / "store")
        tasks = [asyncio.create_task(LogResponder(n, tmp_path / n, store, "/c/").run()) for n in ("n1", "n2")]
        try:
            await asyncio.sleep(0.2)  # the watches are in place
            got = await gather(store, "/c/", ["n1", "n2"], now - 60, now + 60, timeout=5)
            assert [e.message for e in got["n1"].events] == ["n1 event 0", "n1 event 1", "n1 event 2"]
            assert [line for _, line in got["n2"].lines] == [f"{stamp} INFO only on n2", "  a continuation line"]
            newest = await gather(store, "/c/", ["n2"], 0, now + 60, ("events",), timeout=5, limit=1)
            assert [e.message for e in newest["n2"].events] == ["n2 event 2"] and newest["n2"].lines == []
            # n3 is not Up: read from this machine's directory (nothing there), n1 asked
            logs = await collect(store, "/c/", tmp_path, ["n1", "n3"], ["n1"], 0, now + 60, timeout=5)
            assert [(nl.node, nl.source) for nl in logs] == [("n1", "node"), ("n3", "none")]
            assert not (await store.list(logs_prefix("/c/"))).kvs  # the lease revoked: nothing left behind
        finally:
            for t in tasks:
                t.cancel()
            await store.close()
    asyncio.run(main())
