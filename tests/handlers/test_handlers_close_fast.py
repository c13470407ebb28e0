"""CLOSE's response packing and the oplock hooks' no-coroutine answers, against the generic paths."""
from __future__ import annotations

from types import SimpleNamespace

from sofs.handlers import close, oplock
from sofs.wire.messages.close import CloseResponse


def test_close_response_pack_matches_the_dataclass() -> None:
    fast = close._CLOSE_RSP.pack(close._CLOSE_RSP_SIZE, close._POSTQUERY, 0, 1, 2, 3, 3, 4096, 10, 0x20)
    assert fast == CloseResponse(flags=1, creation_time=1, last_access_time=2, last_write_time=3,
                                 change_time=3, allocation_size=4096, end_of_file=10,
                                 file_attributes=0x20).encode()
    assert len(fast) == 60


def test_context_handler_answers_a_list_when_nothing_is_asked() -> None:
    contexts = SimpleNamespace(lease=None)
    oplock._mark_breaks_done(contexts)
    op = SimpleNamespace(node=SimpleNamespace(key=("s", 1, "")), pipe=None, is_directory=False, granted_access=1)
    ctx = SimpleNamespace(dialect=0x311)
    for level in (0, 0xFF):  # NONE, LEASE without a lease context
        assert oplock.create_context_handler(ctx, SimpleNamespace(requested_oplock_level=level), contexts, op) == []
    # an oplock request goes the full (awaitable) way
    out = oplock.create_context_handler(ctx, SimpleNamespace(requested_oplock_level=8), contexts, op)
    assert not isinstance(out, list)
    out.close()  # type: ignore[union-attr]
    # breaks not done yet (no before_admit): the awaitable path too
    out = oplock.create_context_handler(ctx, SimpleNamespace(requested_oplock_level=0), SimpleNamespace(lease=None), op)
    assert not isinstance(out, list)
    out.close()  # type: ignore[union-attr]
