"""Persistent handles on a continuously available share: the journal commits are batched per output
(sofs.handlestate.barrier) and every response leaves only once the state it reports is durable.

Driven in memory (MemClient) against a real server state with a real journal on disk; the
transport checks, at the moment each response is handed to it, that the journal owes nothing.
"""
from __future__ import annotations

import asyncio

from memclient import FakeTransport, MemClient

from sofs.config import ServerConfig, ShareConfig, UserConfig
from sofs.engine.framing import frame_header
from sofs.handlestate import records as R
from sofs.handlestate.journal import load_dir
from sofs.server.app import build_state
from sofs.server.connection import SmbConnection
from sofs.wire.constants import Command
from sofs.wire.header import HEADER_SIZE, Header
from sofs.wire.messages import TreeConnectRequest
from sofs.wire.messages.close import CloseRequest
from sofs.wire.messages.create import CreateRequest
from sofs.wire.messages.create_contexts import DurableHandleRequestV2, to_context
from sofs.wire.status import NtStatus


class CheckingTransport(FakeTransport):
    """Notes, for every write, whether the share's journal still had something to commit."""

    def __init__(self) -> None:
        super().__init__()
        self.journal: object = None
        self.undurable_writes = 0

    def writelines(self, parts: list[object]) -> None:
        if self.journal is not None and self.journal.pending:  # type: ignore[attr-defined]
            self.undurable_writes += 1
        super().writelines(parts)  # type: ignore[arg-type]


async def _ca_client(path: str) -> tuple[MemClient, int, object, object]:
    cfg = ServerConfig(shares=[ShareConfig("data", path, continuously_available=True)],
                       users=[UserConfig("alice", "secret")])
    server = build_state(cfg)
    proto = SmbConnection(server)
    t = CheckingTransport()
    proto.connection_made(t)  # type: ignore[arg-type]
    c = MemClient(proto, t)
    await c.negotiate()
    assert (await c.login()).status == 0
    r = await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode())
    coord = server.coordinators["data"]
    journal = coord.journal
    journal.inline = True  # commits inline (tmpfs-like), whatever the probe of this disk said
    journal.inline_sync_max_us = 1e9  # and stays inline however slow this disk syncs
    t.journal = journal
    return c, r.header.tree_id, coord, journal


def _persistent_create(name: str, n: int) -> bytes:
    dh2q = DurableHandleRequestV2(0, 0x2, n.to_bytes(16, "little"))
    return CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x3,
                         file_attributes=0x80, share_access=0x7, create_disposition=3,
                         create_options=0x40, name=name, contexts=[to_context(dh2q)]).encode()


def _send_together(c: MemClient, requests: list[bytes]) -> None:
    """Several requests in one read of the socket (a client's queue at depth)."""
    data = b"".join(frame_header(len(r)) + r for r in requests)
    buf = c.proto.get_buffer(-1)
    assert len(buf) >= len(data)
    buf[:len(data)] = data
    c.proto.buffer_updated(len(data))


async def _responses(c: MemClient) -> list[tuple[int, bytes]]:
    return [(r.status, r.msg) for r in await c.settle()]


def test_one_commit_per_read_and_nothing_leaves_before_it(tmp_path) -> None:
    async def go() -> None:
        c, tid, _coord, journal = await _ca_client(str(tmp_path))
        before = journal.fsyncs
        names = [f"f{i}" for i in range(4)]
        _send_together(c, [c.request(Command.CREATE, _persistent_create(n, i + 1), tree_id=tid)
                           for i, n in enumerate(names)])
        rs = await _responses(c)
        assert [s for s, _ in rs] == [0] * 4
        assert journal.fsyncs == before + 1  # four persistent grants, one commit
        fids = [m[HEADER_SIZE + 64:HEADER_SIZE + 80] for _, m in rs]
        _send_together(c, [c.request(Command.CLOSE, CloseRequest(0, f).encode(), tree_id=tid) for f in fids])
        assert [s for s, _ in await _responses(c)] == [0] * 4
        assert journal.fsyncs == before + 2
        assert c.transport.undurable_writes == 0
        # on disk, in order: the four opens, then their four closes
        kinds = [type(e.record).__name__ for e in load_dir(journal.directory).entries
                 if isinstance(e.record, R.OpenAdded | R.OpenRemoved)]
        assert kinds == ["OpenAdded"] * 4 + ["OpenRemoved"] * 4
    asyncio.run(go())


def test_a_commit_that_cannot_be_made_inline_holds_the_output_in_order(tmp_path, monkeypatch) -> None:
    async def go() -> None:
        c, tid, coord, journal = await _ca_client(str(tmp_path))
        # the journal went to group commit between the owe and the output: settle cannot commit
        monkeypatch.setattr(coord, "commit_inline", lambda: False)
        before = journal.fsyncs
        _send_together(c, [c.request(Command.CREATE, _persistent_create("a", 1), tree_id=tid),
                           c.request(Command.CREATE, _persistent_create("b", 2), tree_id=tid)])
        assert not c.transport.out  # held
        for _ in range(1000):
            if c.transport.out:
                break
            await asyncio.sleep(0.001)
        rs = await _responses(c)
        assert [s for s, _ in rs] == [0, 0]
        assert [Header.decode(m, 0).message_id for _, m in rs] == sorted(Header.decode(m, 0).message_id for _, m in rs)
        assert journal.fsyncs > before and c.transport.undurable_writes == 0
    asyncio.run(go())


def test_a_failed_commit_drops_the_connection_instead_of_answering(tmp_path) -> None:
    async def go() -> None:
        c, tid, _coord, journal = await _ca_client(str(tmp_path))

        def broken(fd: int) -> None:
            raise OSError(5, "Input/output error")

        journal._fsync = broken
        c.send_raw(c.request(Command.CREATE, _persistent_create("a", 1), tree_id=tid))
        rs = await _responses(c)
        assert c.transport.closed
        assert not [s for s, _ in rs if s == NtStatus.SUCCESS]
    asyncio.run(go())
