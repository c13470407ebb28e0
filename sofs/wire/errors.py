"""The one exception type the wire layer raises on malformed input.

Every ``decode`` in ``sofs.wire`` raises :class:`WireError` (and nothing else) for bytes it cannot
accept; ``.status`` is the NTSTATUS the server should answer with (usually INVALID_PARAMETER, as
Windows and Samba do for bad StructureSize or out-of-range offsets).
"""
from __future__ import annotations

from sofs.wire.status import NtStatus, status_name


class WireError(ValueError):
    """Malformed or unacceptable wire data; ``status`` is the NTSTATUS to return to the peer."""

    __slots__ = ("status",)

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or status_name(status))
        self.status: int = status

    def __str__(self) -> str:
        return f"{status_name(self.status)}: {self.args[0]}"


def invalid(message: str) -> WireError:
    """Shorthand for the common case: WireError(STATUS_INVALID_PARAMETER, message)."""
    return WireError(NtStatus.INVALID_PARAMETER, message)
