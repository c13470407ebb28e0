"""A node's handles across a change of its volume's coordinator (issue 13, acceptance 3), driven in
memory: the node's SMB server (a MemClient), its ClusterVolumes with a scripted cluster agent, and the
other node's coordinator behind a real link on loopback.

- The old coordinator lets its links go before this node hears that the volume moved here: the link's
  watcher drops the link first, and the node must still re-register its live handles with the
  coordinator it becomes (the bench's STATUS_FILE_CLOSED on the LOCK/UNLOCK after the move).
- A node that stops coordinating turns its data path to its mirror of the files' locks: that mirror
  must be the coordinator's last word, not what it mirrored before it coordinated (the bench's
  STATUS_FILE_LOCK_CONFLICT on a WRITE: a lock of an open closed long ago).

Explicit ordering: the test makes each cluster change and awaits the node's reaction to it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from memclient import MemClient

from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.server.cluster_volumes import ClusterVolumes, csv_group
from sofs.server.coordlink_server import LinkServer
from sofs.wire.constants import Command
from sofs.wire.messages import TreeConnectRequest
from sofs.wire.messages.close import CloseRequest
from sofs.wire.messages.create import CreateRequest, CreateResponse
from sofs.wire.messages.io import WriteRequest
from sofs.wire.messages.lock import LockElement, LockRequest

SECRET = b"s" * 32
GROUP = csv_group("Vol1")
EXCLUSIVE_NOW, UNLOCK = 0x2 | 0x10, 0x4


class Agent:
    """The cluster as the node sees it: who owns the volume's group, at which epoch."""

    def __init__(self, n2_port: int) -> None:
        self.owner: tuple[str | None, int] = ("n2", 1)
        rec = SimpleNamespace(record=SimpleNamespace(address="127.0.0.1", link_port=n2_port))
        self.snapshot = SimpleNamespace(nodes={"n2": rec})
        self.declared: list[str] = []
        self.up = {"n1", "n2"}

    def group_owners(self) -> dict[str, tuple[str | None, int]]:
        return {GROUP: self.owner}

    def owns(self, group: str, epoch: int) -> bool:
        return group == GROUP and self.owner == ("n1", epoch)

    def up_nodes(self) -> set[str]:
        return set(self.up)

    async def declare_down(self, node: str, why: str) -> None:
        self.declared.append(node)


class Store:
    async def put(self, key: str, value: bytes) -> None:
        pass


class Node:
    """Node n1: an SMB client on it, its ClusterVolumes; node n2's link server."""

    def __init__(self, tmp_path: Path) -> None:
        root = tmp_path / "ClusterStorage"
        (root / "Vol1").mkdir(parents=True)
        self.c = MemClient.create(str(root / "Vol1"))
        self.root = root
        self.tid = 0

    async def start(self, n2coord: VolumeCoordinator | None = None) -> None:
        self.n2 = LinkServer(SECRET)
        await self.n2.start("127.0.0.1", 0)
        self.n2.register("vol1", n2coord or VolumeCoordinator("vol1"))
        self.n1 = LinkServer(SECRET)
        await self.n1.start("127.0.0.1", 0)
        self.agent = Agent(self.n2.port)
        ctx = SimpleNamespace(name="n1", agent=self.agent, link=self.n1, store=Store(),
                              config=SimpleNamespace(prefix="/t/"), link_secret=SECRET)
        server = self.c.proto.server
        self.cv = ClusterVolumes(server, ctx, self.root)
        server.shares["data"].volume = self.cv.client_for("Vol1")
        await self.cv.sync()
        self.vol = self.cv.vols["vol1"]
        assert self.vol.remote is not None  # n2 coordinates
        c = self.c
        await c.negotiate((0x0311,))
        assert (await c.login()).status == 0
        self.tid = (await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode(),
                                 sign=True)).header.tree_id

    async def stop(self) -> None:
        await self.cv.close()
        await self.n1.close()
        await self.n2.close()

    async def call(self, command: int, body: bytes) -> tuple[int, bytes]:
        r = await self.c.call(command, body, sign=True, tree_id=self.tid)
        return r.status, r.msg

    async def create(self, name: str) -> bytes:
        body = CreateRequest(desired_access=0x80000000 | 0x40000000, share_access=1, create_disposition=3,
                             name=name).encode()
        status, msg = await self.call(Command.CREATE, body)
        assert status == 0, hex(status)
        return CreateResponse.decode(msg).file_id

    async def lock(self, fid: bytes, flags: int) -> int:
        return (await self.call(Command.LOCK, LockRequest(fid, (LockElement(0, 4096, flags),)).encode()))[0]

    async def lock_across_a_move(self, fid: bytes, flags: int) -> int:
        """A LOCK during which the volume moves: its answer comes once the node followed the move."""
        c = self.c
        c.send_raw(c.request(Command.LOCK, LockRequest(fid, (LockElement(0, 4096, flags),)).encode(), sign=True,
                             tree_id=self.tid))
        got = await c.settle()
        await self.reacted()
        for _ in range(20):
            got += await c.settle()
            if got:
                break
        assert len(got) == 1, got
        return got[0].status

    async def write(self, fid: bytes) -> int:
        return (await self.call(Command.WRITE, WriteRequest(0, fid, b"x" * 4096).encode()))[0]

    async def close(self, fid: bytes) -> int:
        return (await self.call(Command.CLOSE, CloseRequest(0, fid).encode()))[0]

    async def reacted(self) -> None:
        """Until the node's reactions to the last change (the link watcher, the syncs) are done."""
        if self.vol.watcher is not None:
            await self.vol.watcher
        while self.cv._tasks:
            await asyncio.gather(*self.cv._tasks)


