"""The open-file listing a server publishes (``handles.json``): its JSON text and its pace — a big
listing is built at most :data:`LISTING_SHARE` of the time (issue 16: 100,000 opens must not stall
every client each second)."""
from __future__ import annotations

import asyncio
import json
import os

from memclient import MemClient

from sofs.handlers.handles_status import LISTING_SHARE, Pacer, digest, rows_text, write_status
from sofs.handlestate.listing import STATUS_DIR, _status_rows
from sofs.wire.constants import Command
from sofs.wire.messages import TreeConnectRequest
from sofs.wire.messages.create import CreateRequest


def test_pacer_waits_in_proportion_to_what_the_last_listing_took() -> None:
    p = Pacer()
    assert p.due(0.0)
    p.spent(10.0, 0.5)
    assert not p.due(10.0 + 0.5 / LISTING_SHARE - 0.01)
    assert p.due(10.0 + 0.5 / LISTING_SHARE)


def test_rows_text_joins_into_the_rows_of_several_processes() -> None:
    a = rows_text({"s": [{"path": "a", "locks": []}], "empty": []})
    b = rows_text({"s": [{"path": "b", "locks": [[0, 1, "X"]]}]})
    assert a == {"s": '{"path": "a", "locks": []}'}
    assert json.loads("[" + ",".join([a["s"], b["s"]]) + "]") == [
        {"path": "a", "locks": []}, {"path": "b", "locks": [[0, 1, "X"]]}]
    assert digest(a) != digest(b) and digest(a) == digest(dict(a))


def test_listing_is_written_when_due_and_changed(tmp_path) -> None:
    async def go() -> None:
        c = MemClient.create(str(tmp_path))
        server = c.proto.server
        await c.negotiate((0x0311,))
        assert (await c.login()).status == 0
        tid = (await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode(), sign=True)).header.tree_id

        async def open_file(name: str) -> None:
            req = CreateRequest(desired_access=0x0012019F, share_access=7, create_disposition=3, name=name,
                                impersonation_level=2)
            assert (await c.call(Command.CREATE, req.encode(), tree_id=tid, sign=True)).status == 0

        now = [100.0]

        def clock() -> float:  # every listing takes 10 ms: the next one waits 10 ms / LISTING_SHARE
            now[0] += 0.005
            return now[0]

        status = tmp_path / STATUS_DIR / "handles.json"
        await open_file("a")
        write_status(server, clock=clock)
        assert [r["path"] for r in _status_rows(str(tmp_path))] == ["a"]
        assert json.loads(status.read_text())["pid"] == os.getpid()
        await open_file("b")
        write_status(server, clock=clock)  # not due yet...
        assert [r["path"] for r in _status_rows(str(tmp_path))] == ["a"]
        now[0] += 0.01 / LISTING_SHARE  # ...and due once the pace allows
        write_status(server, clock=clock)
        assert sorted(r["path"] for r in _status_rows(str(tmp_path))) == ["a", "b"]
        mtime = status.stat().st_mtime_ns
        now[0] += 0.01 / LISTING_SHARE
        write_status(server, clock=clock)  # nothing changed: not rewritten
        assert status.stat().st_mtime_ns == mtime

    asyncio.run(go())
