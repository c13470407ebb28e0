"""SESSION_SETUP beyond the first login ([MS-SMB2] 3.3.5.5): re-authentication, PreviousSessionId,
refused multichannel binding (the statuses smbtorture's smb2.session tests pin)."""
from __future__ import annotations

import asyncio

import pytest
from memclient import MemClient

from sofs.wire.constants import Command, SessionSetupFlags
from sofs.wire.messages import EchoRequest, SessionSetupRequest, TreeConnectRequest
from sofs.wire.status import NtStatus

TC = TreeConnectRequest(0, r"\\s\data").encode()


@pytest.fixture
def share(tmp_path):
    return str(tmp_path)


async def logged_in(share: str, dialect: int = 0x0311) -> MemClient:
    c = MemClient.create(share)
    await c.negotiate((dialect,))
    assert (await c.login()).status == 0
    return c


def test_reauthentication_keeps_the_session_keys(share) -> None:
    async def go():
        c = await logged_in(share)
        first_signer, sid = c.signer, c.session_id
        r = await c.login(sign=True)
        assert r.status == 0 and c.session_id == sid
        assert first_signer.verify(r.msg), "reauth response signed with the original key"
        c.signer = first_signer
        r = await c.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == 0 and first_signer.verify(r.msg)
    asyncio.run(go())


def test_failed_reauthentication_deletes_the_session(share) -> None:
    async def go():
        c = await logged_in(share)
        r = await c.login(password="wrong", sign=True)
        assert r.status == NtStatus.LOGON_FAILURE
        r = await c.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == NtStatus.USER_SESSION_DELETED
    asyncio.run(go())


def test_previous_session_id_logs_the_old_session_off(share) -> None:
    async def go():
        c1 = await logged_in(share)
        c2 = MemClient.attach(c1)
        await c2.negotiate((0x0311,))
        assert (await c2.login(previous_session_id=c1.session_id)).status == 0
        r = await c1.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == NtStatus.USER_SESSION_DELETED
        r = await c2.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == 0
    asyncio.run(go())


@pytest.mark.parametrize(("dialect", "signed", "expected"), [
    (0x0210, True, NtStatus.REQUEST_NOT_ACCEPTED),  # SMB 2 cannot bind
    (0x0311, False, NtStatus.INVALID_PARAMETER),  # unsigned binding request
])
def test_binding_is_refused_with_windows_statuses(share, dialect, signed, expected) -> None:
    async def go():
        c1 = await logged_in(share, dialect)
        c2 = MemClient.attach(c1)
        await c2.negotiate((dialect,))
        c2.session_id, c2.signer = c1.session_id, c1.signer
        body = SessionSetupRequest(SessionSetupFlags.BINDING, 1, 0, 0, 0, b"x").encode()
        r = await c2.call(Command.SESSION_SETUP, body, sign=signed)
        assert r.status == expected
        if signed:
            assert c1.signer.verify(r.msg), "errors to a signed setup are signed"
        assert (await c1.call(Command.ECHO, EchoRequest().encode())).status == 0
    asyncio.run(go())


def test_binding_without_session_id_or_to_unknown_session(share) -> None:
    async def go():
        c = await logged_in(share)
        body = SessionSetupRequest(SessionSetupFlags.BINDING, 1, 0, 0, 0, b"x").encode()
        c2 = MemClient.attach(c)
        await c2.negotiate((0x0311,))
        r = await c2.call(Command.SESSION_SETUP, body)
        assert r.status == NtStatus.INVALID_PARAMETER
        c2.session_id = 0x1234
        r = await c2.call(Command.SESSION_SETUP, body)
        assert r.status == NtStatus.USER_SESSION_DELETED
    asyncio.run(go())


@pytest.mark.parametrize("dialect", [0x0300, 0x0311])
def test_binding_a_second_channel(share, dialect) -> None:
    async def go():
        c1 = await logged_in(share, dialect)
        c2 = MemClient.attach(c1)
        await c2.negotiate((dialect,))
        c2.session_id, c2.signer = c1.session_id, c1.signer  # binding requests carry the session's key
        r = await c2.login(flags=SessionSetupFlags.BINDING, sign=True)
        assert r.status == 0, hex(r.status)
        if dialect == 0x0311:
            assert c2.signer.verify(r.msg), "final binding response signed with the channel key"
        r = await c2.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == 0 and c2.signer.verify(r.msg)
        r = await c1.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == 0 and c1.signer.verify(r.msg)
        # the first connection goes away: the session lives on over the second
        c1.proto.connection_lost(None)
        r = await c2.call(Command.TREE_CONNECT, TC, sign=True)
        assert r.status == 0
    asyncio.run(go())


def test_binding_as_another_user_is_access_denied(share) -> None:
    async def go():
        c1 = await logged_in(share)
        c2 = MemClient.attach(c1)
        await c2.negotiate((0x0311,))
        c2.session_id, c2.signer = c1.session_id, c1.signer
        r = await c2.login(password="wrong", flags=SessionSetupFlags.BINDING, sign=True)
        assert r.status == NtStatus.LOGON_FAILURE
        r = await c2.call(Command.TREE_CONNECT, TC)
        assert r.status == NtStatus.USER_SESSION_DELETED  # not bound
        assert (await c1.call(Command.TREE_CONNECT, TC, sign=True)).status == 0
    asyncio.run(go())


def test_binding_refused_when_multichannel_is_off(share) -> None:
    async def go():
        c1 = MemClient.create(share)
        c1.proto.server.multichannel = False
        await c1.negotiate((0x0311,))
        assert (await c1.login()).status == 0
        c2 = MemClient.attach(c1)
        await c2.negotiate((0x0311,))
        c2.session_id, c2.signer = c1.session_id, c1.signer
        r = await c2.login(flags=SessionSetupFlags.BINDING, sign=True)
        assert r.status == NtStatus.REQUEST_NOT_ACCEPTED
    asyncio.run(go())
