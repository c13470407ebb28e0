"""How each journal record changes an ``OpenTable`` (shared by live mutation and replay)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sofs.handlestate import records as R
from sofs.handlestate.model import ByteRangeLock, Lease, LeaseState, Open, OpenFile, path_key
from sofs.wire.fscc_constants import CreateOptions

_DELETE_ON_CLOSE = int(CreateOptions.DELETE_ON_CLOSE)  # a plain int: IntFlag & costs an enum call

if TYPE_CHECKING:
    from sofs.handlestate.table import OpenTable


def to_record(o: Open) -> R.OpenRecord:
    return R.OpenRecord(
        o.persistent_id, o.volatile_id, o.file_id, o.path, o.stream, o.is_directory, o.granted_access,
        o.share_access, o.create_options, o.session_id, o.tree_id, o.client_guid, o.owner_sid,
        o.durable, o.persistent, o.durable_timeout_ms, o.create_guid, o.app_instance_id,
        o.app_instance_version, o.oplock_level, o.lease_key)


def from_record(r: R.OpenRecord) -> Open:
    return Open(
        persistent_id=r.persistent_id, volatile_id=r.volatile_id, file_id=r.file_id, path=r.path,
        stream=r.stream, is_directory=r.is_directory, granted_access=r.granted_access,
        share_access=r.share_access, create_options=r.create_options, session_id=r.session_id,
        tree_id=r.tree_id, client_guid=r.client_guid, owner_sid=r.owner_sid, durable=r.durable,
        persistent=r.persistent, durable_timeout_ms=r.durable_timeout_ms, create_guid=r.create_guid,
        app_instance_id=r.app_instance_id, app_instance_version=r.app_instance_version,
        oplock_level=r.oplock_level, lease_key=r.lease_key)


def _added(t: OpenTable, rec: R.OpenAdded) -> None:
    o = from_record(rec.open)
    o.delete_on_close = bool(o.create_options & _DELETE_ON_CLOSE)
    insert_open(t, o)


def insert_open(t: OpenTable, o: Open) -> None:
    """Index ``o`` as a new connected open (what replaying its ``OpenAdded`` does)."""
    f = t.files.get(o.file_id)
    if f is None:
        f = t.files[o.file_id] = OpenFile(o.file_id, o.path, o.is_directory)
    f.opens[o.persistent_id] = o
    t.opens_by_persistent[o.persistent_id] = o
    t.opens_by_volatile[o.volatile_id] = o
    t._index_path(o.path, o.file_id)
    if o.create_guid is not None:
        t.by_create_guid[o.create_guid] = o.persistent_id
    if o.app_instance_id is not None:
        t.by_app_instance.setdefault(o.app_instance_id, set()).add(o.persistent_id)


def remove_open(t: OpenTable, rec: R.OpenRemoved) -> None:
    """Drop the open (what replaying its ``OpenRemoved`` does); its file goes with its last open."""
    o = t.opens_by_persistent.pop(rec.persistent_id)
    if t.opens_by_volatile.get(o.volatile_id) is o:
        del t.opens_by_volatile[o.volatile_id]
    f = t.files[o.file_id]
    del f.opens[o.persistent_id]
    if f.locks:
        f.locks = [lk for lk in f.locks if lk.owner != o.persistent_id]
    if o.create_guid is not None and t.by_create_guid.get(o.create_guid) == o.persistent_id:
        del t.by_create_guid[o.create_guid]
    if o.app_instance_id is not None:
        pids = t.by_app_instance.get(o.app_instance_id)
        if pids is not None:
            pids.discard(o.persistent_id)
            if not pids:
                del t.by_app_instance[o.app_instance_id]
    if f.opens or f.locks or f.delete_pending or f.stream_delete_pending:
        t._unindex_path(o.path, o.file_id)
        return
    # the last open of a file that keeps nothing else: the file and its path keys go
    del t.files[f.file_id]
    key = path_key(o.path)
    _unindex_key(t, key, f.file_id)
    if f.path != o.path:
        fkey = path_key(f.path)
        if fkey != key:
            _unindex_key(t, fkey, f.file_id)


def _unindex_key(t: OpenTable, key: str, file_id: int) -> None:
    ids = t.by_path.get(key)
    if ids is not None:
        ids.discard(file_id)
        if not ids:
            del t.by_path[key]


def _disconnected(t: OpenTable, rec: R.OpenDisconnected) -> None:
    o = t.opens_by_persistent[rec.persistent_id]
    if t.opens_by_volatile.get(o.volatile_id) is o:
        del t.opens_by_volatile[o.volatile_id]
    o.disconnected_at = rec.at


def _reconnected(t: OpenTable, rec: R.OpenReconnected) -> None:
    o = t.opens_by_persistent[rec.persistent_id]
    if t.opens_by_volatile.get(o.volatile_id) is o:
        del t.opens_by_volatile[o.volatile_id]
    o.volatile_id, o.session_id, o.tree_id = rec.volatile_id, rec.session_id, rec.tree_id
    o.disconnected_at = None
    t.opens_by_volatile[o.volatile_id] = o


def _delete_pending(t: OpenTable, rec: R.DeletePendingSet) -> None:
    f = t.files.get(rec.file_id)
    if f is None:
        return
    if rec.stream_key:
        if rec.value:
            f.stream_delete_pending.add(rec.stream_key)
        else:
            f.stream_delete_pending.discard(rec.stream_key)
    else:
        f.delete_pending = rec.value
    t._maybe_drop_file(f)


def _moved(t: OpenTable, rec: R.PathMoved) -> None:
    old_key = path_key(rec.old)
    prefix = old_key + "\\" if old_key else ""
    for o in list(t.opens_by_persistent.values()):
        okey = path_key(o.path)
        if o.file_id == rec.file_id and okey == old_key:
            new_path = rec.new
        elif rec.is_directory and prefix and okey.startswith(prefix):
            new_path = rec.new + o.path[len(rec.old):]
        else:
            continue
        old_path, o.path = o.path, new_path
        t._unindex_path(old_path, o.file_id)
        t._index_path(new_path, o.file_id)
        f = t.files[o.file_id]
        if path_key(f.path) == okey:
            f.path = new_path


def _lock_added(t: OpenTable, rec: R.LockAdded) -> None:
    t.files[rec.file_id].locks.append(
        ByteRangeLock(rec.owner, rec.stream_key, rec.offset, rec.length, rec.exclusive))


def _lock_removed(t: OpenTable, rec: R.LockRemoved) -> None:
    f = t.files[rec.file_id]
    for i, lk in enumerate(f.locks):
        if (lk.owner, lk.stream, lk.offset, lk.length) == (rec.owner, rec.stream_key, rec.offset, rec.length):
            del f.locks[i]
            break
    t._maybe_drop_file(f)


def _lease(t: OpenTable, rec: R.LeaseSet) -> None:
    f = t.files.get(rec.file_id)
    if f is None:
        return
    key = (rec.client_guid, rec.lease_key)
    if rec.state == 0:
        f.leases.pop(key, None)
        return
    lease = f.leases.get(key) or Lease(rec.client_guid, rec.lease_key)
    lease.state, lease.epoch, lease.version = LeaseState(rec.state), rec.epoch, rec.version
    lease.parent_lease_key = rec.parent_lease_key
    f.leases[key] = lease


def _delete_on_close(t: OpenTable, rec: R.DeleteOnCloseSet) -> None:
    t.opens_by_persistent[rec.persistent_id].delete_on_close = rec.value


def _channel_sequence(t: OpenTable, rec: R.ChannelSequenceSet) -> None:
    t.opens_by_persistent[rec.persistent_id].channel_sequence = rec.value


def _lock_sequence(t: OpenTable, rec: R.LockSequenceSet) -> None:
    t.opens_by_persistent[rec.persistent_id].lock_sequences[rec.index] = rec.value


def _oplock(t: OpenTable, rec: R.OplockSet) -> None:
    t.opens_by_persistent[rec.persistent_id].oplock_level = rec.level


_APPLY: dict[type, Callable[[Any, Any], None]] = {
    R.OpenAdded: _added, R.OpenRemoved: remove_open, R.OpenDisconnected: _disconnected,
    R.OpenReconnected: _reconnected, R.DeleteOnCloseSet: _delete_on_close,
    R.DeletePendingSet: _delete_pending, R.PathMoved: _moved, R.ChannelSequenceSet: _channel_sequence,
    R.LockSequenceSet: _lock_sequence, R.LockAdded: _lock_added, R.LockRemoved: _lock_removed,
    R.LeaseSet: _lease, R.OplockSet: _oplock,
}


def apply_record(t: OpenTable, rec: R.Record) -> None:
    """Change ``t`` as ``rec`` says (one dict lookup on the record's exact type)."""
    fn = _APPLY.get(type(rec))
    if fn is None:
        for cls, f in _APPLY.items():  # a subclass of a record type
            if isinstance(rec, cls):
                fn = f
                break
        else:
            raise TypeError(f"unknown record {rec!r}")
    fn(t, rec)
