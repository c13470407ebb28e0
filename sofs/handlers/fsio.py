"""Running blocking VFS calls without stalling the event loop for other clients.

Policy (decided here, one place to tune):

- Metadata calls (open, stat, list, rename, delete, set_info) on a share whose root is on a
  **local** file system (tmpfs, ext4, xfs, btrfs, ...) run inline on the loop: they cost 5-100 µs,
  while a thread-pool round trip measured 30 µs idle and ~450 µs on a loaded 2-vCPU box (GIL
  hand-offs), so the hop would cost more than the call and slow every CREATE. On network or FUSE
  file systems (CephFS, NFS, SMB, FUSE, 9p, ...) where one call can block for milliseconds, they go
  to the shared thread pool. ``SOFS_INLINE_METADATA=1`` / ``0`` forces either way.
- Data I/O of at most :data:`INLINE_IO_MAX` bytes runs inline (a 64 KiB pread from the page cache
  costs ~10 µs); larger reads/writes and every fsync go to the pool, where the GIL is released and
  several clients' I/O proceeds in parallel. ``SOFS_INLINE_IO_MAX`` overrides (0 = always a thread).
- On a local file system, large writes to **one file** run one after another (:class:`Serial`, one
  per file), each with its write-time restore (``futimens``) in the same job: the kernel serializes
  writers of an inode anyway (``i_rwsem``), and a thread that meets the lock held spins on it while
  the holder copies 8 MiB. perf during smbclient ``put`` of 512 MiB (two 8 MiB writes in flight)
  found 9 % of the server's CPU in ``rwsem_spin_on_owner``, 7 % of it under ``utimensat``; with
  both in one queue it is gone, and put ran ~6 % faster (plain ahead in 5 of 6 alternating rounds,
  signed in 5 of 6 with one tie). On network file systems the writes stay parallel in the pool
  (they overlap round trips there).

The pool is sized for the I/O concurrency of many clients, not for CPU.
"""
from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sofs.handlers.base import SmbError
from sofs.vfs.base import VfsError

T = TypeVar("T")

INLINE_IO_MAX = int(os.environ.get("SOFS_INLINE_IO_MAX", str(64 * 1024)))
_FORCE = os.environ.get("SOFS_INLINE_METADATA")
_POOL_SIZE = int(os.environ.get("SOFS_FS_THREADS", "32"))
LOCAL_FS_TYPES = frozenset({"tmpfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "overlay",
                            "ramfs", "jfs", "reiserfs", "bcachefs"})
_executor: ThreadPoolExecutor | None = None
_inline_by_root: dict[str, bool] = {}


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="sofs-fs")
    return _executor


def fs_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The file-system type of the mount holding ``path`` (longest mount-point prefix)."""
    best, kind = "", ""
    try:
        with open(mountinfo) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mnt = fields[4].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, right.split()[0]
    except OSError:
        return ""
    return kind


def inline_metadata(vfs: Any) -> bool:
    """Whether metadata calls on ``vfs`` run inline (local file system) or in the pool; decided
    once per VFS object (kept on it: every CREATE and CLOSE asks)."""
    try:
        return vfs._sofs_inline  # type: ignore[no-any-return]
    except AttributeError:
        pass
    if _FORCE in ("0", "1"):
        v = _FORCE == "1"
    else:
        root = getattr(vfs, "root", None)
        if not isinstance(root, str):
            return False
        v = _inline_by_root.get(root)  # type: ignore[assignment]
        if v is None:
            v = _inline_by_root[root] = fs_type(os.path.realpath(root)) in LOCAL_FS_TYPES
    try:
        vfs._sofs_inline = v
    except AttributeError:
        pass  # a VFS with slots: asked again next time
    return v


def _call(fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except VfsError as e:
        raise SmbError(e.status, str(e)) from None


def _vfs_of(fn: Callable[..., Any], args: tuple[object, ...]) -> Any:
    owner = getattr(fn, "__self__", None)
    if owner is not None and hasattr(owner, "root"):
        return owner
    if args and hasattr(args[0], "root"):
        return args[0]
    return None


async def run_fs(fn: Callable[..., T], *args: object) -> T:
    """Run a blocking VFS call (a VFS method, or a function whose first argument is the VFS):
    inline on local file systems, in the shared pool otherwise; VfsError becomes SmbError."""
    if inline_metadata(_vfs_of(fn, args)):
        return _call(fn, *args)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), _call, fn, *args)


async def run_pool(fn: Callable[..., T], *args: object) -> T:
    """Always in the pool (large data I/O, fsync)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), _call, fn, *args)


run_inline = _call
"""Run a (cheap) VFS call on the loop thread; VfsError becomes SmbError (``_call`` itself: no frame of
its own on every CREATE and CLOSE)."""


class Serial:
    """Blocking calls for one file, run in submission order by one pool thread at a time.

    The first call starts a drain job in the shared pool; calls submitted while it runs are queued
    and picked up by the same job, so consecutive writes follow each other without a loop hop.
    Results and exceptions come back to the awaiting coroutine through its future.
    """

    __slots__ = ("_busy", "_lock", "_queue")

    def __init__(self) -> None:
        self._queue: deque[tuple[Callable[..., Any], tuple[object, ...], asyncio.Future[Any]]] = deque()
        self._lock = threading.Lock()
        self._busy = False

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queue.append((fn, args, fut))
            start = not self._busy
            self._busy = True
        if start:
            executor().submit(self._drain, loop)
        return await fut

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                fn, args, fut = self._queue.popleft()
            try:
                result = _call(fn, *args)
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
                loop.call_soon_threadsafe(_settle, fut, None, e)
            else:
                loop.call_soon_threadsafe(_settle, fut, result, None)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


async def run_file_write(node: Any, vfs: Any, fn: Callable[..., T], *args: object) -> T:
    """A large write to the file ``node`` (an opens.LocalFile, or None): on a local file system through the
    file's :class:`Serial` (made on its first large write), otherwise in the pool, in parallel."""
    if node is None or not inline_metadata(vfs):
        return await run_pool(fn, *args)
    if node.writes is None:
        node.writes = Serial()
    return await node.writes.run(fn, *args)


async def run_io(nbytes: int, fn: Callable[..., T], *args: object) -> T:
    """Data I/O: inline up to INLINE_IO_MAX bytes, else in the pool."""
    if nbytes <= INLINE_IO_MAX:
        return _call(fn, *args)
    return await run_pool(fn, *args)
