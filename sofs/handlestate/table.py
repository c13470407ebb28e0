"""``OpenTable``: the per-volume table of opens (see ``model`` for the invariants).

Ownership and concurrency: one table per volume (share root), owned by the volume's coordinator and
touched only from its event-loop thread: no locks. Decisions (``check_new_open``) and the mutation
that follows (``add_open``) run back to back without an ``await`` in between, so they are atomic.

Every mutation is a record from ``records`` passed to ``apply``: the journal hook sees it first
(``JournalEntry.persistent`` tells whether it concerns a persistent open, so a journal can skip the
rest), then ``_apply`` changes memory. ``replay`` feeds records back without journaling.

Deletion protocol: ``close_open`` returns a ``CloseResult``; when ``delete`` is set the caller
deletes the object through its VFS handle, then calls ``finish_delete``. Until then the file stays
in the table, delete-pending, so a racing CREATE gets DELETE_PENDING instead of a doomed file.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sofs.handlestate import records as R
from sofs.handlestate.apply import apply_record, insert_open, remove_open, to_record
from sofs.handlestate.model import (
    ByteRangeLock,
    Lease,
    Open,
    OpenFile,
    path_key,
    stream_key,
)
from sofs.handlestate.rules import check_base_delete_vs_streams, check_share_access
from sofs.wire.fscc_constants import CreateOptions
from sofs.wire.status import NtStatus

_DELETE_ON_CLOSE = int(CreateOptions.DELETE_ON_CLOSE)  # a plain int: IntFlag & costs an enum call


class HandleStateError(Exception):
    def __init__(self, status: NtStatus, message: str = "") -> None:
        super().__init__(f"{status.name}: {message}" if message else status.name)
        self.status = status


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What the caller must do after an Open went away."""

    file_id: int
    path: str
    stream: str | None
    delete: bool  # delete the object (the stream if ``stream`` else the file) now, then finish_delete
    last_open: bool  # no opens of the file remain


