"""Cluster Shared Volumes on a node: who coordinates each volume, and this node's way to it.

Every cluster volume (``C:\\ClusterStorage\\<Name>``) is a cluster group ``Cluster Virtual Disk
(<Name>)`` of type VolumeCoordinator. The node that owns the group (placed and moved by the cluster
layer, with an epoch) is the volume's coordinator: it builds the volume's
:class:`~sofs.handlestate.coordinator.VolumeCoordinator` from the journal on the volume (at the
group's epoch, fenced by :meth:`NodeAgent.owns`) and registers it with its link server; every other
node reaches it through a :class:`~sofs.server.coordlink_client.RemoteService`. Shares on the volume
use it through one :class:`~sofs.handlers.volume.VolumeClient` per volume, whose service is a
:class:`Router`: a call that meets a coordinator change (NotCoordinator, a lost link) waits, bounded,
for the next coordinator and is sent again.

On every change of coordinator a node re-registers the live opens its clients hold
(:meth:`CoordinatorAdmin.reclaim`); a new coordinator holds new opens until every Up node did
(grace). A link to a coordinator that closes by itself means that node's process is gone if nothing
answers on its link port any more: the node is declared down at once (its heartbeat removed), so
the volume gets a new coordinator without waiting for the heartbeat threshold.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import Ctx
from sofs.handlers.opens import Handle, drop_handle
from sofs.handlers.volume import ProcessSink, VolumeClient
from sofs.handlestate.api import (
    LOCAL,
    Caller,
    FileFacts,
    HandleStateError,
    LockRange,
    LockRequest,
    NotCoordinator,
    OpenImage,
    ReclaimOpen,
)
from sofs.handlestate.durable import DurableGrant
from sofs.server.coordlink_client import RemoteService
from sofs.server.volumes import build_coordinator
from sofs.vfs.mounts import open_share_vfs
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.handlestate.coordinator import VolumeCoordinator
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.csv")
CSV_GROUP = "Cluster Virtual Disk ({})"
VOLUME_GROUP_TYPE = "VolumeCoordinator"  # sofs.cluster.model.GroupType.VOLUME
ROUTE_WAIT_S = 30.0  # how long a request waits for a volume's next coordinator
GRACE_S = 10.0  # how long a new coordinator waits for the Up nodes' reclaims
PROBE_TIMEOUT_S = 1.0
_CAP_DIRECTORY_LEASING = 0x20


def csv_group(volume: str) -> str:
    """The cluster group (and resource) name of a cluster shared volume, as Windows names it."""
    return CSV_GROUP.format(volume)


def volume_of_group(group: str) -> str | None:
    if group.startswith("Cluster Virtual Disk (") and group.endswith(")"):
        return group[len("Cluster Virtual Disk ("):-1]
    return None


class Router:
    """A volume's HandleService that follows the coordinator (see the module docstring).

    A call sent again after a coordinator change must take effect once, though its first sending
    may have taken effect at the old coordinator, whose answer was lost; what the old coordinator
    did reaches the new one through the serving processes' reclaim (and the journal):

    - ``lock``: the open's locks on the request's ranges as this process knew them before the first
      sending travel with the resent request (``LockRequest.held_before``): the coordinator answers
      success when its state shows the request applied already (coordinator.coord_locks);
    - ``admit`` of a persistent open: the old coordinator may have journaled it; the new one brought it
      back disconnected, and the resent request (``AdmitRequest.resent``) takes it over by its
      CreateGuid (coordinator.coord_create) instead of meeting it as a conflict;
    - ``admit``, ``reconnect``, ``replay`` (a call after which this process registers a handle):
      an answer from a coordinator that is no longer current by the time the caller runs again came
      too late for the reclaim, which re-registered the handles that existed then: the new
      coordinator does not know the open, so the call is sent again there;
    - the others are idempotent by nature (a close of an open the new coordinator does not know
      answers nothing to delete; the handle left this process before its close was sent)."""

    def __init__(self, volume: VolumeClient, wait_s: float = ROUTE_WAIT_S,
                 held: Callable[[LockRequest], tuple[LockRange, ...]] | None = None) -> None:
        self.volume = volume
        self.current: Any = None
        self.wait_s = wait_s
        self.held = held  # the open's locks on a request's ranges, as this process knows them
        self._changed = asyncio.Event()

    def set(self, svc: Any) -> None:
        self.current = svc
        self._changed.set()
        self._changed = asyncio.Event()

    def unset(self) -> None:
        self.current = None

    async def _next(self, deadline: float) -> Any:
        while self.current is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HandleStateError(NtStatus.FILE_NOT_AVAILABLE,
                                       f"volume {self.volume.name}: no coordinator")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.current

    async def _call(self, name: str, *args: Any) -> Any:
        if name != "report":
            self.volume.flush_reports()  # changes this process reported go first (same link, in order)
        deadline = time.monotonic() + self.wait_s
        if name == "lock" and self.held is not None:  # the locks as known before the first sending
            first = args[0]
            again = (dataclasses.replace(first, held_before=self.held(first)), *args[1:])
        else:
            again = args  # an admit's copy marked resent is made when it is sent again (rare)
        while True:
            svc = self.current
            if svc is None:
                svc = await self._next(deadline)
            call_args = [self._fresh(a) for a in args]
            settled = _settling(svc, call_args)
            try:
                result = await getattr(svc, name)(*call_args)
            except NotCoordinator as e:
                if self.current is svc:
                    self.current = None  # the sync loop installs the next one
                log.info("volume %s: %s meets a coordinator change (%s); waiting for the next one",
                         self.volume.name, name, e)
                if time.monotonic() >= deadline:
                    raise HandleStateError(NtStatus.FILE_NOT_AVAILABLE, str(e)) from None
                args = _resent(name, again)
                continue
            finally:
                if settled is not None and not settled.done():
                    settled.set_result(None)
            if name in _REGISTERS and self.current is not svc and time.monotonic() < deadline:
                log.info("volume %s: %s answered by a coordinator that is no longer current; sending it "
                         "again", self.volume.name, name)
                args = _resent(name, again)
                continue
            return result

    def _fresh(self, arg: Any) -> Any:
        """A request built before a coordinator change names this process by its old endpoint."""
        caller = getattr(arg, "caller", None)
        if isinstance(caller, Caller) and caller.endpoint != self.volume.endpoint:
            return dataclasses.replace(arg, caller=dataclasses.replace(caller, endpoint=self.volume.endpoint))
        return arg

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any) -> Awaitable[Any]:
            return self._call(name, *args)  # the coroutine itself: no awaiting layer of its own

        self.__dict__[name] = call  # made once per method, not on every call
        return call


_REGISTERS = frozenset({"admit", "reconnect", "replay"})


def _resent(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments of a call sent again: an admit is marked ``resent`` (coord_create)."""
    if name == "admit" and not args[0].resent:
        return (dataclasses.replace(args[0], resent=True), *args[1:])
    return args


