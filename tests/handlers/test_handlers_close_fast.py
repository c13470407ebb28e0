"""CLOSE's response packing, against the generic path."""
from __future__ import annotations

from sofs.handlers import close
from sofs.wire.messages.close import CloseResponse


def test_close_response_pack_matches_the_dataclass() -> None:
    fast = close._CLOSE_RSP.pack(close._CLOSE_RSP_SIZE, close._POSTQUERY, 0, 1, 2, 3, 3, 4096, 10, 0x20)
    assert fast == CloseResponse(flags=1, creation_time=1, last_access_time=2, last_write_time=3,
                                 change_time=3, allocation_size=4096, end_of_file=10,
                                 file_attributes=0x20).encode()
    assert len(fast) == 60
