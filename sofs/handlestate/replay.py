"""Replay detection rules ([MS-SMB2] 3.3.5.2.10 ChannelSequence, 3.3.5.9.10 CREATE by CreateGuid,
3.3.5.14 lock sequences). Pure functions; the glue calls them.

ChannelSequence (16 bits, wraps): a request on an open whose ChannelSequence equals the open's is
current; one "newer" (modular difference in 1..0x7FFF) moves the open forward (the client failed
over to a new channel); an older one is stale and fails with STATUS_FILE_NOT_AVAILABLE so that a
request lost on the old channel cannot overwrite what was done since.
"""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.status import NtStatus

SMB3_0 = 0x0300


@dataclass(frozen=True, slots=True)
class ChannelDecision:
    status: NtStatus
    new_sequence: int  # the open's ChannelSequence after the request


def check_channel_sequence(open_sequence: int, request_sequence: int, *, dialect: int,
                           is_replay: bool, modifies: bool = True) -> ChannelDecision:
    """[MS-SMB2] 3.3.5.2.10 for a request on an open (SMB 3.x only). Every request naming the open
    moves it forward to a newer ChannelSequence (Samba ``smbd_smb2_request_dispatch_update_counts``:
    a READ on the new channel counts, smbtorture smb2.replay.replay4); only the modifying ones
    (WRITE / SET_INFO / IOCTL / LOCK) fail on a stale one."""
    if dialect < SMB3_0:
        return ChannelDecision(NtStatus.SUCCESS, open_sequence)
    diff = (request_sequence - open_sequence) & 0xFFFF
    if diff == 0:
        return ChannelDecision(NtStatus.SUCCESS, open_sequence)
    if diff < 0x8000:
        return ChannelDecision(NtStatus.SUCCESS, request_sequence)
    if not modifies:
        return ChannelDecision(NtStatus.SUCCESS, open_sequence)
    return ChannelDecision(NtStatus.FILE_NOT_AVAILABLE, open_sequence)


def create_replay_status(found: bool, same_client: bool, same_user: bool, is_replay: bool) -> NtStatus | None:
    """A DH2Q CREATE whose CreateGuid names an existing open ([MS-SMB2] 3.3.5.9.10):

    - replay flag set, same client and user → answer with that open (None = "do the replay");
    - no replay flag, same client → DUPLICATE_OBJECTID (the client reused a CreateGuid);
    - anything else → proceed as a new open (SUCCESS).
    """
    if not found or not same_client:
        return NtStatus.SUCCESS
    if is_replay:
        return None if same_user else NtStatus.ACCESS_DENIED
    return NtStatus.DUPLICATE_OBJECTID


def lock_sequence_is_replay(stored: dict[int, int], lock_sequence: int, *, dialect: int,
                            resilient_or_durable: bool) -> bool:
    """[MS-SMB2] 3.3.5.14: LockSequenceNumber (low 4 bits) / LockSequenceIndex (upper 28 bits);
    index 1..64 is checked on 2.1 resilient opens and on every 3.x durable/persistent open."""
    index = lock_sequence >> 4
    number = lock_sequence & 0xF
    if not 1 <= index <= 64:
        return False
    if not resilient_or_durable:
        return False
    return stored.get(index) == number
