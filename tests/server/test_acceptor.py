"""The main process's acceptor (sofs.server.acceptor): a connection is placed with the ClientGuid of
its NEGOTIATE, read without being consumed (the worker receives every byte), also when the message
arrives in pieces; a silent client is placed by load alone after the peek timeout; a client that
leaves before saying anything is dropped. Real sockets on loopback."""
from __future__ import annotations

import asyncio
import socket

import pytest

from sofs.server import acceptor as acceptor_mod
from sofs.server.acceptor import Acceptor
from tests.server.test_placement import GUID, _negotiate_frame


def _run(scenario, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(acceptor_mod, "PEEK_TIMEOUT_S", 0.3)

    async def main():  # type: ignore[no-untyped-def]
        placed: asyncio.Queue[tuple[socket.socket, bytes | None]] = asyncio.Queue()
        acc = Acceptor(lambda conn, guid: placed.put_nowait((conn, guid)))
        acc.listen([("127.0.0.1", 0)])
        port = acc.listeners[0].getsockname()[1]
        try:
            return await scenario(port, placed, acc)
        finally:
            acc.close()

    return asyncio.run(main())


def test_negotiate_in_pieces_is_placed_by_its_client_guid(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _negotiate_frame()

    async def scenario(port, placed, acc):  # type: ignore[no-untyped-def]
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(frame[:30])
        await w.drain()
        await asyncio.sleep(0.01)
        w.write(frame[30:])
        await w.drain()
        conn, guid = await asyncio.wait_for(placed.get(), 5)
        assert guid == GUID
        conn.setblocking(True)
        got = b""
        while len(got) < len(frame):
            got += conn.recv(4096)
        assert got == frame  # peeked, not consumed
        conn.close()
        w.close()

    _run(scenario, monkeypatch)


def test_silent_client_is_placed_without_guid_and_leaver_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(port, placed, acc):  # type: ignore[no-untyped-def]
        _r, leaver = await asyncio.open_connection("127.0.0.1", port)
        leaver.close()
        _r2, silent = await asyncio.open_connection("127.0.0.1", port)
        conn, guid = await asyncio.wait_for(placed.get(), 5)
        assert guid is None and placed.empty()  # only the silent one, after the timeout
        assert not acc._peeking
        conn.close()
        silent.close()

    _run(scenario, monkeypatch)
