"""A binding connection carried to the node holding its session (sofs.server.channel_relay), over real
TCP on loopback: a LinkServer with a holder behind it, a client connection on the receiving side, the
hand-over, the splice both ways, teardown from either side, and refusals (wrong secret, no listener)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import Any

from sofs.engine.state import ConnectionState
from sofs.server.channel_proto import Handover
from sofs.server.channel_relay import NodeChannels
from sofs.server.coordlink_server import LinkServer
from sofs.server.placement import session_id_base

SECRET = b"k" * 32
REQUEST = b"\xfeSMB" + bytes(60) + b"\x19\x00\x09\x00"

def _state() -> dict[str, Any]:
    c = ConnectionState(conn_id=1, dialect=0x311)
    c.window.low = 2  # NEGOTIATE (message 0) and the binding (1) were received
    return c.export_negotiated(1, 1)


STATE = _state()


class Holder(asyncio.BufferedProtocol):
    """The holding node's connection: says what it was handed, then echoes in upper case."""

    def __init__(self, state: dict[str, Any], request: bytes) -> None:
        self.state, self.request = state, request
        self.buf = bytearray(1 << 16)
        self.got = bytearray()
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(b"bound " + self.request[-4:] + b"|")

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self.buf[:nbytes])
        self.got += data
        assert self.transport is not None
        self.transport.write(data.upper())

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


class Client(asyncio.Protocol):
    """The receiving node's client connection (the Carried side), reading paused as SmbConnection's."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.disowned = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.pause_reading()

    def disown(self) -> None:
        self.disowned = True


async def _setup(secret: bytes = SECRET) -> tuple[LinkServer, NodeChannels, NodeChannels, list[Holder]]:
    link = LinkServer(SECRET)
    port = await link.start("127.0.0.1")
    holders: list[Holder] = []

    def adopt(state: dict[str, Any], request: bytes) -> Holder:
        holders.append(Holder(state, request))
        return holders[-1]

    holder = NodeChannels("n3", 3, SECRET, lambda n: None, adopt)
    link.channels = holder
    nodes = {3: ("127.0.0.1", port)}
    here = NodeChannels("n2", 2, secret, nodes.get, adopt)
    return link, here, holder, holders


async def _client_pair() -> tuple[Client, asyncio.StreamReader, asyncio.StreamWriter, asyncio.Server]:
    clients: list[Client] = []

    def make() -> Client:
        clients.append(Client())
        return clients[-1]

    srv = await asyncio.get_running_loop().create_server(make, "127.0.0.1", 0)
    r, w = await asyncio.open_connection("127.0.0.1", srv.sockets[0].getsockname()[1])
    while not clients:
        await asyncio.sleep(0.01)
    return clients[0], r, w, srv


class Carried:
    """A client connection carried by ``here`` to the holder (or not), and what to close after."""

    async def start(self, handover: Handover | None = None, secret: bytes = SECRET) -> bool:
        self.link, self.here, self.holder, self.holders = await _setup(secret)
        self.client, self.r, self.w, self.srv = await _client_pair()
        return await self.here.carry(3, handover or Handover("c", "s", STATE, REQUEST), self.client)

    async def stop(self) -> None:
        self.w.close()
        self.srv.close()
        await self.link.close()


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_holder_of_names_only_other_known_nodes() -> None:
    async def main() -> None:
        link, here, _holder, _ = await _setup()
        assert here.holder_of(session_id_base(0, node=3) + 5) == 3
        assert here.holder_of(session_id_base(0, node=2)) is None  # this node's own
        assert here.holder_of(session_id_base(0, node=7)) is None  # no such member
        assert here.holder_of(0x1234) is None  # node 0: not a cluster node's id
        await link.close()
    _run(main())


def test_carried_connection_is_spliced_both_ways_and_the_holder_closing_closes_the_client() -> None:
    async def main() -> None:
        link, here, holder, holders = await _setup()
        client, r, w, srv = await _client_pair()
        assert await here.carry(3, Handover("127.0.0.1:1", "127.0.0.12:445", STATE, REQUEST), client)
        assert client.disowned and here.carried == 1
        assert await r.readexactly(11) == b"bound \x19\x00\x09\x00|"
        assert holders[0].state == {**STATE, "client_address": "127.0.0.1:1", "server_address": "127.0.0.12:445"}
        w.write(b"ping")
        assert await r.readexactly(4) == b"PING"
        big = bytes(range(256)) * 4096  # 1 MiB: flow control both ways
        w.write(big)
        assert await r.readexactly(len(big)) == big.upper()
        assert holder.accepted == 1
        assert holders[0].transport is not None
        assert len(here.relayed) == 1
        holders[0].transport.close()  # the holder ends the connection (or dies: its socket closes)
        assert await r.read() == b""
        assert not here.relayed
        w.close()
        srv.close()
        await link.close()
    _run(main())


def test_the_client_closing_closes_the_holders_connection() -> None:
    async def main() -> None:
        c = Carried()
        assert await c.start()
        await c.r.readexactly(11)
        c.w.close()
        await asyncio.wait_for(c.holders[0].lost, 10)
        await c.stop()
    _run(main())


def test_a_holder_that_cannot_be_reached_leaves_the_connection_here() -> None:
    async def main() -> None:
        c = Carried()
        assert not await c.start(secret=b"x" * 32)  # wrong secret
        c.here.secret = SECRET
        c.holder.serving = False  # the holder does not serve SMB (fenced)
        assert not await c.here.carry(3, Handover("c", "s", STATE, REQUEST), c.client)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        c.here.address_of = {3: ("127.0.0.1", s.getsockname()[1])}.get
        s.close()
        assert not await c.here.carry(3, Handover("c", "s", STATE, REQUEST), c.client)  # nothing listens
        assert not c.client.disowned and not c.holders and c.here.carried == 0
        assert c.client.transport is not None and not c.client.transport.is_closing()
        await c.stop()
    _run(main())


def test_a_bad_hand_over_closes_the_link() -> None:
    async def main() -> None:
        c = Carried()
        assert await c.start(Handover("c", "s", STATE, b"not smb2" * 10))  # read by the holder after the splice
        assert await c.r.read() == b""  # it closes: the client's connection ends as after a failure
        assert not c.holders
        await c.stop()
    _run(main())


def test_a_holder_declared_down_has_its_relayed_connections_closed() -> None:
    async def main() -> None:
        c = Carried()
        assert await c.start()
        await c.r.readexactly(11)
        c.here.close(lambda node: node == 4)  # another node is declared down: not this relay's holder
        assert c.here.relayed and not c.client.transport.is_closing()
        c.here.close(lambda node: node == 3)  # the holder is declared down (silent: SIGSTOP, partition)
        assert await c.r.read() == b""
        assert not c.here.relayed
        await asyncio.wait_for(c.holders[0].lost, 10)
        await c.stop()
    _run(main())


HOLDER_PROCESS = """
import asyncio, sys
from sofs.server.channel_relay import NodeChannels
from sofs.server.coordlink_server import LinkServer

