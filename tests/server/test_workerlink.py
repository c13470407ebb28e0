"""The control channel between a server's main process and its workers (sofs.server.workerlink):
messages in parts, descriptors passed with SCM_RIGHTS, a closed peer."""
from __future__ import annotations

import asyncio
import os
import socket

import pytest

from sofs.server.workerlink import PART, Channel, ChannelClosed, Reassembly, encode


def test_parts_round_trip() -> None:
    for msg in [("stop",), ("conn", 7), ("rows", {"share": [{"path": "a" * (3 * PART)}]})]:
        rx = Reassembly()
        parts = encode(msg)
        assert all(len(p) <= PART + 1 for p in parts)
        got = [rx.feed(p) for p in parts]
        assert got[:-1] == [None] * (len(parts) - 1)
        assert got[-1] == msg


def test_bad_datagrams() -> None:
    with pytest.raises(ValueError):
        Reassembly().feed(b"")
    with pytest.raises(ValueError):
        Reassembly().feed(b"\x00" + b"\x91\x05")  # [5]: no message name


def test_channel_over_a_socket_pair() -> None:
    async def run() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        got: asyncio.Queue[tuple[tuple[object, ...], list[int]]] = asyncio.Queue()
        closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        left = Channel(a, lambda m, f: None, lambda why: None)
        right = Channel(b, lambda m, f: got.put_nowait((m, f)), closed.set_result)
        r, w = os.pipe()
        left.send(("conn", 1), (w,))
        os.close(w)  # the message carries its own copy
        big = ("rows", {"s": ["x" * 200_000]})
        left.send(big)
        msg, fds = await got.get()
        assert msg == ("conn", 1) and len(fds) == 1
        os.write(fds[0], b"hi")
        os.close(fds[0])
        assert os.read(r, 2) == b"hi"
        os.close(r)
        assert await got.get() == (big, [])
        with pytest.raises(ValueError):
            left.send(big, (0,))
        left.close()
        assert "closed" in await asyncio.wait_for(closed, 5)
        assert right.closed  # the far end saw its peer go
        with pytest.raises(ChannelClosed):
            left.send(("stop",))

    asyncio.run(run())
