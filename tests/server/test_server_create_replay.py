"""CreateGuid replay detection ([MS-SMB2] 3.3.5.9.10) after the replay lookup moved into admit: a
CREATE without the replay flag makes one coordinator call, and the rules stay those of the spec.

Driven in memory (MemClient) against a real server state; the coordinator's calls are counted by
wrapping the volume's HandleService.
"""
from __future__ import annotations

import asyncio
import os

from memclient import MemClient

from sofs.wire.constants import Command, HeaderFlags
from sofs.wire.header import HEADER_SIZE
from sofs.wire.messages import TreeConnectRequest
from sofs.wire.messages.close import CloseRequest
from sofs.wire.messages.create import CreateRequest
from sofs.wire.messages.create_contexts import DurableHandleRequestV2, to_context
from sofs.wire.messages.query import QueryInfoRequest
from sofs.wire.status import NtStatus

GUID = bytes(range(16))


class Counting:
    """The volume's HandleService with its calls counted by name."""

    def __init__(self, svc: object) -> None:
        self._svc = svc
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> object:
        value = getattr(self._svc, name)
        if callable(value) and name in ("admit", "replay", "forget_replay", "close"):
            def counted(*a: object, **kw: object) -> object:
                self.calls.append(name)
                return value(*a, **kw)
            return counted
        return value


def _create(name: str, disposition: int = 3) -> bytes:
    dh2q = DurableHandleRequestV2(0, 0, GUID)
    return CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x3,
                         file_attributes=0x80, share_access=0x7, create_disposition=disposition,
                         create_options=0x40, name=name, contexts=[to_context(dh2q)]).encode()


async def _client(path: str) -> tuple[MemClient, int, Counting]:
    c = MemClient.create(path)
    await c.negotiate()
    assert (await c.login()).status == 0
    r = await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode())
    share = c.proto.server.shares["data"]
    counting = Counting(share.volume.svc)
    share.volume.svc = counting
    return c, r.header.tree_id, counting


def _fid(r: object) -> bytes:
    return bytes(r.msg[HEADER_SIZE + 64:HEADER_SIZE + 80])  # type: ignore[attr-defined]


def test_reused_create_guid_is_refused_in_one_call_and_leaves_nothing(tmp_path) -> None:
    async def go() -> None:
        c, tid, svc = await _client(str(tmp_path))
        r = await c.call(Command.CREATE, _create("a"), tree_id=tid)
        assert r.status == 0, hex(r.status)
        assert svc.calls == ["admit"]  # no separate replay lookup for a CREATE without the flag
        first = _fid(r)
        # the same CreateGuid again, no replay flag, a new name: refused, and "b" is not left behind
        r = await c.call(Command.CREATE, _create("b"), tree_id=tid)
        assert r.status == NtStatus.DUPLICATE_OBJECTID
        assert not os.path.exists(tmp_path / "b")
        # with the replay flag: the same open again ([MS-SMB2] 3.3.5.9.10)
        svc.calls.clear()
        r = await c.call(Command.CREATE, _create("a"), tree_id=tid, flags=HeaderFlags.REPLAY_OPERATION)
        assert r.status == 0 and _fid(r) == first
        assert svc.calls[0] == "replay"
        # the first use of the FileId clears the replay entry: the GUID names a new open then
        q = QueryInfoRequest(info_type=1, file_info_class=5, output_buffer_length=1024, file_id=first).encode()
        assert (await c.call(Command.QUERY_INFO, q, tree_id=tid)).status == 0
        r = await c.call(Command.CREATE, _create("b"), tree_id=tid)
        assert r.status == 0 and _fid(r) != first
    asyncio.run(go())


def test_close_drops_the_replay_entry_without_a_call_of_its_own(tmp_path) -> None:
    async def go() -> None:
        c, tid, svc = await _client(str(tmp_path))
        for _ in range(2):  # the second CREATE reuses the GUID of the closed open: a new open
            r = await c.call(Command.CREATE, _create("a"), tree_id=tid)
            assert r.status == 0, hex(r.status)
            r = await c.call(Command.CLOSE, CloseRequest(0, _fid(r)).encode(), tree_id=tid)
            assert r.status == 0
        assert svc.calls == ["admit", "close", "admit", "close"]
        # a replay of the closed CREATE is a new open too
        r = await c.call(Command.CREATE, _create("a"), tree_id=tid, flags=HeaderFlags.REPLAY_OPERATION)
        assert r.status == 0
    asyncio.run(go())
