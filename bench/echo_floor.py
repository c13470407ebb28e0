"""The ECHO floor: what one event loop + the kernel cost per round trip, with no SMB processing.

Starts ``sofs serve`` with one change made in this process only: a lone, unsigned, non-compound ECHO
request is answered straight from ``SmbConnection.buffer_updated`` (one ``struct`` unpack, the
sequence-window check and credit grant, one ``struct`` pack, one ``writelines``), skipping framing
objects, dispatch, the handler and response building. Every other request (NEGOTIATE, SESSION_SETUP,
...) takes the normal path, so smbtorture can log on. It is an experiment for the performance notes,
not a server mode: the shortcut skips session checks on purpose.

    .venv/bin/python bench/echo_floor.py --listen 127.0.0.1:4456 --share share=/dev/shm/x --user u:p

Then run ``smb2.bench.echo`` (bench/torture-bench.sh) against it, side by side with the real server and
Samba. Measured on the 2-vCPU VM (2026-11-25, 3 rounds of 3 s, 1 connection × depth 1): Samba
15.4-17.1 k/s, sofs 7.8-8.4 k/s, this floor 11.1-12.9 k/s — the floor itself is ~0.7× Samba, so 0.8×
at depth 1 is out of reach for any per-request work done on one Python event loop on this machine.
"""
from __future__ import annotations

import struct
import sys

from sofs.cli.main import main
from sofs.server.connection import SmbConnection

_HDR = struct.Struct("<4sHHIHHIIQIIQ16s")
_ECHO = 13
_LEN = (68).to_bytes(4, "big")
_BODY = b"\x04\x00\x00\x00"
_NOSIG = bytes(16)
_normal = SmbConnection.buffer_updated


def _floor_buffer_updated(self: SmbConnection, nbytes: int) -> None:
    eng = self.engine
    assert eng is not None
    frames = eng.reader.buffer_updated(nbytes)
    if len(frames) == 1 and self.transport is not None:
        f = frames[0]
        # SMB2 header, Command == ECHO, no SIGNED / RELATED / ASYNC flag
        if len(f) >= 68 and f[0] == 0xFE and f[12] == _ECHO and f[13] == 0 and not f[16] & 0x0B:
            (_m, _s, charge, _st, _c, credits, _fl, nxt, mid, pid, tid, sid, _sig) = _HDR.unpack_from(f, 0)
            window = eng.conn.window
            if nxt == 0 and window.consume(mid, charge):
                granted = window.grant(credits, charge)
                out = _HDR.pack(b"\xfeSMB", 64, charge, 0, _ECHO, granted, 1, 0, mid, pid, tid, sid, _NOSIG)
                self.transport.writelines([_LEN, out, _BODY])
                return
    # not a lone plain ECHO: hand the frames to the normal path
    eng_parse = eng.parse_frame
    chains = [eng_parse(fr) for fr in frames]
    eng.buffer_updated = lambda _n, _c=chains: _c  # type: ignore[method-assign]
    try:
        _normal(self, nbytes)
    finally:
        del eng.buffer_updated


if __name__ == "__main__":
    SmbConnection.buffer_updated = _floor_buffer_updated  # type: ignore[method-assign]
    sys.exit(main(["serve", "-q", *sys.argv[1:]]))
