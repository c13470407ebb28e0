"""Fixtures for VFS tests: a fresh share root on tmpfs (/dev/shm) when available."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from sofs.vfs.posix import PosixVfs


@pytest.fixture
def root() -> Iterator[str]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    d = tempfile.mkdtemp(prefix="sofs-vfs-test-", dir=base)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=[True, False], ids=["openat2", "walk"])
def vfs(root: str, request: pytest.FixtureRequest) -> Iterator[PosixVfs]:
    v = PosixVfs(root, use_openat2=request.param)
    try:
        yield v
    finally:
        v.shutdown()
