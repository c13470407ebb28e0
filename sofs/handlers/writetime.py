"""Delayed LastWriteTime updates, as Windows (and Samba 4.22) do them ([MS-FSA] 2.1.4.17, Samba's
``update_write_time_handler``).

A WRITE does not move the write time at once: the first write through an open schedules one update
:data:`DELAY` seconds later; writes after that update do not move it again until the open is
closed, when it is set to the close time. Linux bumps mtime on every pwrite, so each write restores
the pinned value right after writing (one ``futimens``). An explicit write time set through any
open of the file (SET_INFO FileBasicInformation) cancels the pending updates of all its opens.
Named streams are left alone (their writes do not touch the base file's mtime on Linux).

smbtorture smb2.timestamps.delayed-* checks exactly this.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from sofs.vfs.base import VfsError

DELAY = 2.0


@dataclass(eq=False)
class WriteTime:
    pinned_ns: int
    atime_ns: int
    timer: asyncio.TimerHandle | None = None
    fired: bool = False
    dirty: bool = False


def _applies(op: Any) -> bool:
    frozen = op.frozen_times
    return op.handle is not None and op.stream is None and not (frozen and "last_write_time" in frozen)


def before_write(op: Any) -> WriteTime | None:
    """Remember the write time the file has before this open's first write; the open's record (None
    when the write time is not pinned: a stream, a frozen write time, no file)."""
    if not _applies(op):
        return None
    wt: WriteTime | None = op.writetime
    if wt is not None:
        return wt
    try:
        atime_ns, mtime_ns = _times(op)
    except (OSError, VfsError):
        return None
    wt = op.writetime = WriteTime(mtime_ns, atime_ns)
    return wt


def _times(op: Any) -> tuple[int, int]:
    """(atime, mtime) in ns: ``fstat`` of the descriptor, or the VFS for a handle without one."""
    h = op.handle
    if h.fd >= 0:
        st = os.fstat(h.fd)
        return st.st_atime_ns, st.st_mtime_ns
    return op.share.vfs.get_times_ns(h)  # type: ignore[no-any-return]


def _set_times(op: Any, atime_ns: int, mtime_ns: int) -> None:
    h = op.handle
    if h.fd >= 0:
        os.utime(h.fd, ns=(atime_ns, mtime_ns))
    else:
        op.share.vfs.set_times_ns(h, atime_ns, mtime_ns)


def restore(fd: int, wt: WriteTime | None) -> int | None:
    """Put the pinned write time back on ``fd`` right after a write; the value restored (None if not).

    Safe in a pool thread: a large write restores the time in the same pool job as its ``pwritev``.
    On the loop thread, ``futimens`` waits for the inode lock (``i_rwsem``) that a pool thread
    writing the same file holds, and the kernel *spins* on it while the writer runs: with two 8 MiB
    writes in flight, that stalled the loop for milliseconds per write (perf: 6.6 % of the server's
    CPU in ``rwsem_spin_on_owner`` under ``utimensat`` during a put).
    """
    if wt is None:
        return None
    pinned = wt.pinned_ns
    try:
        os.utime(fd, ns=(wt.atime_ns, pinned))
    except OSError:
        return None
    return pinned


def restore_vfs(vfs: Any, h: Any, wt: WriteTime | None) -> int | None:
    """:func:`restore` for a handle without an OS descriptor (CephVfs), through the VFS."""
    if wt is None:
        return None
    try:
        vfs.set_times_ns(h, wt.atime_ns, wt.pinned_ns)
    except (OSError, VfsError):
        return None
    return wt.pinned_ns


def after_write(op: Any, restored: int | None = None) -> None:
    """Put the pinned write time back (unless :func:`restore` already put this very value back) and
    schedule the one delayed update. An open has a record only while its write time is pinned: an
    explicit write time (SET_INFO, which freezes it) drops the records of all opens (:func:`cancel_all`)."""
    wt: WriteTime | None = op.writetime
    if wt is None:
        return
    # not restored yet, or the delayed update fired meanwhile
    if restored != wt.pinned_ns:
        h = op.handle
        if h.fd >= 0:  # restore() inline: every small WRITE comes here
            try:
                os.utime(h.fd, ns=(wt.atime_ns, wt.pinned_ns))
            except OSError:
                return
        elif restore_vfs(op.share.vfs, h, wt) is None:
            return
    if wt.fired:
        wt.dirty = True
    elif wt.timer is None:
        wt.timer = asyncio.get_running_loop().call_later(DELAY, _fire, op, wt)


def _fire(op: Any, wt: WriteTime) -> None:
    wt.timer = None
    wt.fired = True
    if op.closed or op.writetime is not wt:
        return
    now = time.time_ns()
    try:
        _set_times(op, wt.atime_ns, now)
    except (OSError, VfsError):
        return
    wt.pinned_ns = now


def on_close(op: Any) -> bool:
    """Forget the state; True when the close must set the write time to now."""
    wt: WriteTime | None = op.writetime
    op.writetime = None
    if wt is None:
        return False
    pending = wt.timer is not None
    if wt.timer is not None:
        wt.timer.cancel()
    return pending or wt.dirty


def cancel_all(opens: list[Any]) -> None:
    """An explicit write time was set: no open of the file updates it any more."""
    for o in opens:
        wt: WriteTime | None = o.writetime
        o.writetime = None
        if wt is not None and wt.timer is not None:
            wt.timer.cancel()


def repin(opens: list[Any]) -> None:
    """The file's write time moved for another reason (EOF/allocation change): keep the new one."""
    for o in opens:
        wt: WriteTime | None = o.writetime
        if wt is None:
            continue
        try:
            wt.pinned_ns = _times(o)[1]
        except (OSError, VfsError):
            pass


def flush(opens: list[Any]) -> None:
    """FLUSH and SET_INFO FileBasicInformation carry out a pending delayed update at once."""
    for o in opens:
        wt: WriteTime | None = o.writetime
        if wt is not None and wt.timer is not None:
            wt.timer.cancel()
            _fire(o, wt)
