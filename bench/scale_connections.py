"""Many idle connections with many opens on one server, a few active clients measured meanwhile
(issue 16, part 3 and acceptance 5).

``--conns`` connections (default 1,000), spread over ``--procs`` client processes, each does
NEGOTIATE (3.1.1), SESSION_SETUP (NTLM), TREE_CONNECT, creates a directory of its own and does
``--opens`` CREATEs there (default 100: files of its own, OPEN_IF, read/write, share RWD, no
oplock: a directory per connection, as home folders or profiles are, so that a case-insensitive
lookup does not list 100,000 names at every open) and then holds everything open and idle. ``--active`` other connections (another process) loop CREATE + READ 4 KiB + CLOSE on
files of their own, each request timed; they run once before the idle load (the baseline) and
once while it is held, so a latency cliff shows as a ratio.

The server's memory is read from /proc for ``--server-pid`` and every process below it (the
worker processes of sofs, the smbd per connection of Samba): RSS summed, and PSS (each shared
page divided among the processes mapping it: the fair figure for forked servers, though the
client processes' share of the same libraries moves it too) and USS (private pages only: what
the server would give back), at four points:
started, after the active baseline, with the idle connections (session + tree each), with their
opens. Per connection = (idle - before) / conns; per open = (opens - idle) / (conns × opens).

    .venv/bin/python bench/scale_connections.py --target sofs=127.0.0.1:4455/share:sofs:Passw0rd! \\
        --server-pid 1234 --conns 1000 --opens 100 --procs 4 --active 4 --seconds 10

Load generator: ``bench/smbraw.py`` (asyncio, sofs's own codecs), requests signed (3.1.1
signs TREE_CONNECT always; the rest is signed as smbclient would with signing on).  Needs
RLIMIT_NOFILE above conns / procs on the client side (raised here up to the hard limit) and,
for sofs, above conns × opens on the server side (``bench/scale_connections.sh`` raises it).
Any error (a refused connection, a status other than SUCCESS) is counted and fails the run.
Prints one JSON object per target (``--json``) or a readable summary.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ca_openclose import Target

CONNECT_PARALLEL = 32  # log-ons in flight per client process (NTLM costs CPU on both sides)
OPEN_DEPTH = 8  # CREATEs in flight per connection while opening


# --- server memory ---------------------------------------------------------------------------------

def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def memory_kib(root: int) -> dict[str, int]:
    """RSS, PSS and USS (private pages; kB) summed over ``root``'s process tree, and how many processes."""
    rss = pss = uss = n = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                        uss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return {"rss_kb": rss, "pss_kb": pss, "uss_kb": uss, "procs": n}


# --- client side -----------------------------------------------------------------------------------

def _create_body(name: str, disposition: int = 3) -> bytes:
    from sofs.wire.messages.create import CreateRequest

    return CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x3,
                         file_attributes=0x80, share_access=0x7, create_disposition=disposition,
                         create_options=0x40, name=name, contexts=[]).encode()


def _status(resp: bytes) -> int:
    return int.from_bytes(resp[8:12], "little")


def _file_id(resp: bytes) -> bytes:
    from sofs.wire.header import HEADER_SIZE

    return resp[HEADER_SIZE + 64:HEADER_SIZE + 80]


async def _logon(t: Target, sign: bool) -> Any:
    from smbraw import RawClient

    return await RawClient.open(t.host, t.port, t.user, t.password, t.share, sign=sign)


async def _open_many(c: Any, prefix: str, n: int, errors: list[str]) -> None:
    """A directory ``prefix`` of this connection's own (created and closed), then ``n`` files in it
    opened and left open."""
    from sofs.wire.constants import Command
    from sofs.wire.messages.close import CloseRequest
    from sofs.wire.messages.create import CreateRequest

    mkdir = CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x100081,
                          file_attributes=0x10, share_access=0x7, create_disposition=3, create_options=0x1,
                          name=prefix, contexts=[]).encode()
    resp = await c.call(Command.CREATE, mkdir)
    if _status(resp):
        errors.append(f"CREATE directory {prefix}: 0x{_status(resp):08x}")
        return
    await c.call(Command.CLOSE, CloseRequest(0, _file_id(resp)).encode())
    sem = asyncio.Semaphore(OPEN_DEPTH)

    async def one(i: int) -> None:
        name = f"{prefix}\\f-{i:03d}"
        async with sem:
            resp = await c.call(Command.CREATE, _create_body(name))
            if _status(resp):
                errors.append(f"CREATE {name}: 0x{_status(resp):08x}")

    await asyncio.gather(*(one(i) for i in range(n)))


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))