class _Settle:
    """The AsyncHook of a request's call to a remote coordinator: the coordinator going async
    settles the call for the requests after it on the connection (``SmbConnection.settling``)."""

    __slots__ = ("ctx", "settled")

    def __init__(self, ctx: Ctx, settled: asyncio.Future[None]) -> None:
        self.ctx = ctx
        self.settled = settled

    async def going_async(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)
        await self.ctx.going_async()


def _settling(svc: Any, args: list[Any]) -> asyncio.Future[None] | None:
    """A call that may wait at a remote coordinator (its last argument is the request's hook): the
    connection's later responses wait until it settled (answered or async), so the breaks it
    causes reach the client before them, as with an in-process coordinator."""
    if not (args and isinstance(args[-1], Ctx) and isinstance(svc, RemoteService)):
        return None
    ctx = args[-1]
    settling = getattr(ctx.driver, "settling", None)
    if settling is None:
        return None
    settled: asyncio.Future[None] = settling()
    args[-1] = _Settle(ctx, settled)
    return settled


def _caller(h: Handle, endpoint: int) -> Caller:
    s = h.session
    conn = s.connection
    user = s.user
    return Caller(endpoint, conn.client_guid, s.session_id, h.tree.tree_id,
                  str(getattr(user, "sid", "") or getattr(user, "name", "")), conn.dialect,
                  bool(conn.server_capabilities & _CAP_DIRECTORY_LEASING))


