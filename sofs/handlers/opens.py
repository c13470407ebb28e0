"""The serving process's handles: FileId → :class:`Handle`, and teardown.

[MS-SMB2] 3.3.1.10 Open, split in two as a Cluster Shared Volume splits it: the *open* (share modes,
oplock or lease, locks, durability, replay) belongs to the volume's coordinator
(:class:`sofs.handlestate.model.Open`, reached through the volume's
:class:`~sofs.handlers.volume.VolumeClient`); the process holding the client's connection keeps the
*handle*: the FileId the client uses, its session and tree, the VFS handle, the directory cursor and
the per-handle I/O state. A handle names its open by the persistent id (the FileId's persistent
half); the volatile half is this process's.

:class:`HandleMap` (``server.handles``) indexes the handles by FileId, by (volume, persistent id)
for the coordinator's events, and groups the handles of one file stream of this process in a
:class:`LocalFile` (large writes run one after another; the delayed write time is per file).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import FLAGS_RELATED, Ctx, SmbError, named_file_id
from sofs.handlestate.api import Caller, Change, LeaseGrant
from sofs.handlestate.model import stream_key
from sofs.wire.codec import make_file_id
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.engine.state import ConnectionState, Session, TreeConnect
    from sofs.handlers.volume import VolumeClient
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.opens")
FileIdT = bytes
"""An SMB2_FILEID as the 16 bytes on the wire (Persistent, Volatile little-endian)."""


@dataclass(eq=False, slots=True)
class LocalFile:
    """This process's handles of one file stream (data path only: never an authority on sharing)."""

    key: tuple[str, int, str]
    handles: list[Handle] = field(default_factory=list)
    writes: Any = None  # fsio.Serial of the large writes to this file, made on the first one


@dataclass(eq=False)
class DirCursor:
    """QUERY_DIRECTORY enumeration state of a directory open ([MS-SMB2] 3.3.1.10 EnumerationLocation)."""

    pattern: str = ""
    entries: list[Any] = field(default_factory=list)
    index: int = 0
    started: bool = False


@dataclass(eq=False, slots=True, weakref_slot=True)
class Handle:
    """One open as the serving process holds it (see the module docstring).

    ``path`` is share-relative; ``handle`` is the VFS handle (None for a named pipe, which has
    ``pipe``). ``pid`` is the coordinator's persistent id (0 for a pipe)."""

    # the first 23 in the order ``create._record`` passes them (positionally: one is made per CREATE)
    file_id: FileIdT
    pid: int
    session: Session
    tree: TreeConnect
    share: Any
    path: str
    stream: str | None = None
    stream_key: str = ""  # folded ``stream`` ('' for the file): locks, leases (see ``restream``)
    is_directory: bool = False
    handle: Any = None
    granted_access: int = 0
    share_access: int = 0
    create_options: int = 0
    create_disposition: int = 0
    delete_on_close: bool = False
    mode: int = 0
    oplock_level: int = 0
    vfile_id: int = 0  # the object's file id on the volume (inode)
    durable: bool = False
    persistent: bool = False
    lease_key: bytes | None = None
    lease: LeaseGrant | None = None  # the lease as this process last heard of it (for a reclaim)
    durable_timeout_ms: int = 0
    pipe: Any = None
    position: int = 0
    cursor: DirCursor | None = None
    frozen_times: dict[str, int] | None = None  # times pinned through SET_INFO (made on the first)
    written: bool = False
    closed: bool = False
    local: LocalFile | None = None
    resilient: bool = False
    channel_sequence: int = 0
    replay_pending: bool = False  # its CreateGuid is in the replay cache until the client uses the FileId
    create_guid: bytes | None = None
    app_instance_id: bytes | None = None
    app_instance_version: tuple[int, int] | None = None
    watch: tuple[int, bool] | None = None  # CHANGE_NOTIFY filter and WATCH_TREE, once asked
    lost: bool = False  # its client is gone: being handed back to the coordinator
    writetime: Any = None  # sofs.handlers.writetime.WriteTime
    resume_key: bytes | None = None  # FSCTL_SRV_REQUEST_RESUME_KEY (server-side copy source)

    @property
    def is_pipe(self) -> bool:
        return self.pipe is not None

    @property
    def vfs(self) -> Any:
        return self.share.vfs

    @property
    def volume(self) -> VolumeClient:
        return self.share.volume  # type: ignore[no-any-return]

    @property
    def siblings(self) -> list[Handle]:
        """This process's handles of the same file stream (this one included)."""
        return self.local.handles if self.local is not None else [self]


