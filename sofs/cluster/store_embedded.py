"""Embedded ClusterStore: one SQLite database in WAL mode, shared by the node processes of one machine.

Design (decided for issue 6; the contract is in `sofs.cluster.store`):

- **Tables.** ``kv`` (current keys), ``lease`` (id, ttl, absolute expiry), ``log`` (one row per key
  change: the watch history), ``meta`` (global ``revision``, ``compacted`` revision, ``boot_id``).
- **Writes** run in ``BEGIN IMMEDIATE`` transactions, so writers of all processes are serialized by
  SQLite's write lock; the compare and the write happen inside one transaction, which makes
  ``create``/``cas``/``txn`` atomic across processes. ``busy_timeout`` bounds the wait; a timeout
  raises :class:`StoreUnavailable`.
- **Leases** store an absolute expiry on ``clock()`` (default ``time.monotonic``, i.e. Linux
  CLOCK_MONOTONIC, which is system-wide and so comparable between processes). There is no lease
  server: every operation of every client first deletes leases whose expiry has passed (with their
  keys, in one revision, logged as delete events), and every watch poll does the same, so expiry
  is noticed by the next operation or poll of anybody. Monotonic time restarts at boot: the database
  remembers the kernel ``boot_id`` and expires every lease when it was written under another boot.
- **Watch** polls the ``log`` table every ``poll_interval`` (injectable ``poll_wait`` for tests).
  History keeps the last ``history`` revisions; an older ``start_revision`` raises
  :class:`WatchCompacted`.
- Each client owns one sqlite3 connection used from one worker thread, so the event loop never blocks
  on the database lock.

Known limitation: the write lock lives in the node processes. A process frozen (SIGSTOP, a hung
page fault) *inside* a write transaction (they last well under a millisecond) blocks every other
writer for ``busy_timeout_s`` and then makes them see :class:`StoreUnavailable`; the cluster recovers
when the process resumes or dies (SQLite rolls its transaction back). The multi-machine deployment
uses etcd, which has no such shared lock.
"""
from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sofs.cluster.store import (
    KV,
    ClusterStore,
    Compare,
    Delete,
    EventType,
    LeaseId,
    LeaseNotFound,
    Listing,
    Op,
    Put,
    StoreClosed,
    StoreUnavailable,
    TxnResult,
    WatchCompacted,
    WatchEvent,
)

R = TypeVar("R")
Clock = Callable[[], float]
DB_FILE = "store.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL,
    version INTEGER NOT NULL, lease INTEGER) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS lease_expires ON lease(expires);
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, deleted INTEGER NOT NULL,
    value BLOB NOT NULL, create_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER,
    PRIMARY KEY (rev, seq)) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compacted', 0), ('boot_id', '');
"""


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def prefix_end(prefix: str) -> str | None:
    """Smallest string greater than every string starting with ``prefix`` (None: unbounded)."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _range_sql(prefix: str, column: str = "key") -> tuple[str, tuple[str, ...]]:
    end = prefix_end(prefix)
    if end is None:
        return "1", ()
    return f"{column} >= ? AND {column} < ?", (prefix, end)


def _kv(row: sqlite3.Row | tuple[Any, ...]) -> KV:
    key, value, create_rev, mod_rev, version, lease = row
    return KV(key, bytes(value), mod_rev, create_rev, version, LeaseId(lease) if lease is not None else None)


