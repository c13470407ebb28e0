"""The per-volume open table's objects: ``Open`` and ``OpenFile`` (leases: ``leases.LeaseRecord``,
byte-range locks: ``locks.RangeLock``).

Invariants (checked by ``OpenTable.check_invariants`` in tests):

I1  Every Open is in exactly one OpenFile (``files[open.file_id].opens[open.persistent_id]``) and in
    ``opens_by_persistent``. A connected Open names the serving process (``endpoint``) that holds its
    client's connection; a disconnected one (``disconnected_at`` set, durable/persistent only) none.
I2  ``persistent_id`` is unique in the volume for the table's life and across restarts and
    coordinator changes (it carries the coordinator's epoch in its top bits). Volatile ids are the
    serving process's business (each process numbers the handles it serves).
I3  An OpenFile exists iff it has at least one Open (disconnected ones included) or a delete-pending
    flag; byte-range locks (``OpenTable.locks``) always belong to an Open of the file.
I4  Share modes: for any two Opens A, B of the same stream (``stream_key``) whose granted access
    includes data access (READ_DATA/EXECUTE/WRITE_DATA/APPEND_DATA/DELETE), each one's access is
    allowed by the other's share mode ([MS-FSA] 2.1.5.1.2.2). Disconnected durable/persistent Opens
    keep their share modes (they still block others until they expire).
I5  ``create_guid`` and ``app_instance_id`` indexes point only at live Opens that carry them; a
    create GUID index entry names one Open (the newest that carries it).
I6  Paths: ``by_path[fold(open.path)]`` contains ``open.file_id`` for every Open; a rename moves the
    keys of the file and, for a directory, of every Open below it, in one mutation.
I7  Delete pending: once set on a file (or stream), no new Open of it succeeds (DELETE_PENDING) until
    it is cleared; the object is deleted when its last Open goes away while the flag is set.
I8  Every mutation goes through ``OpenTable.apply(record)``, which hands the record to the journal
    hook *before* changing memory; replaying the same records into an empty table (``replay``)
    rebuilds the same state (minus runtime-only fields such as the VFS handle).

Times (``disconnected_at``, lease break deadlines) are monotonic nanoseconds passed in by callers;
nothing here reads a clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sofs.vfs.names import fold_name

LOCK_SEQUENCE_ENTRIES = 64  # [MS-SMB2] 3.3.1.10 Open.LockSequenceArray


def stream_key(stream: str | None) -> str:
    """The share-mode scope of an Open: '' for the default stream / directory, else the folded name."""
    return fold_name(stream) if stream else ""


def path_key(path: str) -> str:
    return fold_name(path)


@dataclass(slots=True)
class Open:
    """[MS-SMB2] 3.3.1.10 Open, with the fields durable/persistent reconnect and replay need.

    The coordinator's record: ids and values only. The serving process keeps the run-time side of
    the same open (VFS handle, session, directory cursor) in its own ``sofs.handlers.opens.Handle``.
    """

    persistent_id: int
    volatile_id: int
    file_id: int
    path: str
    stream: str | None
    is_directory: bool
    granted_access: int
    share_access: int
    create_options: int
    session_id: int = 0
    tree_id: int = 0
    client_guid: bytes = b""
    owner_sid: str = ""
    durable: bool = False
    persistent: bool = False
    durable_timeout_ms: int = 0
    resilient: bool = False
    create_guid: bytes | None = None
    app_instance_id: bytes | None = None
    app_instance_version: tuple[int, int] | None = None
    oplock_level: int = 0
    lease_key: bytes | None = None
    channel_sequence: int = 0
    lock_sequences: dict[int, int] | None = None  # index 1..64 -> sequence (made by the first LOCK naming one)
    delete_on_close: bool = False
    disconnected_at: int | None = None
    resilient_timeout_ms: int = 0
    create_action: int = 1  # FILE_OPENED; a replayed CREATE answers with the original action
    # run-time only (never journaled): where the client is, and the caching machinery's links
    endpoint: int = 0
    position: int = 0  # FilePositionInformation kept while disconnected (a reconnect gets it back)
    lease: Any = None  # the LeaseRecord this open names (leases.py), shared with the lease's other opens
    oplock_breaking: int | None = None  # the level an outstanding oplock break goes to

    stream_key: str = field(init=False, default="")
    """The share-mode scope (folded stream name, '' for the file itself); follows ``stream``: set when
    the open enters the table (``apply.insert_open``) and by a rename (no ``__post_init__``: one
    call less per CREATE)."""

    @property
    def connected(self) -> bool:
        return self.disconnected_at is None

    def sequences(self) -> dict[int, int]:
        """``lock_sequences``, made when first needed (most opens never lock with a sequence)."""
        seqs = self.lock_sequences
        if seqs is None:
            seqs = self.lock_sequences = {}
        return seqs


@dataclass(slots=True)
class OpenFile:
    """Everything the coordinator knows about one file (by FileId) while it has opens."""

    file_id: int
    path: str
    is_directory: bool
    opens: dict[int, Open] = field(default_factory=dict)  # persistent_id -> Open
    delete_pending: bool = False  # the file (default stream / directory) itself
    stream_delete_pending: set[str] = field(default_factory=set)  # stream keys

    def opens_of(self, skey: str) -> list[Open]:
        return [o for o in self.opens.values() if o.stream_key == skey]

    def is_delete_pending(self, skey: str) -> bool:
        return self.delete_pending or (bool(skey) and skey in self.stream_delete_pending)
