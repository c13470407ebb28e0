"""One "virtual machine" of the failover drill: a client process doing Hyper-V-like I/O on one VHD file.

``python -m sofs.management.drill.vm SPEC.json`` opens its file on a continuously available share as
Hyper-V does (a persistent handle, DH2Q with a CreateGuid, and an App Instance ID), then until its
time is up: random 4 KiB and 64 KiB reads and write-through writes, a flush every 32 operations,
each written 4 KiB block remembered by version and every read of a known block verified. When an I/O
fails the VM reconnects its handle (DH2C) through each node in turn, as an SMB3 client does after a
failover, and re-issues the I/O. At the end it reads back every block it wrote. Its result (stall,
errors, lost and corrupt blocks, timeline) is written to ``SPEC["result"]`` as JSON.

Live migration: on SIGUSR1 the VM stops its I/O and writes its block map to ``SPEC["handoff"]`` (the
VM is paused on the source host); a second process then opens the same file with the same App
Instance ID (``SPEC["resume_from"]``) — the server closes the first host's handle — and goes on.
"""
from __future__ import annotations

import hashlib
import json
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateAppInstanceId,
    SMB2CreateContextRequest,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequestV2,
)
from smbprotocol.exceptions import SMBException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

BLOCK = 4096
RW = 0x1 | 0x2  # FILE_READ_DATA | FILE_WRITE_DATA
FAILURES = (SMBException, OSError, ValueError, EOFError)