def reclaim_images(server: ServerState, vol: VolumeClient, endpoint: int,
                   coordinator: VolumeCoordinator | None = None) -> tuple[ReclaimOpen, ...]:
    """What this process re-declares to a new coordinator: every live handle of the volume, with the
    state only the coordinator kept (locks, lease state) taken from the old coordinator when it was
    this process, else from what this process mirrored."""
    out = []
    for h in list(server.handles.by_pid.values()):
        if h.closed or h.share.volume is not vol:
            continue
        o = coordinator.table.opens_by_persistent.get(h.pid) if coordinator is not None else None
        if o is not None:
            locks = tuple(LockRange(lk.offset, lk.length, lk.exclusive)
                          for lk in coordinator.table.locks.locks_of((o.file_id, o.stream_key))  # type: ignore[union-attr]
                          if lk.owner == h.pid)
            seqs = tuple(sorted((o.lock_sequences or {}).items()))
            from sofs.handlestate.coord_caching import lease_image

            lease = lease_image(o)
            oplock = o.oplock_level
        else:
            facts = vol.facts.get((h.vfile_id, h.stream_key))
            locks = tuple(LockRange(lk.offset, lk.length, lk.exclusive)
                          for lk in (facts.locks if facts is not None else ()) if lk.owner == h.pid)
            seqs = ()
            lease = h.lease
            oplock = h.oplock_level
        durable = DurableGrant(2 if h.create_guid is not None or h.persistent else 1, h.persistent,
                               h.durable_timeout_ms) if h.durable else None
        img = OpenImage(h.pid, h.vfile_id, vol.to_volume(h.share, h.path), h.stream, h.is_directory,
                        h.granted_access, h.share_access, h.create_options, oplock, lease, durable, 1,
                        h.channel_sequence, h.delete_on_close, h.position)
        out.append(ReclaimOpen(_caller(h, endpoint), img, locks, seqs, h.create_guid, h.app_instance_id,
                               h.app_instance_version, h.watch))
    return tuple(out)


def mirror_of(server: ServerState, vol: VolumeClient, coordinator: VolumeCoordinator) -> dict[tuple[int, str], FileFacts]:
    """The facts a process that stops coordinating keeps mirroring for its handles' files until the
    next coordinator pushes its own (at the reclaim)."""
    keys = {(h.vfile_id, h.stream_key) for h in list(server.handles.by_pid.values())
            if not h.closed and h.share.volume is vol}
    return {key: coordinator.facts(key) for key in keys}


async def probe_dead(host: str, port: int, timeout: float = PROBE_TIMEOUT_S, tries: int = 3,
                     spacing: float = 0.1) -> bool:
    """Is the process that listened on ``host:port`` gone? True only when the host answers that
    nothing listens there (connection refused); a timeout proves nothing (partition, SIGSTOP).

    A few probes, ``spacing`` apart: a process being killed closes its descriptors one by one, so
    its links can reset while its listening socket still completes a handshake for a moment (a
    probe right after the link reset was accepted once in 20 kill rounds, and the volume then
    waited for the heartbeat threshold)."""
    for i in range(tries):
        if i:
            await asyncio.sleep(spacing)
        try:
            _r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except ConnectionRefusedError:
            return True
        except (OSError, TimeoutError):
            return False
        w.close()
        with contextlib.suppress(Exception):
            await w.wait_closed()
    return False


def routed_client(server: ServerState, key: str) -> tuple[VolumeClient, Router]:
    """A volume's client in this process, whose service is a Router (installed in ``server.volumes``)."""
    client = VolumeClient(key, None, -1)  # type: ignore[arg-type]

    def held(req: LockRequest) -> tuple[LockRange, ...]:
        h = server.handles.of_pid(client.name, req.persistent_id)
        return client.held_locks(h, req.ranges) if h is not None else ()

    router = Router(client, held=held)
    client.svc = router  # type: ignore[assignment]
    server.volumes[key] = client
    return client, router


