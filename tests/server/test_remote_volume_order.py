"""A share whose volume is coordinated by another process (a cluster node that is not the volume's
coordinator), driven in memory: the coordinator sits behind a real link on loopback.

What one process gives for free must hold across the link too: a break caused by a request reaches
the client before the responses of the requests that arrived after it (smb2.lease.rename_wait across
nodes: the CREATE sent right after a rename that waits for a lease break gets its answer after the
break notification).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from linked import remote_share
from memclient import MemClient, Resp

from sofs.wire.constants import Command
from sofs.wire.fscc_file_set import FileRenameInformation
from sofs.wire.messages import TreeConnectRequest
from sofs.wire.messages.create import CreateRequest, CreateResponse
from sofs.wire.messages.create_contexts import CreateContext, LeaseV1
from sofs.wire.messages.oplock import LeaseBreakAcknowledgment
from sofs.wire.messages.query import SetInfoRequest
from sofs.wire.status import NtStatus

RH = 0x3
NOTIFICATION = 0xFFFFFFFFFFFFFFFF


async def until(c: MemClient, got: list[Resp], done: Callable[[list[Resp]], bool]) -> list[Resp]:
    deadline = time.monotonic() + 10
    while not done(got):
        assert time.monotonic() < deadline, f"no answer: {[(r.header.command, hex(r.status)) for r in got]}"
        await asyncio.sleep(0.005)
        got += await c.settle()
    return got


def create(c: MemClient, tid: int, name: str, lease_key: bytes | None, disposition: int = 3) -> bytes:
    ctxs = [] if lease_key is None else [CreateContext(b"RqLs", LeaseV1(lease_key, RH).encode_data())]
    body = CreateRequest(requested_oplock_level=0xFF if lease_key else 0, desired_access=0x00120089 | 0x10000,
                         share_access=7, create_disposition=disposition, name=name, contexts=ctxs).encode()
    return c.request(Command.CREATE, body, sign=True, tree_id=tid)


def test_a_break_caused_through_a_remote_coordinator_precedes_later_responses(tmp_path) -> None:
    async def go() -> None:
        c = MemClient.create(str(tmp_path))
        link, _coord, rs = await remote_share(c)
        try:
            await c.negotiate((0x0302,))
            assert (await c.login()).status == 0
            tid = (await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode(),
                                sign=True)).header.tree_id
            k1, k2 = b"1" * 16, b"2" * 16
            c.send_raw(create(c, tid, "src.dat", k1))
            (r1,) = await until(c, [], lambda g: len(g) == 1)
            assert r1.status == 0
            h1 = CreateResponse.decode(r1.msg).file_id
            c.send_raw(create(c, tid, "src.dat", k2, disposition=1))
            (r2,) = await until(c, [], lambda g: len(g) == 1)
            assert r2.status == 0
            # the rename waits for LEASE2's break (RH -> R); the CREATE right behind it fails on the
            # serving process alone, but its answer must come after the break notification
            rename = FileRenameInformation(True, "dst.dat").encode()
            rename_mid = c.next_mid
            c.send_raw(c.request(Command.SET_INFO, SetInfoRequest(1, 10, 0, h1, rename).encode(),
                                 sign=True, tree_id=tid))
            create_mid = c.next_mid
            c.send_raw(create(c, tid, "dst.dat", None, disposition=1))
            got = await until(c, [], lambda g: any(r.header.message_id == create_mid for r in g))
            order = [r.header.message_id for r in got if r.header.message_id in (NOTIFICATION, create_mid)]
            assert order == [NOTIFICATION, create_mid], order
            assert next(r for r in got if r.header.message_id == create_mid).status == NtStatus.OBJECT_NAME_NOT_FOUND
            # acknowledged, the rename completes
            c.send_raw(c.request(Command.OPLOCK_BREAK, LeaseBreakAcknowledgment(k2, 1).encode(), sign=True,
                                 tree_id=tid))
            got = await until(c, got, lambda g: any(r.header.message_id == rename_mid and r.status != NtStatus.PENDING
                                                    for r in g))
            assert [r.status for r in got if r.header.message_id == rename_mid][-1] == 0
            assert (tmp_path / "dst.dat").exists()
        finally:
            await rs.close_link()
            await link.close()
    asyncio.run(go())


def test_a_remote_create_gets_the_files_facts_with_the_admit_answer(tmp_path) -> None:
    """The coordinator's facts of the file reach the serving process with the answer to its CREATE
    (no Sink.file_facts call of their own: one round trip less), applied before the response."""
    async def go() -> None:
        c = MemClient.create(str(tmp_path))
        link, coord, rs = await remote_share(c)
        client_link = rs._link
        served: list[str] = []
        serve = client_link.serve

        def counting(call: Any) -> Any:
            served.append(call.method)
            return serve(call)
        client_link.serve = counting  # type: ignore[method-assign]
        try:
            await c.negotiate((0x0302,))
            assert (await c.login()).status == 0
            tid = (await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode(),
                                sign=True)).header.tree_id
            c.send_raw(create(c, tid, "f.dat", None))
            (r1,) = await until(c, [], lambda g: len(g) == 1)
            assert r1.status == 0
            vol = c.proto.server.volumes["data"]
            (h,) = [h for h in c.proto.server.handles.by_pid.values() if h.path == "f.dat"]
            key = (h.vfile_id, h.stream_key)
            assert vol.facts[key] == coord.facts(key)
            assert served == []  # carried by the admit answer: no file_facts call
        finally:
            await rs.close_link()
            await link.close()
    asyncio.run(go())
