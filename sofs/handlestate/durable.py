"""Durable and persistent handles: the pure grant and reconnect rules ([MS-SMB2] 3.3.5.9.6-3.3.5.9.12).

No I/O, no clock: the CREATE glue (:mod:`sofs.handlers.durable_contexts`) gathers the facts and
calls these; tests are tables.

Decisions recorded here:
- v1 (DHnQ) and non-persistent v2 (DH2Q) need a batch oplock or a lease with Handle caching
  (3.3.5.9.6 / 3.3.5.9.10); directories and named pipes never get a durable handle (Windows/Samba).
- PERSISTENT is granted only on a CA share (tree ``is_ca``), dialect 3.x, when the server advertises
  SMB2_GLOBAL_CAP_PERSISTENT_HANDLES; it does not need an oplock or lease.
- Timeouts: DH2Q Timeout 0 → 60 s for durable, the share's CA timeout for persistent; capped at
  300 s (Windows' maximum). v1 handles use 60 s (Samba's default).
"""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.status import NtStatus

OPLOCK_BATCH = 0x09
OPLOCK_LEASE = 0xFF
LEASE_HANDLE = 0x02
LEASE_WRITE = 0x04
DH_FLAG_PERSISTENT = 0x00000002
DEFAULT_DURABLE_TIMEOUT_MS = 60_000
MAX_DURABLE_TIMEOUT_MS = 300_000
SMB3_0 = 0x0300
_ZERO_GUID = bytes(16)


@dataclass(frozen=True, slots=True)
class DurableRequest:
    """What a CREATE asked for: version 1 (DHnQ) or 2 (DH2Q)."""

    version: int
    timeout_ms: int = 0
    persistent: bool = False
    create_guid: bytes | None = None


@dataclass(frozen=True, slots=True)
class DurableGrant:
    version: int
    persistent: bool
    timeout_ms: int


def decide_grant(req: DurableRequest | None, *, dialect: int, is_ca: bool, server_persistent: bool,
                 oplock_level: int, lease_state: int, is_directory: bool, ca_timeout_s: int) -> DurableGrant | None:
    """Whether the new open becomes durable/persistent, and with which timeout (None = not durable)."""
    if req is None or is_directory:
        return None
    batch_or_handle = oplock_level == OPLOCK_BATCH or (
        oplock_level == OPLOCK_LEASE and bool(lease_state & LEASE_HANDLE))
    if req.version == 1:
        return DurableGrant(1, False, DEFAULT_DURABLE_TIMEOUT_MS) if batch_or_handle else None
    if req.persistent and is_ca and server_persistent and dialect >= SMB3_0:
        timeout = req.timeout_ms or ca_timeout_s * 1000
        return DurableGrant(2, True, min(timeout, MAX_DURABLE_TIMEOUT_MS))
    if not batch_or_handle:
        return None
    return DurableGrant(2, False, min(req.timeout_ms or DEFAULT_DURABLE_TIMEOUT_MS, MAX_DURABLE_TIMEOUT_MS))


@dataclass(frozen=True, slots=True)
class ReconnectFacts:
    """The stored open, as the reconnect rules see it."""

    version: int  # 1 or 2 (a persistent open is version 2)
    create_guid: bytes | None
    client_guid: bytes
    owner: str  # the user (SID) that opened it
    lease_key: bytes | None
    connected: bool  # still attached to a live connection


def check_reconnect(stored: ReconnectFacts | None, *, version: int, create_guid: bytes | None,
                    client_guid: bytes, user: str, lease_key: bytes | None,
                    name_matches: bool = True) -> NtStatus:
    """[MS-SMB2] 3.3.5.9.7 (DHnC) / 3.3.5.9.12 (DH2C): may this CREATE reclaim the open?

    OBJECT_NAME_NOT_FOUND when there is nothing (or nothing this client may see) to reclaim,
    ACCESS_DENIED for another user, INVALID_PARAMETER for a leased open reclaimed under another
    name (smbtorture durable-v2-open.reopen2-lease: the name only counts with a lease). An open still attached to a live connection is not found
    (Samba/Windows answer OBJECT_NAME_NOT_FOUND, smbtorture durable-v2-open.reopen1).
    """
    if stored is None:
        return NtStatus.OBJECT_NAME_NOT_FOUND
    # a DHnC may reclaim a v2 open (reopen2b); a DH2C names the open by its CreateGuid, all zero
    # for a v1 open (Samba; smbtorture durable-open.reopen2-lease reconnects a v1 open with DH2C)
    if version == 2 and (stored.create_guid or _ZERO_GUID) != (create_guid or _ZERO_GUID):
        return NtStatus.OBJECT_NAME_NOT_FOUND
    if stored.lease_key is not None and stored.client_guid != client_guid:
        return NtStatus.OBJECT_NAME_NOT_FOUND  # a lease belongs to its client; an oplock does not
    if stored.lease_key != lease_key and (stored.lease_key is not None or lease_key is not None):
        return NtStatus.OBJECT_NAME_NOT_FOUND
    if stored.lease_key is not None and not name_matches:
        return NtStatus.INVALID_PARAMETER  # a lease is per file name; an oplock reconnect ignores the name
    if stored.owner != user:
        return NtStatus.ACCESS_DENIED
    if stored.connected:
        return NtStatus.OBJECT_NAME_NOT_FOUND
    return NtStatus.SUCCESS


def should_purge(*, persistent: bool, disconnected: bool) -> bool:
    """A disconnected non-persistent durable open is closed when another open of its file arrives
    (its oplock/lease cannot be broken: [MS-SMB2] 3.3.4.6/3.3.4.7 with no connection). Persistent
    opens stay and keep their share modes and locks until they expire."""
    return disconnected and not persistent


def survives_disconnect(*, persistent: bool, has_locks: bool, lease_state: int | None) -> bool:
    """Whether a durable open is kept when its connection goes. A non-persistent open holding
    byte-range locks under a lease without Write caching is closed instead (Samba
    ``vfs_default_durable_disconnect``; smbtorture durable-v2-open.lock-noW-lease): without W the
    locks are not protected by the lease. Persistent opens keep everything."""
    if persistent or not has_locks or lease_state is None:
        return True
    return bool(lease_state & LEASE_WRITE)