def with_endpoint(images: tuple[ReclaimOpen, ...], endpoint: int) -> tuple[ReclaimOpen, ...]:
    return tuple(dataclasses.replace(r, caller=dataclasses.replace(r.caller, endpoint=endpoint)) for r in images)


async def connect_coordinator(server: ServerState, client: VolumeClient, addr: str, port: int, secret: bytes,
                              name: str, still_owner: Callable[[], bool]) -> RemoteService | None:
    """A link to the coordinator of ``client``'s volume at ``addr:port`` (this process named ``name``
    there), retried while that node has not taken the volume up yet and ``still_owner()``; the
    client's endpoint is the link's. None: given up."""
    deadline = time.monotonic() + GRACE_S
    while True:
        try:
            rs = await RemoteService.connect(addr, port, secret=secret, name=name, volume=client.name,
                                             sink=ProcessSink(server, client))
            break
        except NotCoordinator:  # the owner has not taken the volume up yet
            if time.monotonic() > deadline or not still_owner():
                return None
            await asyncio.sleep(0.05)
    client.local, client.endpoint = None, rs.endpoint
    return rs


async def reclaim_at(server: ServerState, client: VolumeClient, call: Awaitable[tuple[int, ...]]) -> None:
    """Await a reclaim; the handles the coordinator did not take back are dropped (their clients lose them)."""
    try:
        refused = await call
    except (NotCoordinator, HandleStateError) as e:
        log.warning("%s: volume %s: re-registering opens failed: %s", server.node_name, client.name, e)
        return
    for pid in refused:
        h = server.handles.of_pid(client.name, pid)
        if h is not None:
            log.warning("%s: volume %s: the coordinator did not take back %s; its client loses it",
                        server.node_name, client.name, h.path)
            await drop_handle(server, h)


@dataclasses.dataclass(eq=False)
class _Volume:
    name: str
    client: VolumeClient
    router: Router
    owner: str | None = None
    epoch: int = 0
    remote: RemoteService | None = None
    coordinator: VolumeCoordinator | None = None
    watcher: asyncio.Task[None] | None = None


