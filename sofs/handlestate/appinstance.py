"""App Instance ID / Version ([MS-SMB2] 3.3.5.9.13, 3.3.5.9.14): a restarted or moved application
(a VM on another Hyper-V host, a failed-over SQL instance) reopens its files with the same
AppInstanceId; the server closes the stale open instead of failing with a sharing violation.

Rules (pure):
- only a CREATE that also asks for a durable v2 handle (DH2Q) carries the id into the open;
- a stale open is one with the same AppInstanceId on the **same file** opened by a **different
  client** (ClientGuid);
- with versions on both sides, the old open is closed only when the new version is higher
  (VersionHigh, then VersionLow); otherwise the CREATE fails with STATUS_FILE_NOT_AVAILABLE.
"""
from __future__ import annotations

from sofs.wire.status import NtStatus


def version_allows_close(old: tuple[int, int] | None, new: tuple[int, int] | None) -> NtStatus:
    """May an open with version ``new`` close one with version ``old``? (3.3.5.9.14)"""
    if old is None or new is None:
        return NtStatus.SUCCESS
    if old[0] > new[0] or (old[0] == new[0] and old[1] >= new[1]):
        return NtStatus.FILE_NOT_AVAILABLE
    return NtStatus.SUCCESS


def is_stale(app_id: bytes, client_guid: bytes, file_id: int | None, *, other_app_id: bytes | None,
             other_client_guid: bytes, other_file_id: int) -> bool:
    """Does another open count as the stale instance of this application? ``file_id`` None: the
    caller matches by path instead."""
    if other_app_id != app_id or other_client_guid == client_guid:
        return False
    return file_id is None or file_id == other_file_id
