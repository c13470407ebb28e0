"""Stress: 32 smbprotocol clients open, lock, write, read back and close the same few files.

Issue 4, acceptance 4. The server runs in this process (its own thread and event loop) so that the
final state can be inspected: no deadlock (bounded time), every break the server sent reached its
client (which acknowledged it), the lock table consistent while running and empty afterwards, and
the open/lease/lock/waiter tables and the number of live opens back to the baseline after the
clients disconnect.

smbprotocol has no oplock-break support (an unsolicited message kills its receive thread), so each
client swaps in a message table that hands break notifications to a small acknowledging thread.
"""
from __future__ import annotations

import asyncio
import gc
import os
import queue
import random
import socket
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

smbprotocol = pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import Commands
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    ShareAccess,
    SMB2LockElement,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from sofs.config import ServerConfig, ShareConfig, UserConfig

pytestmark = pytest.mark.slow

CLIENTS = 32
FILES = 4
SLOTS = 8
SLOT = 16
DURATION = float(os.environ.get("SOFS_STRESS_SECONDS", "10"))
BREAK_ID = 0xFFFFFFFFFFFFFFFF
GENERIC_RW = 0x80000000 | 0x40000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
LOCK_EX, LOCK_FAIL, UNLOCK = 0x2, 0x10, 0x4


class ServerThread:
    """``sofs.server.app.serve`` on its own loop; ``call(fn)`` runs fn in the loop thread."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.state: Any = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from sofs.server import app

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop = asyncio.Event()

            def ready(server: Any) -> None:
                self.state = server
                self.ready.set()

            await app.serve(self.cfg, ready=ready, stop=self.stop)

        asyncio.run(main())

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(15)

    def call(self, fn: Any) -> Any:
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


class _RawAck:
    COMMAND = Commands.SMB2_OPLOCK_BREAK

    def __init__(self, body: bytes) -> None:
        self.body = body

    def pack(self) -> bytes:
        return self.body

    def __len__(self) -> int:
        return len(self.body)


class _BreakRequest:
    """What smbprotocol's receive loop needs of an 'outstanding request' for a break notification."""

    def __init__(self, sink: queue.Queue[Any]) -> None:
        self.session_id = 0
        self.response_event_lock = threading.Lock()
        self.sink = sink
        self.message = {"reserved": _Zero()}
        self.response_event = self

    def set(self) -> None:  # response_event.set(): the notification arrived
        self.sink.put(bytes(self.response["data"].get_value()))


class _Zero:
    @staticmethod
    def get_value() -> int:
        return 0


class _Outstanding(dict):  # type: ignore[type-arg]
    def __init__(self, sink: queue.Queue[Any]) -> None:
        super().__init__()
        self.sink = sink

    def __getitem__(self, key: int) -> Any:
        if key == BREAK_ID:
            return _BreakRequest(self.sink)
        return super().__getitem__(key)