def _idle_worker(t: Target, idx: int, conns: int, opens: int, sign: bool, pipe: Any) -> None:
    """Hold ``conns`` connections: log on when told, open when told, close when told."""
    _raise_nofile(conns + 64)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clients: list[Any] = []
        errors: list[str] = []

        async def cmd() -> str:
            return str(await loop.run_in_executor(None, pipe.recv))

        assert await cmd() == "connect"
        sem = asyncio.Semaphore(CONNECT_PARALLEL)

        async def connect() -> None:
            async with sem:
                try:
                    clients.append(await _logon(t, sign))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    errors.append(f"log-on: {e!r}")

        t0 = time.perf_counter()
        await asyncio.gather(*(connect() for _ in range(conns)))
        pipe.send({"connected": len(clients), "seconds": time.perf_counter() - t0, "errors": errors[:5],
                   "n_errors": len(errors)})
        assert await cmd() == "open"
        errors.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(_open_many(c, f"p{idx}c{i}", opens, errors) for i, c in enumerate(clients)))
        pipe.send({"opened": len(clients) * opens - len(errors), "seconds": time.perf_counter() - t0,
                   "errors": errors[:5], "n_errors": len(errors)})
        assert await cmd() == "close"
        lost = sum(1 for c in clients if c.proto.lost is not None)
        for c in clients:
            c.close()
        pipe.send({"lost": lost})

    asyncio.run(main())


async def _active_loop(c: Any, name: str, end_at: float, lat: dict[str, list[float]], errors: list[str]) -> None:
    from sofs.wire.constants import Command
    from sofs.wire.messages.close import CloseRequest
    from sofs.wire.messages.io import ReadRequest, WriteRequest

    resp = await c.call(Command.CREATE, _create_body(name, 5))  # OVERWRITE_IF: 4 KiB to read back
    fid = _file_id(resp)
    await c.call(Command.WRITE, WriteRequest(offset=0, file_id=fid, data=b"x" * 4096).encode())
    await c.call(Command.CLOSE, CloseRequest(0, fid).encode())
    create = _create_body(name)
    clock = time.perf_counter
    while clock() < end_at:
        t0 = clock()
        resp = await c.call(Command.CREATE, create)
        t1 = clock()
        if _status(resp):
            errors.append(f"CREATE {name}: 0x{_status(resp):08x}")
            return
        fid = _file_id(resp)
        resp = await c.call(Command.READ, ReadRequest(length=4096, offset=0, file_id=fid).encode())
        t2 = clock()
        if _status(resp):
            errors.append(f"READ {name}: 0x{_status(resp):08x}")
        resp = await c.call(Command.CLOSE, CloseRequest(0, fid).encode())
        t3 = clock()
        if _status(resp):
            errors.append(f"CLOSE {name}: 0x{_status(resp):08x}")
        lat["create"].append(t1 - t0)
        lat["read"].append(t2 - t1)
        lat["close"].append(t3 - t2)


def _active_worker(t: Target, n: int, seconds: float, sign: bool, tag: str, out: Any) -> None:
    async def main() -> dict[str, Any]:
        lat: dict[str, list[float]] = {"create": [], "read": [], "close": []}
        errors: list[str] = []
        clients = [await _logon(t, sign) for _ in range(n)]
        end_at = time.perf_counter() + seconds
        await asyncio.gather(*(_active_loop(c, f"active-{tag}-{i}", end_at, lat, errors)
                               for i, c in enumerate(clients)))
        for c in clients:
            c.close()
        return {"lat": lat, "errors": errors[:5], "n_errors": len(errors)}

    try:
        out.send(asyncio.run(main()))
    except Exception as e:  # noqa: BLE001 - reported as the run's error
        out.send({"lat": {"create": [], "read": [], "close": []}, "errors": [repr(e)], "n_errors": 1})


