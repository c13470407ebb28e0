"""``PersistentHandleJournal``: the durable, append-only record of a volume's persistent-handle state.

Where: ``<share root>/.sofs/journal/journal.<generation>`` (``.sofs`` is reserved at the share root
by the VFS: hidden from listings, refused in lookups). Next to the data, so the node that takes over
the volume finds it.

Writes ([MS-SMB2] 3.3.5.9.10: state a client may reclaim is durable before it is granted):
- ``append(entry)`` (the ``OpenTable`` journal hook) encodes the entry into an in-memory buffer; only
  entries about persistent opens (``entry.persistent``) are kept unless ``keep_all``.
- ``await commit()`` returns once everything appended before the call is on stable storage.
  **Inline** when the volume syncs fast (tmpfs, a disk with a non-volatile write cache): the
  buffered entries are written and ``fdatasync``-ed right on the loop thread and ``commit`` returns
  without suspending (a thread-pool hop costs 30 µs idle, ~450 µs on a loaded 2-vCPU box: more than
  the sync itself; and a CREATE that does not suspend stays on the connection's eager path).
  ``start`` measures the volume once (five 64-byte write + fdatasync rounds on a probe file, the
  median) against ``inline_sync_max_us`` (default 100 µs, ``SOFS_JOURNAL_INLINE_SYNC_US``; 0 =
  never inline); afterwards every write + sync is timed and a moving average above 4× the limit
  moves commits to the thread (below half of it, back inline).
- Otherwise **group commit**: one flusher task writes whatever has accumulated and runs
  ``fdatasync`` once in a thread; every commit that arrived meanwhile rides on the next flush. N
  concurrent opens cost one fsync, not N. While the flusher runs (or a compaction is queued) an
  inline commit waits for it like any other, so the file never sees two writers.
- **Compaction**: when the file has grown past ``compact_bytes``, the flusher writes a new generation
  file = header + a snapshot of the live state (``snapshot()`` callback, taken on the loop thread at
  the moment of the request, so it includes every entry appended before) to ``journal.<g+1>.tmp``,
  fsyncs it, links it into place, fsyncs the directory and unlinks the old generation.
  Crash points: before the link the old generation is intact (the ``.tmp`` is discarded on load);
  after it the new one is complete (a link of an fsynced file is atomic); a leftover old file is
  removed on load. A generation is linked into place, never renamed over: a file already there means
  a newer writer took over (:class:`JournalFenced`), and the journal fails rather than replace it.

Fencing: every entry carries the writer's epoch; the header too. On load, entries with an epoch
lower than one already seen are dropped (a stale writer's records). A new owner loads, then compacts
at once with its own (higher) epoch into a new generation; a fenced-off old writer still appends to
the unlinked old generation, which nobody reads.

Torn tails: a frame with a bad length or CRC ends the readable journal; ``load`` reports it and the
next compaction (done at start-up) rewrites the file without it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import statistics
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sofs.handlestate import records as R
from sofs.handlestate.journal_codec import (
    JournalHeader,
    decode_frames,
    encode_entry,
    encode_frame,
    encode_open_added,
    fenced,
)
from sofs.handlestate.stats import HandleStats

log = logging.getLogger("sofs.journal")

JOURNAL_REL = ".sofs/journal"
_GEN_RE = re.compile(r"^journal\.(\d+)$")

Snapshot = Callable[[], list[R.Record]]
INLINE_SYNC_MAX_US = float(os.environ.get("SOFS_JOURNAL_INLINE_SYNC_US", "100"))
_PROBE_ROUNDS = 5
_EWMA = 0.2  # weight of the newest write + sync time in the moving average


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What ``load`` found: the live entries (header excluded) and what it had to repair."""

    generation: int
    epoch: int  # the highest epoch seen (0 for a new journal)
    entries: list[R.JournalEntry]
    torn_bytes: int = 0
    fenced: int = 0
    error: str = ""


def journal_dir(root: str | os.PathLike[str]) -> Path:
    """The journal directory of a volume (a standalone share's root, or a Cluster Shared Volume's)."""
    return Path(root) / JOURNAL_REL


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def has_generation(directory: Path) -> bool:
    """Whether ``directory`` holds a journal generation file (``journal.N``)."""
    return any(_GEN_RE.match(name) for name in os.listdir(directory))


