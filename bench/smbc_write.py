"""Small writes at depth through Samba's C client library (libsmbclient, via Debian's python3-smbc).

Issue 16 acceptance 1 asks for "a write benchmark of the same shape [as smb2.bench.read] on a C client
(Samba's libsmbclient ...), threads or processes for depth". smbtorture has no write bench, and
libsmbclient is synchronous: here CONNS x DEPTH writer processes, each with its own libsmbclient
context — its own SMB connection and session — writing IO_SIZE-byte blocks at rotating
offsets of its own file (a 64 MiB region) with one write in flight. So "4:8" is 32 writers on 32
connections, not 8 writes in flight on one connection as smbtorture's read bench does (the library
cannot pipeline). Every writer is a process of its own: threads do not scale (measured: 1 process
with 4 threads wrote as much as 1 with 1 thread, 2243 vs 2550 writes/s on Samba: the binding holds
the GIL), processes do (4 processes: 8998/s).

Run with Debian's /usr/bin/python3 (python3-smbc is a system package, not in the venv):

    /usr/bin/python3 bench/smbc_write.py --url smb://127.0.0.1:4455/share --user sofs --password X \
        --conns 4 --depth 8 --io-size 4096 --seconds 5 [--sign]

Prints one line: ``writes/s <rate> errors <n>``.
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import sys
import tempfile
import time

REGION = 64 * 1024 * 1024


def _context(user: str, password: str, conf_home: str) -> object:
    import smbc

    os.environ["HOME"] = conf_home  # libsmbclient reads $HOME/.smb/smb.conf (signing, protocols)
    ctx = smbc.Context(auth_fn=lambda server, share, workgroup, username, pw: ("", user, password))
    ctx.optionNoAutoAnonymousLogin = True
    return ctx


def _writer(url: str, user: str, password: str, conf_home: str, io_size: int, start_at: float,
            end_at: float, counts: list[int], errors: list[int], slot: int) -> None:
    ctx = _context(user, password, conf_home)
    name = f"{url}/smbc-write-{os.getpid()}-{slot}"
    f = ctx.open(name, os.O_CREAT | os.O_RDWR, 0o644)
    block = os.urandom(io_size)
    span = REGION // io_size
    f.write(block)  # connected, authenticated, file made: the clock has not started yet
    while time.time() < start_at:
        time.sleep(0.001)
    i = n = bad = 0
    while time.time() < end_at:
        try:
            f.lseek((i % span) * io_size, 0)
            f.write(block)
            n += 1
        except Exception:  # noqa: BLE001 - counted, reported
            bad += 1
        i += 1
    counts[slot], errors[slot] = n, bad
    f.close()
    with contextlib.suppress(Exception):  # best effort: the bench's state dir goes anyway
        ctx.unlink(name)


def _process(args: argparse.Namespace, conf_home: str, start_at: float, end_at: float, slot: int,
             out: mp.Queue[tuple[int, int]]) -> None:
    counts, errors = [0], [0]
    _writer(args.url, args.user, args.password, conf_home, args.io_size, start_at, end_at, counts, errors, 0)
    out.put((counts[0], errors[0]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="smb://HOST:PORT/SHARE")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--depth", type=int, default=8, help="writers per conn: CONNS x DEPTH processes")
    ap.add_argument("--io-size", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--sign", action="store_true", help="client signing = required")
    args = ap.parse_args()
    try:
        import smbc  # noqa: F401
    except ImportError:
        print("python3-smbc is missing: apt-get install python3-smbc, and run with /usr/bin/python3",
              file=sys.stderr)
        return 2
    conf_home = tempfile.mkdtemp(prefix="smbc-bench-")
    os.makedirs(os.path.join(conf_home, ".smb"))
    with open(os.path.join(conf_home, ".smb", "smb.conf"), "w") as f:
        f.write("[global]\n client min protocol = SMB3_11\n client max protocol = SMB3_11\n")
        f.write(f" client signing = {'required' if args.sign else 'disabled'}\n")
    warm = 2.0 + 0.05 * args.conns * args.depth  # every connection made before the clock starts
    start_at = time.time() + warm
    end_at = start_at + args.seconds
    q: mp.Queue[tuple[int, int]] = mp.Queue()
    procs = [mp.Process(target=_process, args=(args, conf_home, start_at, end_at, k, q))
             for k in range(args.conns * args.depth)]
    for p in procs:
        p.start()
    total = bad = 0
    for _ in procs:
        n, e = q.get(timeout=warm + args.seconds + 60)
        total += n
        bad += e
    for p in procs:
        p.join()
    print(f"writes/s {total / args.seconds:.0f} errors {bad}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