class OpenTable:
    """Opens of one volume, indexed by persistent/volatile id, file id, path, create GUID and
    app instance id."""

    def __init__(self, epoch: int = 1, journal: R.JournalHook | None = None,
                 volatile_ids: Callable[[], int] | None = None) -> None:
        self.epoch = epoch
        self._journal: R.JournalHook | None = None
        self._append_record: Callable[[R.Record, bool], None] | None = None
        self._append_open: Callable[[Open, bool], None] | None = None
        self.journal = journal
        self.files: dict[int, OpenFile] = {}
        self.opens_by_persistent: dict[int, Open] = {}
        self.opens_by_volatile: dict[int, Open] = {}
        self.by_path: dict[str, set[int]] = {}
        self.by_create_guid: dict[bytes, int] = {}
        self.by_app_instance: dict[bytes, set[int]] = {}
        self._seq = 0
        self._next_pid = 1
        self._next_vid = 1
        self._volatile_ids = volatile_ids

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
        """Unique across restarts: the epoch (24 bits) above a 40-bit counter."""
        pid = ((self.epoch & 0xFFFFFF) << 40) | self._next_pid
        self._next_pid += 1
        return pid

    def new_volatile_id(self) -> int:
        if self._volatile_ids is not None:
            while True:
                vid = self._volatile_ids()
                if vid not in self.opens_by_volatile and vid not in (0, 0xFFFFFFFFFFFFFFFF):
                    return vid
        vid = self._next_vid
        self._next_vid += 1
        return vid

    # --- queries --------------------------------------------------------------------------
    def get_by_volatile(self, volatile_id: int) -> Open | None:
        return self.opens_by_volatile.get(volatile_id)

    def get_by_persistent(self, persistent_id: int) -> Open | None:
        return self.opens_by_persistent.get(persistent_id)

    def file(self, file_id: int) -> OpenFile | None:
        return self.files.get(file_id)

    def files_at_path(self, path: str) -> list[OpenFile]:
        return [self.files[f] for f in self.by_path.get(path_key(path), ()) if f in self.files]

    def get_by_create_guid(self, create_guid: bytes) -> Open | None:
        pid = self.by_create_guid.get(create_guid)
        return None if pid is None else self.opens_by_persistent.get(pid)

    def get_by_app_instance(self, app_instance_id: bytes) -> list[Open]:
        return [self.opens_by_persistent[p] for p in sorted(self.by_app_instance.get(app_instance_id, ()))]

    def opens_below(self, dir_path: str) -> list[Open]:
        """Opens strictly below directory ``dir_path`` ('' = the share root)."""
        prefix = path_key(dir_path) + "\\" if dir_path else ""
        return [o for o in self.opens_by_persistent.values()
                if path_key(o.path).startswith(prefix) and (prefix or o.path)]

    def opens_of_session(self, session_id: int) -> list[Open]:
        return [o for o in self.opens_by_persistent.values() if o.session_id == session_id and o.connected]

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
        status = check_share_access(f.opens_of(skey), granted_access, share_access)
        if status == NtStatus.SUCCESS and not skey:
            status = check_base_delete_vs_streams(
                [o for o in f.opens.values() if o.stream_key], granted_access)
        return status

    # --- mutations ------------------------------------------------------------------------
    def apply(self, record: R.Record) -> None:
        """The single entry point of every change: journal first, then memory."""
        self._seq += 1
        if self._journal is not None:
            if self._append_record is not None:
                self._append_record(record, self._is_persistent(record))
            else:
                self._journal.append(R.JournalEntry(self.epoch, self._seq, record, self._is_persistent(record)))
        apply_record(self, record)

    def add_open(self, o: Open, *, check: bool = True) -> Open:
        """Register a new Open (ids assigned when 0). Raises HandleStateError on a conflict."""
        if check:
            status = self.check_new_open(o.file_id, o.stream, o.granted_access, o.share_access)
            if status != NtStatus.SUCCESS:
                raise HandleStateError(status, o.path)
        # a CreateGuid already indexed is not refused here: the CREATE handler decides replay /
        # DUPLICATE_OBJECTID from its replay cache, whose entry an open loses once the client used
        # its FileId (Samba ``smbXsrv_open_clear_replay_cache``); the index names the newest open
        if not o.persistent_id:
            o.persistent_id = self.new_persistent_id()
        if not o.volatile_id:
            o.volatile_id = self.new_volatile_id()
        o.delete_on_close = bool(o.create_options & _DELETE_ON_CLOSE)
        if o.disconnected_at is not None or o.channel_sequence or o.lock_sequences:
            # state the OpenAdded record does not carry: the live open is rebuilt from the record
            # (as a replay would), keeping only the runtime-only fields
            runtime = (o.vfs_handle, o.frozen_times)
            self.apply(R.OpenAdded(to_record(o)))
            live = self.opens_by_persistent[o.persistent_id]
            live.vfs_handle, live.frozen_times = runtime
            return live
        # the common case: ``o`` itself becomes the live open (what a replay of the record builds)
        self._seq += 1
        if self._journal is not None:
            if self._append_open is not None:
                self._append_open(o, o.persistent)
            else:
                self._journal.append(R.JournalEntry(self.epoch, self._seq, R.OpenAdded(to_record(o)), o.persistent))
        insert_open(self, o)
        return o

    def close_open(self, persistent_id: int) -> CloseResult:
        o = self.opens_by_persistent[persistent_id]
        if o.delete_on_close:
            self.apply(R.DeletePendingSet(o.file_id, o.stream_key, True))
        rec = R.OpenRemoved(persistent_id)
        self._seq += 1  # ``apply`` inlined: the record concerns ``o`` itself
        if self._journal is not None:
            if self._append_record is not None:
                self._append_record(rec, o.persistent)
            else:
                self._journal.append(R.JournalEntry(self.epoch, self._seq, rec, o.persistent))
        remove_open(self, rec)
        f = self.files.get(o.file_id)
        if f is None:
            return CloseResult(o.file_id, o.path, o.stream, False, True)
        skey = o.stream_key
        if skey and skey in f.stream_delete_pending and not f.opens_of(skey):
            return CloseResult(o.file_id, o.path, o.stream, True, not f.opens)
        if not f.opens and f.delete_pending:
            return CloseResult(o.file_id, o.path, None, True, True)
        return CloseResult(o.file_id, o.path, o.stream, False, not f.opens)

    def finish_delete(self, file_id: int, stream: str | None = None) -> None:
        """The object from a ``CloseResult(delete=True)`` is gone (or failed): clear the flag."""
        self.apply(R.DeletePendingSet(file_id, stream_key(stream), False))

    def set_delete_on_close(self, persistent_id: int, value: bool) -> None:
        self.apply(R.DeleteOnCloseSet(persistent_id, value))

    def set_delete_pending(self, file_id: int, stream: str | None, value: bool) -> None:
        self.apply(R.DeletePendingSet(file_id, stream_key(stream), value))

    def move_path(self, file_id: int, old: str, new: str, is_directory: bool) -> None:
        self.apply(R.PathMoved(file_id, old, new, is_directory))

    def disconnect(self, persistent_id: int, now: int) -> None:
        self.apply(R.OpenDisconnected(persistent_id, now))

    def reconnect(self, persistent_id: int, session_id: int, tree_id: int) -> Open:
        vid = self.new_volatile_id()
        self.apply(R.OpenReconnected(persistent_id, vid, session_id, tree_id))
        return self.opens_by_persistent[persistent_id]

    def expired(self, now: int) -> list[Open]:
        """Disconnected opens whose durable timeout has passed (the scavenger closes them)."""
        return [o for o in self.opens_by_persistent.values()
                if o.disconnected_at is not None and now - o.disconnected_at >= o.durable_timeout_ms * 1_000_000]

    def set_channel_sequence(self, persistent_id: int, value: int) -> None:
        self.apply(R.ChannelSequenceSet(persistent_id, value))

    def set_lock_sequence(self, persistent_id: int, index: int, value: int) -> None:
        self.apply(R.LockSequenceSet(persistent_id, index, value))

    def add_lock(self, lock: ByteRangeLock, file_id: int) -> None:
        self.apply(R.LockAdded(file_id, lock.owner, lock.stream, lock.offset, lock.length, lock.exclusive))

    def remove_lock(self, file_id: int, owner: int, stream: str, offset: int, length: int) -> None:
        self.apply(R.LockRemoved(file_id, owner, stream, offset, length))

    def set_lease(self, file_id: int, lease: Lease) -> None:
        self.apply(R.LeaseSet(file_id, lease.client_guid, lease.lease_key, int(lease.state), lease.epoch,
                              lease.version, lease.parent_lease_key))

    def set_oplock(self, persistent_id: int, level: int) -> None:
        self.apply(R.OplockSet(persistent_id, level))

    def replay(self, entries: Iterable[R.JournalEntry]) -> None:
        """Rebuild state from journal entries (no journaling); id counters move past what is seen."""
        for e in entries:
            self._seq = max(self._seq, e.seq)
            self._apply(e.record)
        for pid in self.opens_by_persistent:
            if (pid >> 40) == (self.epoch & 0xFFFFFF):
                self._next_pid = max(self._next_pid, (pid & ((1 << 40) - 1)) + 1)
        self._next_vid = max([self._next_vid, *(v + 1 for v in self.opens_by_volatile)])

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

    def _apply(self, rec: R.Record) -> None:
        apply_record(self, rec)

    def _index_path(self, path: str, file_id: int) -> None:
        self.by_path.setdefault(path_key(path), set()).add(file_id)

    def _unindex_path(self, path: str, file_id: int) -> None:
        key = path_key(path)
        f = self.files.get(file_id)
        if f is not None and any(path_key(o.path) == key for o in f.opens.values()):
            return
        ids = self.by_path.get(key)
        if ids is not None:
            ids.discard(file_id)
            if not ids:
                del self.by_path[key]

    def _maybe_drop_file(self, f: OpenFile) -> None:
        if not f.opens and not f.locks and not f.delete_pending and not f.stream_delete_pending:
            self.files.pop(f.file_id, None)
            self._unindex_path(f.path, f.file_id)

    def check_invariants(self) -> None:
        """Assert I1-I6 of ``model`` (for tests and debug builds)."""
        seen = set()
        for f in self.files.values():
            assert f.opens or f.locks or f.delete_pending or f.stream_delete_pending, "I3 empty file"
            for pid, o in f.opens.items():
                assert pid == o.persistent_id and o.file_id == f.file_id, "I1 file link"
                assert self.opens_by_persistent.get(pid) is o, "I1 persistent index"
                if o.connected:
                    assert self.opens_by_volatile.get(o.volatile_id) is o, "I1 volatile index"
                else:
                    assert self.opens_by_volatile.get(o.volatile_id) is not o, "I1 disconnected"
                assert f.file_id in self.by_path.get(path_key(o.path), ()), "I6 path index"
                seen.add(pid)
            for a in f.opens.values():
                for b in f.opens.values():
                    if a is not b and a.stream_key == b.stream_key:
                        assert check_share_access([a], b.granted_access, b.share_access) == \
                            NtStatus.SUCCESS, "I4 share modes"
        assert seen == set(self.opens_by_persistent), "I1 orphan open"
        for guid, pid in self.by_create_guid.items():
            assert self.opens_by_persistent[pid].create_guid == guid, "I5 create guid"
        for app, pids in self.by_app_instance.items():
            for pid in pids:
                assert self.opens_by_persistent[pid].app_instance_id == app, "I5 app instance"