class Client:
    def __init__(self, n: int, port: int, stats: dict[str, int], lock: threading.Lock) -> None:
        self.n = n
        self.port = port
        self.stats = stats
        self.stats_lock = lock
        self.breaks: queue.Queue[Any] = queue.Queue()
        self.rnd = random.Random(n)

    def count(self, key: str, k: int = 1) -> None:
        with self.stats_lock:
            self.stats[key] = self.stats.get(key, 0) + k

    def connect(self) -> None:
        self.conn = Connection(uuid.uuid4(), "127.0.0.1", self.port)
        self.conn.outstanding_requests = _Outstanding(self.breaks)
        self.conn.connect()
        self.session = Session(self.conn, "alice", "Secret1!")
        self.session.connect()
        self.tree = TreeConnect(self.session, r"\\127.0.0.1\share")
        self.tree.connect()
        self.acker = threading.Thread(target=self._ack_loop, daemon=True)
        self.acker.start()

    def _ack_loop(self) -> None:
        while True:
            body = self.breaks.get()
            if body is None:
                return
            self.count("breaks_received")
            if len(body) < 24 or body[0] != 24:
                continue
            if body[2] == 0:
                self.count("breaks_to_none")
            level, file_id = body[2], body[8:24]
            ack = struct.pack("<HBBI16s", 24, level, 0, 0, file_id)
            try:
                req = self.conn.send(_RawAck(ack), self.session.session_id, self.tree.tree_connect_id)
                self.conn.receive(req)
                self.count("acks_ok")
            except SMBResponseException as e:
                # II -> none needs no ack (INVALID_OPLOCK_PROTOCOL), or the handle closed meanwhile
                self.count(f"acks_refused_{e.status:08x}")

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.one_round()

    def one_round(self) -> None:
        name = f"stress{self.rnd.randrange(FILES)}.bin"
        level = self.rnd.choice([0x00, 0x00, 0x01, 0x09])
        f = Open(self.tree, name)
        f.create(ImpersonationLevel.Impersonation, GENERIC_RW, FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL,
                 CreateDisposition.FILE_OPEN_IF, CreateOptions.FILE_NON_DIRECTORY_FILE, oplock_level=level)
        self.count("opens")
        try:
            slot = self.rnd.randrange(SLOTS)
            el = SMB2LockElement()
            el["offset"], el["length"] = slot * SLOT, SLOT
            blocking = self.rnd.random() < 0.3
            el["flags"] = LOCK_EX if blocking else LOCK_EX | LOCK_FAIL
            try:
                f.lock([el])
            except SMBResponseException:
                self.count("lock_not_granted")
                return
            self.count("locks_blocking" if blocking else "locks")
            data = struct.pack("<II", self.n, self.rnd.getrandbits(32)) * 2
            f.write(data, slot * SLOT)
            back = f.read(slot * SLOT, SLOT)
            assert back == data, f"client {self.n}: another open wrote into a range it had locked"
            un = SMB2LockElement()
            un["offset"], un["length"], un["flags"] = slot * SLOT, SLOT, UNLOCK
            f.lock([un])
        finally:
            f.close()

    def disconnect(self) -> None:
        self.breaks.put(None)
        self.acker.join(5)
        self.tree.disconnect()
        self.session.disconnect()
        self.conn.disconnect()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live_opens() -> int:
    from sofs.handlers.opens import Handle

    return sum(1 for o in gc.get_objects() if type(o) is Handle)


def test_stress_caching(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    port = _free_port()
    cfg = ServerConfig(listen=[("127.0.0.1", port)], shares=[ShareConfig("share", str(share))],
                       users=[UserConfig("alice", "Secret1!")])
    srv = ServerThread(cfg)
    srv.start()
    try:
        mgr = srv.call(lambda: srv.state.coordinators["share"])
        mgr.timeout_ns = 2_000_000_000  # a client that never acks costs 2 s, not 35
        sink = srv.call(lambda: mgr.sinks[0])
        gc.collect()
        base_rss, base_opens = _rss(), _live_opens()
        stats: dict[str, int] = {}
        slock = threading.Lock()
        clients = [Client(i, port, stats, slock) for i in range(CLIENTS)]
        for c in clients:
            c.connect()
        deadline = time.monotonic() + DURATION
        errors: list[BaseException] = []

        def work(c: Client) -> None:
            try:
                c.run(deadline)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        # bounded: the longest legitimate wait is one unanswered break (2 s) per queued opener
        for t in threads:
            t.join(DURATION + 60)
        assert not [t for t in threads if t.is_alive()], "deadlock: clients still running"
        assert not errors, errors[:3]
        srv.call(mgr.table.check_invariants)
        time.sleep(0.5)  # let the last acknowledgments land
        # no lost break: every notification the server sent reached its client
        assert stats.get("breaks_received", 0) == sink.sent_breaks, (stats, sink.sent_breaks)
        assert stats["opens"] > CLIENTS and stats.get("locks", 0) + stats.get("locks_blocking", 0) > 0
        state = srv.call(lambda: (dict(mgr.table.locks.files), dict(mgr.oplock_opens),
                                  dict(mgr.table.leases.by_key), dict(mgr.lock_waiters), dict(mgr.break_waiters),
                                  dict(mgr.timers), dict(mgr.table.opens_by_persistent),
                                  dict(srv.state.handles.by_id)))
        assert state == ({}, {}, {}, {}, {}, {}, {}, {}), state  # every handle closed: nothing left
        for c in clients:
            c.disconnect()
        end = time.monotonic() + 10
        while time.monotonic() < end and srv.call(lambda: len(srv.state.connections)):
            time.sleep(0.05)
        assert srv.call(lambda: len(srv.state.connections)) == 0
        del clients, threads
        gc.collect()
        assert _live_opens() <= base_opens
        assert _rss() - base_rss < 64 * 1024 * 1024
        print(f"stress: {stats}, breaks sent {mgr.stats.breaks_sent}")
    finally:
        srv.shutdown()
