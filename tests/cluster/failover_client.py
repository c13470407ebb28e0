"""Two SMB clients of a continuously available share for failover measurements: one that follows the Witness
service ([MS-SWN]) and one that relies on its own timeout and reconnect logic.

:class:`CaWriter` opens a file with a persistent handle ([MS-SMB2] 3.2.4.3.5, DH2Q flags PERSISTENT) and
writes 4 KiB blocks in a loop, each request waiting at most ``request_timeout`` seconds for its answer.
When a request fails (its connection was reset, or no answer within the timeout) the client reconnects
by itself: it tries the other nodes it was given, in turn, with the same ClientGuid, and reclaims its
handle with DH2C ([MS-SMB2] 3.2.4.4.x), retrying every 50 ms until a node accepts. That is the client
*without* the witness (charitably: it skips the failed node instead of retrying it first).

:class:`WitnessFollower` adds the witness to the same client: a Samba client (python3-samba, run with
the system Python: ``swn_client.py``) registers with a *different* node's Witness service for the
address of the client's file server node (RegisterEx; authenticated with the writer's account and
packet privacy, as Windows does) and waits in AsyncNotify. On RESOURCE_CHANGE
"unavailable" for that address the client reconnects to the witness node (the one node it knows to be
alive); on CLIENT_MOVE / SHARE_MOVE to the addresses it is told. Whichever comes first — the witness or
its own request failure — starts the reconnect; :attr:`CaWriter.learned_by` records which.

The pause of a failover is from the failure (``t_fail``, given by the caller) to the first write the
reclaimed handle has acknowledged.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
)
from smbprotocol.exceptions import SMBException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.interop.test_ca_durable import RW, _ctx, _lease

BLOCK = 4096
HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
ERRORS = (SMBException, OSError, ValueError)


def block(tag: str, i: int) -> bytes:
    return hashlib.sha256(f"{tag}-{i}".encode()).digest() * (BLOCK // 32)


class CaWriter:
    """A client writing blocks through a persistent handle; reconnects and reclaims it when it must."""

    def __init__(self, name: str, share: str, port: int, user: str, password: str, *,
                 request_timeout: float, others: Sequence[str]) -> None:
        self.name, self.share, self.port = name, share, port
        self.user, self.password = user, password
        self.request_timeout = request_timeout
        self.others = list(others)
        """Addresses the client tries by itself after a failure (its own reconnect logic)."""
        self.guid, self.create_guid, self.lease_key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
        self.file = f"{name}.vhdx"
        self.conn: Connection | None = None
        self.op: Open | None = None
        self.file_id = b""
        self.acked: list[int] = []
        self.next_block = 0
        self.learned_by = ""
        self.t_learned = 0.0
        self.t_back = 0.0
        self.reclaimed_on = ""
        self.error = ""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _session(self, addr: str) -> tuple[Connection, TreeConnect]:
        conn = Connection(self.guid, addr, self.port, require_signing=False)
        try:
            conn.connect(Dialects.SMB_3_1_1, timeout=max(1, int(self.request_timeout)))
            s = Session(conn, self.user, self.password, require_encryption=False)
            s.connect()
            tree = TreeConnect(s, rf"\\{addr}\{self.share}")
            tree.connect()
        except BaseException:
            with contextlib.suppress(*ERRORS):
                conn.disconnect(close=False)
            raise
        return conn, tree

    def open(self, addr: str) -> None:
        """Connect to ``addr`` and open the file with a persistent handle (and a lease)."""
        conn, tree = self._session(addr)
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, self.create_guid
        op = Open(tree, self.file)
        rsp = op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                        CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                        [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(self.lease_key)],
                        oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        dh2 = [c for c in rsp or [] if isinstance(c, SMB2CreateDurableHandleResponseV2)]
        if not (dh2 and dh2[0]["flags"].get_value() & 0x2):
            _quiet_disconnect(conn)
            raise AssertionError(f"{addr}: no persistent handle granted for {self.file}")
        self.conn, self.op, self.file_id = conn, op, op.file_id

    def _write(self, op: Open, i: int) -> None:
        """One WRITE that waits at most ``request_timeout`` for its answer (an SMBException after it)."""
        msg, _ = op.write(block(self.name, i), i * BLOCK, send=False)
        conn = op.connection
        req = conn.send(msg, op.tree_connect.session.session_id, op.tree_connect.tree_connect_id)
        if not req.response_event.wait(self.request_timeout):  # smbprotocol's own timeout is whole seconds
            raise SMBException(f"request timeout: no answer within {self.request_timeout:g} s")
        rsp = conn.receive(req)
        if rsp["status"].get_value() != 0:
            raise SMBException(f"WRITE answered {rsp['status'].get_value():#x}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"writer-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and not self._done.is_set():
            op, i = self.op, self.next_block
            assert op is not None
            try:
                self._write(op, i)
            except ERRORS as e:
                if op is self.op and not self._done.is_set():
                    self.failover(self.others, "connection reset" if "timeout" not in str(e) else "request timeout")
                return
            with self._lock:
                if op is not self.op:
                    return
                self.acked.append(i)
                self.next_block = i + 1
            time.sleep(0.01)

    def failover(self, targets: Sequence[str], how: str) -> None:
        """Reconnect to one of ``targets`` (in turn) and reclaim the handle (DH2C); the first caller wins."""
        with self._lock:
            if self.learned_by:
                return
            self.learned_by, self.t_learned = how, time.time()
            old = self.conn
        if old is not None:  # wakes a request still waiting on the dead connection
            threading.Thread(target=lambda: _quiet_disconnect(old), daemon=True).start()
        deadline = time.monotonic() + 120
        n = 0
        while True:
            addr = targets[n % len(targets)]
            n += 1
            try:
                conn, op = self._reclaim(addr)
                i = self.next_block
                self._write(op, i)
                break
            except ERRORS as e:
                if time.monotonic() > deadline:
                    self.error = f"no reclaim within 120 s: {e!r}"
                    self._done.set()
                    return
                time.sleep(0.05)
        with self._lock:
            self.t_back = time.time()
            self.conn, self.op, self.reclaimed_on = conn, op, addr
            self.acked.append(i)
            self.next_block = i + 1
        self._done.set()

    def _reclaim(self, addr: str) -> tuple[Connection, Open]:
        conn, tree = self._session(addr)
        rc = SMB2CreateDurableHandleReconnectV2()
        rc["file_id"], rc["create_guid"], rc["flags"] = self.file_id, self.create_guid, 0x2
        op = Open(tree, self.file)
        try:
            op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                      CreateDisposition.FILE_OPEN, 0x40,
                      [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, rc), _lease(self.lease_key)],
                      oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        except BaseException:
            _quiet_disconnect(conn)
            raise
        return conn, op

    def wait_back(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def lost_blocks(self) -> list[int]:
        """Acknowledged blocks that do not read back as written (through the reclaimed handle)."""
        assert self.op is not None
        return [i for i in self.acked if self.op.read(i * BLOCK, BLOCK) != block(self.name, i)]

    def close(self) -> None:
        self._stop.set()
        if self.op is not None and self._done.is_set() and not self.error:
            with contextlib.suppress(*ERRORS):
                self.op.close()
        if self.conn is not None:
            _quiet_disconnect(self.conn)


def _quiet_disconnect(conn: Connection) -> None:
    with contextlib.suppress(*ERRORS, RuntimeError):
        conn.disconnect(close=False)


class WitnessFollower:
    """Samba's witness client (``swn_client.py``) registered for ``writer``'s file server address; on its
    notifications the writer fails over: to the witness node on RESOURCE_CHANGE unavailable, to the
    given addresses on CLIENT_MOVE / SHARE_MOVE."""

    def __init__(self, writer: CaWriter, witness_addr: str, witness_port: int, net_name: str,
                 server_addr: str, *, sealed: bool = True) -> None:
        self.writer, self.witness_addr, self.server_addr = writer, witness_addr, server_addr
        self.events: queue.Queue[dict[str, object]] = queue.Queue()
        env = dict(os.environ)
        if sealed:  # as Windows: authenticated (the writer's account), packet privacy
            env["SWN_CREDENTIALS"] = f"{writer.user}%{writer.password}"
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(HERE / "swn_client.py"), witness_addr, str(witness_port), net_name, server_addr,
             writer.name.upper()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self._registered = threading.Event()
        threading.Thread(target=self._read, name=f"witness-{writer.name}", daemon=True).start()

    def wait_registered(self, timeout: float = 30) -> None:
        if not self._registered.wait(timeout):
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise AssertionError(f"the witness client did not register within {timeout} s {err}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            ev = json.loads(line)
            self.events.put(ev)
            if ev["event"] == "registered":
                self._registered.set()
            elif ev["event"] == "resource_change" and ev.get("state") == "unavailable":
                self.writer.failover([self.witness_addr], "witness RESOURCE_CHANGE")
            elif ev["event"] in ("client_move", "share_move"):
                self.writer.failover(list(ev["addresses"]), f"witness {ev['event'].upper()}")  # type: ignore[arg-type]

    def close(self) -> None:
        self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
