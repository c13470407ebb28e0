"""Write-through ([MS-SMB2] 3.3.5.13: SMB2_WRITEFLAG_WRITE_THROUGH; 3.3.5.9: FILE_WRITE_THROUGH in
CreateOptions): the data is on stable storage (``fdatasync`` of the file) before the WRITE response
leaves; a plain write is not synced.

Driven in memory (MemClient); ``os.fdatasync`` is replaced by a recorder that notes which file was
synced and whether the WRITE's response had already been sent at that moment.
"""
from __future__ import annotations

import asyncio
import os

import pytest
from memclient import MemClient

from sofs.handlers.fsio import INLINE_IO_MAX
from sofs.wire.constants import Command
from sofs.wire.header import HEADER_SIZE
from sofs.wire.messages import TreeConnectRequest
from sofs.wire.messages.create import CreateRequest
from sofs.wire.messages.io import WriteRequest

WRITE_THROUGH_FLAG = 0x1  # [MS-SMB2] 2.2.21 SMB2_WRITEFLAG_WRITE_THROUGH
FILE_WRITE_THROUGH = 0x2  # [MS-SMB2] 2.2.13 CreateOptions


async def _open(path: str, name: str, options: int) -> tuple[MemClient, int, bytes]:
    c = MemClient.create(path)
    await c.negotiate()
    assert (await c.login()).status == 0
    tid = (await c.call(Command.TREE_CONNECT, TreeConnectRequest(0, r"\\s\data").encode())).header.tree_id
    req = CreateRequest(desired_access=0x0012019F, share_access=7, create_disposition=3, create_options=options,
                        name=name, impersonation_level=2)
    r = await c.call(Command.CREATE, req.encode(), tree_id=tid)
    assert r.status == 0, hex(r.status)
    return c, tid, bytes(r.msg[HEADER_SIZE + 64:HEADER_SIZE + 80])


@pytest.mark.parametrize(("options", "flags", "synced"), [
    (0, WRITE_THROUGH_FLAG, True),  # the WRITE asks for it
    (FILE_WRITE_THROUGH, 0, True),  # the open asked for it
    (0, 0, False),  # neither: the page cache may hold it
])
def test_write_through_is_synced_before_the_response(tmp_path, monkeypatch, options, flags, synced) -> None:
    async def go() -> None:
        c, tid, fid = await _open(str(tmp_path), "f", options)
        target = os.stat(tmp_path / "f").st_ino
        seen: list[tuple[bool, bool]] = []  # (the synced fd is the file, the response already out)
        real = os.fdatasync

        def recording(fd: int) -> None:
            seen.append((os.fstat(fd).st_ino == target, bool(c.transport.out)))
            real(fd)

        monkeypatch.setattr(os, "fdatasync", recording)
        for size in (100, 2 * INLINE_IO_MAX):  # inline-sized and pool-sized writes
            seen.clear()
            c.transport.out.clear()
            body = WriteRequest(offset=0, file_id=fid, data=b"x" * size, flags=flags).encode()
            c.send_raw(c.request(Command.WRITE, body, tree_id=tid))
            for _ in range(30_000):  # a sync write runs in the pool (bounded: no hang on a bug)
                if c.transport.out:
                    break
                await asyncio.sleep(0.001)
            (r,) = await c.settle()
            assert r.status == 0, hex(r.status)
            mine = [out for same, out in seen if same]
            if synced:
                assert mine == [False], f"{size}: the file was not synced before its response ({seen})"
            else:
                assert mine == [], f"{size}: a plain write was synced"
    asyncio.run(go())
