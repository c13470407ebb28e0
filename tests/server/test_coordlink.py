"""The coordinator link over real TCP on loopback: a fake coordinator behind a LinkServer, RemoteService
clients in this process and in a child process (killed with SIGKILL)."""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import uvloop

from sofs.handlestate import api
from sofs.handlestate.api import (
    AdmitRequest,
    AdmitResult,
    Caller,
    CloseResult,
    FileFacts,
    HandleStateError,
    LeaseBreakNotice,
    LockRange,
    LockRequest,
    NotCoordinator,
    OplockBreakNotice,
    ReclaimOpen,
)
from sofs.server.coordlink import LinkLost
from sofs.server.coordlink_client import RemoteService
from sofs.server.coordlink_codec import Codec, CoordinatorFault
from sofs.server.coordlink_proto import (
    PROTOCOL_VERSION,
    Call,
    Challenge,
    ClientHandshake,
    FrameBuffer,
    Hello,
    LinkRefused,
    Reason,
    Refuse,
    Welcome,
    decode_frame,
    encode_frame,
    framed,
    proof,
)
from sofs.server.coordlink_server import LinkServer

T = TypeVar("T")
SECRET = b"cluster-link-secret-0123456789ab"
HOST = "127.0.0.1"
VOLUME = "Volume1"
SHARING_VIOLATION = 0xC0000043
WAIT = 30.0  # a bound on awaits that should finish at once (a hang fails the test instead of the suite)


async def until(what: Awaitable[T]) -> T:
    return await asyncio.wait_for(what, WAIT)


class Signal:
    """Named asyncio events the fake coordinator and sink set, for the test to await."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.log: list[str] = []

    def set(self, name: str) -> None:
        self.log.append(name)
        self._events.setdefault(name, asyncio.Event()).set()

    async def wait(self, name: str) -> None:
        await until(self._events.setdefault(name, asyncio.Event()).wait())


class FakeCoordinator:
    """Just enough HandleService + CoordinatorAdmin to see what crosses the link."""

    def __init__(self, sig: Signal) -> None:
        self.sig = sig
        self.sinks: dict[int, Any] = {}
        self.names: dict[int, str] = {}
        self.detached: list[int] = []
        self.undelivered: list[tuple[int, object]] = []
        self.calls: list[tuple[str, object]] = []
        self.release = asyncio.Event()
        self.last_hook: object = None
        self._next = 0

    # CoordinatorAdmin
    def attach(self, sink: Any, name: str) -> int:
        self._next += 1
        if name == "fenced":
            raise NotCoordinator("fenced at epoch 3")
        self.sinks[self._next], self.names[self._next] = sink, name
        self.sig.set(f"attach {name}")
        sink.watching(False)  # from inside attach: must reach the process after Welcome
        return self._next

    async def detach(self, endpoint: int) -> None:
        self.detached.append(endpoint)
        self.sig.set(f"detach {endpoint}")

    async def reclaim(self, endpoint: int, opens: tuple[ReclaimOpen, ...]) -> tuple[int, ...]:
        return tuple(o.image.persistent_id for o in opens if o.image.persistent_id % 2)

    async def undeliverable(self, endpoint: int, notice: object) -> None:
        self.undelivered.append((endpoint, notice))
        self.sig.set(f"undeliverable {len(self.undelivered)}")

    # HandleService (the calls the tests use)
    async def admit(self, req: AdmitRequest, hook: api.AsyncHook | None) -> AdmitResult:
        self.calls.append(("admit", req))
        if req.path == "busy":
            raise HandleStateError(SHARING_VIOLATION, "busy is open")
        self.last_hook = hook
        if req.path == "wait" and hook is not None:
            await hook.going_async()
            self.sig.set("coordinator went async")
            await self.release.wait()
        if req.path == "bug":
            raise KeyError("a coordinator bug")
        return AdmitResult(req.file_id << 8, 0, None, None)

    async def lock(self, req: LockRequest, hook: api.AsyncHook | None) -> None:
        assert hook is not None and req.blocking
        await hook.going_async()
        try:
            self.sig.set(f"lock waiting {req.persistent_id}")
            await asyncio.Event().wait()  # a conflicting lock that never goes away
        finally:
            self.sig.set(f"lock finally {req.persistent_id}")

    async def close(self, persistent_id: int, modified: bool = False) -> CloseResult:
        return CloseResult(persistent_id == 7, None)

    async def oplock_ack(self, persistent_id: int, level: int) -> int:
        return level

    async def contend_write(self, persistent_id: int) -> None:
        """Send every kind of event to every endpoint, then a FileFacts and wait for it."""
        for ep, sink in self.sinks.items():
            self.calls.append(("sent", ep, sink.oplock_break(persistent_id, 1),
                               sink.lease_break(b"g" * 16, b"k" * 16, 7, 1, True, 3, 2, persistent_id)))
            sink.watching(True)
            await sink.revoked(persistent_id)
            await sink.file_facts(FileFacts(persistent_id, "", (api.FileLock(1, 0, 10, True),), True))
            self.sig.set("facts returned")

    async def list_opens(self) -> tuple[api.HandleRow, ...]:
        return ()


class RecordingSink:
    def __init__(self, sig: Signal, deliver: bool = True) -> None:
        self.sig = sig
        self.deliver = deliver
        self.events: list[tuple[object, ...]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.revoke_gate = asyncio.Event()
        self.revoke_gate.set()

    def oplock_break(self, persistent_id: int, level: int) -> bool:
        self.events.append(("oplock_break", persistent_id, level))
        return self.deliver

    def lease_break(self, *args: object) -> bool:
        self.events.append(("lease_break", *args))
        return self.deliver

    async def revoked(self, persistent_id: int) -> None:
        self.sig.set("revoked arrived")
        await self.revoke_gate.wait()
        self.events.append(("revoked", persistent_id))

    async def end_session(self, session_id: int, user: str) -> None:
        self.events.append(("end_session", session_id, user))

    def watching(self, on: bool) -> None:
        self.events.append(("watching", on))

    async def file_facts(self, facts: FileFacts) -> None:
        self.sig.set("facts arrived")
        await self.gate.wait()
        self.events.append(("file_facts", facts))
        self.sig.set("facts applied")


class Hook:
    """The serving side's AsyncHook; ``gate`` holds going_async (a slow interim response)."""

    def __init__(self, sig: Signal) -> None:
        self.sig = sig
        self.gate = asyncio.Event()
        self.gate.set()

    async def going_async(self) -> None:
        self.sig.set("hook started")
        await self.gate.wait()
        self.sig.set("client interim sent")