class ClusterVolumes:
    """This node's view of every cluster volume (see the module docstring)."""

    def __init__(self, server: ServerState, ctx: Any, volume_root: Path) -> None:
        self.server = server
        self.ctx = ctx
        self.me = ctx.name
        self.root = volume_root
        self.vols: dict[str, _Volume] = {}
        self._secret: bytes | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._published = ""
        # set by a node with worker processes: tell them where a volume's coordinator is now (host "":
        # nowhere) and return once they re-registered their opens there
        self.follow_workers: Callable[[str, str, int, int], Awaitable[None]] | None = None

    # ---- shares ----------------------------------------------------------------------------------
    def client_for(self, volume: str) -> VolumeClient:
        key = volume.lower()
        v = self.vols.get(key)
        if v is None:
            client, router = routed_client(self.server, key)
            v = self.vols[key] = _Volume(volume, client, router)
        return v.client

    def volume_path(self, volume: str) -> Path:
        return self.root / volume

    # ---- following the cluster -------------------------------------------------------------------
    async def sync(self) -> None:
        """Make every volume follow its group's owner (called on every cluster change)."""
        async with self._lock:
            agent = self.ctx.agent
            owners = agent.group_owners()
            for gname, (owner, epoch) in owners.items():
                vol = volume_of_group(gname)
                if vol is None or vol.lower() not in self.vols:
                    continue
                v = self.vols[vol.lower()]
                try:
                    await self._follow(v, gname, owner, epoch)
                except Exception:
                    log.exception("%s: volume %s: following owner %s (epoch %d) failed", self.me, v.name,
                                  owner, epoch)
            await self._publish_state()

    async def _publish_state(self) -> None:
        """How this node reaches each volume (Get-ClusterSharedVolumeState): Direct, or Unavailable
        with the reason. I/O is never redirected through another node."""
        doc = {}
        for key, v in self.vols.items():
            path = self.volume_path(v.name)
            if not path.is_dir():
                doc[key] = {"state": "Unavailable", "reason": f"{path} is not mounted on this node"}
            elif not os.access(path, os.R_OK | os.W_OK | os.X_OK):
                doc[key] = {"state": "Unavailable", "reason": f"{path} is not accessible on this node"}
            elif v.router.current is None:
                doc[key] = {"state": "Unavailable", "reason": "the volume has no coordinator right now"}
            else:
                doc[key] = {"state": "Direct", "reason": ""}
        text = json.dumps(doc, sort_keys=True)
        if text == self._published:
            return
        try:
            await self.ctx.store.put(f"{self.ctx.config.prefix}csvstate/{self.me}", text.encode())
            self._published = text
        except Exception as e:  # noqa: BLE001 - the next change publishes again
            log.info("%s: publishing the volume states failed: %s", self.me, e)

    async def _follow(self, v: _Volume, group: str, owner: str | None, epoch: int) -> None:
        agent = self.ctx.agent
        if owner == self.me and agent.owns(group, epoch):
            if v.coordinator is not None and v.epoch == epoch:
                return
            await self._become_coordinator(v, group, epoch)
        elif owner is not None and owner != self.me and owner in agent.up_nodes():
            if v.remote is not None and v.remote.is_open and v.owner == owner and v.epoch == epoch:
                return
            await self._use_remote(v, owner, epoch)
        else:
            if v.coordinator is not None:
                await self._stop_coordinator(v, "the volume left this node")
            v.owner, v.epoch = owner, epoch
            v.router.unset()
            if self.follow_workers is not None:
                await self.follow_workers(v.client.name, "", 0, epoch)

    async def _become_coordinator(self, v: _Volume, group: str, epoch: int) -> None:
        # every live handle, whether or not a link to the old coordinator is still up: when the old
        # coordinator let its links go before this node heard of the move, the link's watcher has
        # already dropped it, and the handles must come back all the same
        images = reclaim_images(self.server, v.client, -1, v.coordinator)
        await self._drop_remote(v, "this node coordinates the volume now")
        await self._stop_coordinator(v, "a new epoch")
        agent = self.ctx.agent
        root = self.volume_path(v.name)
        coord = build_coordinator(v.client.name, str(root), open_share_vfs(str(root)), ca=True, epoch=epoch,
                                  may_act=lambda: agent.owns(group, epoch), stats=self.server.stats.handles)
        # this node's worker processes (if any) reclaim theirs before this process does: its own
        # reclaim ends the grace for the node's name
        expect = agent.up_nodes() - ({self.me} if self.follow_workers is None else set())
        coord.start_grace(expect, GRACE_S)
        client = v.client
        client.local, client.endpoint = coord, LOCAL
        coord.attach_local(ProcessSink(self.server, client), self.me, self.server.barrier)
        self.ctx.link.register(client.name, coord)
        self.server.coordinators[client.name] = coord
        v.coordinator, v.owner, v.epoch = coord, self.me, epoch
        if self.follow_workers is not None:
            await self.follow_workers(client.name, self.ctx.address, self.ctx.link.port, epoch)
        # this process's opens are back before any waiting request of its clients runs
        await reclaim_at(self.server, client, coord.reclaim(LOCAL, with_endpoint(images, LOCAL)))
        v.router.set(coord)
        log.warning("%s: coordinating volume %s at epoch %d (%d open(s) of this node re-registered; "
                    "waiting for %s)", self.me, v.name, epoch, len(images), ", ".join(sorted(expect)) or "nobody")

    async def _stop_coordinator(self, v: _Volume, why: str) -> None:
        coord = v.coordinator
        if coord is None:
            return
        v.coordinator = None
        self.ctx.link.unregister(v.client.name, why)
        self.server.coordinators.pop(v.client.name, None)
        # the data path turns to the mirror: it starts from the coordinator's last word on the files
        # this process has open (what it mirrored before it coordinated is stale)
        v.client.facts = mirror_of(self.server, v.client, coord)
        v.client.local = None
        v.router.unset()
        await coord.stop()

    async def _use_remote(self, v: _Volume, owner: str, epoch: int) -> None:
        images = reclaim_images(self.server, v.client, -1, v.coordinator)
        if v.coordinator is not None:
            await self._stop_coordinator(v, f"the volume moved to {owner}")
        if v.remote is not None:
            await self._drop_remote(v, f"the volume's coordinator is {owner} now")
        v.owner, v.epoch = owner, epoch
        addr, port = self._link_address(owner)
        if not port:
            return  # its link port is not published yet: the next change tries again
        if self._secret is None:
            self._secret = self.ctx.link_secret
        client = v.client
        rs = await connect_coordinator(
            self.server, client, addr, port, self._secret, self.me,
            lambda: self.ctx.agent.group_owners().get(csv_group(v.name), (None, 0))[0] == owner)
        if rs is None:
            return
        v.remote = rs
        if self.follow_workers is not None:  # this node's workers reclaim theirs before the node is done
            await self.follow_workers(client.name, addr, port, epoch)
        # this process's opens are back before any waiting request of its clients goes out
        await reclaim_at(self.server, client, rs.reclaim(with_endpoint(images, rs.endpoint)))
        v.router.set(rs)
        v.watcher = asyncio.get_running_loop().create_task(self._watch_link(v, rs, owner, addr, port))
        log.info("%s: volume %s coordinated by %s (epoch %d), %d open(s) re-registered", self.me, v.name,
                 owner, epoch, len(images))

    async def _drop_remote(self, v: _Volume, why: str) -> None:
        rs, v.remote = v.remote, None
        if v.watcher is not None:
            v.watcher.cancel()
            v.watcher = None
        if rs is not None:
            v.router.unset()
            rs.abort_link(why)

    async def _watch_link(self, v: _Volume, rs: RemoteService, owner: str, addr: str, port: int) -> None:
        """The link to the coordinator closed by itself: is its process gone? Then say so now."""
        why = await asyncio.shield(rs.lost)
        if v.remote is not rs:
            return
        v.remote = None
        v.router.unset()
        log.warning("%s: link to %s (coordinator of %s) lost: %s", self.me, owner, v.name, why)
        if await probe_dead(addr, port):
            await self.ctx.agent.declare_down(owner, f"its coordinator link closed and nothing listens on "
                                                     f"{addr}:{port}")
        self.kick()

    def _link_address(self, node: str) -> tuple[str, int]:
        snap = self.ctx.agent.snapshot
        rec = snap.nodes.get(node) if snap is not None else None
        if rec is None:
            return "", 0
        return rec.record.address, int(getattr(rec.record, "link_port", 0) or 0)

    def kick(self) -> None:
        task = asyncio.get_running_loop().create_task(self.sync())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for v in self.vols.values():
            await self._drop_remote(v, "the node is stopping")
            await self._stop_coordinator(v, "the node is stopping")


async def ensure_volume_group(ctx: Any, volume: str) -> None:
    """A cluster volume has its group (created once, by whichever node or cmdlet gets there first)."""
    name = csv_group(volume)
    if name in ctx.agent.group_owners():
        return
    try:
        await ctx.cluster.create_group(name, VOLUME_GROUP_TYPE, resources=((name, "Physical Disk"),))
    except Exception as e:
        if "already exists" not in str(e):  # another node (or New-Volume) was first
            raise


def volume_and_rest(share_path: str, volume_root: Path) -> tuple[str, str] | None:
    """(volume, path inside it with backslashes) of a share under the node's cluster volume mounts."""
    try:
        rel = Path(share_path).resolve().relative_to(volume_root.resolve())
    except ValueError:
        return None
    parts = rel.parts
    if not parts:
        return None
    return parts[0], "\\".join(parts[1:])


__all__ = ["ClusterVolumes", "Router", "connect_coordinator", "csv_group", "ensure_volume_group", "probe_dead",
           "reclaim_at", "reclaim_images", "routed_client", "volume_and_rest", "volume_of_group", "with_endpoint"]
