"""SequenceWindow: the [MS-SMB2] 3.3.1.1 command sequence window, as tables."""
from __future__ import annotations

import pytest

from sofs.engine.credits import SequenceWindow


def test_initial_window_admits_only_message_id_zero() -> None:
    w = SequenceWindow()
    assert w.outstanding() == 1
    assert not w.consume(1, 1)
    assert w.consume(0, 1)
    assert not w.consume(0, 1), "an id is used once"
    assert w.outstanding() == 0


@pytest.mark.parametrize(
    "grants, consumes, expected",
    [
        ([10], [(1, 1), (2, 1)], [True, True]),
        ([10], [(2, 1), (1, 1)], [True, True]),  # out of order is fine
        ([10], [(1, 4), (3, 1)], [True, False]),  # 3 was consumed by the 4-credit request
        ([3], [(1, 4)], [False]),  # charge beyond the window
        ([10], [(11, 1)], [False]),  # never granted
        ([10], [(5, 0)], [True]),  # charge 0 counts as 1
    ],
)
def test_consume_table(grants: list[int], consumes: list[tuple[int, int]], expected: list[bool]) -> None:
    w = SequenceWindow()
    assert w.consume(0, 1)
    for g in grants:
        w.grant(g)
    assert [w.consume(m, c) for m, c in consumes] == expected


def test_grant_is_capped_and_never_leaves_client_empty() -> None:
    w = SequenceWindow(max_credits=16)
    w.consume(0, 1)
    assert w.grant(100) == 16
    assert w.grant(5) == 0, "at the cap, nothing more"
    for mid in range(1, 17):
        assert w.consume(mid, 1)
    assert w.outstanding() == 0
    assert w.grant(0) == 1, "a client with no credits always gets one"


def test_low_advances_over_out_of_order_ids() -> None:
    w = SequenceWindow()
    w.consume(0, 1)
    w.grant(8)
    for mid in (3, 2, 5, 1, 4):
        assert w.consume(mid, 1)
    assert w.low == 6 and not w.used