def load_dir(directory: Path) -> LoadResult:
    """Read the newest complete generation in ``directory`` (cleaning up crash leftovers)."""
    directory.mkdir(parents=True, exist_ok=True)
    gens: list[int] = []
    for name in os.listdir(directory):
        m = _GEN_RE.match(name)
        if m:
            gens.append(int(m.group(1)))
        elif name.endswith(".tmp"):
            (directory / name).unlink(missing_ok=True)  # compaction crashed before its link
    if not gens:
        return LoadResult(0, 0, [])
    gens.sort()
    for old in gens[:-1]:
        (directory / f"journal.{old}").unlink(missing_ok=True)  # crashed after the link
    gen = gens[-1]
    data = (directory / f"journal.{gen}").read_bytes()
    scan = decode_frames(data)
    entries = list(scan.entries)
    epoch = 0
    if entries and isinstance(entries[0].record, JournalHeader):
        epoch = entries[0].record.epoch
        entries = entries[1:]
    elif entries:
        log.error("journal.%d has no header; reading it anyway", gen)
    kept, dropped = fenced(entries)
    epoch = max([epoch, *(e.epoch for e in kept)])
    if scan.error:
        log.warning("journal.%d: %s (%d bytes dropped)", gen, scan.error, scan.size - scan.good_end)
    return LoadResult(gen, epoch, kept, scan.size - scan.good_end, dropped, scan.error)


class JournalFenced(OSError):
    """The next generation file exists: another (newer) writer owns the journal now."""


