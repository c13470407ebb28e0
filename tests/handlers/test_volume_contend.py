"""A write through a handle whose volume's coordinator is in another process reports read-caching
contention (``contend_write``) only when another open may cache: not through an exclusive or batch
oplock holder (nobody else caches; the message, sent after the write's answer, could reach the
coordinator after another client's CREATE began breaking that oplock to level II and break it to
none — smb2.oplock.brl1 across nodes)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from sofs.handlers.volume import VolumeClient
from sofs.handlestate.api import FileFacts


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int] = []

    async def contend_write(self, pid: int) -> None:
        self.calls.append(pid)


def test_only_a_possible_contention_is_reported() -> None:
    async def run() -> list[int]:
        rec = Recorder()
        vol = VolumeClient("v", rec, 3)  # type: ignore[arg-type]
        vol.facts[(7, "")] = FileFacts(7, "", (), True, False)  # someone caches for reading
        for pid, level in ((1, 0x09), (2, 0x08), (3, 0x01), (4, 0x00), (5, 0xFF)):
            vol.contend_write(SimpleNamespace(pid=pid, vfile_id=7, stream_key="", oplock_level=level))  # type: ignore[arg-type]
        vol.facts[(7, "")] = FileFacts(7, "", (), False, False)  # nobody caches: no message at all
        vol.contend_write(SimpleNamespace(pid=6, vfile_id=7, stream_key="", oplock_level=0))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        return rec.calls

    assert asyncio.run(run()) == [3, 4, 5]  # level II, none, a lease: sent; batch, exclusive: not
