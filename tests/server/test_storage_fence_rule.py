"""Who evicts a dead node's Ceph sessions (sofs.server.storage_fence.to_fence), by table."""
from __future__ import annotations

import pytest

from sofs.server.storage_fence import to_fence

UP3 = {"n1", "n2", "n3"}


@pytest.mark.parametrize("me,up,down,quorum,fenced,expected", [
    ("n1", {"n1", "n2"}, {"n3"}, True, set(), ["n3"]),  # the lowest Up node with quorum fences
    ("n2", {"n1", "n2"}, {"n3"}, True, set(), []),  # not the lowest
    ("n1", {"n1", "n2"}, {"n3"}, False, set(), []),  # no quorum: never fence the majority
    ("n1", {"n1", "n2"}, {"n3"}, True, {"n3"}, []),  # once per death
    ("n2", {"n2", "n3"}, {"n1"}, True, set(), ["n1"]),  # the lowest of the survivors
    ("n2", {"n2"}, {"n1", "n3"}, True, set(), ["n1", "n3"]),
    ("n1", UP3, set(), True, set(), []),  # nobody down
    ("n3", {"n1", "n2"}, {"n3"}, True, set(), []),  # me down (fenced myself): nothing
    ("n1", {"n1"}, set(), True, set(), []),  # joining nodes (neither Up nor Down) are not fenced
])
def test_to_fence(me: str, up: set[str], down: set[str], quorum: bool, fenced: set[str],
                  expected: list[str]) -> None:
    assert to_fence(me, up, down, quorum, fenced) == expected
