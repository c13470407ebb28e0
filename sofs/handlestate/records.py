"""Journal records: every mutation of an ``OpenTable`` is one of these ([MS-SMB2] 3.3.1.10 state).

``OpenTable.apply(record)`` passes each record to the journal hook before changing memory, so a
persistent-handle journal (issue 5) can make it durable before the response that grants it is sent;
``OpenTable.replay(records)`` rebuilds the table from them. Records are frozen and made of plain
values (ints, bytes, str, tuples) so that a codec can serialise them without knowing the model.
Every record is wrapped in a ``JournalEntry`` carrying the writer's fencing epoch and a sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OpenRecord:
    """The journaled image of an Open (no runtime-only fields)."""

    persistent_id: int
    volatile_id: int
    file_id: int
    path: str
    stream: str | None
    is_directory: bool
    granted_access: int
    share_access: int
    create_options: int
    session_id: int
    tree_id: int
    client_guid: bytes
    owner_sid: str
    durable: bool
    persistent: bool
    durable_timeout_ms: int
    create_guid: bytes | None
    app_instance_id: bytes | None
    app_instance_version: tuple[int, int] | None
    oplock_level: int
    lease_key: bytes | None


@dataclass(frozen=True, slots=True)
class OpenAdded:
    open: OpenRecord


@dataclass(frozen=True, slots=True)
class OpenRemoved:
    persistent_id: int


@dataclass(frozen=True, slots=True)
class OpenDisconnected:
    persistent_id: int
    at: int  # monotonic ns


@dataclass(frozen=True, slots=True)
class OpenReconnected:
    persistent_id: int
    volatile_id: int
    session_id: int
    tree_id: int


@dataclass(frozen=True, slots=True)
class DeleteOnCloseSet:
    persistent_id: int
    value: bool


@dataclass(frozen=True, slots=True)
class DeletePendingSet:
    file_id: int
    stream_key: str  # '' = the file itself
    value: bool


@dataclass(frozen=True, slots=True)
class PathMoved:
    """A rename: ``old`` → ``new`` (share-relative). For a directory, opens below move too."""

    file_id: int
    old: str
    new: str
    is_directory: bool


@dataclass(frozen=True, slots=True)
class ChannelSequenceSet:
    persistent_id: int
    value: int


@dataclass(frozen=True, slots=True)
class LockSequenceSet:
    persistent_id: int
    index: int
    value: int


@dataclass(frozen=True, slots=True)
class LockAdded:
    file_id: int
    owner: int
    stream_key: str
    offset: int
    length: int
    exclusive: bool


@dataclass(frozen=True, slots=True)
class LockRemoved:
    file_id: int
    owner: int
    stream_key: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class LeaseSet:
    """Lease state after a grant, upgrade or acknowledged break (state 0 = lease dropped)."""

    file_id: int
    client_guid: bytes
    lease_key: bytes
    state: int
    epoch: int
    version: int
    parent_lease_key: bytes | None


@dataclass(frozen=True, slots=True)
class OplockSet:
    persistent_id: int
    level: int


Record = (OpenAdded | OpenRemoved | OpenDisconnected | OpenReconnected | DeleteOnCloseSet
          | DeletePendingSet | PathMoved | ChannelSequenceSet | LockSequenceSet | LockAdded
          | LockRemoved | LeaseSet | OplockSet)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """``persistent``: the record concerns a persistent open (a CA journal may skip the others)."""

    epoch: int
    seq: int
    record: Record
    persistent: bool = False


class JournalHook(Protocol):
    """Receives each entry before the table changes. Implementations buffer it; the caller then
    awaits the journal's durability (group commit) before answering the client."""

    def append(self, entry: JournalEntry) -> None: ...
