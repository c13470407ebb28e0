"""An SMB worker process of a server with several (``python -m sofs.server.worker``; see
:mod:`sofs.server.workers`).

It reads its :class:`~sofs.server.workers.WorkerSpec` from standard input, builds the same server
state as the main process but without coordinating anything: every volume is reached over the
coordinator link, as from another cluster node. Connections arrive over the control channel
(SCM_RIGHTS) already accepted, with the number the main process gave them. It publishes its open
files to the main process (which lists them with its own), answers PreviousSessionId and
Close-SmbOpenFile requests for what it holds, and stops when told to or when the main process is
gone (its clients then reconnect to the restarted server).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import signal
import socket
import sys
import time
from typing import Any

from sofs.handlers.handles_status import Pacer, digest, open_rows, rows_text
from sofs.handlers.session import end_previous_session
from sofs.handlers.volume import ProcessSink, VolumeClient
from sofs.server.app import build_state, shutdown_connections, tune_malloc
from sofs.server.cluster_volumes import Router
from sofs.server.coordlink_client import RemoteService
from sofs.server.placement import session_ids, session_worker
from sofs.server.state import ServerState
from sofs.server.workerlink import Channel, ChannelClosed
from sofs.server.workers import PREV_TIMEOUT_S, STOP_GRACE_S, WorkerSpec, connection_factory

log = logging.getLogger("sofs.worker")
ROWS_EVERY_S = 1.0


class WorkerPeers:
    """A worker's :class:`~sofs.handlers.peers.Peers`: everything goes through the main process."""

    def __init__(self, channel: Channel, index: int) -> None:
        self.channel = channel
        self.index = index
        self._req = itertools.count(1)
        self.waits: dict[int, asyncio.Future[bool]] = {}

    def _send(self, msg: tuple[Any, ...], fds: tuple[int, ...] = ()) -> None:
        with contextlib.suppress(ChannelClosed):
            self.channel.send(msg, fds)

    def connection_closed(self, token: int, handed_back: asyncio.Future[Any] | None) -> None:
        if handed_back is None:
            self._send(("closed", token))
        else:
            handed_back.add_done_callback(lambda _f: self._send(("closed", token)))

    async def logoff_previous(self, session_id: int, user: str) -> bool:
        rid = next(self._req)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waits[rid] = fut
        try:
            self.channel.send(("prev", rid, session_id, user))
            return await asyncio.wait_for(fut, PREV_TIMEOUT_S)
        except (ChannelClosed, TimeoutError):
            return False
        finally:
            self.waits.pop(rid, None)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        return {}

    def owner_of(self, session_id: int) -> int | None:
        w = session_worker(session_id)
        return None if w == self.index else w

    def hand_off(self, token: int, worker: int, state: dict[str, Any], request: bytes, fd: int) -> None:
        self._send(("handoff", token, worker, state, request), (fd,))

    def close_elsewhere(self, volume: str, persistent_id: int) -> None:
        """Close requests are served by the main process."""


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        self.grace = STOP_GRACE_S
        self.server: ServerState = build_state(spec.config, coordinate=False)
        self.server.node_name = spec.node_name
        self.server.start_filetime = spec.start_filetime
        self.server.number_sessions(session_ids(spec.index, node=spec.node_id))
        self.channel = Channel(socket.socket(fileno=spec.control_fd), self._on_message, self._on_closed)
        self.peers = WorkerPeers(self.channel, spec.index)
        self.server.workers = self.peers
        self.links: list[RemoteService] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def connect_volumes(self) -> None:
        """Reach the coordinator of every volume (one link each), as another node does."""
        spec = self.spec
        by_volume: dict[str, VolumeClient] = {}
        for name in spec.volumes:
            client = VolumeClient(name, None, -1)  # type: ignore[arg-type]
            rs = await RemoteService.connect(spec.link_host, spec.link_port, secret=spec.secret, name=spec.name,
                                             volume=name, sink=ProcessSink(self.server, client))
            router = Router(client)  # for its settling: breaks reach the client before later responses
            router.set(rs)
            client.svc, client.endpoint = router, rs.endpoint
            by_volume[name] = client
            self.server.volumes[name] = client
            self.links.append(rs)
            self._spawn(self._watch(rs))
        for share in self.server.shares.values():
            share.volume = by_volume.get(share.name.lower())

    async def _watch(self, rs: RemoteService) -> None:
        why = await asyncio.shield(rs.lost)
        if not self.stop.is_set():
            log.warning("the coordinator link of volume %s is gone (%s): stopping", rs.volume, why)
            self.grace = 0.5
            self.stop.set()

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker task failed", exc_info=task.exception())

    # ---- the control channel ----------------------------------------------------------------------
    def _on_message(self, msg: tuple[Any, ...], fds: list[int]) -> None:
        kind = msg[0]
        if kind in ("conn", "adopt"):
            if len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                log.error("a connection message came with %d descriptors", len(fds))
                return
            sock = socket.socket(fileno=fds[0])
            adopt = (dict(msg[2]), bytes(msg[3])) if kind == "adopt" else None
            self._spawn(self.loop.connect_accepted_socket(
                connection_factory(self.server, int(msg[1]), adopt), sock))
            return
        for fd in fds:
            os.close(fd)
        if kind == "prev":
            self._spawn(self._prev(int(msg[1]), int(msg[2]), str(msg[3])))
        elif kind == "prev_done":
            fut = self.peers.waits.get(int(msg[1]))
            if fut is not None and not fut.done():
                fut.set_result(bool(msg[2]))
        elif kind == "close_open":
            h = self.server.handles.of_pid(str(msg[1]), int(msg[2]))
            if h is not None and not h.closed:
                from sofs.handlers.close import close_open

                log.warning("closing %s (FileId 0x%016x) on request (Close-SmbOpenFile)", h.path, h.pid)
                self._spawn(close_open(self.server, h))
        elif kind == "stop":
            self.stop.set()
        else:
            log.warning("unknown control message %r", kind)

    async def _prev(self, rid: int, sid: int, user: str) -> None:
        found = await end_previous_session(self.server, sid, user)
        if found:
            log.info("session 0x%x logged off: its client came back with it as PreviousSessionId", sid)
        with contextlib.suppress(ChannelClosed):
            self.channel.send(("prev_done", rid, found))

    def _on_closed(self, why: str) -> None:
        if not self.stop.is_set():
            log.warning("the main process is gone (%s): stopping", why)
            self.grace = 0.5
            self.stop.set()

    async def publish_rows(self) -> None:
        """This worker's part of the open-file listing, as JSON text per share, when it changed
        (paced like the main process's: :mod:`sofs.handlers.handles_status`)."""
        last = b""
        pacer = Pacer()
        while True:
            now = time.monotonic()
            if pacer.due(now):
                texts = rows_text(open_rows(self.server))
                d = digest(texts)
                if d != last:
                    last = d
                    with contextlib.suppress(ChannelClosed):
                        self.channel.send(("rows", texts))
                pacer.spent(now, time.monotonic() - now)
            await asyncio.sleep(ROWS_EVERY_S)

    async def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                # SIGINT reaches the whole process group (Ctrl-C): the main process stops us
                self.loop.add_signal_handler(sig, (lambda: None) if sig == signal.SIGINT else self.stop.set)
        await self.connect_volumes()
        self.channel.send(("ready", os.getpid()))
        self._spawn(self.publish_rows())
        await self.stop.wait()
        await shutdown_connections(self.server, self.grace)
        await self.close_links()
        self.channel.close()

    async def close_links(self) -> None:
        for rs in self.links:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(rs.close_link(), 2)


async def worker_main(spec: WorkerSpec) -> None:
    if spec.state_dir:  # a cluster node's worker
        from sofs.server.node_worker import NodeWorker

        await NodeWorker(spec).run()
    else:
        await Worker(spec).run()


def main() -> int:
    spec: WorkerSpec = pickle.load(sys.stdin.buffer)
    logging.basicConfig(level=spec.log_level, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s[w{spec.index}]: %(message)s")
    tune_malloc()
    if spec.uvloop:
        try:
            import uvloop

            uvloop.run(worker_main(spec))
            return 0
        except ImportError:
            pass
    asyncio.run(worker_main(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
