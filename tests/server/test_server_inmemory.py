"""The server driven in memory (no sockets): negotiate, login, signing, tree connect, bad input."""
from __future__ import annotations

import asyncio
import os

import pytest
from memclient import MemClient

from sofs.wire.constants import Command
from sofs.wire.header import SIGNATURE_OFFSET
from sofs.wire.messages import EchoRequest, TreeConnectRequest, TreeConnectResponse
from sofs.wire.status import NtStatus


@pytest.fixture
def share(tmp_path):
    return str(tmp_path)


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("dialect", [0x0202, 0x0210, 0x0300, 0x0302, 0x0311])
def test_negotiate_login_signed_tree_connect(share, dialect) -> None:
    async def go():
        c = MemClient.create(share)
        r = await c.negotiate((dialect,))
        assert r.status == 0 and c.dialect == dialect
        r = await c.login()
        assert r.status == 0, hex(r.status)
        # the final SESSION_SETUP response of 3.1.1 is signed with the new key
        if dialect == 0x0311:
            assert c.signer.verify(r.msg)
        tc = TreeConnectRequest(0, r"\\srv\data").encode()
        r = await c.call(Command.TREE_CONNECT, tc, sign=True)
        assert r.status == 0
        assert r.header.tree_id != 0
        assert c.signer.verify(r.msg), "signed request gets a signed response"
        assert TreeConnectResponse.decode(r.msg).share_type == 1
    run(go())


def test_wrong_password_is_logon_failure(share) -> None:
    async def go():
        c = MemClient.create(share)
        await c.negotiate()
        r = await c.login(password="wrong")
        assert r.status == NtStatus.LOGON_FAILURE
    run(go())


def test_bad_signature_is_access_denied_and_connection_survives(share) -> None:
    async def go():
        c = MemClient.create(share)
        await c.negotiate((0x0300,))
        assert (await c.login()).status == 0
        req = bytearray(c.request(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode(), sign=True))
        req[SIGNATURE_OFFSET] ^= 1
        c.send_raw(bytes(req))
        (r,) = await c.settle()
        assert r.status == NtStatus.ACCESS_DENIED
        r = await c.call(Command.ECHO, EchoRequest().encode())
        assert r.status == 0
    run(go())


def test_unknown_share_and_unauthenticated_requests(share) -> None:
    async def go():
        c = MemClient.create(share)
        await c.negotiate()
        r = await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode())
        assert r.status == NtStatus.USER_SESSION_DELETED
        await c.login()
        r = await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\nope").encode(), sign=True)
        assert r.status == NtStatus.BAD_NETWORK_NAME
    run(go())


def test_message_id_outside_window_drops_connection(share) -> None:
    async def go():
        c = MemClient.create(share)
        await c.negotiate()
        c.next_mid = 5000
        c.send_raw(c.request(Command.ECHO, EchoRequest().encode()))
        await c.settle()
        assert c.transport.closed
    run(go())


def test_random_garbage_never_crashes(share) -> None:
    async def go():
        rnd = __import__("random").Random(1234)
        for _ in range(200):
            c = MemClient.create(share)
            await c.negotiate()
            payload = c.request(rnd.choice(list(Command)), os.urandom(rnd.randrange(0, 200)))
            cut = rnd.randrange(64, len(payload) + 1)
            c.send_raw(payload[:cut])
            resps = await c.settle()
            # either an error answer or a dropped connection, never an exception escaping
            assert c.transport.closed or all(r.status != 0 or r.header.command == Command.ECHO
                                             or r.header.command == Command.CANCEL for r in resps) or resps
    run(go())
