"""Table test of the journal-adopter decision (sofs.cluster.adopt)."""
from __future__ import annotations

import pytest

from sofs.cluster.adopt import Member, journals_to_adopt


def _m(spec: str) -> list[Member]:
    """'n1:1:up n2:2:down' -> members."""
    out = []
    for part in spec.split():
        name, nid, state = part.split(":")
        out.append(Member(name, int(nid), state == "up"))
    return out


@pytest.mark.parametrize(("me", "members", "quorum", "expected"), [
    ("n2", "n1:1:down n2:2:up n3:3:up", True, ["n1"]),          # lowest up id adopts
    ("n3", "n1:1:down n2:2:up n3:3:up", True, []),              # not the adopter
    ("n2", "n1:1:down n2:2:up n3:3:up", False, []),             # no quorum: never take state
    ("n1", "n1:1:up n2:2:down n3:3:down", True, ["n2", "n3"]),  # every down node, sorted
    ("n3", "n1:5:up n2:9:up n3:2:up", True, []),                # nobody down
    ("n3", "n1:5:down n2:9:up n3:2:up", True, ["n1"]),          # ids decide, not names
    ("n2", "n1:1:up n2:2:down", True, []),                      # a down node adopts nothing
    ("a", "a:1:up b:1:up c:3:down", True, ["c"]),               # equal ids: the name breaks the tie
    ("b", "a:1:up b:1:up c:3:down", True, []),
])
def test_journals_to_adopt(me: str, members: str, quorum: bool, expected: list[str]) -> None:
    assert journals_to_adopt(me, _m(members), quorum) == expected
