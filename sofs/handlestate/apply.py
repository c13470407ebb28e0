"""How each journal record changes an ``OpenTable`` (shared by live mutation and replay)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sofs.handlestate import records as R
from sofs.handlestate.locks import RangeLock
from sofs.handlestate.model import Open, OpenFile, path_key, stream_key
from sofs.handlestate.oplocks import Caching
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
    """Index ``o`` as a new open (what replaying its ``OpenAdded`` does)."""
    if o.stream:
        o.stream_key = stream_key(o.stream)
    f = t.files.get(o.file_id)
    if f is None:
        f = t.files[o.file_id] = OpenFile(o.file_id, o.path, o.is_directory)
    f.opens[o.persistent_id] = o
    t.opens_by_persistent[o.persistent_id] = o
    if o.disconnected_at is not None:
        t.disconnected += 1
    if o.create_guid is not None:
        t.by_create_guid[o.create_guid] = o.persistent_id
    if o.app_instance_id is not None:
        t.by_app_instance.setdefault(o.app_instance_id, set()).add(o.persistent_id)


def remove_open(t: OpenTable, rec: R.OpenRemoved) -> None:
    """Replaying an ``OpenRemoved``: :func:`drop_open`."""
    drop_open(t, rec.persistent_id)


def drop_open(t: OpenTable, persistent_id: int) -> None:
    """Drop the open with its locks and its share of its lease; its file goes with its last open
    unless a delete is pending."""
    o = t.opens_by_persistent.pop(persistent_id, None)
    if o is None:
        return
    f = t.files[o.file_id]
    del f.opens[o.persistent_id]
    if o.disconnected_at is not None:
        t.disconnected -= 1
    if t.locks.files:
        t.locks.release_owner((o.file_id, o.stream_key), o.persistent_id)
    if o.lease is not None:
        t.leases.detach(o.lease, o.persistent_id)
        o.lease = None
    if o.create_guid is not None and t.by_create_guid.get(o.create_guid) == o.persistent_id:
        del t.by_create_guid[o.create_guid]
    if o.app_instance_id is not None:
        pids = t.by_app_instance.get(o.app_instance_id)
        if pids is not None:
            pids.discard(o.persistent_id)
            if not pids:
                del t.by_app_instance[o.app_instance_id]
    if not f.opens and not f.delete_pending and not f.stream_delete_pending:
        del t.files[f.file_id]


def _disconnected(t: OpenTable, rec: R.OpenDisconnected) -> None:
    o = t.opens_by_persistent.get(rec.persistent_id)
    if o is None:
        return
    if o.disconnected_at is None:
        t.disconnected += 1
    o.disconnected_at = rec.at
    o.endpoint = 0


def _reconnected(t: OpenTable, rec: R.OpenReconnected) -> None:
    o = t.opens_by_persistent.get(rec.persistent_id)
    if o is None:
        return
    o.session_id, o.tree_id = rec.session_id, rec.tree_id
    if rec.volatile_id:
        o.volatile_id = rec.volatile_id
    if o.disconnected_at is not None:
        t.disconnected -= 1
    o.disconnected_at = None


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


def moved_path(path: str, old: str, new: str, is_directory: bool) -> str | None:
    """``path`` after a rename of ``old`` to ``new`` (for a directory, paths below move too), or
    None when the rename does not touch it."""
    okey = path_key(path)
    old_key = path_key(old)
    if okey == old_key:
        return new
    if is_directory and old_key and okey.startswith(old_key + "\\"):
        return new + path[len(old):]
    return None


def _moved(t: OpenTable, rec: R.PathMoved) -> None:
    for o in t.opens_by_persistent.values():
        if o.file_id != rec.file_id and not rec.is_directory:
            continue
        new_path = moved_path(o.path, rec.old, rec.new, rec.is_directory)
        if new_path is None:
            continue
        o.path = new_path
        f = t.files[o.file_id]
        f.path = new_path
    f = t.files.get(rec.file_id)
    if f is not None and path_key(f.path) == path_key(rec.old):
        f.path = rec.new


def _lock_added(t: OpenTable, rec: R.LockAdded) -> None:
    t.locks.files.setdefault((rec.file_id, rec.stream_key), []).append(
        RangeLock(rec.owner, rec.offset, rec.length, rec.exclusive))


def _lock_removed(t: OpenTable, rec: R.LockRemoved) -> None:
    t.locks.unlock((rec.file_id, rec.stream_key), rec.owner, rec.offset, rec.length)


def _lease(t: OpenTable, rec: R.LeaseSet) -> None:
    lease = t.leases.get(rec.client_guid, rec.lease_key)
    if rec.state == 0:
        if lease is not None:
            t.leases.drop(lease)
        return
    if lease is None:
        f = t.files.get(rec.file_id)
        lease = t.leases.lookup_for_open(rec.client_guid, rec.lease_key, (rec.file_id, ""),
                                         bool(f and f.is_directory), rec.version, rec.parent_lease_key,
                                         rec.epoch)
        lease.fresh = False  # a restored lease is not new: upgrades must be grantable in full
    lease.state, lease.epoch, lease.version = Caching(rec.state), rec.epoch, rec.version
    lease.parent_key = rec.parent_lease_key


# a record naming an open the table does not have (a journal keeps only persistent opens' records)
# changes nothing

def _delete_on_close(t: OpenTable, rec: R.DeleteOnCloseSet) -> None:
    o = t.opens_by_persistent.get(rec.persistent_id)
    if o is not None:
        o.delete_on_close = rec.value


def _channel_sequence(t: OpenTable, rec: R.ChannelSequenceSet) -> None:
    o = t.opens_by_persistent.get(rec.persistent_id)
    if o is not None:
        o.channel_sequence = rec.value


def _lock_sequence(t: OpenTable, rec: R.LockSequenceSet) -> None:
    o = t.opens_by_persistent.get(rec.persistent_id)
    if o is not None:
        o.sequences()[rec.index] = rec.value


def _oplock(t: OpenTable, rec: R.OplockSet) -> None:
    o = t.opens_by_persistent.get(rec.persistent_id)
    if o is not None:
        o.oplock_level = rec.level


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