class HandleMap:
    """Every handle of this process, by FileId, by (volume, persistent id), per file stream and per
    session (a lost connection or a LOGOFF finds its session's handles without looking at all)."""

    def __init__(self, rand: Callable[[int], bytes] = os.urandom) -> None:
        # volatile ids: a counter from a random start, so a reconnect changes only the volatile half
        self._volatile = itertools.count(int.from_bytes(rand(2), "little") << 16 | 1)
        # pipes have no coordinator: their persistent half is this process's own counter
        self._pipe_ids = itertools.count((int.from_bytes(rand(3), "little") << 40) | 1)
        self.by_id: dict[FileIdT, Handle] = {}
        self.by_pid: dict[tuple[str, int], Handle] = {}
        self.files: dict[tuple[str, int, str], LocalFile] = {}
        self.by_session: dict[Session, dict[FileIdT, Handle]] = {}
        # FSCTL_SRV_REQUEST_RESUME_KEY → the source handle of a server-side copy
        self.resume_keys: weakref.WeakValueDictionary[bytes, Handle] = weakref.WeakValueDictionary()

    def new_file_id(self, persistent_id: int) -> FileIdT:
        return make_file_id(persistent_id & 0xFFFFFFFFFFFFFFFF, next(self._volatile) & 0xFFFFFFFFFFFFFFFF)

    def new_pipe_id(self) -> int:
        return next(self._pipe_ids) & 0xFFFFFFFFFFFFFFFF

    def add(self, h: Handle) -> None:
        fid = h.file_id
        self.by_id[fid] = h
        mine = self.by_session.get(h.session)
        if mine is None:  # (not setdefault: its default would be a new dict on every CREATE)
            mine = self.by_session[h.session] = {}
        mine[fid] = h
        if h.pid and h.handle is not None:
            vol = h.share.volume.name
            self.by_pid[(vol, h.pid)] = h
            key = (vol, h.vfile_id, h.stream_key)
            lf = self.files.get(key)
            if lf is None:
                lf = self.files[key] = LocalFile(key)
            lf.handles.append(h)
            h.local = lf

    def remove(self, h: Handle) -> None:
        fid = h.file_id
        self.by_id.pop(fid, None)
        mine = self.by_session.get(h.session)
        if mine is not None and mine.get(fid) is h:
            del mine[fid]
            if not mine:
                del self.by_session[h.session]
        if h.pid and h.handle is not None:
            key = (h.share.volume.name, h.pid)
            if self.by_pid.get(key) is h:
                del self.by_pid[key]
        lf = h.local
        if lf is not None:
            try:
                lf.handles.remove(h)
            except ValueError:
                pass
            if not lf.handles and self.files.get(lf.key) is lf:
                del self.files[lf.key]

    def of_session(self, session: Session) -> list[Handle]:
        return list(self.by_session.get(session, {}).values())

    def of_pid(self, volume: str, pid: int) -> Handle | None:
        return self.by_pid.get((volume, pid))

    def restream(self, h: Handle, stream: str | None) -> None:
        """A stream renamed in place: the handle joins the new stream's group."""
        self.remove(h)
        h.stream = stream
        h.stream_key = stream_key(stream) if stream else ""
        self.add(h)


