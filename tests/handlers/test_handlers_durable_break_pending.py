"""A durable open with a break in flight is not kept over a lost connection (durable_state)."""
from __future__ import annotations

from types import SimpleNamespace

from sofs.handlers.durable_state import _break_pending


def test_break_pending_oplock_and_lease() -> None:
    op = object()
    mgr = SimpleNamespace(oplock_breaking={op: 0})
    assert _break_pending(mgr, op, None)  # type: ignore[arg-type]
    assert not _break_pending(SimpleNamespace(oplock_breaking={}), op, None)  # type: ignore[arg-type]
    assert _break_pending(mgr, op, SimpleNamespace(breaking=True))  # type: ignore[arg-type]
    assert not _break_pending(mgr, op, SimpleNamespace(breaking=False))  # type: ignore[arg-type]
    assert not _break_pending(None, op, None)  # type: ignore[arg-type]