def percentiles(xs: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    if not xs:
        return {}
    s = sorted(xs)
    q = statistics.quantiles(s, n=100, method="inclusive") if len(s) > 1 else [s[0]] * 99
    return {"n": len(s), "p50_ms": q[49] * 1e3, "p90_ms": q[89] * 1e3, "p99_ms": q[98] * 1e3,
            "max_ms": s[-1] * 1e3}


def run_active(t: Target, n: int, seconds: float, sign: bool, tag: str) -> dict[str, Any]:
    rx, tx = mp.Pipe(duplex=False)
    p = mp.Process(target=_active_worker, args=(t, n, seconds, sign, tag, tx))
    p.start()
    res = rx.recv()
    p.join()
    lat = res["lat"]
    every = lat["create"] + lat["read"] + lat["close"]
    return {"all": percentiles(every), **{k: percentiles(v) for k, v in lat.items()},
            "ops_per_s": len(every) / seconds, "errors": res["errors"], "n_errors": res["n_errors"]}


def run_target(t: Target, a: argparse.Namespace) -> dict[str, Any]:
    pid = a.server_pid
    out: dict[str, Any] = {"target": t.name, "conns": a.conns, "opens": a.opens, "active": a.active}
    out["mem_start"] = memory_kib(pid)
    out["active_alone"] = run_active(t, a.active, a.seconds, a.sign, "alone")
    time.sleep(a.settle)
    out["mem_before"] = memory_kib(pid)
    per = [a.conns // a.procs + (1 if i < a.conns % a.procs else 0) for i in range(a.procs)]
    pipes, procs = [], []
    for i, n in enumerate(per):
        mine, theirs = mp.Pipe()
        p = mp.Process(target=_idle_worker, args=(t, i, n, a.opens, a.sign, theirs))
        p.start()
        pipes.append(mine)
        procs.append(p)

    def phase(cmd: str) -> list[dict[str, Any]]:
        for pp in pipes:
            pp.send(cmd)
        return [pp.recv() for pp in pipes]

    t0 = time.perf_counter()
    got = phase("connect")
    out["connect_s"] = time.perf_counter() - t0
    out["connected"] = sum(g["connected"] for g in got)
    errs = [e for g in got for e in g["errors"]]
    n_err = sum(g["n_errors"] for g in got)
    time.sleep(a.settle)
    out["mem_idle"] = memory_kib(pid)
    t0 = time.perf_counter()
    got = phase("open")
    out["open_s"] = time.perf_counter() - t0
    out["opened"] = sum(g["opened"] for g in got)
    errs += [e for g in got for e in g["errors"]]
    n_err += sum(g["n_errors"] for g in got)
    time.sleep(a.settle)
    out["mem_opens"] = memory_kib(pid)
    out["active_loaded"] = run_active(t, a.active, a.seconds, a.sign, "loaded")
    out["mem_loaded"] = memory_kib(pid)
    got = phase("close")
    out["lost_connections"] = sum(g["lost"] for g in got)
    for p in procs:
        p.join()
    n_err += out["active_alone"]["n_errors"] + out["active_loaded"]["n_errors"] + out["lost_connections"]
    errs += out["active_alone"]["errors"] + out["active_loaded"]["errors"]
    out["n_errors"], out["errors"] = n_err, errs[:10]
    for kind in ("rss_kb", "pss_kb", "uss_kb"):
        base, idle, opens = out["mem_before"][kind], out["mem_idle"][kind], out["mem_opens"][kind]
        out[f"per_conn_{kind}"] = (idle - base) / max(out["connected"], 1)
        out[f"per_open_{kind}"] = (opens - idle) / max(out["opened"], 1)
    return out


def summary(r: dict[str, Any]) -> str:
    def mib(kb: int) -> str:
        return f"{kb / 1024:.0f} MiB"

    lines = [(f"== {r['target']}: {r['connected']} connections, {r['opened']} opens "
             f"(log-on {r['connect_s']:.1f} s, opens {r['open_s']:.1f} s), errors {r['n_errors']}")]
    for k in ("mem_start", "mem_before", "mem_idle", "mem_opens", "mem_loaded"):
        m = r[k]
        lines.append(f"  {k:11s} RSS {mib(m['rss_kb']):>9s}  PSS {mib(m['pss_kb']):>9s}  USS {mib(m['uss_kb']):>9s}"
                     f"  ({m['procs']} processes)")
    lines.append(f"  per connection: RSS {r['per_conn_rss_kb']:.1f} kB, PSS {r['per_conn_pss_kb']:.1f} kB, "
                 f"USS {r['per_conn_uss_kb']:.1f} kB; per open: RSS {r['per_open_rss_kb']:.2f} kB, "
                 f"PSS {r['per_open_pss_kb']:.2f} kB, USS {r['per_open_uss_kb']:.2f} kB")
    for k in ("active_alone", "active_loaded"):
        a = r[k]
        parts = [f"{op} p50 {a[op]['p50_ms']:.2f} p99 {a[op]['p99_ms']:.2f}" for op in ("create", "read", "close")
                 if a.get(op)]
        al = a["all"]
        lines.append(f"  {k:13s} {a['ops_per_s']:7.0f} req/s  all p50 {al.get('p50_ms', 0):.2f} p99 "
                     f"{al.get('p99_ms', 0):.2f} max {al.get('max_ms', 0):.1f} ms | " + " | ".join(parts))
    if r["errors"]:
        lines.append("  errors: " + "; ".join(r["errors"]))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="name=host:port/share:user:password")
    ap.add_argument("--server-pid", type=int, required=True, help="the server's main process")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--opens", type=int, default=100)
    ap.add_argument("--procs", type=int, default=4, help="client processes holding the idle connections")
    ap.add_argument("--active", type=int, default=4, help="active client connections (one process)")
    ap.add_argument("--seconds", type=float, default=10.0, help="each active run")
    ap.add_argument("--settle", type=float, default=2.0, help="wait before each memory reading")
    ap.add_argument("--no-sign", dest="sign", action="store_false")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    _raise_nofile(a.conns + 256)
    r = run_target(Target.parse(a.target), a)
    print(json.dumps(r) if a.json else summary(r), flush=True)
    sys.exit(1 if r["n_errors"] else 0)


if __name__ == "__main__":
    main()