def resolve_file_id(ctx: Ctx, file_id: bytes | memoryview | tuple[int, int]) -> FileIdT:
    """The request's FileId with the compound 'related' marker resolved ([MS-SMB2] 3.3.5.2.7.2)."""
    if isinstance(file_id, tuple):
        return ctx.file_id(make_file_id(*file_id))
    return ctx.file_id(bytes(file_id))


def lookup_open(ctx: Ctx, file_id: bytes | memoryview) -> Handle | None:
    """The handle a request's FileId names, None if none; not checked against the request's session
    and tree (:func:`get_open` does). A related request's is the compound's previous FileId, whatever
    it says (Samba compat_chain_fsp, [MS-SMB2] 3.3.5.2.7.2). :func:`sofs.handlers.dispatch.prepare`
    looks the FileId of every command that names an open up once, here, into ``ctx.open``."""
    fid = named_file_id(ctx.header.flags & FLAGS_RELATED, ctx.chain.file_id, file_id)
    return None if fid is None else ctx.server.handles.by_id.get(fid)  # type: ignore[no-any-return]


def get_open(ctx: Ctx, file_id: bytes | memoryview | tuple[int, int]) -> Handle:
    """The handle named by ``file_id`` (the request's FileId) for this session and tree; FILE_CLOSED
    otherwise. Uses the handle dispatch looked up (``ctx.open``) when there is one.

    Records the FileId for following related requests of a compound.
    """
    h = ctx.open
    if h is None:
        if type(file_id) is tuple:
            file_id = make_file_id(*file_id)
        h = lookup_open(ctx, file_id)  # type: ignore[arg-type]
    if h is None or h.closed or h.session is not ctx.session or h.tree is not ctx.tree:
        raise SmbError(NtStatus.FILE_CLOSED, f"no open {file_id if type(file_id) is tuple else bytes(file_id).hex()}")
    ctx.chain.file_id = h.file_id  # Ctx.set_file_id
    return h


def caller_of(ctx: Ctx) -> Caller:
    """Who asks, as the coordinator identifies callers (cached on the tree connect)."""
    tree = ctx.tree
    assert tree is not None and ctx.session is not None
    c = tree.caller
    if c is None or c.session_id != ctx.session.session_id or c.endpoint != tree.share.volume.endpoint:
        conn = ctx.conn
        user = ctx.session.user
        c = tree.caller = Caller(
            tree.share.volume.endpoint, conn.client_guid, ctx.session.session_id, tree.tree_id,
            str(getattr(user, "sid", "") or getattr(user, "name", "")), conn.dialect,
            bool(conn.server_capabilities & _CAP_DIRECTORY_LEASING))
    return c  # type: ignore[no-any-return]


_CAP_DIRECTORY_LEASING = 0x20  # [MS-SMB2] 2.2.4 SMB2_GLOBAL_CAP_DIRECTORY_LEASING


def change_time(info: Any) -> int:
    """ChangeTime as reported to clients: the last write time, as Samba reports it. Linux cannot set
    a file's ctime, so a ChangeTime set through SET_INFO would never read back (smbtorture
    smb2.timestamps); metadata-only changes therefore do not move ChangeTime."""
    return int(info.last_write_time)


# --- change notification ---------------------------------------------------------------------

_FILE_NAME = 0x001
_DIR_NAME = 0x002


def notify(server: ServerState, op: Handle, action: int, completion_filter: int = 0,
           path: str | None = None) -> None:
    """Report a change made through ``op`` to the volume's change-notify watches and directory
    leases. ``completion_filter`` 0 = the name filter matching the object (FILE_NAME or DIR_NAME);
    ``path`` share-relative.

    In the coordinator's own process nothing is sent while nobody watches (the flag is exact there).
    A remote process always reports (batched per loop turn): its CHANGE_NOTIFY and the changes its
    client makes right after it travel on one link, in order, while the coordinator's "someone
    watches" news could arrive after the change (smbtorture smb2.notify.tree across nodes)."""
    if op.is_pipe:
        return
    vol = op.share.volume
    if not vol.watching and vol.local is not None:
        return
    if not completion_filter:
        completion_filter = _DIR_NAME if op.is_directory else _FILE_NAME
    p = op.path if path is None else path
    if op.stream:
        p = f"{p}:{op.stream}"
    vol.report(Change(vol.to_volume(op.share, p), action, completion_filter, op.pid))


