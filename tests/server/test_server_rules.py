"""Connection-level rules ([MS-SMB2] 3.3.5.2): what drops the connection instead of answering."""
from __future__ import annotations

import asyncio

from memclient import MemClient

from sofs.wire.constants import Command
from sofs.wire.messages import EchoRequest, NegotiateRequest


def test_request_before_negotiate_drops_the_connection(tmp_path) -> None:
    async def go():
        c = MemClient.create(str(tmp_path))
        c.send_raw(c.request(Command.ECHO, EchoRequest().encode()))
        assert await c.settle() == []
        assert c.transport.closed
    asyncio.run(go())


def test_second_negotiate_drops_the_connection(tmp_path) -> None:
    async def go():
        c = MemClient.create(str(tmp_path))
        await c.negotiate((0x0302,))
        c.send_raw(c.request(Command.NEGOTIATE, NegotiateRequest((0x0302,), 1, 0, b"c" * 16, ()).encode()))
        await c.settle()
        assert c.transport.closed
    asyncio.run(go())
