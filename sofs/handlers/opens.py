"""The handler-side open table: FileId → :class:`Open`, per-file shared state, and teardown.

[MS-SMB2] 3.3.1.10 (Open), 3.3.1.7 GlobalOpenTable; [MS-FSA] 2.1.1.5 (Stream/File: the opens of one
file, delete-pending). One :class:`OpenRegistry` per server lives in
``server.extensions["sofs.opens"]``; each share's opens are also listed in ``share.opens`` when the
handle-state layer provides a table there (see :func:`_share_table`).

Adapter note: ``sofs.handlestate`` had no open table when this was written, so the share-mode and
delete-pending bookkeeping lives here (:class:`FileNode`, keyed by share + 64-bit file id + stream).
It is the single place to swap for the journaled handle-state table later.

Public API for other handlers (lead's LOGOFF / TREE_DISCONNECT / connection teardown):

- ``get_open(ctx, file_id) -> Open`` (FILE_CLOSED when unknown or owned by another session/tree);
- ``await close_tree_opens(server, tree)``, ``await close_session_opens(server, session)``;
- ``install_hooks(server)`` registers ``on_connection_lost`` and ``on_session_logoff`` hooks
  (``on_session_logoff``: callables ``(server, session)``; the lead's LOGOFF calls them).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import Ctx, SmbError
from sofs.wire.codec import make_file_id
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.engine.state import ConnectionState, Session, TreeConnect
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.opens")

EXT_KEY = "sofs.opens"
FileIdT = bytes
"""An SMB2_FILEID as the 16 bytes on the wire (Persistent, Volatile little-endian)."""


@dataclass(eq=False)
class FileNode:
    """State shared by every open of one file or stream ([MS-FSA] 2.1.1.5 / 2.1.1.6)."""

    key: tuple[str, int, str]
    opens: list[Open] = field(default_factory=list)
    delete_pending: bool = False
    path: str = ""
    writes: Any = None  # fsio.Serial of the large writes to this file, made on the first one


@dataclass(eq=False)
class DirCursor:
    """QUERY_DIRECTORY enumeration state of a directory open ([MS-SMB2] 3.3.1.10 EnumerationLocation)."""

    pattern: str = ""
    entries: list[Any] = field(default_factory=list)
    index: int = 0
    started: bool = False


@dataclass(eq=False)
class Open:
    """[MS-SMB2] 3.3.1.10 Open, as the handlers use it.

    ``handle`` is the VFS handle (None for a named pipe, which has ``pipe``). ``ext`` is the
    extension point for durable handles / leases (issues 4/5): anything keyed by its module name.
    """

    file_id: FileIdT
    session: Session
    tree: TreeConnect
    share: Any
    path: str
    stream: str | None = None
    is_directory: bool = False
    handle: Any = None
    pipe: Any = None
    granted_access: int = 0
    share_access: int = 0
    create_options: int = 0
    create_disposition: int = 0
    node: FileNode | None = None
    delete_on_close: bool = False
    position: int = 0
    mode: int = 0
    oplock_level: int = 0
    cursor: DirCursor | None = None
    frozen_times: dict[str, int] = field(default_factory=dict)
    written: bool = False
    closed: bool = False
    ext: dict[str, Any] = field(default_factory=dict)

    @property
    def is_pipe(self) -> bool:
        return self.pipe is not None

    @property
    def vfs(self) -> Any:
        return self.share.vfs


class OpenRegistry:
    """All opens of the server, by FileId, and the per-file nodes."""

    def __init__(self, rand: Callable[[int], bytes] = os.urandom) -> None:
        # Persistent ids: a random 32-bit prefix (not reused across restarts) + a counter;
        # volatile ids: a separate counter, so a reconnect can change only the volatile half.
        base = int.from_bytes(rand(4), "little") << 32
        self._persistent = itertools.count(base | 1)
        self._volatile = itertools.count(int.from_bytes(rand(2), "little") << 16 | 1)
        self.by_id: dict[FileIdT, Open] = {}
        self.nodes: dict[tuple[str, int, str], FileNode] = {}

    def new_file_id(self) -> FileIdT:
        return make_file_id(next(self._persistent) & 0xFFFFFFFFFFFFFFFF,
                            next(self._volatile) & 0xFFFFFFFFFFFFFFFF)

    def add(self, op: Open) -> None:
        self.by_id[op.file_id] = op

    def remove(self, op: Open) -> None:
        self.by_id.pop(op.file_id, None)
        node = op.node
        if node is not None:
            try:
                node.opens.remove(op)
            except ValueError:
                pass
            if not node.opens and not self._held_by_streams(node):
                self.nodes.pop(node.key, None)

    def _held_by_streams(self, node: FileNode) -> bool:
        """A delete-pending file stays pending while its named streams are open ([MS-FSA]
        2.1.5.4; smbtorture smb2.streams.delete)."""
        if not node.delete_pending or node.key[2]:
            return False
        return any(n.opens for n in self.nodes_of_file(node.key[0], node.key[1]) if n is not node)

    def node(self, share_name: str, file_id: int, stream: str | None) -> FileNode:
        key = (share_name.lower(), file_id, (stream or "").upper())
        n = self.nodes.get(key)
        if n is None:
            n = self.nodes[key] = FileNode(key)
        return n

    def peek_node(self, share_name: str, file_id: int, stream: str | None) -> FileNode | None:
        return self.nodes.get((share_name.lower(), file_id, (stream or "").upper()))

    def nodes_of_file(self, share_name: str, file_id: int) -> list[FileNode]:
        """The nodes of a file's default stream and all its named streams."""
        low = share_name.lower()
        return [n for k, n in self.nodes.items() if k[0] == low and k[1] == file_id]