# --- teardown ------------------------------------------------------------------------------------

async def _close_all(server: ServerState, hs: list[Handle]) -> None:
    from sofs.handlers.close import close_open

    for h in hs:
        try:
            await close_open(server, h)
        except Exception:  # one broken open must not keep the others open
            log.exception("closing open %s failed", h.path)


async def close_tree_opens(server: ServerState, tree: TreeConnect) -> None:
    """Close every handle of ``tree`` (TREE_DISCONNECT, [MS-SMB2] 3.3.5.8)."""
    await _close_all(server, [h for h in server.handles.of_session(tree.session) if h.tree is tree])


async def close_session_opens(server: ServerState, session: Session) -> None:
    """Close every handle of ``session`` (LOGOFF / session expiry, [MS-SMB2] 3.3.5.6)."""
    await _close_all(server, server.handles.of_session(session))


async def lose_handle(server: ServerState, h: Handle) -> None:
    """The handle's client is gone (connection lost, session replaced): a durable open stays at the
    coordinator, disconnected, and this process lets go of its VFS handle; anything else closes."""
    if h.closed or h.lost:
        return
    h.lost = True
    if h.durable or h.resilient:
        try:
            kept = await h.share.volume.svc.disconnect(h.pid, h.position)
        except Exception:
            log.exception("disconnect of %s failed", h.path)
            kept = True
        if kept:
            await drop_handle(server, h)
            return
    from sofs.handlers.close import close_open

    await close_open(server, h)


async def drop_handle(server: ServerState, h: Handle) -> None:
    """Forget a handle whose open lives on at the coordinator (disconnected) or was closed there."""
    if h.closed:
        return
    h.closed = True
    server.handles.remove(h)
    if h.tree.open_count:
        h.tree.open_count -= 1
    if h.handle is not None:
        from sofs.handlers.fsio import run_fs

        try:
            await run_fs(h.share.vfs.close, h.handle)
        except Exception:
            log.exception("closing the VFS handle of %s failed", h.path)


def _spawn(coro: Any) -> asyncio.Task[None] | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return None
    task = loop.create_task(coro)
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


_pending: set[asyncio.Task[None]] = set()


async def settle(timeout: float) -> None:
    """Wait (up to ``timeout`` seconds) for the handles of lost connections to be handed back or
    closed at their coordinators (a process stopping does this before it closes its links)."""
    if _pending:
        await asyncio.wait(list(_pending), timeout=timeout)


def connection_lost(server: ServerState, conn: ConnectionState) -> asyncio.Task[None] | None:
    """The handles of the sessions the lost connection carried (and no other channel does) lose
    their client: durable ones stay disconnected at the coordinator, the others close. Returns the
    task doing it (None: nothing to do)."""
    doomed = [h for s in list(server.handles.by_session) if s.connection is conn
              and not [c for c in s.channels if c is not conn] for h in server.handles.of_session(s)]
    if doomed:
        return _spawn(_lose_all(server, doomed))
    return None


async def _lose_all(server: ServerState, hs: list[Handle]) -> None:
    for h in hs:
        try:
            await lose_handle(server, h)
        except Exception:
            log.exception("losing open %s failed", h.path)


async def session_ended(server: ServerState, session: Session, keep_durable: bool) -> None:
    """LOGOFF, expiry, or a session replaced through PreviousSessionId ([MS-SMB2] 3.3.5.5.3): its
    durable opens stay disconnected when ``keep_durable`` (Samba closes a logged-off session's files
    with SHUTDOWN_CLOSE, which keeps durable ones; smbtorture durable-open.reopen4), the rest close."""
    hs = server.handles.of_session(session)
    if keep_durable:
        await _lose_all(server, hs)
    else:
        await _close_all(server, hs)
