"""Running blocking VFS calls without stalling the event loop for other clients.

Policy (decided here, one place to tune):

- Metadata calls (open, stat, list, rename, delete, set_info) go to one shared thread pool
  (:func:`run_fs`). A directory listing or a lookup on a cold or network file system can block for
  milliseconds; a thread hop costs ~20-50 µs, below a CREATE's total cost.
- Data I/O of at most :data:`INLINE_IO_MAX` bytes runs inline on the loop (a 64 KiB pread from the
  page cache costs ~10 µs, less than the thread hop); larger reads/writes and every fsync go to the
  pool. ``SOFS_INLINE_IO_MAX`` in the environment overrides the threshold (0 = always a thread).

The pool is sized for the I/O concurrency of many clients (Python releases the GIL during
pread/pwrite/fsync), not for CPU.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sofs.handlers.base import SmbError
from sofs.vfs.base import VfsError

T = TypeVar("T")

INLINE_IO_MAX = int(os.environ.get("SOFS_INLINE_IO_MAX", str(64 * 1024)))
_POOL_SIZE = int(os.environ.get("SOFS_FS_THREADS", "32"))
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="sofs-fs")
    return _executor


def _call(fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except VfsError as e:
        raise SmbError(e.status, str(e)) from None


async def run_fs(fn: Callable[..., T], *args: object) -> T:
    """Run a blocking VFS call in the shared pool; VfsError becomes SmbError."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), _call, fn, *args)  # type: ignore[arg-type]


def run_inline(fn: Callable[..., T], *args: object) -> T:
    """Run a (cheap) VFS call on the loop thread; VfsError becomes SmbError."""
    return _call(fn, *args)


async def run_io(nbytes: int, fn: Callable[..., T], *args: object) -> T:
    """Data I/O: inline up to INLINE_IO_MAX bytes, else in the pool."""
    if nbytes <= INLINE_IO_MAX:
        return _call(fn, *args)
    return await run_fs(fn, *args)
