"""Reusable page-aligned byte buffers: received frames, AEAD output and READ data (no zero-fill, no page faults).

``bytearray(n)`` zero-fills its n bytes (an 8 MiB ``memset`` per WRITE frame or encrypted READ
reply, measured at ~7 % of the server's CPU during an smbclient put), and a fresh anonymous mapping
page-faults on first touch; ``preadv`` into a page-aligned buffer also costs ~95 µs/MiB against
~150 µs/MiB for a ``bytearray`` (MEASURED.md). A buffer from :class:`BufferPool` is a page-aligned ``mmap`` that is
handed out again once nothing references it any more: CPython's reference count tells us (a
``memoryview`` slice, a transport's queued write or a request still being served keeps it busy).

Buffers come in power-of-two size classes from 64 KiB to 16 MiB; a class keeps at most
:data:`PER_CLASS` buffers, beyond which (or above 16 MiB) a one-off mapping is returned.
Single-threaded use (the event loop thread); callers slice the buffer to the length they need.
"""
from __future__ import annotations

import mmap
import sys

MIN_SIZE = 64 * 1024
MAX_POOLED = 16 * 1024 * 1024 + 64 * 1024
PER_CLASS = 16  # shared by big frames, AEAD output and READ replies
# references while scanning: the bucket list, the loop variable, getrefcount's argument
_IDLE_REFS = 3


def _size_class(n: int) -> int:
    size = MIN_SIZE
    while size < n:
        size <<= 1
    return size


class BufferPool:
    __slots__ = ("_classes",)

    def __init__(self) -> None:
        self._classes: dict[int, list[mmap.mmap]] = {}

    def get(self, n: int) -> mmap.mmap:
        """A writable, page-aligned buffer of at least ``n`` bytes that nobody else references.

        Its content is whatever the previous user left (not zeroed)."""
        size = _size_class(max(n, 1))
        if size > MAX_POOLED:
            return mmap.mmap(-1, size)
        bucket = self._classes.get(size)
        if bucket is None:
            bucket = self._classes[size] = []
        for buf in bucket:
            if sys.getrefcount(buf) <= _IDLE_REFS:
                return buf
        buf = mmap.mmap(-1, size)
        if len(bucket) < PER_CLASS:
            bucket.append(buf)
        return buf


POOL = BufferPool()
"""The process-wide pool (event loop thread only)."""

__all__ = ["POOL", "BufferPool"]
