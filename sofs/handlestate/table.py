"""``OpenTable``: the open table of one volume, the only one (see ``model`` for the invariants).

Ownership and concurrency: one table per volume, owned by the volume's coordinator
(:mod:`sofs.handlestate.coordinator`) and touched only from its event-loop thread: no locks.
Decisions (``check_new_open``) and the mutation that follows (``add_open``) run back to back without
an ``await`` in between, so they are atomic.

Two kinds of change:

- ``apply(record)``: the open set, paths, delete-pending flags, disconnect/reconnect. The journal
  hook sees the record first (``persistent`` tells whether it concerns a persistent open, so a CA
  journal keeps it and others skip it), then memory changes.
- ``log(record, persistent)``: byte-range locks, leases, oplock levels and sequence numbers, which
  the coordinator changes through their own machines (``locks``, ``leases``); the record only goes
  to the journal. ``replay`` applies both kinds, so a new coordinator rebuilds everything.

Deletion protocol: ``close_open`` returns a ``TableClose``; when ``delete`` is set the serving
process deletes the object through its VFS handle, then the coordinator calls ``finish_delete``.
Until then the file stays in the table, delete-pending, so a racing CREATE gets DELETE_PENDING
instead of a doomed file.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import NamedTuple

from sofs.handlestate import records as R
from sofs.handlestate.api import HandleStateError
from sofs.handlestate.apply import apply_record, drop_open, insert_open, to_record
from sofs.handlestate.leases import LeaseTable
from sofs.handlestate.locks import ByteRangeLocks
from sofs.handlestate.model import Open, OpenFile, path_key, stream_key
from sofs.handlestate.rules import check_share_access
from sofs.wire.fscc_constants import CreateOptions
from sofs.wire.status import NtStatus

_DELETE_ON_CLOSE = int(CreateOptions.DELETE_ON_CLOSE)  # a plain int: IntFlag & costs an enum call
_DELETE = 0x00010000  # AccessMask.DELETE

__all__ = ["HandleStateError", "OpenTable", "TableClose", "file_key"]


def file_key(file_id: int, stream: str | None) -> tuple[int, str]:
    """The key of one stream of a file (locks, leases, oplocks are per stream)."""
    return (file_id, stream_key(stream))


def share_status(f: OpenFile, skey: str, granted_access: int, share_access: int) -> NtStatus:
    """The share-mode check of a new open of stream ``skey`` of ``f`` (delete pending already
    checked): SUCCESS or SHARING_VIOLATION."""
    status = check_share_access(f.opens.values(), granted_access, share_access, skey)
    if status is _OK and not skey and granted_access & _DELETE:
        # deleting/renaming the file conflicts with opens of its named streams ([MS-FSA] 2.1.5.1.2)
        status = check_share_access([o for o in f.opens.values() if o.stream_key], granted_access & _DELETE,
                                    share_access)
    return status


_OK = NtStatus.SUCCESS
_tuple_new = tuple.__new__


class TableClose(NamedTuple):
    """What must happen after an Open went away (a tuple: one is made per close)."""

    file_id: int
    path: str
    stream: str | None
    delete: bool  # delete the object (the stream if ``stream`` else the file) now, then finish_delete
    last_open: bool  # no opens of the file remain


class OpenTable:
    """Opens of one volume, indexed by persistent id, file id, create GUID and app instance id, with
    the byte-range locks (``locks``, owner = persistent id) and leases (``leases``) of its files."""

    def __init__(self, epoch: int = 1, journal: R.JournalHook | None = None) -> None:
        self.epoch = epoch
        self._journal: R.JournalHook | None = None
        self._append_record: Callable[[R.Record, bool], None] | None = None
        self._append_open: Callable[[Open, bool], None] | None = None
        self.journal = journal
        self.files: dict[int, OpenFile] = {}
        self.opens_by_persistent: dict[int, Open] = {}
        self.by_create_guid: dict[bytes, int] = {}
        self.by_app_instance: dict[bytes, set[int]] = {}
        # how many of the opens are disconnected (durable ones waiting for their client): while none
        # is, a CREATE does not look through the file's opens for one (coord_create.admit)
        self.disconnected = 0
        self.locks = ByteRangeLocks()
        self.leases = LeaseTable()
        self._seq = 0
        self._next_pid = 1

    @property
    def journal(self) -> R.JournalHook | None:
        return self._journal

    @journal.setter
    def journal(self, hook: R.JournalHook | None) -> None:
        """A hook that also has ``append_record(record, persistent)`` / ``append_open(open,
        persistent)`` (``PersistentHandleJournal``) is fed through those: no ``JournalEntry`` or
        ``OpenRecord`` is built for it."""
        self._journal = hook
        self._append_record = getattr(hook, "append_record", None)
        self._append_open = getattr(hook, "append_open", None)

    # --- ids ------------------------------------------------------------------------------
    def new_persistent_id(self) -> int:
        """Unique across restarts and coordinators: the epoch (24 bits) above a 40-bit counter."""
        pid = ((self.epoch & 0xFFFFFF) << 40) | self._next_pid
        self._next_pid += 1
        return pid

    # --- queries --------------------------------------------------------------------------
    def get_by_persistent(self, persistent_id: int) -> Open | None:
        return self.opens_by_persistent.get(persistent_id)

    def file(self, file_id: int) -> OpenFile | None:
        return self.files.get(file_id)

    def files_at_path(self, path: str) -> list[OpenFile]:
        key = path_key(path)
        return [f for f in self.files.values() if any(path_key(o.path) == key for o in f.opens.values())]

    def get_by_create_guid(self, create_guid: bytes) -> Open | None:
        pid = self.by_create_guid.get(create_guid)
        return None if pid is None else self.opens_by_persistent.get(pid)

    def get_by_app_instance(self, app_instance_id: bytes) -> list[Open]:
        return [self.opens_by_persistent[p] for p in sorted(self.by_app_instance.get(app_instance_id, ()))]

    def opens_below(self, dir_path: str) -> list[Open]:
        """Opens strictly below directory ``dir_path`` ('' = the volume root)."""
        prefix = path_key(dir_path) + "\\" if dir_path else ""
        return [o for o in self.opens_by_persistent.values()
                if path_key(o.path).startswith(prefix) and (prefix or o.path)]

    def opens_of_endpoint(self, endpoint: int) -> list[Open]:
        return [o for o in self.opens_by_persistent.values() if o.endpoint == endpoint and o.connected]

    def locks_of(self, key: Hashable) -> list[int]:
        return [lk.owner for lk in self.locks.locks_of(key)]  # type: ignore[misc]

    # --- decisions ------------------------------------------------------------------------
    def check_new_open(self, file_id: int, stream: str | None, granted_access: int,
                       share_access: int) -> NtStatus:
        """Delete-pending and share-mode check for a new open of ``file_id`` (+ stream)."""
        f = self.files.get(file_id)
        if f is None:
            return NtStatus.SUCCESS
        skey = stream_key(stream)
        if f.is_delete_pending(skey):
            return NtStatus.DELETE_PENDING
        return share_status(f, skey, granted_access, share_access)

    # --- mutations ------------------------------------------------------------------------
    def apply(self, record: R.Record) -> None:
        """A primary change: journal first, then memory."""
        self._seq += 1
        if self._journal is not None:
            persistent = self._is_persistent(record)
            if self._append_record is not None:
                self._append_record(record, persistent)
            else:
                self._journal.append(R.JournalEntry(self.epoch, self._seq, record, persistent))
        apply_record(self, record)

    def log(self, record: R.Record, persistent: bool) -> None:
        """Journal a change made through the locks / leases / oplock machines (memory already has it)."""
        if self._journal is None or not persistent:
            return
        self._seq += 1
        if self._append_record is not None:
            self._append_record(record, True)
        else:
            self._journal.append(R.JournalEntry(self.epoch, self._seq, record, True))

    def add_open(self, o: Open) -> Open:
        """Register a new Open (persistent id assigned when 0); the caller decided admission."""
        if not o.persistent_id:
            o.persistent_id = self.new_persistent_id()
        o.delete_on_close = bool(o.create_options & _DELETE_ON_CLOSE)
        if self._journal is not None and o.persistent:
            self._seq += 1
            if self._append_open is not None:
                self._append_open(o, True)
            else:
                self._journal.append(R.JournalEntry(self.epoch, self._seq, R.OpenAdded(to_record(o)), True))
            self._log_beyond_record(o)
        insert_open(self, o)
        return o

    def _log_beyond_record(self, o: Open) -> None:
        """State an ``OpenAdded`` record does not carry goes to the journal as its own records."""
        if o.disconnected_at is not None:
            self.log(R.OpenDisconnected(o.persistent_id, o.disconnected_at), True)
        if o.channel_sequence:
            self.log(R.ChannelSequenceSet(o.persistent_id, o.channel_sequence), True)
        for idx, val in sorted((o.lock_sequences or {}).items()):
            self.log(R.LockSequenceSet(o.persistent_id, idx, val), True)

    def journal_open(self, o: Open) -> None:
        """An open already in the table became persistent: its image goes to the journal now."""
        if self._journal is None:
            return
        self._seq += 1
        if self._append_open is not None:
            self._append_open(o, True)
        else:
            self._journal.append(R.JournalEntry(self.epoch, self._seq, R.OpenAdded(to_record(o)), True))
        self._log_beyond_record(o)

    def index_create_guid(self, o: Open) -> None:
        if o.create_guid is not None:
            self.by_create_guid[o.create_guid] = o.persistent_id

    def close_open(self, persistent_id: int) -> TableClose:
        o = self.opens_by_persistent[persistent_id]
        if o.delete_on_close:
            self.apply(R.DeletePendingSet(o.file_id, o.stream_key, True))
        if self._journal is not None and o.persistent:  # ``apply`` inlined: the record concerns ``o``
            rec = R.OpenRemoved(persistent_id)
            self._seq += 1
            if self._append_record is not None:
                self._append_record(rec, True)
            else:
                self._journal.append(R.JournalEntry(self.epoch, self._seq, rec, True))
        drop_open(self, persistent_id)
        f = self.files.get(o.file_id)
        if f is None:
            return TableClose(o.file_id, o.path, o.stream, False, True)
        skey = o.stream_key
        if skey and skey in f.stream_delete_pending and not f.opens_of(skey):
            return TableClose(o.file_id, o.path, o.stream, True, not f.opens)
        if not f.opens and f.delete_pending:
            return TableClose(o.file_id, f.path or o.path, None, True, True)
        # the usual close: TableClose(...) without the Python __new__ of a NamedTuple (what it calls)
        return _tuple_new(TableClose, (o.file_id, o.path, o.stream, False, not f.opens))

    def finish_delete(self, file_id: int, stream: str | None = None) -> None:
        """The object from a ``TableClose(delete=True)`` is gone (or failed): clear the flag."""
        self.apply(R.DeletePendingSet(file_id, stream_key(stream), False))

    def set_delete_on_close(self, persistent_id: int, value: bool) -> None:
        self.apply(R.DeleteOnCloseSet(persistent_id, value))

    def set_delete_pending(self, file_id: int, stream: str | None, value: bool) -> None:
        self.apply(R.DeletePendingSet(file_id, stream_key(stream), value))

    def move_path(self, file_id: int, old: str, new: str, is_directory: bool) -> None:
        self.apply(R.PathMoved(file_id, old, new, is_directory))

    def disconnect(self, persistent_id: int, now: int) -> None:
        self.apply(R.OpenDisconnected(persistent_id, now))

    def reconnect(self, persistent_id: int, session_id: int, tree_id: int, endpoint: int) -> Open:
        self.apply(R.OpenReconnected(persistent_id, 0, session_id, tree_id))
        o = self.opens_by_persistent[persistent_id]
        o.endpoint = endpoint
        return o

    def expired(self, now: int) -> list[Open]:
        """Disconnected opens whose durable timeout has passed (the scavenger closes them)."""
        return [o for o in self.opens_by_persistent.values()
                if o.disconnected_at is not None and now - o.disconnected_at >= o.durable_timeout_ms * 1_000_000]

    def replay(self, entries: Iterable[R.JournalEntry]) -> None:
        """Rebuild state from journal entries (no journaling); id counters move past what is seen;
        leases get their opens back (every open naming a lease key joins that lease)."""
        for e in entries:
            self._seq = max(self._seq, e.seq)
            apply_record(self, e.record)
        for pid, o in self.opens_by_persistent.items():
            if (pid >> 40) == (self.epoch & 0xFFFFFF):
                self._next_pid = max(self._next_pid, (pid & ((1 << 40) - 1)) + 1)
            if o.lease_key is not None:
                lease = self.leases.get(o.client_guid, o.lease_key)
                if lease is not None:
                    self.leases.attach(lease, pid)
                    o.lease = lease
        for lease in list(self.leases.by_key.values()):
            if not lease.opens:
                self.leases.drop(lease)

    # --- internals ------------------------------------------------------------------------
    def _is_persistent(self, rec: R.Record) -> bool:
        if isinstance(rec, R.OpenAdded):
            return rec.open.persistent
        pid = getattr(rec, "persistent_id", None)
        if pid is not None:
            o = self.opens_by_persistent.get(pid)
            return bool(o and o.persistent)
        fid = getattr(rec, "file_id", None)
        f = self.files.get(fid) if fid is not None else None
        return bool(f and any(o.persistent for o in f.opens.values()))

    def _maybe_drop_file(self, f: OpenFile) -> None:
        if not f.opens and not f.delete_pending and not f.stream_delete_pending:
            self.files.pop(f.file_id, None)

    def check_invariants(self) -> None:
        """Assert I1-I5 of ``model`` and the lock/lease invariants (for tests and debug builds)."""
        seen = set()
        for f in self.files.values():
            assert f.opens or f.delete_pending or f.stream_delete_pending, "I3 empty file"
            for pid, o in f.opens.items():
                assert pid == o.persistent_id and o.file_id == f.file_id, "I1 file link"
                assert self.opens_by_persistent.get(pid) is o, "I1 persistent index"
                seen.add(pid)
            for a in f.opens.values():
                for b in f.opens.values():
                    if a is not b and a.stream_key == b.stream_key:
                        assert check_share_access([a], b.granted_access, b.share_access) == \
                            NtStatus.SUCCESS, "I4 share modes"
        assert seen == set(self.opens_by_persistent), "I1 orphan open"
        assert self.disconnected == sum(o.disconnected_at is not None for o in self.opens_by_persistent.values()), \
            "I6 disconnected count"
        for guid, pid in self.by_create_guid.items():
            assert self.opens_by_persistent[pid].create_guid == guid, "I5 create guid"
        for app, pids in self.by_app_instance.items():
            for pid in pids:
                assert self.opens_by_persistent[pid].app_instance_id == app, "I5 app instance"
        for key, locks in self.locks.files.items():
            for lk in locks:
                o = self.opens_by_persistent.get(lk.owner)  # type: ignore[call-overload]
                assert o is not None and (o.file_id, o.stream_key) == key, "L lock without its open"
        self.locks.check_invariants()
        self.leases.check_invariants()
