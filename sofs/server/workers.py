"""Several SMB worker processes behind one server address (``sofs serve --workers N``).

One process per core serves SMB; each is a client of the volume coordinators exactly as another
cluster node is (:mod:`sofs.server.coordlink`), so share modes, oplocks, leases, byte-range locks,
change notify, replay and persistent handles hold across workers as they hold across nodes.

The **main process** (this module's :class:`Supervisor`) keeps what a server has once:

- the volume coordinators of its shares (in-process, as on a one-process server) and a link server on
  loopback through which the other workers reach them;
- the listening sockets: it accepts every connection, peeks at its NEGOTIATE and hands it to a worker
  (:mod:`sofs.server.placement`: the worker already serving that ClientGuid, else the least loaded);
  the socket travels over the worker's control channel (:mod:`sofs.server.workerlink`, SCM_RIGHTS);
- SMB service itself, as worker 0 (its clients' handle-state calls stay in-process), unless
  ``dedicated`` (then it only coordinates);
- the open-file listing and Close-SmbOpenFile requests of every worker; the routing of a
  PreviousSessionId to the worker holding the session; on a cluster node, the node's ``/metrics``
  counts every worker's requests, connections, sessions and opens (``MainPeers.request_stats``,
  ``MainPeers.counts``: each node worker reports them once a second);
- the workers' lives: a worker that dies is restarted; the coordinators saw its links close and kept
  its durable opens disconnected (the others closed), and its clients reconnect and reclaim them as
  after a node failure.

The worker processes run :mod:`sofs.server.worker`.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sofs.config import ServerConfig
from sofs.handlers.session import end_previous_session
from sofs.server.acceptor import Acceptor
from sofs.server.connection import SmbConnection
from sofs.server.coordlink_server import LinkServer
from sofs.server.placement import Placement, session_ids, session_worker
from sofs.server.state import ServerState
from sofs.server.stats import RequestStats
from sofs.server.workerlink import Channel, ChannelClosed

log = logging.getLogger("sofs.workers")
READY_TIMEOUT_S = 60.0
PREV_TIMEOUT_S = 10.0
STOP_GRACE_S = 5.0
LINK_HOST = "127.0.0.1"


def worker_count(cfg: ServerConfig) -> int:
    """``workers`` of the configuration; 0 means one per core."""
    return cfg.workers if cfg.workers > 0 else (os.cpu_count() or 1)


@dataclass
class WorkerSpec:
    """What a worker process starts from (pickled to its standard input)."""

    index: int
    name: str  # its name at the coordinators (listings): "w1", or "<node>/w1" on a cluster node
    config: ServerConfig
    link_host: str
    link_port: int
    secret: bytes
    volumes: list[str]
    start_filetime: int
    control_fd: int
    uvloop: bool = True
    log_level: int = logging.INFO
    node_name: str = ""
    state_dir: str = ""  # a cluster node's worker (sofs.server.node_worker): the cluster's state dir
    node_id: int = 0  # the node's id, in the worker's session ids


class WorkerCounts(NamedTuple):
    """A worker's ("stats", ...) report: what the node's /metrics add up (msgpack carries it as a list)."""

    stats: list[Any]  # RequestStats.snapshot()
    connections: int
    sessions: int
    opens: dict[str, int]  # kind ("plain", "durable", "persistent") -> open files


@dataclass(eq=False)
class _Child:
    index: int
    proc: asyncio.subprocess.Process | None = None
    channel: Channel | None = None
    started: float = 0.0
    ready: asyncio.Future[None] | None = None
    rows: dict[str, str] = field(default_factory=dict)  # its open-file listing: JSON text per share
    counts: WorkerCounts | None = None  # its last report


def connection_factory(server: ServerState, token: int,
                       adopt: tuple[dict[str, Any], bytes] | None = None) -> Any:
    return lambda: SmbConnection(server, token, adopt)


class Supervisor:
    """The main process of a server with several workers (see the module docstring)."""

    def __init__(self, server: ServerState, count: int, *, dedicated: bool = False, uvloop: bool = True,
                 log_level: int = logging.INFO, link: LinkServer | None = None) -> None:
        if count < (1 if dedicated else 2):
            raise ValueError("a supervisor needs a worker process besides the main one")
        self.server = server
        self.count = count
        self.dedicated = dedicated
        self.uvloop = uvloop
        self.log_level = log_level
        self.placement = Placement(count)
        self.children: dict[int, _Child] = {}
        self.link: LinkServer | None = link  # given: a cluster node's (the workers reach every node's)
        self._own_link = link is None
        self.node_id = 0  # a cluster node's id (session ids carry it, sofs.server.placement)
        self.stopping = False
        self.restarts = 0
        self.retired = RequestStats()  # the requests of worker processes that died
        self._secret = secrets.token_bytes(32)
        self._req = itertools.count(1)
        self._waits: dict[int, asyncio.Future[bool]] = {}
        self._forwarded: dict[int, tuple[_Child, int]] = {}  # our request id -> (asking child, its id)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop = asyncio.get_running_loop()
        self.acceptor = Acceptor(self._place)

    @property
    def first_child(self) -> int:
        return 0 if self.dedicated else 1

    # ---- start and stop ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Link server, worker processes, listeners. The main process serves (as worker 0) from the
        start; each other worker takes connections once it is ready. A dedicated coordinator waits
        for its workers before it listens."""
        if self.link is None:
            self.link = LinkServer(self._secret)
            await self.link.start(LINK_HOST, 0)
            for name, coord in self.server.coordinators.items():
                self.link.register(name, coord)
        self.server.workers = MainPeers(self)
        if not self.dedicated:
            self.server.number_sessions(session_ids(0, node=self.node_id))
            self.placement.worker_up(0)
            self._listen()
        for i in range(self.first_child, self.count):
            self.children[i] = _Child(i)
            await self._spawn(self.children[i])
        self._spawn_task(self._all_ready())
        if self.dedicated:
            first = [c.ready for c in self.children.values() if c.ready is not None]
            await asyncio.wait(first, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
            if not self.placement.up:
                raise RuntimeError(f"no worker process started in {READY_TIMEOUT_S:.0f} s")
            self._listen()

    async def _all_ready(self) -> None:
        ready = [c.ready for c in self.children.values() if c.ready is not None]
        _done, pending = await asyncio.wait(ready, timeout=READY_TIMEOUT_S)
        if pending:
            log.error("%d worker process(es) did not start in %.0f s", len(pending), READY_TIMEOUT_S)
        else:
            log.info("serving with %d worker processes%s", self.count,
                     " (the main process coordinates only)" if self.dedicated else "")

    def _listen(self) -> None:
        self.acceptor.listen(self.server.config.listen)

    async def stop(self) -> None:
        """Stop accepting, let every worker finish its requests and close, then wait for them."""
        self.stopping = True
        self.acceptor.close()
        procs = []
        for c in self.children.values():
            if c.channel is not None and not c.channel.closed:
                with contextlib.suppress(ChannelClosed):
                    c.channel.send(("stop",))
            if c.proc is not None:
                procs.append(c.proc)
        if procs:
            _done, pending = await asyncio.wait([self.loop.create_task(p.wait()) for p in procs],
                                                timeout=STOP_GRACE_S + 3)
            for p in procs:
                if p.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()
            if pending:
                await asyncio.wait(pending, timeout=3)
        if self.link is not None and self._own_link:
            await self.link.close()

    # ---- worker processes -------------------------------------------------------------------------
    async def _spawn(self, child: _Child) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        spec = self.spec_for(child, theirs.fileno())
        child.ready = self.loop.create_future()
        child.started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "sofs.server.worker",
                                                        stdin=asyncio.subprocess.PIPE, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        child.proc = proc
        child.channel = Channel(ours, lambda m, f: self._on_message(child, m, f),
                                lambda why: self._on_closed(child, why))
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(spec))
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        proc.stdin.close()

    def spec_for(self, child: _Child, control_fd: int) -> WorkerSpec:
        assert self.link is not None
        return WorkerSpec(child.index, f"w{child.index}", self.server.config, LINK_HOST, self.link.port, self._secret,
                          sorted(self.server.coordinators), self.server.start_filetime, control_fd, self.uvloop,
                          self.log_level)

    def on_ready(self, child: _Child) -> None:
        """Worker ``child`` (re)started and reached its volumes (a cluster node's gives it its state)."""

    def on_message(self, child: _Child, msg: tuple[Any, ...]) -> bool:
        """A message of a kind this class does not know; True when handled."""
        return False

    def _on_closed(self, child: _Child, why: str) -> None:
        gone = self.placement.worker_gone(child.index)
        child.rows = {}
        if child.counts is not None:  # its requests stay counted (a counter of /metrics never goes back)
            self.retired.add(child.counts.stats)
            child.counts = None
        if child.ready is not None and not child.ready.done():
            child.ready.set_exception(RuntimeError(f"worker {child.index} exited before it was ready: {why}"))
        for rid, (asker, _) in list(self._forwarded.items()):
            if asker is child:
                del self._forwarded[rid]
        if self.stopping:
            return
        log.warning("worker %d (pid %s) is gone (%s) with %d connection(s); restarting it", child.index,
                    child.proc.pid if child.proc else "?", why, len(gone))
        self._spawn_task(self._restart(child))

    async def _restart(self, child: _Child) -> None:
        lived = time.monotonic() - child.started
        if child.proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.proc.wait(), 5)
            if child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
        await asyncio.sleep(0.1 if lived > 10 else min(10.0, 1.0 + 10 - lived))
        if self.stopping:
            return
        self.restarts += 1
        await self._spawn(child)

    def _spawn_task(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker supervision failed", exc_info=task.exception())

    def _on_message(self, child: _Child, msg: tuple[Any, ...], fds: list[int]) -> None:
        try:
            self._message(child, msg, fds)
        finally:
            for fd in fds:  # forwarded (Channel.send duplicates) or not wanted
                os.close(fd)

    def _message(self, child: _Child, msg: tuple[Any, ...], fds: list[int]) -> None:
        kind = msg[0]
        if kind == "closed":
            self.placement.closed(int(msg[1]))
        elif kind == "rows":
            child.rows = dict(msg[1])
        elif kind == "stats":
            child.counts = WorkerCounts(*msg[1:])
        elif kind == "prev":
            _, rid, sid, user = msg
            self._spawn_task(self._answer_prev(child, int(rid), int(sid), str(user)))
        elif kind == "prev_done":
            fut = self._waits.pop(int(msg[1]), None)
            if fut is not None and not fut.done():
                fut.set_result(bool(msg[2]))
        elif kind == "handoff":
            _, token, worker, state, request = msg
            if len(fds) == 1:
                self.route_handoff(int(token), int(worker), dict(state), bytes(request), fds[0])
            return
        elif kind == "ready":
            self.placement.worker_up(child.index)
            if child.ready is not None and not child.ready.done():
                child.ready.set_result(None)
            log.info("worker %d ready (pid %s)", child.index, msg[1])
            self.on_ready(child)
        elif not self.on_message(child, msg):
            log.warning("worker %d sent an unknown message %r", child.index, kind)

    async def _answer_prev(self, asker: _Child, rid: int, sid: int, user: str) -> None:
        found = await self.logoff_previous(sid, user, asker.index)
        if asker.channel is not None and not asker.channel.closed:
            with contextlib.suppress(ChannelClosed):
                asker.channel.send(("prev_done", rid, found))

    async def logoff_previous(self, sid: int, user: str, asker: int) -> bool:
        """Route a PreviousSessionId to the worker whose id it carries."""
        owner = session_worker(sid)
        if owner == asker:
            return False  # the asker looked it up itself
        if owner == 0 and not self.dedicated:
            return await end_previous_session(self.server, sid, user)
        child = self.children.get(owner)
        if child is None or child.channel is None or child.channel.closed:
            return False
        rid = next(self._req)
        fut: asyncio.Future[bool] = self.loop.create_future()
        self._waits[rid] = fut
        try:
            child.channel.send(("prev", rid, sid, user))
            return await asyncio.wait_for(fut, PREV_TIMEOUT_S)
        except (ChannelClosed, TimeoutError):
            return False
        finally:
            self._waits.pop(rid, None)

    # ---- connections ------------------------------------------------------------------------------
    def _place(self, conn: socket.socket, guid: bytes | None) -> None:
        """Give an accepted connection (peeked at by the Acceptor) to its worker."""
        worker = self.placement.choose(guid)
        if worker is None:
            log.warning("no worker is up: connection dropped")
            conn.close()
            return
        token = self.placement.opened(worker, guid)
        log.debug("connection %d -> worker %d (ClientGuid %s)", token, worker, guid.hex() if guid else "-")
        if worker == 0 and not self.dedicated:
            self._spawn_task(self.loop.connect_accepted_socket(connection_factory(self.server, token), conn))
            return
        child = self.children[worker]
        try:
            assert child.channel is not None
            child.channel.send(("conn", token), (conn.fileno(),))
        except ChannelClosed:
            self.placement.closed(token)
        finally:
            conn.close()

    def route_handoff(self, token: int, worker: int, state: dict[str, Any], request: bytes, fd: int) -> None:
        """A connection moves to ``worker`` (see ConnectionHandoff); to any live worker when that one
        is gone (the binding then fails there as for an unknown session). ``fd`` stays the caller's."""
        target = worker if worker in self.placement.up else self.placement.choose(None)
        if target is None:
            self.placement.closed(token)
            return
        self.placement.moved(token, target)
        if target == 0 and not self.dedicated:
            sock = socket.socket(fileno=os.dup(fd))
            self._spawn_task(self.loop.connect_accepted_socket(
                connection_factory(self.server, token, (state, request)), sock))
            return
        child = self.children[target]
        try:
            assert child.channel is not None
            child.channel.send(("adopt", token, state, request), (fd,))
        except ChannelClosed:
            self.placement.closed(token)

    # ---- for MainPeers ----------------------------------------------------------------------------
    def close_elsewhere(self, volume: str, persistent_id: int) -> None:
        for c in self.children.values():
            if c.channel is not None and not c.channel.closed:
                with contextlib.suppress(ChannelClosed):
                    c.channel.send(("close_open", volume, persistent_id))


class MainPeers:
    """The main process's :class:`~sofs.handlers.peers.Peers` (it serves as worker 0)."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    def connection_closed(self, token: int, handed_back: asyncio.Future[Any] | None) -> None:
        if handed_back is None:
            self.sup.placement.closed(token)
        else:
            handed_back.add_done_callback(lambda _f: self.sup.placement.closed(token))

    async def logoff_previous(self, session_id: int, user: str) -> bool:
        return await self.sup.logoff_previous(session_id, user, 0)

    def rows(self) -> dict[str, list[str]]:
        """Per share, the open-file listings of the worker processes (JSON text, see rows_text)."""
        out: dict[str, list[str]] = {}
        for c in self.sup.children.values():
            for share, text in c.rows.items():
                out.setdefault(share, []).append(text)
        return out

    def request_stats(self) -> RequestStats:
        """This server's request counters: the main process's, the workers' last reports and the
        requests of workers that died (``handles``: the main process's, where the coordinators run)."""
        total = RequestStats()
        total.handles = self.sup.server.stats.handles
        total.add(self.sup.server.stats.snapshot())
        total.add(self.sup.retired.snapshot())
        for c in self.sup.children.values():
            if c.counts is not None:
                total.add(c.counts.stats)
        return total

    def counts(self) -> WorkerCounts:
        """The workers' connections, sessions and open files by kind, added up from their last
        reports (``stats`` left empty: :meth:`request_stats`)."""
        conns = sessions = 0
        kinds: dict[str, int] = {}
        for c in self.sup.children.values():
            if c.counts is not None:
                conns += c.counts.connections
                sessions += c.counts.sessions
                for k, n in c.counts.opens.items():
                    kinds[k] = kinds.get(k, 0) + n
        return WorkerCounts([], conns, sessions, kinds)

    def owner_of(self, session_id: int) -> int | None:
        w = session_worker(session_id)
        return w if w != 0 and w in self.sup.placement.up else None

    def hand_off(self, token: int, worker: int, state: dict[str, Any], request: bytes, fd: int) -> None:
        self.sup.route_handoff(token, worker, state, request, fd)

    def close_elsewhere(self, volume: str, persistent_id: int) -> None:
        self.sup.close_elsewhere(volume, persistent_id)
