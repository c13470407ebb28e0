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
