"""Plain-``int`` copies of the [MS-FSCC]/[MS-SMB2] flag enums for the hot CREATE/READ/WRITE paths.

``IntFlag`` arithmetic allocates a new enum member per operation (~3 µs each measured under load);
the open path does dozens of mask tests per request, so hot modules use these namespaces instead.
Values are generated from the enums (aliases included), so they cannot drift.
"""
from __future__ import annotations

from enum import Enum
from types import SimpleNamespace
from typing import Any

from sofs.wire.fscc_constants import AccessMask, CreateDisposition, CreateOptions, FileAttributes, ShareAccess


def int_namespace(enum_cls: type[Enum]) -> Any:
    """A namespace with every member (aliases too) of ``enum_cls`` as a plain int."""
    return SimpleNamespace(**{name: int(member.value) for name, member in enum_cls.__members__.items()})


A: Any = int_namespace(AccessMask)
D: Any = int_namespace(CreateDisposition)
O: Any = int_namespace(CreateOptions)
FA: Any = int_namespace(FileAttributes)
S: Any = int_namespace(ShareAccess)
