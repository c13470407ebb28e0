"""``probe_dead``: a coordinator is declared dead only when nothing listens on its link port."""
from __future__ import annotations

import asyncio
import socket

from sofs.server.cluster_volumes import probe_dead


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_listener_is_alive_and_a_closed_port_is_dead() -> None:
    asyncio.run(_alive_and_closed())


async def _alive_and_closed() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await probe_dead("127.0.0.1", port, spacing=0.01) is False
    finally:
        server.close()
        await server.wait_closed()
    assert await probe_dead("127.0.0.1", port) is True
    assert await probe_dead("127.0.0.1", _free_port()) is True


def test_a_listener_closing_while_probed_is_dead() -> None:
    """A process being killed: its listening socket still accepts the first probe, then goes."""
    asyncio.run(_closing())


async def _closing() -> None:
    server: asyncio.Server | None = None

    def first(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()
        assert server is not None
        server.close()  # the listener goes after one handshake

    server = await asyncio.start_server(first, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert await probe_dead("127.0.0.1", port, spacing=0.05) is True
    assert await probe_dead("127.0.0.1", port, tries=1) is True