def pattern(vm: str, block: int, version: int) -> bytes:
    seed = hashlib.sha256(f"{vm}:{block}:{version}".encode()).digest()
    return (seed * (BLOCK // len(seed)))[:BLOCK]


def _ctx(name: bytes, data: Any) -> SMB2CreateContextRequest:
    c = SMB2CreateContextRequest()
    c["buffer_name"], c["buffer_data"] = name, data
    return c


class Vm:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.name = spec["name"]
        self.rng = random.Random(spec.get("seed", 0))
        self.app_id = uuid.UUID(spec["app_instance_id"])
        self.create_guid = uuid.uuid4()
        self.guid = uuid.uuid4()
        self.blocks: dict[int, int] = {}
        self.timeline: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.ops = 0
        self.last_ok = time.monotonic()
        self.max_stall = 0.0
        self.conn: Connection | None = None
        self.op: Open | None = None
        self.file_id: bytes = b""
        self.node = ""
        self.paused = False

    def event(self, kind: str, **kw: Any) -> None:
        self.timeline.append({"t": time.time(), "kind": kind, **kw})

    # ---- the handle ----

    def _session(self, addr: str) -> TreeConnect:
        s = self.spec
        conn = Connection(self.guid, addr, s["port"], require_signing=False)
        conn.connect(Dialects.SMB_3_1_1, timeout=5)
        self.conn = conn
        session = Session(conn, s["user"], s["password"], require_encryption=False)
        session.connect()
        tree = TreeConnect(session, rf"\\{addr}\{s['share']}")
        tree.connect()
        return tree

    def _contexts(self, reconnect: bool) -> list[SMB2CreateContextRequest]:
        if reconnect:
            rc = SMB2CreateDurableHandleReconnectV2()
            rc["file_id"], rc["create_guid"], rc["flags"] = self.file_id, self.create_guid, 0x2
            durable = _ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, rc)
        else:
            dh = SMB2CreateDurableHandleRequestV2()
            dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, self.create_guid
            durable = _ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)
        app = SMB2CreateAppInstanceId()
        app["app_instance_id"] = self.app_id.bytes
        return [durable, _ctx(CreateContextName.SMB2_CREATE_APP_INSTANCE_ID, app)]

    def open(self, addr: str, reconnect: bool = False) -> None:
        tree = self._session(addr)
        op = Open(tree, self.spec["path"])
        op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                  CreateDisposition.FILE_OPEN if reconnect else CreateDisposition.FILE_OPEN_IF, 0x40,
                  self._contexts(reconnect))
        self.op, self.node = op, addr
        self.file_id = op.file_id

    def drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.disconnect(close=False)
            except FAILURES:
                pass
        self.conn = self.op = None

    def reclaim(self, why: str) -> None:
        """Reconnect the persistent handle through each node in turn (CA timeout bounds the wait)."""
        t0 = time.monotonic()
        self.event("disconnect", node=self.node, reason=why)
        self.drop()
        nodes = self.spec["nodes"]
        start = nodes.index(self.node) if self.node in nodes else 0
        attempt = 0
        while time.monotonic() - t0 < self.spec.get("ca_timeout", 60):
            addr = nodes[(start + 1 + attempt) % len(nodes)]
            attempt += 1
            try:
                self.open(addr, reconnect=True)
            except FAILURES as e:
                self.drop()
                self.event("reconnect_failed", node=addr, reason=str(e)[:160])
                time.sleep(0.2)
                continue
            self.event("reclaimed", node=addr, after_s=round(time.monotonic() - t0, 3))
            return
        raise TimeoutError(f"could not reclaim the handle within {self.spec.get('ca_timeout', 60)} s")

    def first_open(self, addr: str, timeout_s: float = 30.0) -> None:
        """The VM starts: open through its node, or the next ones if that one does not answer (for up
        to ``timeout_s``: a share just created reaches every node a moment later, longer on a loaded
        machine; each failure is in the timeline)."""
        nodes = self.spec["nodes"]
        deadline = time.monotonic() + timeout_s
        i = -1
        while time.monotonic() < deadline:
            i += 1
            a = nodes[(nodes.index(addr) + i) % len(nodes)]
            try:
                self.open(a)
            except FAILURES as e:
                self.drop()
                self.event("open_failed", node=a, reason=str(e)[:160])
                # the create may have been granted and its answer lost (the connection closed): a retry
                # with the same CreateGuid is then STATUS_DUPLICATE_OBJECTID ([MS-SMB2] 3.3.5.9.10); a new
                # one, with the same App Instance ID, makes the server close the orphaned open instead
                self.create_guid = uuid.uuid4()
                time.sleep(0.3)
                continue
            self.event("opened", node=self.node)
            return
        raise ConnectionError("no node accepted the VM's open")

    # ---- I/O ----

    def _io(self, fn: Any) -> Any:
        while True:
            try:
                out = fn()
            except FAILURES as e:
                status = getattr(e, "status", 0)
                if status == 0xC0000128 and self.paused:  # FILE_CLOSED: the new host took the VM over
                    raise
                self.reclaim(f"{type(e).__name__}: {str(e)[:120]}")
                continue
            now = time.monotonic()
            self.max_stall = max(self.max_stall, now - self.last_ok)
            self.last_ok = now
            return out

    def write(self, first: int, count: int) -> None:
        data = b"".join(pattern(self.name, b, self.blocks.get(b, 0) + 1) for b in range(first, first + count))
        assert self.op is not None
        self._io(lambda: self.op.write(data, first * BLOCK, write_through=True))  # type: ignore[union-attr]
        for b in range(first, first + count):
            self.blocks[b] = self.blocks.get(b, 0) + 1

    def read(self, first: int, count: int) -> tuple[int, int]:
        """Read and verify; returns (corrupt, lost) block counts."""
        data = self._io(lambda: self.op.read(first * BLOCK, count * BLOCK))  # type: ignore[union-attr]
        corrupt = lost = 0
        for i, b in enumerate(range(first, first + count)):
            v = self.blocks.get(b)
            if v is None:
                continue
            got = bytes(data[i * BLOCK:(i + 1) * BLOCK])
            if got != pattern(self.name, b, v):
                if v > 1 and got == pattern(self.name, b, v - 1):
                    lost += 1  # an acknowledged write-through write is gone
                else:
                    corrupt += 1
        return corrupt, lost

    def run(self) -> dict[str, Any]:
        s = self.spec
        nblocks = s["size"] // BLOCK
        resume = s.get("resume_from")
        if resume:
            self.blocks = {int(k): v for k, v in json.loads(Path(resume).read_text())["blocks"].items()}
            self.event("migrated_in")
        self.first_open(s["nodes"][s.get("first_node", 0) % len(s["nodes"])])
        corrupt = lost = 0
        if not resume:
            for b in range(0, nblocks, 16):  # preallocate (as a fixed-size VHDX is)
                self.write(b, min(16, nblocks - b))
        Path(s["ready"]).write_text("ready")
        deadline = time.monotonic() + s["duration"]
        self.last_ok = time.monotonic()
        while time.monotonic() < deadline and not self.paused:
            count = 16 if self.rng.random() < 0.3 else 1
            first = self.rng.randrange(0, nblocks - count + 1)
            if self.rng.random() < 0.5:
                self.write(first, count)
            else:
                c, lo = self.read(first, count)
                corrupt, lost = corrupt + c, lost + lo
            self.ops += 1
            if self.ops % 32 == 0:
                self._io(lambda: self.op.flush())  # type: ignore[union-attr]
            time.sleep(s.get("think_s", 0.002))
        if self.paused:
            Path(s["handoff"]).write_text(json.dumps({"blocks": self.blocks}))
            self.event("paused_for_migration")
            try:  # the handle stays open until the new host's open closes it
                for _ in range(int(s.get("handoff_wait", 30) / 0.2)):
                    self.op.read(0, BLOCK)  # type: ignore[union-attr]
                    time.sleep(0.2)
                self.errors.append("the old host's handle was not closed by the new host's open")
            except FAILURES as e:
                self.event("closed_by_new_host", status=hex(getattr(e, "status", 0) or 0))
        else:
            for b in range(0, nblocks, 16):  # read back everything written
                c, lo = self.read(b, min(16, nblocks - b))
                corrupt, lost = corrupt + c, lost + lo
            self.event("verified", blocks=len(self.blocks))
            self._io(lambda: self.op.close())  # type: ignore[union-attr]
        self.drop()
        return {"vm": self.name, "ops": self.ops, "max_stall_s": round(self.max_stall, 3), "errors": self.errors,
                "corrupt_blocks": corrupt, "lost_blocks": lost, "blocks_written": len(self.blocks),
                "timeline": self.timeline, "migrated_out": self.paused}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    vm = Vm(spec)
    signal.signal(signal.SIGUSR1, lambda *_: setattr(vm, "paused", True))
    try:
        result = vm.run()
    except Exception as e:  # noqa: BLE001 - the application saw an error: report it
        result = {"vm": vm.name, "ops": vm.ops, "max_stall_s": round(vm.max_stall, 3),
                  "errors": [*vm.errors, f"{type(e).__name__}: {e}"], "corrupt_blocks": 0, "lost_blocks": 0,
                  "blocks_written": len(vm.blocks), "timeline": vm.timeline, "migrated_out": vm.paused}
    Path(spec["result"]).write_text(json.dumps(result))
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
