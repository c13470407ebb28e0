"""Disk witness: a lock file on a volume, held with Linux OFD locks plus an epoch record.

The file holds one JSON :class:`~sofs.cluster.witness.WitnessRecord` and two one-byte lock ranges
(locks may lie past end of file):

* byte 0, the **mutex**: taken (non-blocking, retried until ``timeout``) around every
  read-decide-write of the record, so two claimants never interleave;
* byte 1, the **holder range**: kept write-locked by the holder for as long as it holds the witness.
  OFD locks belong to the open file description, so they vanish when the holder's process dies
  (even SIGKILL) and they conflict between two opens inside one process (POSIX ``F_SETLK`` locks do
  neither reliably: they are per process and dropped by any ``close()`` of the file).

The record is authoritative. A challenger takes the witness when it is free, when the record says
the holder holds the holder range and that range is no longer locked (the holder died: takeover at
once), or when the record has not changed for ``ttl`` (the holder hangs, e.g. SIGSTOP: takeover
after the TTL, see :func:`~sofs.cluster.witness.decide_takeover`). A resumed stale holder finds
someone else in the record on its next renew, loses, and drops its holder-range lock.

A witness file that is removed or replaced (its directory deleted, the volume unmounted and another
file in its place) is **unreachable**, not held: every call first checks that ``path`` still names the
open file (``stat`` vs ``fstat``: device and inode); if not, the descriptor is closed (dropping its
locks) and ``path`` reopened, which fails while the file is gone. Without that check a holder would
keep renewing an unlinked inode that nobody else can open.

Python 3.11's ``fcntl`` exports ``F_OFD_GETLK``/``F_OFD_SETLK``/``F_OFD_SETLKW`` on Linux; where it
does not, the Linux values 36/37/38 (``<asm-generic/fcntl.h>``) are used. ``struct flock`` is packed
as ``short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid`` (``l_pid`` must be 0
for OFD locks) in native layout, 32 bytes on x86-64 and arm64.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import struct
import time
from collections.abc import Callable

from sofs.cluster.witness import (
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    Observation,
    Witness,
    WitnessClaim,
    WitnessRecord,
    WitnessStatus,
    decide_takeover,
    next_record,
    released_record,
)

F_OFD_GETLK: int = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK: int = getattr(fcntl, "F_OFD_SETLK", 37)
F_OFD_SETLKW: int = getattr(fcntl, "F_OFD_SETLKW", 38)
_FLOCK = struct.Struct("@hhqqi4x")
MUTEX_BYTE = 0
HOLDER_BYTE = 1
_RETRY = 0.005


def _flock(l_type: int, start: int) -> bytes:
    return _FLOCK.pack(l_type, os.SEEK_SET, start, 1, 0)


def ofd_try_lock(fd: int, start: int, l_type: int = fcntl.F_WRLCK) -> bool:
    """Non-blocking OFD lock (or unlock with ``F_UNLCK``) of the byte at ``start``."""
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _flock(l_type, start))
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def ofd_locked_by_other(fd: int, start: int) -> bool:
    """Does another open file description hold a lock conflicting with a write lock on ``start``?"""
    res = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, start))
    return bool(_FLOCK.unpack(res)[0] != fcntl.F_UNLCK)


class DiskWitness(Witness):
    """``Set-ClusterQuorum -DiskWitness <path>``: the witness file ``path`` on a (shared) volume.

    ``clock`` is the monotonic clock used for claim deadlines and TTL observation (injected by
    tests). ``close()`` releases a held claim first: closing the descriptor drops the OFD locks,
    which other nodes read as "holder died"."""

    kind = "disk"

    def __init__(self, path: str, *, ttl: float = DEFAULT_TTL, timeout: float = DEFAULT_TIMEOUT,
                 cluster_id: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl=ttl, timeout=timeout, cluster_id=cluster_id)
        self.path = path
        self._clock = clock
        self._fd: int | None = None
        self._seen = Observation()
        self._held: WitnessClaim | None = None
        self._lock = asyncio.Lock()  # OFD locks of one description don't exclude each other

    # -- blocking helpers (run in a thread) --------------------------------------------------

    def _open(self) -> int:
        if self._fd is not None and not self._same_file(self._fd):
            os.close(self._fd)  # the witness file was removed or replaced: its locks mean nothing now
            self._fd, self._held = None, None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def _same_file(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        fst = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)

    def _mutex(self, fd: int, deadline: float) -> None:
        while not ofd_try_lock(fd, MUTEX_BYTE):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"witness mutex on {self.path} busy")
            time.sleep(_RETRY)

    @staticmethod
    def _read(fd: int) -> WitnessRecord:
        return WitnessRecord.decode(os.pread(fd, 4096, 0))

    @staticmethod
    def _write(fd: int, rec: WitnessRecord) -> None:
        data = rec.encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)

    def _acquire_sync(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
        fd = self._open()
        self._mutex(fd, time.monotonic() + self.timeout)
        try:
            now = self._clock()
            rec = self._read(fd)
            dead = (not rec.free and rec.node != node and rec.range_locked
                    and not ofd_locked_by_other(fd, HOLDER_BYTE))
            if not decide_takeover(rec, node, now, self._seen, self.ttl, dead):
                ofd_try_lock(fd, HOLDER_BYTE, fcntl.F_UNLCK)  # a stale holder lets go of the range
                self._held = None
                return None
            ranged = ofd_try_lock(fd, HOLDER_BYTE)
            new = next_record(rec, cluster_id, node, epoch, ranged)
            self._write(fd, new)
            self._seen.seq, self._seen.first_seen = new.seq, now
            self._held = WitnessClaim(cluster_id, node, epoch, new.generation, now + self.ttl,
                                      str(new.seq))
            return self._held
        finally:
            ofd_try_lock(fd, MUTEX_BYTE, fcntl.F_UNLCK)

    def _release_sync(self, claim: WitnessClaim) -> None:
        fd = self._open()
        self._mutex(fd, time.monotonic() + self.timeout)
        try:
            rec = self._read(fd)
            if rec.node == claim.node:
                self._write(fd, released_record(rec))
            ofd_try_lock(fd, HOLDER_BYTE, fcntl.F_UNLCK)
            self._held = None
        finally:
            ofd_try_lock(fd, MUTEX_BYTE, fcntl.F_UNLCK)

    def _probe_sync(self) -> WitnessStatus:
        fd = self._open()
        self._mutex(fd, time.monotonic() + self.timeout)
        try:
            rec = self._read(fd)
            alive = ofd_locked_by_other(fd, HOLDER_BYTE) or self._held is not None
        finally:
            ofd_try_lock(fd, MUTEX_BYTE, fcntl.F_UNLCK)
        detail = f"{self.path}: generation {rec.generation}, seq {rec.seq}"
        if rec.node:
            detail += ", holder lock " + ("held" if alive else "not held")
        return WitnessStatus(self.kind, True, rec.node or None, rec.epoch if rec.node else None, detail)

    async def _run(self, fn: Callable[..., object], *args: object) -> object:
        async with self._lock:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout)

    # -- Witness API -------------------------------------------------------------------------

    async def acquire(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
        self.cluster_id = self.cluster_id or cluster_id
        try:
            res = await self._run(self._acquire_sync, cluster_id, node, epoch)
        except (OSError, TimeoutError):
            return None
        return res if isinstance(res, WitnessClaim) else None

    async def release(self, claim: WitnessClaim) -> None:
        try:
            await self._run(self._release_sync, claim)
        except (OSError, TimeoutError):
            pass

    async def probe(self) -> WitnessStatus:
        try:
            res = await self._run(self._probe_sync)
        except (OSError, TimeoutError) as e:
            return WitnessStatus(self.kind, False, detail=f"{self.path}: {e!r}")
        assert isinstance(res, WitnessStatus)
        return res

    async def close(self) -> None:
        if self._held is not None:
            await self.release(self._held)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def config(self) -> dict[str, object]:
        return {**super().config(), "path": self.path}
