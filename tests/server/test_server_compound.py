"""Compound requests in memory ([MS-SMB2] 3.3.5.2.7): related/unrelated rules and response padding.

The expected statuses are those smbtorture's smb2.compound tests pin for Windows and Samba.
"""
from __future__ import annotations

import asyncio

import pytest
from memclient import MemClient

from sofs.wire.constants import Command, HeaderFlags
from sofs.wire.messages import EchoRequest, TreeConnectRequest
from sofs.wire.status import NtStatus

RELATED = int(HeaderFlags.RELATED_OPERATIONS)


@pytest.fixture
def share(tmp_path):
    return str(tmp_path)


def compound(msgs: list[bytes]) -> bytes:
    """Chain messages: NextCommand of each but the last is its length padded to 8."""
    out = bytearray()
    for i, m in enumerate(msgs):
        m = bytearray(m)
        if i + 1 < len(msgs):
            m += bytes(-len(m) & 7)
            m[20:24] = len(m).to_bytes(4, "little")
        out += m
    return bytes(out)


async def logged_in(share: str, dialect: int = 0x0302) -> MemClient:
    c = MemClient.create(share)
    await c.negotiate((dialect,))
    assert (await c.login()).status == 0
    return c


def test_compound_responses_are_all_padded(share) -> None:
    async def go():
        c = await logged_in(share)
        c.send_raw(compound([c.request(Command.ECHO, EchoRequest().encode()),
                             c.request(Command.ECHO, EchoRequest().encode())]))
        r1, r2 = await c.settle()
        assert r1.status == r2.status == 0
        assert r1.header.next_command == 72 and len(r1.msg) == 72
        assert len(r2.msg) == 72 and r2.header.next_command == 0  # the last one is padded too
        r = await c.call(Command.ECHO, EchoRequest().encode())
        assert len(r.msg) == 68  # a lone response is not
    asyncio.run(go())


def test_first_request_related_is_invalid_parameter(share) -> None:
    async def go():
        c = await logged_in(share)
        tc = TreeConnectRequest(0, r"\\s\data").encode()
        c.send_raw(compound([c.request(Command.TREE_CONNECT, tc, flags=RELATED),
                             c.request(Command.TREE_CONNECT, tc, flags=RELATED),
                             c.request(Command.TREE_CONNECT, tc)]))
        r1, r2, r3 = await c.settle()
        assert r1.status == NtStatus.INVALID_PARAMETER
        assert r2.status == NtStatus.INVALID_PARAMETER
        assert r3.status == 0  # an unrelated request is processed on its own
    asyncio.run(go())


def test_related_after_session_failure_is_invalid_parameter(share) -> None:
    async def go():
        c = await logged_in(share)
        good = c.session_id
        tc = TreeConnectRequest(0, r"\\s\data").encode()
        first = c.request(Command.TREE_CONNECT, tc)
        c.session_id = 0xFFFFFFFFFFFFFFFF
        bad = c.request(Command.TREE_CONNECT, tc)
        rel = c.request(Command.TREE_CONNECT, tc, flags=RELATED)
        c.session_id = good
        c.send_raw(compound([first, bad, rel]))
        r1, r2, r3 = await c.settle()
        assert r1.status == 0
        assert r2.status == NtStatus.USER_SESSION_DELETED
        assert r3.status == NtStatus.INVALID_PARAMETER
    asyncio.run(go())


def test_related_uses_previous_session(share) -> None:
    async def go():
        c = await logged_in(share)
        tc = TreeConnectRequest(0, r"\\s\data").encode()
        first = c.request(Command.TREE_CONNECT, tc)
        good = c.session_id
        c.session_id = 0xFFFFFFFFFFFFFFFF
        rel = c.request(Command.TREE_CONNECT, tc, flags=RELATED)
        c.session_id = good
        c.send_raw(compound([first, rel]))
        r1, r2 = await c.settle()
        assert r1.status == r2.status == 0
        assert r2.header.session_id == good
    asyncio.run(go())


# --- async requests inside compounds, CANCEL, async limit ------------------------------------------

class _Gate:
    """An ECHO handler that goes async and waits until released (stands in for CHANGE_NOTIFY)."""

    def __init__(self) -> None:
        self.release: asyncio.Future[None] | None = None

    async def handle(self, ctx, req):
        from sofs.handlers.base import reply
        from sofs.wire.messages import EchoResponse

        for _ in range(3):  # some synchronous work first (a CANCEL may arrive meanwhile)
            await asyncio.sleep(0)
        await ctx.go_async()
        self.release = asyncio.get_running_loop().create_future()
        await self.release
        return reply(EchoResponse().encode())


@pytest.fixture
def gate(monkeypatch):
    from sofs.handlers import dispatch

    g = _Gate()
    monkeypatch.setitem(dispatch._resolved, Command.ECHO, g.handle)
    return g


def test_async_in_the_middle_of_a_compound_is_internal_error(share, gate) -> None:
    async def go():
        c = await logged_in(share)
        c.send_raw(compound([c.request(Command.ECHO, EchoRequest().encode()),
                             c.request(Command.ECHO, EchoRequest().encode())]))
        r = await c.settle()
        assert [x.status for x in r] == [NtStatus.INTERNAL_ERROR, NtStatus.PENDING]
        gate.release.set_result(None)
        (final,) = await c.settle()
        assert final.status == 0 and final.header.async_id == r[1].header.async_id
    asyncio.run(go())


def test_cancel_by_message_id_before_the_interim_response(share, gate) -> None:
    async def go():
        from sofs.wire.messages import CancelRequest

        c = await logged_in(share)
        echo = c.request(Command.ECHO, EchoRequest().encode())
        mid = c.next_mid - 1
        cancel = bytearray(c.request(Command.CANCEL, CancelRequest().encode()))
        cancel[24:32] = mid.to_bytes(8, "little")  # CANCEL names the request's MessageId
        c.next_mid -= 1
        # both frames arrive before the ECHO task runs: the cancel is remembered
        c.send_raw(echo)
        c.send_raw(bytes(cancel))
        (r,) = await c.settle()
        assert r.status == NtStatus.CANCELLED
    asyncio.run(go())


def test_async_request_limit(share, gate, monkeypatch) -> None:
    async def go():
        from sofs.server import connection

        monkeypatch.setattr(connection, "MAX_ASYNC_CREDITS", 3)
        c = await logged_in(share)
        for _ in range(3):
            c.send_raw(c.request(Command.ECHO, EchoRequest().encode()))
        r = await c.settle()
        assert sorted(x.status for x in r) == [NtStatus.PENDING, NtStatus.PENDING,
                                               NtStatus.INSUFFICIENT_RESOURCES]
    asyncio.run(go())