class Echo(asyncio.BufferedProtocol):
    def __init__(self, state, request):
        self.buf = bytearray(65536)
    def connection_made(self, t):
        self.t = t
        t.write(b"bound in child|")
    def get_buffer(self, n):
        return memoryview(self.buf)
    def buffer_updated(self, n):
        self.t.write(bytes(self.buf[:n]).upper())

async def main():
    link = LinkServer(bytes.fromhex(sys.argv[1]))
    port = await link.start("127.0.0.1")
    link.channels = NodeChannels("n3", 3, bytes.fromhex(sys.argv[1]), lambda n: None, Echo)
    print(port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_holder_killed_closes_the_relayed_connection() -> None:
    """The holding node's process dies (SIGKILL): its end of the link closes with it, so the relayed
    client connection closes at once (the client reconnects as after any failure)."""
    async def main() -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER_PROCESS, SECRET.hex(),
                                                     stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout is not None
            port = int(await child.stdout.readline())
            here = NodeChannels("n2", 2, SECRET, {3: ("127.0.0.1", port)}.get, lambda s, r: Holder(s, r))
            client, r, w, srv = await _client_pair()
            assert await here.carry(3, Handover("c", "s", STATE, REQUEST), client)
            assert await r.readexactly(15) == b"bound in child|"
            w.write(b"ping")
            assert await r.readexactly(4) == b"PING"
            child.send_signal(signal.SIGKILL)
            assert await r.read() == b""
            await asyncio.sleep(0)
            assert not here.relayed
            w.close()
            srv.close()
        finally:
            if child.returncode is None:
                child.kill()
            await child.wait()
    _run(main())
