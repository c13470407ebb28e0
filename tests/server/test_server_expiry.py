"""In memory: a session past its expiration time ([MS-SMB2] 3.3.5.2.9), the ChannelSequence of a plain
open (3.3.5.2.10) and the order of a cancelled request's answer (the statuses smbtorture's
smb2.session.expire2 and smb2.replay.channel-sequence pin; the expiry of a real Kerberos ticket runs
against the Samba DC in tests/ad)."""
from __future__ import annotations

import asyncio
import time

import pytest
from memclient import MemClient

from sofs.engine.state import SessionState
from sofs.wire.constants import Command
from sofs.wire.header import HEADER_SIZE
from sofs.wire.messages import CancelRequest, EchoRequest, TreeConnectRequest
from sofs.wire.messages.create import CreateRequest
from sofs.wire.messages.io import ReadRequest, WriteRequest
from sofs.wire.messages.lock import LockElement, LockRequest
from sofs.wire.messages.query import QueryInfoRequest
from sofs.wire.status import NtStatus

TC = TreeConnectRequest(0, r"\\s\data").encode()


def position(fid: bytes) -> bytes:
    """QUERY_INFO FilePositionInformation of ``fid``."""
    return QueryInfoRequest(info_type=1, file_info_class=14, output_buffer_length=8, file_id=fid).encode()


@pytest.fixture
def share(tmp_path):
    return str(tmp_path)


async def opened(share: str) -> tuple[MemClient, int, bytes]:
    c = MemClient.create(share)
    await c.negotiate((0x0311,))
    assert (await c.login()).status == 0
    r = await c.call(Command.TREE_CONNECT, TC, sign=True)
    tid = r.header.tree_id
    req = CreateRequest(desired_access=0x0012019F, share_access=7, create_disposition=3, name="f",
                        impersonation_level=2)
    r = await c.call(Command.CREATE, req.encode(), tree_id=tid, sign=True)
    assert r.status == 0, hex(r.status)
    return c, tid, bytes(r.msg[HEADER_SIZE + 64:HEADER_SIZE + 80])


def with_sequence(msg: bytes, csn: int, c: MemClient) -> bytes:
    """``msg`` with ChannelSequence ``csn`` (the low half of the Status field of a 3.x request), signed again."""
    m = bytearray(msg)
    m[8:10] = csn.to_bytes(2, "little")
    m[48:64] = bytes(16)
    m[48:64] = c.signer.sign(bytes(m))
    return bytes(m)


def test_an_expired_session_refuses_requests_until_it_authenticates_again(share) -> None:
    async def go():
        c, tid, fid = await opened(share)
        session = c.proto.server.sessions[c.session_id]
        lock = LockRequest(fid, (LockElement(0, 10, 0x12),))  # exclusive, fail immediately
        assert (await c.call(Command.LOCK, lock.encode(), tree_id=tid, sign=True)).status == 0
        session.expires_at = time.time() - 1  # its ticket ended
        r = await c.call(Command.QUERY_INFO, position(fid), tree_id=tid, sign=True)
        assert r.status == NtStatus.NETWORK_SESSION_EXPIRED and c.signer.verify(r.msg)  # signed all the same
        assert session.state is SessionState.EXPIRED
        assert (await c.call(Command.TREE_CONNECT, TC, sign=True)).status == NtStatus.NETWORK_SESSION_EXPIRED
        again = LockRequest(fid, (LockElement(20, 10, 0x12),))
        assert (await c.call(Command.LOCK, again.encode(), tree_id=tid, sign=True)).status == \
            NtStatus.NETWORK_SESSION_EXPIRED  # a lock is refused ...
        unlock = LockRequest(fid, (LockElement(0, 10, 0x4),))
        assert (await c.call(Command.LOCK, unlock.encode(), tree_id=tid, sign=True)).status == 0  # ... an unlock not
        assert (await c.call(Command.ECHO, EchoRequest().encode(), sign=True)).status == 0
        signer = c.signer
        assert (await c.login(sign=True)).status == 0  # re-authentication (NTLM: no expiry)
        c.signer = signer
        assert session.state is SessionState.VALID and session.expires_at is None
        assert (await c.call(Command.QUERY_INFO, position(fid), tree_id=tid, sign=True)).status == 0
    asyncio.run(go())


def test_channel_sequence_of_a_plain_open(share) -> None:
    """Not durable, and still: a stale WRITE fails with FILE_NOT_AVAILABLE, a stale READ is served, a newer
    sequence moves the open forward (Samba: every open)."""
    async def go():
        c, tid, fid = await opened(share)
        h = c.proto.server.handles.by_id[fid]
        assert not (h.durable or h.resilient)

        async def write(csn: int) -> int:
            msg = c.request(Command.WRITE, WriteRequest(offset=0, file_id=fid, data=b"x").encode(), tree_id=tid,
                            sign=True)
            c.send_raw(with_sequence(msg, csn, c))
            return (await c.settle())[-1].status

        async def read(csn: int) -> int:
            msg = c.request(Command.READ, ReadRequest(length=1, offset=0, file_id=fid).encode(), tree_id=tid,
                            sign=True)
            c.send_raw(with_sequence(msg, csn, c))
            return (await c.settle())[-1].status

        assert await write(0) == 0
        assert await write(0x8000) == NtStatus.FILE_NOT_AVAILABLE
        assert await read(0x8000) == 0
        assert await write(1) == 0
        assert await write(0) == NtStatus.FILE_NOT_AVAILABLE
        assert h.channel_sequence == 1
    asyncio.run(go())


class _Gate:
    """An ECHO handler that goes async and waits (stands in for a pending CHANGE_NOTIFY)."""

    async def handle(self, ctx, req):
        await ctx.go_async()
        await asyncio.get_running_loop().create_future()


def test_a_cancelled_answer_leaves_before_answers_to_later_requests(share, monkeypatch) -> None:
    """smb2.session.expire2: CANCEL of a pending request, then a request refused at once: the CANCELLED
    answer comes first."""
    from sofs.handlers import dispatch

    monkeypatch.setitem(dispatch._resolved, Command.ECHO, _Gate().handle)

    async def go():
        c, tid, _fid = await opened(share)
        c.send_raw(c.request(Command.ECHO, EchoRequest().encode(), sign=True))
        (interim,) = await c.settle()
        assert interim.status == NtStatus.PENDING
        cancel = bytearray(c.request(Command.CANCEL, CancelRequest().encode()))
        cancel[16:20] = (int.from_bytes(cancel[16:20], "little") | 0x2).to_bytes(4, "little")  # ASYNC
        cancel[32:40] = interim.header.async_id.to_bytes(8, "little")
        c.send_raw(bytes(cancel))
        # no such open: refused at once
        c.send_raw(c.request(Command.QUERY_INFO, position(bytes(16)), tree_id=tid, sign=True))
        answers = await c.settle()
        assert [a.status for a in answers] == [NtStatus.CANCELLED, NtStatus.FILE_CLOSED]
    asyncio.run(go())