def registry(server: ServerState) -> OpenRegistry:
    reg = server.extensions.get(EXT_KEY)
    if reg is None:
        reg = server.extensions[EXT_KEY] = OpenRegistry()
        install_hooks(server)
    return reg


def _as_bytes(file_id: bytes | memoryview | tuple[int, int]) -> FileIdT:
    if isinstance(file_id, tuple):
        return make_file_id(*file_id)
    return bytes(file_id)


def resolve_file_id(ctx: Ctx, file_id: bytes | memoryview | tuple[int, int]) -> FileIdT:
    """The request's FileId with the compound 'related' marker resolved ([MS-SMB2] 3.3.5.2.7.2)."""
    return ctx.file_id(_as_bytes(file_id))


def get_open(ctx: Ctx, file_id: bytes | memoryview | tuple[int, int]) -> Open:
    """The open named by ``file_id`` for this session and tree; FILE_CLOSED otherwise.

    Records the FileId for following related requests of a compound.
    """
    fid = ctx.file_id(make_file_id(*file_id) if type(file_id) is tuple else file_id)  # type: ignore[arg-type]
    op = registry(ctx.server).by_id.get(fid)
    if op is None or op.closed or op.session is not ctx.session or op.tree is not ctx.tree:
        raise SmbError(NtStatus.FILE_CLOSED, f"no open {fid.hex()}")
    ctx.set_file_id(fid)
    return op


def change_time(info: Any) -> int:
    """ChangeTime as reported to clients: the last write time, as Samba reports it. Linux cannot set
    a file's ctime, so a ChangeTime set through SET_INFO would never read back (smbtorture
    smb2.timestamps); metadata-only changes therefore do not move ChangeTime."""
    return int(info.last_write_time)


async def run_hooks(ctx: Ctx, name: str, op: Open) -> None:
    """``await f(ctx, op)`` for each hook in ``server.extensions[name]`` (e.g. ``before_rename`` /
    ``before_delete``: issue 4 breaks other leases' handle caching first)."""
    for hook in ctx.server.extensions.get(name, []):
        await hook(ctx, op)


# --- change notification ---------------------------------------------------------------------

_FILE_NAME = 0x001
_DIR_NAME = 0x002


def notify(server: ServerState, op: Open, action: int, completion_filter: int = 0,
           path: str | None = None) -> None:
    """Report a change made through ``op`` to CHANGE_NOTIFY watches / directory leases (issue 4's
    ``server.extensions["notify_change"]``); a no-op without it. ``completion_filter`` 0 = the
    name filter matching the object (FILE_NAME or DIR_NAME)."""
    fn = server.extensions.get("notify_change")
    if fn is None or op.is_pipe:
        return
    if not completion_filter:
        completion_filter = _DIR_NAME if op.is_directory else _FILE_NAME
    p = op.path if path is None else path
    if op.stream:
        p = f"{p}:{op.stream}"
    try:
        fn(server, op.share, p, action, completion_filter, op)
    except Exception:
        log.exception("notify_change failed")


# --- teardown ------------------------------------------------------------------------------------

async def _close_all(server: ServerState, ops: list[Open]) -> None:
    from sofs.handlers.close import close_open

    for op in ops:
        try:
            await close_open(server, op)
        except Exception:  # one broken open must not keep the others open
            log.exception("closing open %s failed", op.path)


async def close_tree_opens(server: ServerState, tree: TreeConnect) -> None:
    """Close every open of ``tree`` (TREE_DISCONNECT, [MS-SMB2] 3.3.5.8)."""
    reg = registry(server)
    await _close_all(server, [op for op in list(reg.by_id.values()) if op.tree is tree])


async def close_session_opens(server: ServerState, session: Session) -> None:
    """Close every open of ``session`` (LOGOFF / session expiry, [MS-SMB2] 3.3.5.6)."""
    reg = registry(server)
    await _close_all(server, [op for op in list(reg.by_id.values()) if op.session is session])


def _spawn(coro: Any) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    task = loop.create_task(coro)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()


def _on_connection_lost(server: ServerState, conn: ConnectionState) -> None:
    """Close the opens of the sessions the lost connection carried (durable handles: issue 5 hooks
    in through ``server.extensions["preserve_open"]``: a callable (server, open) -> bool that keeps
    an open alive when it returns True)."""
    reg = registry(server)
    preserve = server.extensions.get("preserve_open")
    doomed = []
    for op in list(reg.by_id.values()):
        s = op.session
        if s.connection is conn and not [c for c in s.channels if c is not conn]:
            if preserve is not None and preserve(server, op):
                continue
            doomed.append(op)
    if doomed:
        _spawn(_close_all(server, doomed))


def _on_session_logoff(server: ServerState, session: Session) -> None:
    _spawn(close_session_opens(server, session))


async def _on_session_end(server: ServerState, session: Session, disconnected: bool = False) -> None:
    await close_session_opens(server, session)


def install_hooks(server: ServerState) -> None:
    """Register the teardown hooks once per server (idempotent)."""
    hooks = server.extensions.setdefault("on_connection_lost", [])
    if _on_connection_lost not in hooks:
        hooks.append(_on_connection_lost)
    hooks = server.extensions.setdefault("on_session_logoff", [])
    if _on_session_logoff not in hooks:
        hooks.append(_on_session_logoff)
    # the lead's TREE_DISCONNECT / LOGOFF hook names (close is idempotent if others register too)
    for name, fn in (("on_tree_end", close_tree_opens), ("on_session_end", _on_session_end)):
        hooks = server.extensions.setdefault(name, [])
        if fn not in hooks:
            hooks.append(fn)
    server.extensions.setdefault(EXT_KEY, OpenRegistry())


install = install_hooks
"""``sofs.server.app`` calls ``install(server)`` on every extension module."""