class PersistentHandleJournal:
    """One volume's journal. Loop-thread API: ``append``, ``commit``, ``request_compaction``;
    file I/O runs in ``executor`` (default: the loop's)."""

    def __init__(self, directory: str | os.PathLike[str], epoch: int, snapshot: Snapshot, *,
                 compact_bytes: int = 8 * 1024 * 1024, keep_all: bool = False,
                 executor: Executor | None = None,
                 fsync: Callable[[int], None] = os.fdatasync,
                 inline_sync_max_us: float | None = None,
                 clock: Callable[[], float] = time.perf_counter, stats: HandleStats | None = None) -> None:
        self.directory = Path(directory)
        self.stats = stats if stats is not None else HandleStats()
        self.epoch = epoch
        self.snapshot = snapshot
        self.compact_bytes = compact_bytes
        self.keep_all = keep_all
        self.executor = executor
        self._fsync = fsync
        self.generation = 0
        self._fd: int | None = None
        self._file_bytes = 0
        self._buf: list[bytes] = []
        self._appended = 0  # entries accepted (monotonic counter)
        self._durable = 0  # entries known durable
        self._compact_at: int | None = None  # counter value a requested snapshot covers
        self._compact_blob: bytes | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._seq = 0
        self.failed: BaseException | None = None
        self.fsyncs = 0
        self.compactions = 0
        self.inline_sync_max_us = INLINE_SYNC_MAX_US if inline_sync_max_us is None else inline_sync_max_us
        self._clock = clock
        self.inline = False  # decided by ``start`` (the probe)
        self.sync_us = 0.0  # moving average of write + fdatasync, µs

    # --- start-up -------------------------------------------------------------------------
    def load(self) -> LoadResult:
        """Read the journal (call once, before ``start``)."""
        res = load_dir(self.directory)
        self.generation = res.generation
        self._seq = max([0, *(e.seq for e in res.entries)])
        return res

    def start(self) -> None:
        """Write a fresh generation with the current snapshot and this writer's epoch (synchronous;
        at start-up, before any client is served)."""
        blob = self._snapshot_blob()
        self._write_generation(blob)
        if self.inline_sync_max_us > 0:
            self.sync_us = self.probe()
            self.inline = self.sync_us <= self.inline_sync_max_us
        log.info("journal %s: write + fdatasync %.0f µs, commits %s", self.directory, self.sync_us,
                 "inline" if self.inline else "in a thread (group commit)")

    def probe(self) -> float:
        """Median µs of a 64-byte append + fdatasync on a scratch file in the journal directory."""
        path = self.directory / "probe.tmp"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
        times = []
        try:
            for _ in range(_PROBE_ROUNDS):
                t0 = self._clock()
                os.write(fd, bytes(64))
                self._fsync(fd)
                times.append((self._clock() - t0) * 1e6)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
        return statistics.median(times)

    # --- the JournalHook protocol ---------------------------------------------------------
    def append(self, entry: R.JournalEntry) -> None:
        self.append_record(entry.record, entry.persistent)

    def append_record(self, record: R.Record, persistent: bool) -> None:
        """``append`` without the ``JournalEntry`` (the table's fast path; this journal numbers and
        stamps entries itself)."""
        if not (persistent or self.keep_all):
            return
        self._seq += 1
        self._buf.append(encode_frame(self.epoch, self._seq, record, persistent))
        self._appended += 1

    def append_open(self, o: Any, persistent: bool) -> None:
        """``append_record(OpenAdded(to_record(o)), persistent)`` encoded straight off the open."""
        if not (persistent or self.keep_all):
            return
        self._seq += 1
        self._buf.append(encode_open_added(self.epoch, self._seq, o, persistent))
        self._appended += 1

    @property
    def inline_ready(self) -> bool:
        """Would ``commit_now`` commit right here (inline mode, not failed, no flush or compaction
        under way)? What lets a coordinator leave the commit to the output barrier."""
        return (self.inline and self.failed is None and self._compact_blob is None
                and (self._flusher is None or self._flusher.done()))

    @property
    def pending(self) -> bool:
        return self._durable < self._appended or self._compact_blob is not None

    def commit_now(self) -> bool:
        """Make everything appended so far durable right here if the journal commits inline and no
        flush or compaction is under way; True when it is durable (also when nothing was pending).
        Raises OSError when the write fails (the journal is then failed for good)."""
        if self.failed is not None:
            raise OSError(f"journal failed: {self.failed}")
        if self._durable >= self._appended and self._compact_blob is None:
            return True
        if (not self.inline or self._compact_blob is not None
                or (self._flusher is not None and not self._flusher.done())):
            return False
        buf = self._buf
        chunk, upto = buf[0] if len(buf) == 1 else b"".join(buf), self._appended
        buf.clear()
        try:
            dt = self._write_append(chunk)
        except BaseException as e:
            self._fail(e)
            raise OSError(f"journal failed: {e}") from e
        self._durable = upto
        self._note_sync(dt)
        if self._waiters:
            self._wake()
        if self._file_bytes > self.compact_bytes:
            self.request_compaction()
        return True

    async def commit(self) -> None:
        """Return once every entry appended so far is durable (inline, or group commit)."""
        if self.commit_now():
            return
        target = self._appended
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        self._kick()
        await fut

    def request_compaction(self) -> None:
        """Snapshot now (covers every entry appended so far); the flusher writes it."""
        self._compact_blob = self._snapshot_blob()
        self._compact_at = self._appended
        self._buf.clear()  # superseded by the snapshot
        try:
            self._kick()
        except RuntimeError:  # no running loop: the next commit writes it
            pass

    async def close(self) -> None:
        if self.pending:
            await self.commit()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # --- the flusher ----------------------------------------------------------------------
    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._compact_blob is not None or self._buf:
                if self._compact_blob is not None:
                    blob, covered = self._compact_blob, self._compact_at or 0
                    self._compact_blob = None
                    await loop.run_in_executor(self.executor, self._write_generation, blob)
                    self._durable = max(self._durable, covered)
                else:
                    chunk, upto = b"".join(self._buf), self._appended
                    self._buf.clear()
                    dt = await loop.run_in_executor(self.executor, self._write_append, chunk)
                    self._durable = upto
                    self._note_sync(dt)
                self._wake()
                if self._file_bytes > self.compact_bytes and self._compact_blob is None:
                    self.request_compaction()
        except BaseException as e:  # a journal that cannot write must not ack state
            self._fail(e)
            if not isinstance(e, Exception):
                raise

    def _fail(self, e: BaseException) -> None:
        log.error("journal write failed: %r", e)
        self.failed = e
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(OSError(f"journal failed: {e}"))
        self._waiters.clear()

    def _note_sync(self, dt_us: float) -> None:
        """Count the commit; track write + sync time; switch between inline and threaded commits
        (hysteresis)."""
        self.stats.commit(dt_us / 1e6)
        if self.inline_sync_max_us <= 0:
            return
        # one sample moves the average by at most a fifth of 8x the limit: a lone hiccup (the loop
        # thread preempted during the sync on a busy machine) cannot move commits to the thread;
        # a volume that is really slow does after 4 slow syncs in a row
        self.sync_us += _EWMA * (min(dt_us, 8 * self.inline_sync_max_us) - self.sync_us)
        if self.inline and self.sync_us > 4 * self.inline_sync_max_us:
            self.inline = False
            log.warning("journal %s: fdatasync slowed to %.0f µs: commits go to a thread", self.directory,
                        self.sync_us)
        elif not self.inline and self.sync_us < self.inline_sync_max_us / 2:
            self.inline = True
            log.info("journal %s: fdatasync at %.0f µs: commits inline again", self.directory, self.sync_us)

    def _wake(self) -> None:
        still = []
        for target, fut in self._waiters:
            if target <= self._durable:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._waiters = still

    # --- file I/O (runs in a thread) ------------------------------------------------------
    def _snapshot_blob(self) -> bytes:
        parts = []
        for rec in self.snapshot():
            self._seq += 1
            parts.append(encode_entry((self.epoch, self._seq, rec, True)))
        return b"".join(parts)

    def _write_append(self, chunk: bytes) -> float:
        """Append and sync; returns the µs it took."""
        assert self._fd is not None
        t0 = self._clock()
        n = os.write(self._fd, chunk)
        if n < len(chunk):  # a short write (rare): the rest
            view = memoryview(chunk)[n:]
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        self._fsync(self._fd)
        self.fsyncs += 1
        self._file_bytes += len(chunk)
        return (self._clock() - t0) * 1e6

    def _write_generation(self, blob: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        gen = self.generation + 1
        final = self.directory / f"journal.{gen}"
        tmp = self.directory / f"journal.{gen}.{os.getpid()}.{id(self):x}.tmp"  # one per writer
        blob = encode_entry((self.epoch, 0, JournalHeader(gen, self.epoch), True)) + blob
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(blob)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            self._fsync(fd)
            self.fsyncs += 1
            # link, not rename: a generation is never replaced. A writer that finds its next generation
            # taken has been fenced (a newer coordinator loaded the journal and moved on)
            try:
                os.link(tmp, final)
            except FileExistsError:
                raise JournalFenced(f"{final} exists: another writer took the journal over") from None
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            raise
        old_fd, old_gen = self._fd, self.generation
        self._fd, self.generation, self._file_bytes = fd, gen, len(blob)
        self.compactions += 1
        if old_fd is not None:
            os.close(old_fd)
        if old_gen:
            (self.directory / f"journal.{old_gen}").unlink(missing_ok=True)


def snapshot_records(table: object, persistent_only: bool = True) -> list[R.Record]:
    """The live state of an ``OpenTable`` as records that rebuild it (compaction).

    Only persistent opens (and the locks, leases and delete-pending flags of their files) unless
    ``persistent_only`` is False.
    """
    from sofs.handlestate.apply import to_record
    from sofs.handlestate.table import OpenTable

    assert isinstance(table, OpenTable)
    out: list[R.Record] = []
    for f in table.files.values():
        opens = [o for o in f.opens.values() if o.persistent or not persistent_only]
        if not opens:
            continue
        pids = {o.persistent_id for o in opens}
        for o in opens:
            out.append(R.OpenAdded(to_record(o)))
            if o.disconnected_at is not None:
                out.append(R.OpenDisconnected(o.persistent_id, o.disconnected_at))
            if o.delete_on_close != bool(o.create_options & 0x1000):
                out.append(R.DeleteOnCloseSet(o.persistent_id, o.delete_on_close))
            if o.channel_sequence:
                out.append(R.ChannelSequenceSet(o.persistent_id, o.channel_sequence))
            for idx, val in sorted((o.lock_sequences or {}).items()):
                out.append(R.LockSequenceSet(o.persistent_id, idx, val))
        skeys = sorted({o.stream_key for o in opens})
        for skey in skeys:
            for lk in table.locks.locks_of((f.file_id, skey)):
                if lk.owner in pids:
                    out.append(R.LockAdded(f.file_id, lk.owner, skey, lk.offset, lk.length,  # type: ignore[arg-type]
                                           lk.exclusive))
        seen = set()
        for o in opens:
            lease = o.lease
            if lease is not None and id(lease) not in seen:
                seen.add(id(lease))
                out.append(R.LeaseSet(f.file_id, lease.client_guid, lease.key, int(lease.state),
                                      lease.epoch, lease.version, lease.parent_key))
        if f.delete_pending:
            out.append(R.DeletePendingSet(f.file_id, "", True))
        for skey in sorted(f.stream_delete_pending):
            out.append(R.DeletePendingSet(f.file_id, skey, True))
    return out