def held(coord: VolumeCoordinator) -> list[tuple[int, int, int]]:
    t = coord.table.locks
    return [(lk.owner, lk.offset, lk.length) for f in t.files for lk in t.locks_of(f)]


class AnswerLost(VolumeCoordinator):
    """n2's coordinator; ``after_lock`` runs once a LOCK took effect (mirrored to n1), before its
    answer goes out: the test moves the volume there, so the answer never reaches n1."""

    after_lock: Callable[[], None] | None = None

    async def lock(self, req: Any, hook: Any) -> None:
        await super().lock(req, hook)
        if self.after_lock is not None:
            then, self.after_lock = self.after_lock, None
            then()


def test_a_lock_and_an_unlock_whose_answers_are_lost_in_a_move_take_effect_once(tmp_path) -> None:
    async def go() -> None:
        node = Node(tmp_path)
        n2coord = AnswerLost("vol1")
        await node.start(n2coord)

        def move_to_n1() -> None:
            node.agent.owner = ("n1", 2)
            node.n2.unregister("vol1", "the volume moved to n1")

        try:
            fid = await node.create("f.dat")
            n2coord.after_lock = move_to_n1
            # the LOCK is granted at n2 and mirrored to n1; its answer is lost; n1 coordinates now
            # (its reclaim carried the lock) and the LOCK sent again is answered success
            assert await node.lock_across_a_move(fid, EXCLUSIVE_NOW) == 0
            coord = node.vol.coordinator
            assert coord is not None
            pid = node.c.proto.server.handles.by_id[fid].pid  # type: ignore[index]
            assert held(coord) == [(pid, 0, 4096)]
            # back to n2, and the UNLOCK's answer is lost the same way
            n2b = AnswerLost("vol1")
            node.n2.register("vol1", n2b)
            node.agent.owner = ("n2", 3)
            await node.cv.sync()
            assert node.vol.remote is not None and held(n2b) == [(pid, 0, 4096)]

            def move_to_n1_again() -> None:
                node.agent.owner = ("n1", 4)
                node.n2.unregister("vol1", "the volume moved to n1")

            n2b.after_lock = move_to_n1_again
            assert await node.lock_across_a_move(fid, UNLOCK) == 0
            coord = node.vol.coordinator
            assert coord is not None and held(coord) == []
            assert await node.close(fid) == 0
            assert not coord.table.opens_by_persistent
        finally:
            await node.stop()
    asyncio.run(go())


