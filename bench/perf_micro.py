"""Server-side CPU cost per request, in memory (no sockets, no client, no noise from other processes).

Drives a real :class:`SmbConnection` through the test suite's in-memory client and times N requests
of each kind; prints µs per request, best of 20 chunks (the Python cost of one request through framing, dispatch,
handler, response building; the kernel's read/write syscalls are not included). Use it to compare
changes on a loaded machine where end-to-end numbers swing ±30 %:

    .venv/bin/python bench/perf_micro.py [-n 20000] [--profile echo]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "server"))
# the CA kinds' journal on /dev/shm commits inline (as sofs on tmpfs does); a scheduling hiccup on a
# shared machine must not move it to the thread pool in the middle of a measurement
os.environ.setdefault("SOFS_JOURNAL_INLINE_SYNC_US", "1000000")

from memclient import MemClient

from sofs.wire.constants import Command
from sofs.wire.header import HEADER_SIZE
from sofs.wire.messages import EchoRequest, TreeConnectRequest
from sofs.wire.messages.close import CloseRequest
from sofs.wire.messages.create import CreateRequest
from sofs.wire.messages.create_contexts import DurableHandleRequestV2, to_context
from sofs.wire.messages.io import ReadRequest, WriteRequest
from sofs.wire.messages.query import QueryDirectoryRequest, QueryInfoRequest


def _ca_client(path: str) -> MemClient:
    """A MemClient whose share "data" is continuously available (persistent handles, journal on)."""
    from memclient import FakeTransport

    from sofs.config import ServerConfig, ShareConfig, UserConfig
    from sofs.server.app import build_state
    from sofs.server.connection import SmbConnection

    cfg = ServerConfig(shares=[ShareConfig("data", path, continuously_available=True)],
                       users=[UserConfig("alice", "secret")])
    proto = SmbConnection(build_state(cfg))
    t = FakeTransport()
    proto.connection_made(t)  # type: ignore[arg-type]
    return MemClient(proto, t)


async def _setup(path: str, sign: bool, ca: bool = False) -> tuple[MemClient, int]:
    c = _ca_client(path) if ca else MemClient.create(path)
    await c.negotiate()
    await c.login(sign=sign)
    r = await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode(), sign=sign)
    return c, r.header.tree_id


async def _open(c: MemClient, tid: int, name: str, sign: bool, directory: bool = False) -> bytes:
    req = CreateRequest(desired_access=0x0012019F, share_access=7, create_disposition=3,
                        create_options=1 if directory else 0, name=name, impersonation_level=2)
    r = await c.call(Command.CREATE, req.encode(), tree_id=tid, sign=sign)
    assert r.status == 0, hex(r.status)
    return bytes(r.msg[HEADER_SIZE + 64:HEADER_SIZE + 80])


def _send_together(c: MemClient, payloads: list[bytes]) -> None:
    """Several requests in one read of the socket."""
    from sofs.engine.framing import frame_header

    data = b"".join(frame_header(len(p)) + p for p in payloads)
    buf = c.proto.get_buffer(-1)
    buf[:len(data)] = data
    c.proto.buffer_updated(len(data))


def _callgrind(state: str) -> None:
    """Under ``valgrind --tool=callgrind --instr-atstart=no`` with CALLGRIND_TOGGLE=1 (bench/icount.sh
    ONE_RUN=1): count only the measured requests (start-up and warm-up run uninstrumented)."""
    if os.environ.get("CALLGRIND_TOGGLE") == "1":
        import subprocess

        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


async def run(kind: str, n: int, profile: bool) -> float:
    sign = kind.endswith("-signed")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
        with open(os.path.join(d, "f"), "wb") as f:  # noqa: ASYNC230 - set-up, before timing
            f.write(os.urandom(1 << 20))
        base = kind.removesuffix("-signed")
        linked = base.endswith("-linked")
        base = base.removesuffix("-linked")
        c, tid = await _setup(d, sign, ca=base.startswith("openclose-persistent"))
        if linked:  # the volume's coordinator behind a coordinator link (as on a worker process)
            from linked import remote_share

            link, _coord, rs = await remote_share(c)
        fid = await _open(c, tid, "f", sign)
        for i in range(20):  # a small directory for "querydir"
            with open(os.path.join(d, f"entry{i:02}.txt"), "wb"):  # noqa: ASYNC230 - set-up, before timing
                pass
        # (not for -linked: the root's open would keep the facts the coordinator pushes to a linked
        # process alive; at 1:1 a client's opens of the root come one at a time, each pushing them)
        # (nor for openclose-lone: the share root with no other open, as at path-contention-shared 1:1,
        # where the coordinator's and this process's per-file records come and go with each open)
        dfid = bytes(16) if linked or base == "openclose-lone" else await _open(c, tid, "", sign, directory=True)
        if base == "openclose-shared":
            # smb2.bench.path-contention-shared at 4:8: 32 clients open and close the share root, about
            # half of them hold their open at any moment
            for _ in range(16):
                await _open(c, tid, "", sign, directory=True)
        # FileAllInformation of the open (Explorer's and Office's usual query); the directory listed
        # from the start each time, FileIdBothDirectoryInformation ([MS-FSCC] 2.4.17), all at once
        qi = QueryInfoRequest(info_type=1, file_info_class=18, output_buffer_length=4096, file_id=fid).encode()
        qd = QueryDirectoryRequest(file_information_class=37, flags=0x01, file_id=dfid,
                                   output_buffer_length=65536, file_name="*").encode()
        echo = EchoRequest().encode()
        rd = ReadRequest(length=4096, offset=0, file_id=fid).encode()
        wr = WriteRequest(offset=0, file_id=fid, data=b"x" * 4096).encode()
        cr_root = CreateRequest(desired_access=0x00100080, share_access=7, create_disposition=1,
                                create_options=0, name="", impersonation_level=2).encode()
        cr_file = CreateRequest(desired_access=0x0012019F, share_access=7, create_disposition=3,
                                create_options=0, name="f", impersonation_level=2).encode()
        # bench/ca_openclose.py's CREATE: OPEN_IF, no oplock, DH2Q asking for a persistent handle
        # (granted on the CA share of "openclose-persistent", not on the plain one of "openclose-dh2q")
        dh2q = CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x3,
                             file_attributes=0x80, share_access=0x7, create_disposition=3,
                             create_options=0x40, name="g",
                             contexts=[to_context(DurableHandleRequestV2(0, 0x2, b"\xa5" * 16))]).encode()
        guid_at = dh2q.index(b"\xa5" * 16)
        dh2q_buf = bytearray(dh2q)
        guid_n = [0]

        async def one() -> None:
            if base == "echo":
                c.send_raw(c.request(Command.ECHO, echo, sign=sign))
            elif base == "read4k":
                c.send_raw(c.request(Command.READ, rd, tree_id=tid, sign=sign))
            elif base == "write4k":
                c.send_raw(c.request(Command.WRITE, wr, tree_id=tid, sign=sign))
            elif base == "openclose-persistent8":
                # a client's queue at depth 8: eight persistent CREATEs arrive in one read, then their
                # eight CLOSEs (one request here = one open+close)
                creates = []
                for i in range(8):
                    guid_n[0] += 1
                    dh2q_buf[guid_at:guid_at + 16] = guid_n[0].to_bytes(16, "little")
                    body = CreateRequest(requested_oplock_level=0, impersonation_level=2, desired_access=0x3,
                                         file_attributes=0x80, share_access=0x7, create_disposition=3,
                                         create_options=0x40, name=f"g{i}",
                                         contexts=[to_context(DurableHandleRequestV2(
                                             0, 0x2, guid_n[0].to_bytes(16, "little")))]).encode()
                    creates.append(c.request(Command.CREATE, body, tree_id=tid, sign=sign))
                _send_together(c, creates)
                while c.proto.tasks:
                    await asyncio.sleep(0)
                frames = c.reader.feed(bytes(c.transport.out))
                c.transport.out.clear()
                fids = [bytes(f[HEADER_SIZE + 64:HEADER_SIZE + 80]) for f in frames]
                assert len(fids) == 8, len(fids)
                _send_together(c, [c.request(Command.CLOSE, CloseRequest(0, f).encode(), tree_id=tid, sign=sign)
                                   for f in fids])
            elif base == "queryinfo":
                c.send_raw(c.request(Command.QUERY_INFO, qi, tree_id=tid, sign=sign))
            elif base == "querydir":
                c.send_raw(c.request(Command.QUERY_DIRECTORY, qd, tree_id=tid, sign=sign))
            elif base in ("openclose-root", "openclose-shared", "openclose-lone", "openclose-file",
                          "openclose-dh2q", "openclose-persistent"):
                if base in ("openclose-dh2q", "openclose-persistent"):
                    guid_n[0] += 1
                    dh2q_buf[guid_at:guid_at + 16] = guid_n[0].to_bytes(16, "little")
                    body = bytes(dh2q_buf)
                else:
                    body = cr_file if base == "openclose-file" else cr_root
                c.send_raw(c.request(Command.CREATE, body, tree_id=tid, sign=sign))
                while not c.transport.out:  # the CREATE suspended (journal commit in a thread)
                    await asyncio.sleep(0)
                out = bytes(c.transport.out)
                c.transport.out.clear()
                assert out[4 + 8:4 + 12] == bytes(4), out[4 + 8:4 + 12].hex()
                fid2 = out[4 + HEADER_SIZE + 64:4 + HEADER_SIZE + 80]
                c.send_raw(c.request(Command.CLOSE, CloseRequest(0, fid2).encode(), tree_id=tid, sign=sign))
            while c.proto.tasks:  # something suspended (thread pool, lock wait): let it finish
                await asyncio.sleep(0)
            c.transport.out.clear()

        for _ in range(min(n // 10, 500)):
            await one()
        _callgrind("on")
        prof = cProfile.Profile(time.process_time) if profile else None
        if prof:
            prof.enable()
        dt = float("inf")
        rounds = int(os.environ.get("ROUNDS", "20"))
        chunk = max(n // rounds, 1)
        for _ in range(rounds):  # best chunk: the least disturbed by other processes
            t0 = time.process_time()
            for _ in range(chunk):
                await one()
            dt = min(dt, (time.process_time() - t0) / chunk * 1e6)
        _callgrind("off")
        if prof:
            prof.disable()
            if os.environ.get("PROF_OUT"):
                prof.dump_stats(os.environ["PROF_OUT"])
            pstats.Stats(prof).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "25")))
        if linked:
            await rs.close_link()
            await link.close()
        return dt


KINDS = ("echo", "echo-signed", "openclose-root", "openclose-shared", "openclose-lone", "openclose-file", "read4k",
         "write4k", "read4k-signed", "openclose-dh2q", "openclose-persistent", "openclose-persistent8", "queryinfo", "querydir",
         "openclose-root-linked", "openclose-file-linked")
"""``-linked``: the share's volume coordinated behind a coordinator link on loopback, both ends in this
process (what a worker process or a non-coordinating node pays); run on uvloop, as workers and nodes."""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--profile", default="")
    ap.add_argument("kinds", nargs="*", default=list(KINDS))
    a = ap.parse_args()
    for kind in a.kinds:
        if kind.endswith("-linked"):
            import uvloop

            us = uvloop.run(run(kind, a.n, a.profile == kind))
        else:
            us = asyncio.run(run(kind, a.n, a.profile == kind))
        print(f"{kind:20} {us:8.1f} µs/request")


if __name__ == "__main__":
    main()
