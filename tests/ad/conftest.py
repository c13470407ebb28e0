"""The session's private Samba AD domain controller, shared by every module of tests/ad (one DC per run)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from addc import Dc, make_dc


@pytest.fixture(scope="session")
def dc() -> Iterator[Dc]:
    yield from make_dc()
