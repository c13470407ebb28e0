"""Handle state: the per-volume open table (opens, share modes, delete pending, and the slots for
leases, byte-range locks, durable/persistent handles, create GUIDs and app instance ids).

Modules:
- ``model``   -- ``Open``, ``OpenFile``, ``Lease``, ``ByteRangeLock`` and the **invariants I1-I8**.
- ``rules``   -- pure decisions: ``check_share_access`` ([MS-FSA] 2.1.5.1.2.2), delete-on-close,
                 set-disposition, rename, delete-pending checks.
- ``records`` -- the journal records; every mutation is one record (``JournalEntry`` adds epoch+seq).
- ``table``   -- ``OpenTable``: lookups by persistent/volatile id, file id, path, create GUID, app
                 instance id; every change goes through ``OpenTable.apply(record)``.
- ``apply``   -- how each record changes the table (shared by live changes and journal replay).

How a CREATE uses it (handlers, on the event loop):
    h, action = await run(vfs.open, path, disposition, options, attrs, truncate=False)
    info = await run(vfs.stat, h)
    status = table.check_new_open(info.file_id, h.stream, granted, share_access)  # no await between
    op = table.add_open(Open(0, 0, info.file_id, h.path, h.stream, h.is_directory, granted, share,
                             options, session_id=..., tree_id=..., client_guid=..., vfs_handle=h))
    if action in (OVERWRITTEN, SUPERSEDED): await run(vfs.overwrite, h, attrs)
    if journal: await journal.commit()  # durable before the response (persistent opens)
and a CLOSE:
    res = table.close_open(op.persistent_id)
    if res.delete: await run(vfs.delete, h); table.finish_delete(res.file_id, res.stream)
    await run(vfs.close, h)
"""
from sofs.handlestate.model import ByteRangeLock, Lease, LeaseState, Open, OpenFile, path_key, stream_key
from sofs.handlestate.records import JournalEntry, JournalHook
from sofs.handlestate.rules import (
    can_delete_directory,
    check_base_delete_vs_streams,
    check_delete_on_close_option,
    check_existing_file_access,
    check_open_delete_pending,
    check_rename,
    check_set_disposition,
    check_share_access,
    share_conflict,
)
from sofs.handlestate.table import CloseResult, HandleStateError, OpenTable

__all__ = [
    "ByteRangeLock", "CloseResult", "HandleStateError", "JournalEntry", "JournalHook", "Lease",
    "LeaseState", "Open", "OpenFile", "OpenTable", "can_delete_directory", "check_base_delete_vs_streams",
    "check_delete_on_close_option", "check_existing_file_access", "check_open_delete_pending",
    "check_rename", "check_set_disposition", "check_share_access", "path_key", "share_conflict",
    "stream_key",
]