class _Tx:
    """One write transaction: allocates at most one new revision per logical change set."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.current: int = con.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
        self._new: int | None = None
        self._seq = 0

    def rev(self) -> int:
        if self._new is None:
            self._new = self.current + 1
            self._seq = 0
        return self._new

    def seal(self) -> None:
        """Close the current change set; the next change gets a fresh revision."""
        if self._new is not None:
            self.current = self._new
            self._new = None

    def log(self, key: str, deleted: bool, value: bytes, create_rev: int, version: int,
            lease: int | None) -> None:
        rev = self.rev()
        self.con.execute("INSERT INTO log VALUES (?,?,?,?,?,?,?,?)",
                         (rev, self._seq, key, int(deleted), value, create_rev, version, lease))
        self._seq += 1

    def put(self, key: str, value: bytes, lease: int | None) -> None:
        if lease is not None and self.con.execute("SELECT 1 FROM lease WHERE id=?", (lease,)).fetchone() is None:
            raise LeaseNotFound(f"lease {lease} does not exist")
        rev = self.rev()
        row = self.con.execute("SELECT create_rev, version FROM kv WHERE key=?", (key,)).fetchone()
        create_rev, version = (row[0], row[1] + 1) if row else (rev, 1)
        self.con.execute("INSERT OR REPLACE INTO kv VALUES (?,?,?,?,?,?)",
                         (key, value, create_rev, rev, version, lease))
        self.log(key, False, value, create_rev, version, lease)

    def delete_rows(self, where: str, args: tuple[Any, ...]) -> int:
        rows = self.con.execute(f"SELECT key, create_rev FROM kv WHERE {where} ORDER BY key", args).fetchall()
        for key, create_rev in rows:
            self.log(key, True, b"", create_rev, 0, None)
        if rows:
            self.con.execute(f"DELETE FROM kv WHERE {where}", args)
        return len(rows)

    def finish(self) -> int:
        self.seal()
        self.con.execute("UPDATE meta SET value=? WHERE name='revision'", (self.current,))
        return self.current


class EmbeddedStore(ClusterStore):
    """SQLite-backed :class:`ClusterStore`. Open with :meth:`open`; see the module docstring."""

    def __init__(self, path: Path, clock: Clock, poll_interval: float, history: int,
                 busy_timeout_s: float, poll_wait: Callable[[], Awaitable[None]] | None) -> None:
        self.path = path
        self._clock = clock
        self._poll_interval = poll_interval
        self._poll_wait = poll_wait
        self._history = history
        self._busy_timeout_s = busy_timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sofs-store")
        self._con: sqlite3.Connection | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, clock: Clock = time.monotonic,
                   poll_interval: float = 0.05, history: int = 10_000, busy_timeout_s: float = 5.0,
                   poll_wait: Callable[[], Awaitable[None]] | None = None) -> EmbeddedStore:
        """Open (creating if needed) the store at ``path``: a directory (the file is ``store.sqlite``
        inside) or a ``.sqlite`` file path."""
        p = Path(path)
        if p.suffix != ".sqlite":
            p.mkdir(parents=True, exist_ok=True)
            p = p / DB_FILE
        store = cls(p, clock, poll_interval, history, busy_timeout_s, poll_wait)
        await store._call(store._connect)
        return store

    # ---- plumbing ----

    def _connect(self) -> None:
        con = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None,
                              check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        self._con = con
        self._write(self._init_schema)

    def _init_schema(self, con: sqlite3.Connection) -> None:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                con.execute(stmt)
        bid = boot_id()
        if con.execute("SELECT value FROM meta WHERE name='boot_id'").fetchone()[0] != bid:
            con.execute("UPDATE lease SET expires = -1e300")  # written under another boot: all expired
            con.execute("UPDATE meta SET value=? WHERE name='boot_id'", (bid,))

    async def _call(self, fn: Callable[..., R], *args: Any) -> R:
        if self._closed:
            raise StoreClosed("store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except sqlite3.OperationalError as e:
            raise StoreUnavailable(f"embedded store {self.path}: {e}") from e
        except RuntimeError as e:  # executor shut down under us
            raise StoreClosed("store is closed") from e

    def _write(self, body: Callable[..., R], *args: Any) -> R:
        con = self._con
        assert con is not None
        con.execute("BEGIN IMMEDIATE")
        try:
            result = body(con, *args)
            con.execute("COMMIT")
            return result
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _expire_due(self, con: sqlite3.Connection) -> bool:
        row = con.execute("SELECT min(expires) FROM lease").fetchone()
        return row[0] is not None and row[0] <= self._clock()

    def _expire_locked(self, tx: _Tx) -> None:
        """Inside a write txn: end every lease past its expiry, deleting its keys in one revision."""
        now = self._clock()
        ids = [r[0] for r in tx.con.execute("SELECT id FROM lease WHERE expires <= ?", (now,))]
        for lid in ids:
            tx.delete_rows("lease = ?", (lid,))
            tx.con.execute("DELETE FROM lease WHERE id=?", (lid,))
        tx.seal()

    def _mutate(self, body: Callable[..., R], *args: Any) -> R:
        return self._mutate_rev(body, *args)[0]

    def _mutate_rev(self, body: Callable[..., R], *args: Any) -> tuple[R, int]:
        """Run ``body(tx)`` in a write transaction (after reaping leases); returns (result, revision)."""
        def run(con: sqlite3.Connection) -> tuple[R, int]:
            tx = _Tx(con)
            self._expire_locked(tx)
            result = body(tx, *args)
            before = tx.current
            rev = tx.finish()
            if rev != before and rev % 1000 == 0:
                self._compact(con, rev)
            return result, rev
        return self._write(run)

    def _compact(self, con: sqlite3.Connection, rev: int) -> None:
        keep_from = rev - self._history
        if keep_from > 0:
            con.execute("DELETE FROM log WHERE rev < ?", (keep_from,))
            con.execute("UPDATE meta SET value=max(value, ?) WHERE name='compacted'", (keep_from - 1,))

    def _read(self, body: Callable[[sqlite3.Connection], R]) -> R:
        con = self._con
        assert con is not None
        if self._expire_due(con):
            self._mutate(lambda tx: None)
        con.execute("BEGIN")
        try:
            return body(con)
        finally:
            con.execute("COMMIT")

    @staticmethod
    def _revision(con: sqlite3.Connection) -> int:
        return int(con.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0])

    # ---- reads ----

    async def get(self, key: str) -> KV | None:
        def body(con: sqlite3.Connection) -> KV | None:
            row = con.execute("SELECT * FROM kv WHERE key=?", (key,)).fetchone()
            return _kv(row) if row else None
        return await self._call(self._read, body)

    async def list(self, prefix: str) -> Listing:
        where, args = _range_sql(prefix)

        def body(con: sqlite3.Connection) -> Listing:
            rows = con.execute(f"SELECT * FROM kv WHERE {where} ORDER BY key", args).fetchall()
            return Listing(tuple(_kv(r) for r in rows), self._revision(con))
        return await self._call(self._read, body)

    async def revision(self) -> int:
        return await self._call(self._read, self._revision)

    # ---- writes ----

    async def put(self, key: str, value: bytes, lease: LeaseId | None = None) -> int:
        def body(tx: _Tx) -> int:
            tx.put(key, value, lease)
            return tx.rev()
        return await self._call(self._mutate, body)

    async def create(self, key: str, value: bytes, lease: LeaseId | None = None) -> bool:
        return await self.cas(key, value, 0, lease)

    async def cas(self, key: str, value: bytes, expected_revision: int,
                  lease: LeaseId | None = None) -> bool:
        res = await self.txn([Compare(key, mod_revision=expected_revision)], [Put(key, value, lease)])
        return res.succeeded

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self._mutate, lambda tx: tx.delete_rows("key = ?", (key,))))

    async def cas_delete(self, key: str, expected_revision: int) -> bool:
        res = await self.txn([Compare(key, mod_revision=expected_revision)], [Delete(key)])
        return res.succeeded and expected_revision != 0

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("delete_prefix needs a non-empty prefix")
        where, args = _range_sql(prefix)
        return await self._call(self._mutate, lambda tx: tx.delete_rows(where, args))

    async def txn(self, compares: Sequence[Compare], on_success: Sequence[Op],
                  on_failure: Sequence[Op] = ()) -> TxnResult:
        for branch in (on_success, on_failure):
            keys = [op.key for op in branch]
            if len(keys) != len(set(keys)):
                raise ValueError("a key may appear at most once per transaction branch")

        def body(tx: _Tx) -> bool:
            ok = all(self._holds(tx.con, c) for c in compares)
            for op in on_success if ok else on_failure:
                if isinstance(op, Put):
                    tx.put(op.key, op.value, op.lease)
                else:
                    tx.delete_rows("key = ?", (op.key,))
            return ok

        ok, rev = await self._call(self._mutate_rev, body)
        return TxnResult(ok, rev)

    @staticmethod
    def _holds(con: sqlite3.Connection, c: Compare) -> bool:
        row = con.execute("SELECT mod_rev, value FROM kv WHERE key=?", (c.key,)).fetchone()
        if c.mod_revision is not None and (row[0] if row else 0) != c.mod_revision:
            return False
        if c.value is not None and (row is None or bytes(row[1]) != c.value):
            return False
        if c.mod_revision is None and c.value is None:
            return row is not None
        return True

    # ---- leases ----

    async def grant(self, ttl_s: float) -> LeaseId:
        if ttl_s <= 0:
            raise ValueError("lease TTL must be positive")

        def body(tx: _Tx) -> LeaseId:
            cur = tx.con.execute("INSERT INTO lease (ttl, expires) VALUES (?, ?)", (ttl_s, self._clock() + ttl_s))
            assert cur.lastrowid is not None
            return LeaseId(cur.lastrowid)
        return await self._call(self._mutate, body)

    async def keepalive(self, lease: LeaseId) -> float:
        def body(tx: _Tx) -> float:
            row = tx.con.execute("SELECT ttl FROM lease WHERE id=?", (lease,)).fetchone()
            if row is None:
                raise LeaseNotFound(f"lease {lease} expired or was revoked")
            tx.con.execute("UPDATE lease SET expires=? WHERE id=?", (self._clock() + row[0], lease))
            return float(row[0])
        return await self._call(self._mutate, body)

    async def revoke(self, lease: LeaseId) -> None:
        def body(tx: _Tx) -> None:
            tx.delete_rows("lease = ?", (lease,))
            tx.con.execute("DELETE FROM lease WHERE id=?", (lease,))
        await self._call(self._mutate, body)

    async def lease_ttl(self, lease: LeaseId) -> float | None:
        def body(con: sqlite3.Connection) -> float | None:
            row = con.execute("SELECT expires FROM lease WHERE id=?", (lease,)).fetchone()
            return max(0.0, row[0] - self._clock()) if row else None
        return await self._call(self._read, body)

    async def expire_leases(self) -> None:
        """Reap expired leases now (every operation and watch poll does this anyway)."""
        await self._call(self._read, lambda con: None)

    # ---- watch ----

    def _poll_log(self, prefix: str, start: int) -> builtins.list[WatchEvent]:
        where, args = _range_sql(prefix)

        def body(con: sqlite3.Connection) -> builtins.list[WatchEvent]:
            compacted = int(con.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()[0])
            if start <= compacted:
                raise WatchCompacted(f"revision {start} compacted (history starts after {compacted})",
                                     compacted)
            rows = con.execute(
                f"SELECT rev, key, deleted, value, create_rev, version, lease FROM log "
                f"WHERE rev >= ? AND {where} ORDER BY rev, seq", (start, *args)).fetchall()
            return [WatchEvent(EventType.DELETE if deleted else EventType.PUT,
                               KV(key, bytes(value), rev, create_rev, version,
                                  LeaseId(lease) if lease is not None else None))
                    for rev, key, deleted, value, create_rev, version, lease in rows]
        return self._read(body)

    async def watch(self, prefix: str, start_revision: int | None = None) -> AsyncIterator[WatchEvent]:
        start = start_revision if start_revision is not None else await self.revision() + 1
        while True:
            for ev in await self._call(self._poll_log, prefix, start):
                start = ev.revision + 1
                yield ev
            if self._poll_wait is not None:
                await self._poll_wait()
            else:
                await asyncio.sleep(self._poll_interval)

    # ---- lifecycle ----

    async def close(self) -> None:
        if self._closed:
            return
        with contextlib.suppress(StoreUnavailable):
            await self._call(self._close_con)
        self._closed = True
        self._pool.shutdown(wait=False)

    def _close_con(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


async def open_embedded(state_dir: str | os.PathLike[str], **kw: Any) -> EmbeddedStore:
    """Open the embedded store kept in a cluster state directory (``<dir>/store.sqlite``)."""
    return await EmbeddedStore.open(state_dir, **kw)
