"""ECHO ([MS-SMB2] 3.3.5.17): answered without a session."""
from __future__ import annotations

from sofs.handlers.base import Ctx, Reply, reply
from sofs.wire.messages.misc import EchoRequest, EchoResponse

_ECHO = EchoResponse().encode()


async def handle_echo(ctx: Ctx, req: EchoRequest) -> Reply:
    return reply(_ECHO)