def caller(svc: RemoteService) -> Caller:
    return Caller(svc.endpoint, b"G" * 16, 0x55, 1, "S-1-5-21-1", 0x311)


def admit_req(svc: RemoteService, path: str, file_id: int = 1) -> AdmitRequest:
    return AdmitRequest(caller(svc), file_id, None, path, False, True, 1, 0, 0x12019F, 0x12019F, 7, 0)


Scenario = Callable[[LinkServer, FakeCoordinator, Signal], Awaitable[None]]


def run(scenario: Scenario, loop: str = "asyncio") -> None:
    async def main() -> None:
        sig = Signal()
        server = LinkServer(SECRET)
        await server.start(HOST, 0)
        fake = FakeCoordinator(sig)
        server.register(VOLUME, fake)
        try:
            await scenario(server, fake, sig)
        finally:
            await server.close()
    if loop == "uvloop":  # what `sofs serve` runs
        uvloop.run(main())
    else:
        asyncio.run(main())


async def connect(server: LinkServer, sig: Signal, name: str = "n2", *, secret: bytes = SECRET,
                  volume: str = VOLUME, deliver: bool = True) -> tuple[RemoteService, RecordingSink]:
    sink = RecordingSink(sig, deliver)
    svc = await RemoteService.connect(HOST, server.port, secret=secret, name=name, volume=volume, sink=sink)
    return svc, sink


# ---- calls ----

