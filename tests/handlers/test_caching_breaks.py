"""The break glue: notifications on the holder's connection, acks, timeouts, closes (no sockets)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from sofs.handlers.breaks import CachingManager
from sofs.handlers.opens import FileNode, Open
from sofs.handlestate.oplocks import BATCH, LEVEL_II, NONE, RH, RWH, Caching
from sofs.wire.messages.oplock import LeaseBreakNotification, OplockBreakNotification


class FakeDriver:
    closed = False

    def __init__(self) -> None:
        self.sent: list[tuple[object, bytes]] = []

    async def send_notification(self, header, body, session=None) -> None:
        self.sent.append((header, body))


def make(clock_ns: list[int]) -> tuple[CachingManager, FakeDriver, SimpleNamespace]:
    drv = FakeDriver()
    session = SimpleNamespace(connection=SimpleNamespace(conn_id=7), channels=(), session_id=1,
                              encryptor=None, encrypt_data=False)
    server = SimpleNamespace(connections={7: drv}, extensions={})
    mgr = CachingManager(server, clock=lambda: clock_ns[0], timeout_ns=10**12)  # type: ignore[arg-type]
    return mgr, drv, session


def new_open(session, node: FileNode, n: int) -> Open:
    op = Open(file_id=bytes([n]) * 16, session=session, tree=None, share=None, path="f", node=node)
    node.opens.append(op)
    return op


def run(coro):
    return asyncio.run(coro)


def test_batch_break_waits_for_ack_then_releases() -> None:
    async def body() -> None:
        mgr, drv, session = make([0])
        node = FileNode(("s", 1, ""))
        op = new_open(session, node, 1)
        mgr._set_oplock(op, BATCH, None)
        fut = mgr.break_holder(op, Caching.R, wait=True)
        assert fut is not None and not fut.done()
        await asyncio.sleep(0)
        (hdr, raw), = drv.sent
        assert hdr.message_id == 0xFFFFFFFFFFFFFFFF
        msg = OplockBreakNotification.decode(bytes(64) + raw)
        assert msg.oplock_level == LEVEL_II and msg.file_id == op.file_id
        level, err = mgr.oplock_ack(op, LEVEL_II)
        assert (level, err) == (LEVEL_II, None) and fut.done()
        assert op in mgr.oplock_opens[node.key] and op not in mgr.timers
    run(body())


def test_unanswered_break_completes_at_timeout() -> None:
    async def body() -> None:
        mgr, _drv, session = make([0])
        node = FileNode(("s", 1, ""))
        op = new_open(session, node, 1)
        mgr._set_oplock(op, BATCH, None)
        fut = mgr.break_holder(op, Caching.NONE, wait=True)
        assert op in mgr.timers
        mgr.oplock_timeout(op)  # what the 35 s timer does
        assert fut is not None and fut.done() and op.oplock_level == NONE
        assert node.key not in mgr.oplock_opens
    run(body())


def test_unreachable_holder_counts_as_acknowledged() -> None:
    async def body() -> None:
        mgr, _drv, session = make([0])
        mgr.server.connections.clear()
        node = FileNode(("s", 1, ""))
        op = new_open(session, node, 1)
        mgr._set_oplock(op, BATCH, None)
        assert mgr.break_holder(op, Caching.R, wait=True) is None
        assert op.oplock_level == LEVEL_II
    run(body())


def test_lease_break_ack_and_close() -> None:
    async def body() -> None:
        clock = [1000]
        mgr, drv, session = make(clock)
        node = FileNode(("s", 1, ""))
        op = new_open(session, node, 1)
        lease = mgr.leases.lookup_for_open(b"g" * 16, b"k" * 16, node.key, False, 2, None, 1)
        mgr.leases.attach(lease, op)
        op.ext["lease"] = lease
        mgr.leases.grant(lease, int(RWH), RWH)
        fut = mgr.break_holder(lease, RH, wait=True)
        await asyncio.sleep(0)
        msg = LeaseBreakNotification.decode(bytes(64) + drv.sent[0][1])
        assert (msg.current_lease_state, msg.new_lease_state, msg.flags, msg.new_epoch) == (7, 3, 1, 3)
        assert lease.deadline == 1000 + 10**12
        assert mgr.lease_ack(lease, int(RWH)) == "REQUEST_NOT_ACCEPTED"
        mgr.forget_open(op)  # closing the last open drops the lease and wakes the waiter
        assert fut is not None and fut.done() and mgr.leases.get(b"g" * 16, b"k" * 16) is None
    run(body())


def test_write_breaks_level2_including_own_but_not_own_lease() -> None:
    async def body() -> None:
        mgr, _drv, session = make([0])
        node = FileNode(("s", 1, ""))
        a, b = new_open(session, node, 1), new_open(session, node, 2)
        mgr._set_oplock(a, LEVEL_II, None)
        mgr._set_oplock(b, LEVEL_II, None)
        mgr.contend_write(a)
        assert a.oplock_level == NONE and b.oplock_level == NONE
        assert not mgr.oplock_opens
    run(body())


def test_lease_break_goes_to_clients_oldest_connection_at_once() -> None:
    """Lease breaks travel on the oldest live connection of the ClientGuid (Windows, Samba;
    smb2.lease.v2_complex1) and are written before the caller goes on (smb2.lease.rename_wait)."""
    async def body() -> None:
        guid = b"g" * 16
        old, new = FakeDriver(), FakeDriver()
        for d, cid in ((old, 7), (new, 8)):
            d.engine = SimpleNamespace(conn=SimpleNamespace(client_guid=guid, dialect=0x0311,  # type: ignore[attr-defined]
                                                            sessions={}, conn_id=cid))
        session = SimpleNamespace(connection=SimpleNamespace(conn_id=8), channels=(), session_id=1,
                                  encryptor=None, encrypt_data=False)
        server = SimpleNamespace(connections={7: old, 8: new}, extensions={})
        mgr = CachingManager(server, timeout_ns=10**12)  # type: ignore[arg-type]
        node = FileNode(("s", 1, ""))
        op = new_open(session, node, 1)  # opened over the newer connection
        lease = mgr.leases.lookup_for_open(guid, b"k" * 16, node.key, False, 2, None, 1)
        mgr.leases.attach(lease, op)
        op.ext["lease"] = lease
        mgr.leases.grant(lease, int(RWH), RWH)
        mgr.break_holder(lease, RH, wait=False)
        assert len(old.sent) == 1 and not new.sent  # no loop turn needed
    run(body())


def test_wait_breaks_goes_async_only_when_the_ack_is_slow() -> None:
    """Samba-like: no interim response when the break is answered within the interim delay."""
    from sofs.handlers import oplock

    class Ctx:
        went_async = 0

        async def go_async(self) -> None:
            self.went_async += 1

    async def body() -> None:
        loop = asyncio.get_running_loop()
        fast, ctx = loop.create_future(), Ctx()
        loop.call_soon(fast.set_result, None)
        await oplock.wait_breaks(ctx, [fast])  # type: ignore[arg-type]
        assert ctx.went_async == 0
        slow = loop.create_future()
        loop.call_later(oplock.INTERIM_DELAY_S * 5, slow.set_result, None)
        await oplock.wait_breaks(ctx, [slow])  # type: ignore[arg-type]
        assert ctx.went_async == 1 and slow.done()
    run(body())