def test_the_volume_moving_here_after_the_old_coordinator_let_the_link_go_keeps_the_handles(tmp_path) -> None:
    async def go() -> None:
        node = Node(tmp_path)
        await node.start()
        try:
            fid = await node.create("f.dat")
            assert await node.lock(fid, EXCLUSIVE_NOW) == 0
            # the volume moves to n1; n2 lets its links go before n1's cluster view changes: the
            # link's watcher drops the link first, then asks for a sync, which makes n1 coordinate
            node.agent.owner = ("n1", 2)
            node.n2.unregister("vol1", "the volume moved to n1")
            await node.reacted()
            coord = node.vol.coordinator
            assert coord is not None and node.vol.remote is None
            pid = node.c.proto.server.handles.by_id[fid].pid  # type: ignore[index]
            assert held(coord) == [(pid, 0, 4096)]
            assert await node.write(fid) == 0
            assert await node.lock(fid, UNLOCK) == 0
            assert await node.close(fid) == 0
            assert not coord.table.opens_by_persistent
        finally:
            await node.stop()
    asyncio.run(go())


def test_a_node_that_stops_coordinating_mirrors_the_coordinators_last_locks(tmp_path) -> None:
    async def go() -> None:
        node = Node(tmp_path)
        await node.start()
        try:
            old = await node.create("f.dat")
            assert await node.lock(old, EXCLUSIVE_NOW) == 0  # mirrored from n2's coordinator
            node.agent.owner, node.agent.up = ("n1", 2), {"n1"}  # n2 leaves: no grace to wait for
            await node.cv.sync()  # n1 coordinates: its data path asks its own coordinator
            assert node.vol.coordinator is not None
            assert await node.lock(old, UNLOCK) == 0
            assert await node.close(old) == 0
            new = await node.create("f.dat")
            assert await node.lock(new, EXCLUSIVE_NOW) == 0
            # the volume has no coordinator for a moment (its next owner is not up yet): the data
            # path falls back on the mirror, where the old open's lock must not be any more
            node.agent.owner = (None, 3)
            await node.cv.sync()
            assert node.vol.coordinator is None and node.vol.router.current is None
            assert await node.write(new) == 0
            # n2 coordinates again; the reclaim hands it the new open's lock
            n2coord = VolumeCoordinator("vol1")
            node.n2.register("vol1", n2coord)
            node.agent.owner, node.agent.up = ("n2", 4), {"n1", "n2"}
            await node.cv.sync()
            assert node.vol.remote is not None
            assert [offset for _pid, offset, _length in held(n2coord)] == [0]
            assert await node.write(new) == 0
            assert await node.lock(new, UNLOCK) == 0
            assert await node.close(new) == 0
            assert not n2coord.table.opens_by_persistent
        finally:
            await node.stop()
    asyncio.run(go())


def test_an_admit_sent_again_after_a_coordinator_change_is_marked_resent() -> None:
    """Router: the first sending is the request as made; the one after NotCoordinator is a copy
    marked ``resent`` (coord_create takes over the journaled open it may have left)."""
    from sofs.handlers.volume import VolumeClient
    from sofs.handlestate.api import AdmitRequest, AdmitResult, Caller, NotCoordinator
    from sofs.server.cluster_volumes import Router

    class Flaky:
        def __init__(self) -> None:
            self.sent: list[AdmitRequest] = []

        async def admit(self, req: AdmitRequest, hook: Any) -> AdmitResult:
            self.sent.append(req)
            if len(self.sent) == 1:
                raise NotCoordinator("moved")
            return AdmitResult(7, 0, None, None)

    async def go() -> None:
        vol = VolumeClient("v", None, 1)  # type: ignore[arg-type]
        router = Router(vol, wait_s=5)
        svc = Flaky()
        router.set(svc)
        req = AdmitRequest(Caller(1, b"g" * 16, 1, 1, "S-1", 0x311), 10, None, "f", False, True, 1, 0,
                           0x80, 0x80, 7, 0, None, None)
        task = asyncio.create_task(router.admit(req, None))
        while router.current is not None:
            await asyncio.sleep(0)
        router.set(svc)  # the next coordinator
        assert (await task).persistent_id == 7
        assert [r.resent for r in svc.sent] == [False, True] and svc.sent[0] is req
    asyncio.run(go())