def test_remote_service_has_every_handle_service_method() -> None:
    for name, fn in inspect.getmembers(api.HandleService, inspect.isfunction):
        if not name.startswith("_"):
            mine, theirs = inspect.signature(getattr(RemoteService, name)), inspect.signature(fn)
            assert mine.parameters == theirs.parameters, name
            # an async method, or a method returning the call's coroutine (one awaiting layer less)
            ret = theirs.return_annotation
            assert mine.return_annotation in (ret, f"Coroutine[Any, Any, {ret}]"), name
    reclaim = inspect.signature(api.CoordinatorAdmin.reclaim).parameters
    assert list(inspect.signature(RemoteService.reclaim).parameters) == [p for p in reclaim if p != "endpoint"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_calls_results_and_errors(loop: str) -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        assert svc.endpoint == 1 and fake.names == {1: "n2"} and server.attached(VOLUME) == [("n2", 1)]
        assert await svc.admit(admit_req(svc, "a", 5), None) == AdmitResult(5 << 8, 0, None, None)
        assert fake.calls == [("admit", admit_req(svc, "a", 5))]  # the request as sent
        assert await svc.close(7) == CloseResult(True, None)
        assert await svc.oplock_ack(1, 8) == 8
        assert await svc.list_opens() == ()
        assert await svc.reclaim((ReclaimOpen(caller(svc), _image(3)), ReclaimOpen(caller(svc), _image(4)))) == (3,)
        with pytest.raises(HandleStateError) as e:
            await svc.admit(admit_req(svc, "busy"), None)
        assert type(e.value) is HandleStateError
        assert (e.value.status, e.value.message) == (SHARING_VIOLATION, "busy is open")
        with pytest.raises(CoordinatorFault, match="KeyError"):
            await svc.admit(admit_req(svc, "bug"), None)
        # a Caller must carry this link's endpoint
        with pytest.raises(CoordinatorFault, match="endpoint 9"):
            await svc.admit(AdmitRequest(Caller(9, b"", 0, 0, "", 0), 1, None, "a", False, True, 1, 0, 0, 0, 0, 0),
                            None)
        with pytest.raises(CoordinatorFault, match="has no forget_replay"):  # the fake lacks it
            await svc.forget_replay(1)
        # the link is fine after all of that
        assert await svc.close(1) == CloseResult(False, None)
    run(go, loop)


def _image(pid: int) -> api.OpenImage:
    return api.OpenImage(pid, 1, "f", None, False, 1, 7, 0, 0, None, None, 1, 0, False)


def test_pending_runs_the_callers_hook_before_the_result() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        hook = Hook(sig)
        call = asyncio.create_task(svc.admit(admit_req(svc, "wait"), hook))
        await sig.wait("client interim sent")
        assert not call.done() and fake.last_hook is not None
        fake.release.set()
        assert (await until(call)).persistent_id == 1 << 8
        # Pending and Result arrive together; the result waits for the caller's going_async
        hook = Hook(sig)
        hook.gate.clear()
        call = asyncio.create_task(svc.admit(admit_req(svc, "wait"), hook))
        await sig.wait("hook started")
        await svc.close(1)  # answered after the admit's Result, which has arrived now
        assert not call.done()
        hook.gate.set()
        await until(call)
        # without a hook the coordinator gets None (and does not go async here)
        await svc.admit(admit_req(svc, "wait"), None)
        assert fake.last_hook is None
    run(go)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_cancelling_the_caller_cancels_the_coordinator_side(loop: str) -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        req = LockRequest(1, (LockRange(0, 10, True),), False, True)
        call = asyncio.create_task(svc.lock(req, Hook(sig)))
        await sig.wait("lock waiting 1")
        await sig.wait("client interim sent")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await sig.wait("lock finally 1")  # the coordinator's task was cancelled: its finally ran
        assert await svc.close(1) == CloseResult(False, None) and fake.detached == []
    run(go, loop)


# ---- events ----

@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_events_both_ways_and_undeliverable_breaks(loop: str) -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc2, sink2 = await connect(server, sig, "n2")
        svc3, sink3 = await connect(server, sig, "n3", deliver=False)
        await svc2.contend_write(13)
        facts = FileFacts(13, "", (api.FileLock(1, 0, 10, True),), True)
        lease = (b"g" * 16, b"k" * 16, 7, 1, True, 3, 2, 13)
        for sink in (sink2, sink3):
            assert sink.events == [("watching", False), ("oplock_break", 13, 1), ("lease_break", *lease), ("watching", True),
                                   ("revoked", 13), ("file_facts", facts)]
        # across the link the coordinator's Sink answers True; n3's own False comes back later
        assert [c[2:] for c in fake.calls if c[0] == "sent"] == [(True, True), (True, True)]
        await sig.wait("undeliverable 2")
        assert fake.undelivered == [(svc3.endpoint, OplockBreakNotice(13, 1)),
                                    (svc3.endpoint, LeaseBreakNotice(*lease))]
    run(go, loop)


def test_file_facts_returns_only_after_the_remote_process_applied_them() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, sink = await connect(server, sig)
        sink.gate.clear()
        call = asyncio.create_task(svc.contend_write(5))
        await sig.wait("facts arrived")
        assert "facts returned" not in sig.log
        sink.gate.set()
        await until(call)
        assert sig.log.index("facts applied") < sig.log.index("facts returned")
    run(go)


# ---- link loss ----

def test_close_link_detaches() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        other, _ = await connect(server, sig, "n3")
        await svc.close_link()
        await sig.wait("detach 1")
        assert not svc.is_open and server.attached(VOLUME) == [("n3", 2)]
        with pytest.raises(LinkLost):
            await svc.close(1)
        assert await other.close(7) == CloseResult(True, None)
    run(go)


def test_drop_node_and_abort_link_fail_in_flight_calls_at_once() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        n2, _ = await connect(server, sig, "n2")
        worker, _ = await connect(server, sig, "n2/w1")
        n3, _ = await connect(server, sig, "n3")
        n22, _ = await connect(server, sig, "n22")
        call = asyncio.create_task(n2.lock(LockRequest(1, (LockRange(0, 1, True),), False, True), Hook(sig)))
        await sig.wait("lock waiting 1")
        assert server.drop_node("n2", "n2 is down") == 2
        with pytest.raises(LinkLost):
            await until(call)
        await sig.wait(f"detach {n2.endpoint}")
        await sig.wait(f"detach {worker.endpoint}")
        assert server.attached(VOLUME) == [("n22", n22.endpoint), ("n3", n3.endpoint)]
        # the client side: abort_link fails its in-flight calls with the reason given
        call = asyncio.create_task(n3.lock(LockRequest(2, (LockRange(0, 1, True),), False, True), Hook(sig)))
        await sig.wait("lock waiting 2")
        n3.abort_link("Volume1 moved to n1")
        with pytest.raises(LinkLost, match="moved to n1"):
            await until(call)
        await sig.wait(f"detach {n3.endpoint}")
        await sig.wait("lock finally 2")
    run(go)


def test_revoked_returns_once_the_process_dropped_the_handle() -> None:
    """A coordinator closing an open (a new application instance's CREATE) answers only after the
    serving process dropped the handle: the old client's next request on it gets FILE_CLOSED."""
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, sink = await connect(server, sig)
        sink.revoke_gate.clear()
        revoking = asyncio.ensure_future(fake.sinks[svc.endpoint].revoked(9))
        await sig.wait("revoked arrived")
        await asyncio.sleep(0.05)
        assert not revoking.done() and ("revoked", 9) not in sink.events
        sink.revoke_gate.set()
        await until(revoking)
        assert ("revoked", 9) in sink.events
        await until(fake.sinks[svc.endpoint].end_session(0x51, "alice"))  # returns once applied
        assert sink.events[-1] == ("end_session", 0x51, "alice")
    run(go)


CHILD = """
import asyncio, sys
from sofs.handlestate.api import LockRange, LockRequest
from sofs.server.coordlink_client import RemoteService

class Sink:
    def oplock_break(self, *a): return True
    def lease_break(self, *a): return True
    async def revoked(self, *a): pass
    def watching(self, *a): pass
    async def file_facts(self, facts): pass

class Hook:
    async def going_async(self): pass

async def main():
    svc = await RemoteService.connect(sys.argv[1], int(sys.argv[2]), secret=bytes.fromhex(sys.argv[3]),
                                      name="child", volume=sys.argv[4], sink=Sink())
    print(svc.endpoint, flush=True)
    await svc.lock(LockRequest(1, (LockRange(0, 1, True),), False, True), Hook())

asyncio.run(main())
"""


def test_a_killed_serving_process_is_detached_at_once() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, HOST, str(server.port), SECRET.hex(), VOLUME,
            stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout is not None
            endpoint = int(await until(child.stdout.readline()))
            await sig.wait("lock waiting 1")  # the child's blocking lock waits at the coordinator
            child.send_signal(signal.SIGKILL)
            await sig.wait(f"detach {endpoint}")
            await sig.wait("lock finally 1")  # its in-flight call was cancelled
            assert fake.names[endpoint] == "child" and server.attached(VOLUME) == []
        finally:
            if child.returncode is None:
                child.kill()
            await child.wait()
    run(go)


def test_unregister_fails_calls_with_not_coordinator_and_does_not_detach() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        call = asyncio.create_task(svc.lock(LockRequest(1, (LockRange(0, 1, True),), False, True), Hook(sig)))
        await sig.wait("lock waiting 1")
        server.unregister(VOLUME, "moved to n3")
        with pytest.raises(NotCoordinator, match="moved to n3"):
            await until(call)
        await sig.wait("lock finally 1")
        await until(asyncio.shield(svc.lost))
        with pytest.raises(NotCoordinator):
            await svc.close(1)
        with pytest.raises(NotCoordinator, match="does not coordinate 'Volume1'"):
            await connect(server, sig)
        assert fake.detached == []
    run(go)


def test_registering_a_new_coordinator_ends_the_links_to_the_old_one() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        server.register(VOLUME, fake)  # the same object: nothing happens
        assert await svc.close(7) == CloseResult(True, None)
        newer = FakeCoordinator(sig)
        server.register(VOLUME, newer)
        await until(asyncio.shield(svc.lost))
        with pytest.raises(NotCoordinator, match="replaced"):
            await svc.close(7)
        again, _ = await connect(server, sig)
        assert newer.names == {again.endpoint: "n2"} and fake.detached == []
    run(go)


def test_a_coordinator_refusing_attach_is_not_coordinator() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        with pytest.raises(NotCoordinator, match="fenced at epoch 3"):
            await connect(server, sig, "fenced")
        svc, _ = await connect(server, sig)
        assert fake.sinks.keys() == {svc.endpoint}
    run(go)


# ---- refused and malformed peers ----

def test_wrong_secret_is_refused_and_nothing_is_attached() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        with pytest.raises(LinkRefused) as e:
            await connect(server, sig, secret=b"another-cluster-secret-012345678")
        assert e.value.reason == Reason.AUTH
        # a client that ignores the server's proof and sends a forged one is refused by the server
        raw = await RawPeer.open(server.port, b"another-cluster-secret-012345678", trust_server=True)
        assert await raw.read() == Refuse(Reason.AUTH, "authentication failed")
        assert await raw.at_eof()
        assert fake.sinks == {} and server.attached(VOLUME) == []
    run(go)


class RawPeer:
    """A hand-driven client: handshake frames by hand, then arbitrary bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.codec = Codec()
        self.buf = FrameBuffer()
        self.frames: list[object] = []

    @classmethod
    async def open(cls, port: int, secret: bytes = SECRET, *, trust_server: bool = False,
                   volume: str = VOLUME) -> RawPeer:
        reader, writer = await asyncio.open_connection(HOST, port)
        peer = cls(reader, writer)
        hs = ClientHandshake(secret, os.urandom(32), "raw", volume)
        peer.send(encode_frame(peer.codec, hs.hello))
        ch = await peer.read()
        assert isinstance(ch, Challenge)
        if trust_server:  # skip the check of the server's proof: answer with our (wrong) secret
            hs = ClientHandshake(secret, hs.hello.nonce, "raw", volume)
            ch = Challenge(ch.nonce, proof(secret, "server", hs.hello, ch.nonce))
        peer.send(encode_frame(peer.codec, hs.on_challenge(ch)))
        return peer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self) -> object:
        while not self.frames:
            data = await until(self.reader.read(65536))
            assert data, "closed"
            self.frames += [decode_frame(self.codec, b) for b in self.buf.feed(data)]
        return self.frames.pop(0)

    async def at_eof(self) -> bool:
        while True:
            data = await until(self.reader.read(65536))
            if not data:
                return True


@pytest.mark.parametrize("garbage", [
    b"\x00\x00\x00\x02\xc1\xc1",  # 0xc1 is never used by msgpack
    b"\xff\xff\xff\xff",  # a 4 GiB frame
    b"\x00\x00\x00\x02\x91\x7f",  # an unknown frame kind
    b"\x00\x00\x00\x03\x92\x13\x01",  # a Welcome, which only a server sends
    b"CALL",
], ids=["not-msgpack", "oversized", "unknown-kind", "wrong-direction", "text"])
def test_malformed_frames_drop_only_that_link(garbage: bytes) -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        good, _ = await connect(server, sig)
        raw = await RawPeer.open(server.port)
        welcome = await raw.read()
        assert isinstance(welcome, Welcome) and fake.names[welcome.endpoint] == "raw"
        raw.send(garbage)
        await sig.wait(f"detach {welcome.endpoint}")
        assert await raw.at_eof()
        assert await good.close(7) == CloseResult(True, None)
        assert server.attached(VOLUME) == [("n2", good.endpoint)]
    run(go)


@pytest.mark.parametrize("call", [
    Call(1, "no_such_method", ()),
    Call(1, "close", ("not an int",)),
    Call(1, "close", ("not an int", False)),
    Call(1, "reclaim", (5,)),
])
def test_bad_calls_drop_the_link(call: Call) -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        raw = await RawPeer.open(server.port)
        welcome = await raw.read()
        assert isinstance(welcome, Welcome)
        raw.send(framed(raw.codec.pack((1, call.id, call.method, call.args))))  # as sent: not encodable
        await sig.wait(f"detach {welcome.endpoint}")
        assert fake.calls == []
    run(go)


def test_garbage_before_authentication_attaches_nothing() -> None:
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        for garbage in (b"\x00\x00\x00\x01\xc0", b"GET / HTTP/1.0\r\n\r\n", encode_frame(Codec(), Welcome(1))):
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(garbage)
            assert await until(reader.read()) == b""
            writer.close()
        assert fake.sinks == {}
        svc, _ = await connect(server, sig)  # still serving
        assert svc.endpoint == 1
    run(go)


def test_a_silent_peer_is_dropped_after_the_handshake_timeout() -> None:
    async def go() -> None:
        server = LinkServer(SECRET, handshake_timeout=0.2)
        await server.start(HOST, 0)
        try:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            assert await until(reader.read()) == b""  # closed by the server, not by us
            writer.close()
        finally:
            await server.close()
    asyncio.run(go())


def test_unreachable_coordinator_is_link_lost() -> None:
    async def go() -> None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]  # bound, not listening: connection refused
            with pytest.raises(LinkLost, match="cannot reach"):
                await RemoteService.connect(HOST, port, secret=SECRET, name="n2", volume=VOLUME,
                                            sink=RecordingSink(Signal()))
    asyncio.run(go())


def test_a_peer_of_another_wire_version_is_refused_at_connect() -> None:
    """A worker or node of a release with wire version 1 (values as tagged ext types) meets a
    version-2 coordinator: its Hello is refused with Reason.VERSION naming both versions, nothing is
    attached, and no call is ever decoded with the wrong codec."""
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        peer = RawPeer(reader, writer)
        peer.send(encode_frame(peer.codec, Hello(1, os.urandom(32), "old", VOLUME)))
        refuse = await peer.read()
        assert isinstance(refuse, Refuse) and refuse.reason == Reason.VERSION
        assert "link protocol 1 not supported" in refuse.message and f"{PROTOCOL_VERSION})" in refuse.message
        assert await peer.at_eof()
        assert fake.names == {} and server.attached(VOLUME) == []
        writer.close()
    run(go)


def test_a_caller_naming_another_endpoint_is_refused() -> None:
    """A request (or a reclaimed open) whose Caller names another link's endpoint never reaches the
    coordinator: the call fails with CoordinatorFault and the link stays up."""
    async def go(server: LinkServer, fake: FakeCoordinator, sig: Signal) -> None:
        svc, _ = await connect(server, sig)
        other = dataclasses.replace(caller(svc), endpoint=svc.endpoint + 1)
        with pytest.raises(CoordinatorFault, match="is not this link's"):
            await svc.admit(dataclasses.replace(admit_req(svc, "a"), caller=other), None)
        with pytest.raises(CoordinatorFault, match="is not this link's"):
            await svc.reclaim((ReclaimOpen(caller(svc), _image(3)), ReclaimOpen(other, _image(4))))
        assert fake.calls == []
        assert await svc.close(7) == CloseResult(True, None)
    run(go)
