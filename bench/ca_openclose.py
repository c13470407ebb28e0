"""Open+close per second with persistent-handle requests: sofs CA share (journal on) vs sofs plain
share vs Samba's plain share, in one run (issue 5 acceptance 4).

Every loop holds one file and repeats CREATE (OPEN_IF, read/write, share RWD, no oplock, a DH2Q
context with the PERSISTENT flag and a fresh CreateGuid) + CLOSE. On a CA share sofs grants the
persistent handle, so every open and every close is journaled and durable before its response
(group commit across loops); on a plain share the DH2Q is not granted (no batch oplock or lease
asked, not CA), which is Samba's plain-share baseline.

Load generator (``--client raw``, the default): ``bench/smbraw.py``, an asyncio SMB 3.1.1 client
built on sofs's wire codecs (NTLM via pyspnego, every request signed unless ``--no-sign``), with
requests pre-encoded: one process drives a few thousand round trips per second, several times
smbprotocol's rate (``--client smbprotocol``, the previous generator: ~600 open+close/s for four
processes against any server). ``--procs`` processes × ``--conns`` connections × ``--depth``
loops per connection (each loop waits for its response before the next request).

    .venv/bin/python bench/ca_openclose.py \\
        --target sofs-ca=127.0.0.1:4711/ca:alice:Secret1! \\
        --target sofs-plain=127.0.0.1:4711/share:alice:Secret1! \\
        --target samba-plain=127.0.0.1:4450/share:sofs:Passw0rd! --procs 2 --conns 2 --seconds 5 --rounds 3

Prints one line per target and round: open+close pairs per second, mean latency of a pair, pairs,
and how many CREATE responses carried the persistent flag; then the per-round ratios to the first
target named ``samba*`` and the medians.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    host: str
    port: int
    share: str
    user: str
    password: str

    @classmethod
    def parse(cls, text: str) -> Target:
        name, rest = text.split("=", 1)
        hostport, rest = rest.split("/", 1)
        share, user, password = rest.split(":", 2)
        host, port = hostport.rsplit(":", 1)
        return cls(name, host, int(port), share, user, password)


@dataclass(frozen=True, slots=True)
class Load:
    procs: int
    conns: int
    depth: int
    seconds: float
    sign: bool
    op: str = "openclose"  # or "lock": LOCK + UNLOCK pairs on one open per loop


# --- raw client --------------------------------------------------------------------------------

_GUID_MARK = b"\xa5" * 16


def _create_template(name: str) -> tuple[bytes, int]:
    """The CREATE body with a DH2Q (persistent) context and where its CreateGuid sits."""
    from sofs.wire.messages.create import CreateRequest
    from sofs.wire.messages.create_contexts import DurableHandleRequestV2, to_context

    dh2q = DurableHandleRequestV2(0, 0x2, _GUID_MARK)
    body = CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x3,
                         file_attributes=0x80, share_access=0x7, create_disposition=3,
                         create_options=0x40, name=name, contexts=[to_context(dh2q)]).encode()
    at = body.index(_GUID_MARK)
    return body, at


async def _raw_loop(c: object, name: str, end_at: float, stats: list[int]) -> None:
    from smbraw import RawClient, SmbError

    from sofs.wire.constants import Command
    from sofs.wire.header import HEADER_SIZE
    from sofs.wire.messages.close import CloseRequest
    from sofs.wire.messages.create_contexts import parse_create_contexts

    assert isinstance(c, RawClient)
    template, at = _create_template(name)
    body = bytearray(template)
    n = pers = 0
    while time.perf_counter() < end_at:
        body[at:at + 16] = uuid.uuid4().bytes
        resp = await c.call(Command.CREATE, bytes(body))
        status = int.from_bytes(resp[8:12], "little")
        if status:
            raise SmbError(status, f"CREATE {name}")
        fid = resp[HEADER_SIZE + 64:HEADER_SIZE + 80]
        ctx_off = int.from_bytes(resp[HEADER_SIZE + 80:HEADER_SIZE + 84], "little")
        ctx_len = int.from_bytes(resp[HEADER_SIZE + 84:HEADER_SIZE + 88], "little")
        if ctx_len:
            for cc in parse_create_contexts(memoryview(resp)[ctx_off:ctx_off + ctx_len]):
                if cc.name == b"DH2Q" and int.from_bytes(bytes(cc.data[4:8]), "little") & 0x2:
                    pers += 1
        resp = await c.call(Command.CLOSE, CloseRequest(0, fid).encode())
        status = int.from_bytes(resp[8:12], "little")
        if status:
            raise SmbError(status, f"CLOSE {name}")
        n += 1
    stats[0] += n
    stats[1] += pers


async def _raw_lock_loop(c: object, name: str, end_at: float, stats: list[int]) -> None:
    """One open, then LOCK (exclusive, fail immediately) + UNLOCK pairs on its own range."""
    from smbraw import RawClient, SmbError

    from sofs.wire.constants import Command
    from sofs.wire.header import HEADER_SIZE
    from sofs.wire.messages.lock import LockElement, LockRequest

    assert isinstance(c, RawClient)
    template, _at = _create_template(name)
    resp = await c.call(Command.CREATE, template)
    if int.from_bytes(resp[8:12], "little"):
        raise SmbError(int.from_bytes(resp[8:12], "little"), f"CREATE {name}")
    fid = bytes(resp[HEADER_SIZE + 64:HEADER_SIZE + 80])
    lock = LockRequest(file_id=fid, locks=(LockElement(0, 4096, 0x2 | 0x10),)).encode()
    unlock = LockRequest(file_id=fid, locks=(LockElement(0, 4096, 0x4),)).encode()
    n = 0
    while time.perf_counter() < end_at:
        for body in (lock, unlock):
            resp = await c.call(Command.LOCK, body)
            status = int.from_bytes(resp[8:12], "little")
            if status:
                raise SmbError(status, f"LOCK {name}")
        n += 1
    stats[0] += n


async def _raw_process(t: Target, idx: int, load: Load, start_at: float) -> tuple[int, float, int]:
    from smbraw import RawClient

    clients = [await RawClient.open(t.host, t.port, t.user, t.password, t.share, sign=load.sign)
               for _ in range(load.conns)]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    stats = [0, 0]
    loop = _raw_lock_loop if load.op == "lock" else _raw_loop
    await asyncio.gather(*(loop(c, f"bench-{load.op}-{idx}-{ci}-{d}.dat", t0 + load.seconds, stats)
                           for ci, c in enumerate(clients) for d in range(load.depth)))
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    return stats[0], elapsed, stats[1]


def _raw_worker(t: Target, idx: int, load: Load, start_at: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    try:
        out.put(asyncio.run(_raw_process(t, idx, load, start_at)))
    except BaseException as e:
        out.put(e)
        raise


# --- smbprotocol client (the previous generator) ----------------------------------------------

def _smbprotocol_worker(t: Target, idx: int, load: Load, start_at: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from smbprotocol.connection import Connection, Dialects
    from smbprotocol.create_contexts import (
        CreateContextName,
        SMB2CreateContextRequest,
        SMB2CreateDurableHandleRequestV2,
        SMB2CreateDurableHandleResponseV2,
    )
    from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect

    conn = Connection(uuid.uuid4(), t.host, t.port, require_signing=True)  # Samba wants a signed TREE_CONNECT
    conn.connect(Dialects.SMB_3_1_1, timeout=10)
    sess = Session(conn, t.user, t.password, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, rf"\\{t.host}\{t.share}")
    tree.connect()
    name = f"bench-openclose-{idx}.dat"
    n = persistent = 0
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    end = t0 + load.seconds
    while time.perf_counter() < end:
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"] = 0
        dh["flags"] = 0x2
        dh["create_guid"] = uuid.uuid4()
        ctx = SMB2CreateContextRequest()
        ctx["buffer_name"] = CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2
        ctx["buffer_data"] = dh
        op = Open(tree, name)
        rsp = op.create(ImpersonationLevel.Impersonation, 0x3, 0x80, 0x7, CreateDisposition.FILE_OPEN_IF,
                        0x40, [ctx]) or []
        if any(isinstance(c, SMB2CreateDurableHandleResponseV2) and c["flags"].get_value() & 0x2 for c in rsp):
            persistent += 1
        op.close()
        n += 1
    elapsed = time.perf_counter() - t0
    conn.disconnect(close=True)
    out.put((n, elapsed, persistent))


# --- driver ------------------------------------------------------------------------------------

def run_target(t: Target, load: Load, client: str) -> tuple[float, float, int, int]:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 1.5  # every worker connected before the clock starts
    worker = _raw_worker if client == "raw" else _smbprotocol_worker
    ps = [mp.Process(target=worker, args=(t, i, load, start_at, q)) for i in range(load.procs)]
    for p in ps:
        p.start()
    results = [q.get(timeout=load.seconds + 60) for _ in ps]
    for r in results:
        if isinstance(r, BaseException):
            raise RuntimeError(f"{t.name}: a worker failed: {r!r}")  # noqa: TRY004
    for p in ps:
        p.join()
    ops = sum(r[0] for r in results)
    rate = sum(r[0] / r[1] for r in results)
    loops = load.conns * load.depth if client == "raw" else 1
    latency = sum(r[1] * loops / max(r[0], 1) for r in results) / len(results) * 1e3  # ms per pair
    return rate, latency, ops, sum(r[2] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--target", action="append", required=True, help="NAME=HOST:PORT/SHARE:USER:PASS")
    ap.add_argument("--client", choices=("raw", "smbprotocol"), default="raw")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--conns", type=int, default=2, help="connections per process (raw client)")
    ap.add_argument("--depth", type=int, default=1, help="open+close loops per connection (raw client)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1, help="run the targets this many times, interleaved")
    ap.add_argument("--no-sign", action="store_true", help="sign only the TREE_CONNECT (raw client)")
    ap.add_argument("--op", choices=("openclose", "lock"), default="openclose",
                    help="openclose: CREATE+CLOSE pairs; lock: LOCK+UNLOCK pairs on one open (raw client)")
    a = ap.parse_args()
    targets = [Target.parse(x) for x in a.target]
    load = Load(a.procs, a.conns, a.depth, a.seconds, not a.no_sign, a.op)
    what = "lock+unlock" if a.op == "lock" else "open+close"
    print(f"# {what}/s, client {a.client}: {a.procs} processes x {a.conns} connections x "
          f"{a.depth} loops, {a.seconds:.0f} s per target, signed={load.sign}, pid {os.getpid()}")
    print(f"{'target':<14} {'round':>5} {what + '/s':>13} {'mean ms':>8} {'pairs':>8} {'persistent':>10}")
    rates: dict[str, list[float]] = {t.name: [] for t in targets}
    for r in range(a.rounds):
        k = r % len(targets)
        order = targets[k:] + targets[:k]  # rotate who goes first
        for t in order:
            rate, lat, ops, pers = run_target(t, load, a.client)
            rates[t.name].append(rate)
            print(f"{t.name:<14} {r + 1:>5} {rate:>13.0f} {lat:>8.3f} {ops:>8} {pers:>10}", flush=True)
    base = next((t.name for t in targets if t.name.startswith("samba")), None)
    print("# medians:", ", ".join(f"{n} {statistics.median(v):.0f}/s" for n, v in rates.items()))
    if base is not None:
        for n, v in rates.items():
            if n != base:
                ratios = [x / y for x, y in zip(v, rates[base], strict=True)]
                print(f"# {n} / {base} per round: {' '.join(f'{x:.2f}' for x in ratios)} "
                      f"(median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()
