"""CREATE at the coordinator: admission, durable grants, replay, reconnect and reclaim.

[MS-SMB2] 3.3.5.9 (CREATE), 3.3.5.9.6-.14 (durable / persistent handles, CreateGuid replay, App
Instance ID), [MS-FSA] 2.1.5.1.2 (share access). The serving process has already opened the object
on the volume (it knows the FileId) and checked the share's and the object's access rules; the
coordinator decides everything that depends on the other opens of the volume, wherever their
clients are.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sofs.handlestate import coord_caching as caching
from sofs.handlestate import records as R
from sofs.handlestate.api import (
    AdmitRequest,
    AdmitResult,
    AsyncHook,
    HandleStateError,
    OpenImage,
    ReclaimOpen,
    ReconnectRequest,
    ReplayRequest,
    ReplayResult,
)
from sofs.handlestate.appinstance import is_stale, version_allows_close
from sofs.handlestate.durable import DurableGrant, ReconnectFacts, check_reconnect, decide_grant
from sofs.handlestate.locks import RangeLock
from sofs.handlestate.model import Open, OpenFile, path_key, stream_key
from sofs.handlestate.oplocks import LEASE, NONE, Caching, is_stat_open, plan_breaks
from sofs.handlestate.replay import create_replay_status
from sofs.handlestate.rules import DATA_ACCESS, check_share_access
from sofs.handlestate.table import share_status
from sofs.wire.codec import slots_builder
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.handlestate.coordinator import FileKey, VolumeCoordinator

log = logging.getLogger("sofs.durable")
_WRITE_DATA = int(A.FILE_WRITE_DATA)
_DELETE_ON_CLOSE = int(O.DELETE_ON_CLOSE)
SMB3_0 = 0x0300
_SUCCESS = NtStatus.SUCCESS
# the records every CREATE makes, built positionally without type.__call__ (codec.slots_builder)
_new_open = slots_builder(Open, 13)  # Open(persistent_id ... owner_sid)
_new_result = slots_builder(AdmitResult, 6)  # AdmitResult(persistent_id ... facts)


def image(o: Open) -> OpenImage:
    return OpenImage(
        o.persistent_id, o.file_id, o.path, o.stream, o.is_directory, o.granted_access, o.share_access,
        o.create_options, o.oplock_level, caching.lease_image(o), durable_grant(o), o.create_action,
        o.channel_sequence, o.delete_on_close, o.position)


def durable_grant(o: Open) -> DurableGrant | None:
    if not o.durable:
        return None
    return DurableGrant(2 if o.create_guid is not None or o.persistent else 1, o.persistent, o.durable_timeout_ms)


def full_name(path: str, stream: str | None) -> str:
    return path_key(path.strip("\\") + (":" + stream if stream else ""))


# --- admission ---------------------------------------------------------------------------------------

async def admit(c: VolumeCoordinator, req: AdmitRequest, hook: AsyncHook | None) -> AdmitResult:
    """[MS-SMB2] 3.3.5.9 for a new open: stale instances and abandoned durable opens go, conflicting
    caching is broken (waiting for acknowledgments), share modes are checked, then the open gets its
    oplock or lease and, if asked and allowed, becomes durable or persistent (journaled first)."""
    c.check_fence()
    if c.grace is not None:
        await c.wait_grace()
    caller = req.caller
    if req.resent and req.durable is not None and req.durable.create_guid is not None:
        own = await _own_lost_admit(c, req)
        if own is not None:
            return own
    skey = stream_key(req.stream) if req.stream else ""
    key = (req.file_id, skey)
    t = c.table
    dq = req.durable
    if (dq is not None and dq.create_guid is not None and caller.dialect >= SMB3_0 and t.by_create_guid
            and not req.resent):  # a resent admit passed this check at the coordinator it was first sent to
        _refuse_reused_guid(c, dq.create_guid, caller.client_guid)
    f = t.files.get(req.file_id)
    truncating = req.existed and req.disposition in caching.OVERWRITE
    if f is not None:
        waiting = abandoned = False
        # only while some durable open of the volume waits for its client can one of f's
        for x in f.opens.values() if t.disconnected else ():
            if x.disconnected_at is not None:
                if not x.persistent:
                    abandoned = True
                elif x.stream_key == skey:
                    waiting = True
        if waiting and caller.dialect >= SMB3_0:
            # the handle waits for its client: nobody else gets the file meanwhile ([MS-SMB2] 3.3.5.9)
            raise HandleStateError(NtStatus.FILE_NOT_AVAILABLE, "a persistent handle waits for its client")
        if req.app_instance_id is not None and req.durable is not None and req.durable.version == 2:
            await _close_stale_instance(c, req)
        if abandoned and await _purge_conflicting(c, req, key):
            # its delete-on-close removed the object the caller holds: it opens the name again
            # (smbtorture durable-open.delete_on_close1 expects a newly created file)
            return AdmitResult(0, 0, None, None, reopen=True)
        f = t.files.get(req.file_id)
    if f is not None:
        if f.is_delete_pending(skey):
            raise HandleStateError(NtStatus.DELETE_PENDING, req.path)  # breaks nothing (smb2.oplock.doc)
        if caching.has_holders(c, key) and await caching.resolve_breaks(c, req, key, hook):
            c.check_fence()
            f = t.files.get(req.file_id)
            if f is not None:
                _refuse_if_waiting(f, key, caller.dialect)  # its client may have gone while we waited
                if f.is_delete_pending(skey):
                    if not f.opens_of(skey):
                        # a broken holder closed with delete-on-close, the last open: once the object
                        # is gone this CREATE starts over (Samba retries a deferred open from scratch;
                        # smbtorture durable-open.delete_on_close1 when the loss of the holder's client
                        # reaches the coordinator after this CREATE, as across nodes)
                        await c.until_deleted(key)
                        return AdmitResult(0, 0, None, None, reopen=True)
                    raise HandleStateError(NtStatus.DELETE_PENDING, req.path)
        if f is not None:
            # truncation writes, whatever access was asked; an open without data access (a stat
            # open) neither is checked nor blocks anyone ([MS-FSA] 2.1.5.1.2.2)
            access = req.granted_access | _WRITE_DATA if truncating else req.granted_access
            if access & DATA_ACCESS:
                status = share_status(f, skey, access, req.share_access)
                if status is not _SUCCESS:
                    raise HandleStateError(status, req.path)
    # positional up to owner_sid (persistent_id ... owner_sid): one is made per CREATE, and keyword
    # arguments cost more than the two attribute stores after it
    o = _new_open(0, 0, req.file_id, req.path, req.stream, req.is_directory, req.granted_access, req.share_access,
             req.create_options, caller.session_id, caller.tree_id, caller.client_guid, caller.user)
    o.endpoint = caller.endpoint
    if not req.existed or truncating:
        o.create_action = _create_action(req.existed, req.disposition)  # else FILE_OPENED, the default
    if req.durable is not None and req.durable.version == 2 and caller.dialect >= SMB3_0:
        o.create_guid = req.durable.create_guid  # the replay cache: any DH2Q open, durable or not
    t.add_open(o)
    lease = None
    level = dgrant = None
    if not req.oplock and req.durable is None and not req.create_options & _DELETE_ON_CLOSE:
        level = 0  # the common plain open: nothing to grant, nothing to break for delete
    try:
        if level is None:
            if req.create_options & _DELETE_ON_CLOSE:
                await caching.break_handle_caching(c, o, hook)
            if caching.wants_lease(req):
                lease = caching.grant_lease(c, o, req)
                level = o.oplock_level
            else:
                level = caching.grant_oplock_level(c, o, req)
            if req.durable is not None:
                dgrant = _grant_durable(c, o, req)
        if dgrant is not None and dgrant.persistent:
            c.check_fence()
            t.journal_open(o)
            caching.journal_lease(c, o)
            if not c.owe_commit(caller.endpoint):
                await c.commit()  # durable before the response grants it (group commit)
    except BaseException:
        if t.opens_by_persistent.get(o.persistent_id) is o:
            c.close_sync(o)
        raise
    facts = None
    if c.remote_sinks:
        from sofs.handlestate.coord_locks import carry_facts, sync_facts

        await sync_facts(c, key, caller.endpoint)
        facts = carry_facts(c, key, caller.endpoint)
    return _new_result(o.persistent_id, level, lease, dgrant, False, facts)


def _refuse_reused_guid(c: VolumeCoordinator, create_guid: bytes, client_guid: bytes) -> None:
    """[MS-SMB2] 3.3.5.9.10: a CREATE without the replay flag whose CreateGuid names an open of the
    same client fails with STATUS_DUPLICATE_OBJECTID (a replayed CREATE asked :func:`replay` first
    and comes here only as a new open). Checked by admit: the common DH2Q CREATE makes one call."""
    o = c.table.get_by_create_guid(create_guid)
    status = create_replay_status(o is not None, o is not None and o.client_guid == client_guid,
                                  True, False)
    if status is not None and status != _SUCCESS:
        raise HandleStateError(status, "CreateGuid already in use")


async def _own_lost_admit(c: VolumeCoordinator, req: AdmitRequest) -> AdmitResult | None:
    """A resent admit whose first sending the old coordinator admitted and journaled before it died
    (its answer lost): the journal brought the persistent open back, disconnected, under the
    request's CreateGuid. It is this request's own open — same client, user and object — so the
    caller gets it, as the first sending would have answered (granted caching as journaled);
    anything else is a conflict for the normal rules."""
    assert req.durable is not None
    o = c.table.get_by_create_guid(req.durable.create_guid)
    caller = req.caller
    if (o is None or not o.persistent or o.disconnected_at is None or o.client_guid != caller.client_guid
            or o.owner_sid != caller.user or o.file_id != req.file_id or o.stream != req.stream):
        return None
    c.check_fence()
    _attach(c, o, caller.session_id, caller.tree_id, caller.endpoint)
    await c.commit()
    log.info("admit of %s sent again after a coordinator change: the journaled open is the caller's", o.path)
    if c.remote_sinks:
        from sofs.handlestate.coord_locks import sync_facts

        await sync_facts(c, (o.file_id, o.stream_key))
    return AdmitResult(o.persistent_id, o.oplock_level, caching.lease_image(o), durable_grant(o))


def _refuse_if_waiting(f: OpenFile, key: FileKey, dialect: int) -> None:
    """A persistent handle that waits for its client (disconnected): nobody else gets the file
    meanwhile, whatever the access and sharing ([MS-SMB2] 3.3.5.9, STATUS_FILE_NOT_AVAILABLE)."""
    if dialect >= SMB3_0 and any(o.persistent and o.disconnected_at is not None and o.stream_key == key[1]
                                 for o in f.opens.values()):
        raise HandleStateError(NtStatus.FILE_NOT_AVAILABLE, "a persistent handle waits for its client")


def _create_action(existed: bool, disposition: int) -> int:
    """[MS-SMB2] 2.2.14 CreateAction of this CREATE (a replay answers with it)."""
    if not existed:
        return 2  # FILE_CREATED
    if disposition == 0:
        return 0  # FILE_SUPERSEDED
    if disposition in (4, 5):
        return 3  # FILE_OVERWRITTEN
    return 1  # FILE_OPENED


def _grant_durable(c: VolumeCoordinator, o: Open, req: AdmitRequest) -> DurableGrant | None:
    g = decide_grant(req.durable, dialect=req.caller.dialect, is_ca=req.ca,
                     server_persistent=req.persistent_capable, oplock_level=o.oplock_level,
                     lease_state=int(o.lease.state) if o.lease is not None else 0,
                     is_directory=o.is_directory, ca_timeout_s=req.ca_timeout_s)
    if g is None:
        return None
    o.durable = True
    o.persistent = g.persistent
    o.durable_timeout_ms = g.timeout_ms
    if g.version == 2 and req.app_instance_id is not None:
        o.app_instance_id = req.app_instance_id
        o.app_instance_version = req.app_instance_version
        c.table.by_app_instance.setdefault(req.app_instance_id, set()).add(o.persistent_id)
    return g


async def _close_stale_instance(c: VolumeCoordinator, req: AdmitRequest) -> None:
    """[MS-SMB2] 3.3.5.9.13/.14: close the previous instance's open of this file."""
    app = req.app_instance_id
    assert app is not None
    for o in c.table.get_by_app_instance(app):
        if not is_stale(app, req.caller.client_guid, req.file_id, other_app_id=o.app_instance_id,
                        other_client_guid=o.client_guid, other_file_id=o.file_id):
            continue
        status = version_allows_close(o.app_instance_version, req.app_instance_version)
        if status != NtStatus.SUCCESS:
            raise HandleStateError(status, "a newer instance of the application holds the file")
        log.info("app instance %s: closing stale open of %s", app.hex(), o.path)
        holder = c.endpoint_name(o.endpoint)
        if await c.revoke(o.persistent_id):
            c.stats.superseded(c.name, holder, full_name(o.path, o.stream), o.persistent_id)
    await c.commit()


async def _purge_conflicting(c: VolumeCoordinator, req: AdmitRequest, key: FileKey) -> bool:
    """Close the disconnected non-persistent durable opens of the stream that the new open conflicts
    with: a sharing violation, or an oplock/lease break that could not be delivered (Samba
    ``delay_for_oplock``; smbtorture durable-v2-open purge-disconnected-* vs keep-disconnected-*).
    Persistent opens stay."""
    f = c.table.files.get(key[0])
    if f is None:
        return False
    deleted = False
    doomed = [o for o in f.opens_of(key[1]) if o.disconnected_at is not None and not o.persistent]
    access = caching.effective_access(req.desired_access, False)
    overwrite = req.disposition in caching.OVERWRITE
    own = (req.caller.client_guid, req.lease.key) if req.lease is not None and req.oplock == LEASE else None
    for o in doomed:
        conflict = check_share_access([o], access, req.share_access) != NtStatus.SUCCESS
        if not conflict and (overwrite or not is_stat_open(access)):
            lease = o.lease
            if lease is not None and own == (lease.client_guid, lease.key):
                continue
            mine = [h for h in caching.holders(c, key) if h.ident == o.persistent_id or h.ident is lease]
            conflict = bool(plan_breaks(mine, False, overwrite))
        if conflict:
            log.info("purging disconnected durable open of %s for a conflicting open", o.path)
            deleted = await c._close_without_handle(o) or deleted
    return deleted


# --- replay by CreateGuid -----------------------------------------------------------------------------

async def replay(c: VolumeCoordinator, req: ReplayRequest) -> ReplayResult:
    """A DH2Q CREATE whose CreateGuid names an open ([MS-SMB2] 3.3.5.9.10; Samba
    ``smbd_smb2_create_send`` replay rules, smbtorture smb2.replay): the same open again, not a
    second one. A replay with a lease needs the open to hold that lease (else ACCESS_DENIED); a
    durable open whose connection was lost (the response never arrived) moves to this session."""
    o = c.table.get_by_create_guid(req.create_guid)
    caller = req.caller
    same_client = o is not None and o.client_guid == caller.client_guid
    status = create_replay_status(o is not None, same_client, o is not None and o.owner_sid == caller.user,
                                  req.is_replay)
    if status is not None:
        return ReplayResult(None, int(status) if status != NtStatus.SUCCESS else 0)
    assert o is not None
    if req.lease_key is not None and (o.lease is None or o.lease.key != req.lease_key):
        raise HandleStateError(NtStatus.ACCESS_DENIED, "replay with another lease")
    connected = o.disconnected_at is None
    same = connected and o.endpoint == caller.endpoint and o.session_id == caller.session_id
    if not o.durable:
        if not same:
            raise HandleStateError(NtStatus.FILE_NOT_AVAILABLE, "replayed open belongs to another session")
        return ReplayResult(image(o))
    if same:
        return ReplayResult(image(o))
    if connected:
        if not await _released(c, o):
            raise HandleStateError(NtStatus.FILE_NOT_AVAILABLE, "replayed open still in use elsewhere")
        if c.table.opens_by_persistent.get(o.persistent_id) is not o:
            return ReplayResult(None, 0)  # closed meanwhile (its loss arrived): a new open
    c.check_fence()
    if o.disconnected_at is None:
        c.table.disconnect(o.persistent_id, 0)
    _attach(c, o, caller.session_id, caller.tree_id, caller.endpoint)
    await c.commit()
    log.info("CREATE replay of %s answered from the replay cache", o.path)
    return ReplayResult(image(o))


async def _released(c: VolumeCoordinator, o: Open) -> bool:
    """Has the process holding connected open ``o`` let go of it (its client is gone)?"""
    sink = c.sink_of(o)
    return sink is None or await sink.release(o.persistent_id)


def _attach(c: VolumeCoordinator, o: Open, session_id: int, tree_id: int, endpoint: int) -> None:
    c.table.reconnect(o.persistent_id, session_id, tree_id, endpoint)


# --- reconnect (DHnC / DH2C) --------------------------------------------------------------------------

async def reconnect(c: VolumeCoordinator, req: ReconnectRequest) -> OpenImage:
    """[MS-SMB2] 3.3.5.9.7 (DHnC) and 3.3.5.9.12 (DH2C): give the disconnected open to the caller."""
    c.check_fence()
    caller = req.caller
    o = c.table.opens_by_persistent.get(req.persistent_id)
    if o is not None and not (o.durable or o.resilient):
        o = None
    if o is not None and o.disconnected_at is None and await _released(c, o):
        c.check_fence()
        o = c.table.opens_by_persistent.get(req.persistent_id)  # its reported loss may have closed it
        if o is not None and o.disconnected_at is None:
            c.table.disconnect(o.persistent_id, 0)  # its connection is gone but the loss was not seen yet
            o.endpoint = -1
    facts = None if o is None else ReconnectFacts(
        2 if o.create_guid is not None else 1, o.create_guid, o.client_guid, o.owner_sid,
        o.lease_key, o.disconnected_at is None)
    status = check_reconnect(facts, version=req.version, create_guid=req.create_guid,
                             client_guid=caller.client_guid, user=caller.user, lease_key=req.lease_key,
                             name_matches=o is not None and path_key(req.path.strip("\\")) == full_name(o.path, o.stream))
    if status != NtStatus.SUCCESS:
        raise HandleStateError(status, "durable reconnect refused")
    assert o is not None
    _attach(c, o, caller.session_id, caller.tree_id, caller.endpoint)
    await c.commit()
    c.stats.reclaimed(c.name, c.endpoint_name(caller.endpoint), full_name(o.path, o.stream), o.persistent_id,
                      o.persistent)
    from sofs.handlestate.coord_locks import sync_facts

    await sync_facts(c, (o.file_id, o.stream_key))
    return image(o)


# --- reclaim after a coordinator change ---------------------------------------------------------------

async def reclaim(c: VolumeCoordinator, endpoint: int, opens: tuple[ReclaimOpen, ...]) -> tuple[int, ...]:
    """A serving process re-registers its live opens with this (new) coordinator. A persistent open
    the journal brought back (disconnected) is attached again; any other open is added as it was,
    with its lease state, locks and watch. Refused (returned): an open whose id is attached
    elsewhere, or whose share mode or locks conflict with what is already here."""
    c.check_fence()
    t = c.table
    refused: list[int] = []
    keys: set[tuple[int, str]] = set()
    for r in opens:
        img = r.image
        o = t.opens_by_persistent.get(img.persistent_id)
        if o is not None:
            if o.disconnected_at is None and o.endpoint != endpoint:
                log.warning("volume %s: %s's open %s (%#x) is held by endpoint %d; not taken back", c.name,
                            c.endpoint_name(endpoint), img.path, img.persistent_id, o.endpoint)
                refused.append(img.persistent_id)
                continue
            if o.disconnected_at is not None:
                _attach(c, o, r.caller.session_id, r.caller.tree_id, endpoint)
            o.endpoint = endpoint
        else:
            f = t.files.get(img.file_id)
            if f is not None and check_share_access(f.opens_of(stream_key(img.stream)), img.granted_access,
                                                    img.share_access) != NtStatus.SUCCESS:
                log.warning("volume %s: %s's open %s (%#x) conflicts with an open here; not taken back", c.name,
                            c.endpoint_name(endpoint), img.path, img.persistent_id)
                refused.append(img.persistent_id)
                continue
            o = Open(persistent_id=img.persistent_id, volatile_id=0, file_id=img.file_id, path=img.path,
                     stream=img.stream, is_directory=img.is_directory, granted_access=img.granted_access,
                     share_access=img.share_access, create_options=img.create_options,
                     session_id=r.caller.session_id, tree_id=r.caller.tree_id, client_guid=r.caller.client_guid,
                     owner_sid=r.caller.user, endpoint=endpoint, create_action=img.create_action,
                     channel_sequence=img.channel_sequence, create_guid=r.create_guid,
                     app_instance_id=r.app_instance_id, app_instance_version=r.app_instance_version)
            if img.durable is not None:
                o.durable, o.persistent, o.durable_timeout_ms = True, img.durable.persistent, img.durable.timeout_ms
            t.add_open(o)
            o.delete_on_close = img.delete_on_close
            if o.persistent:
                t.journal_open(o)
            if o.app_instance_id is not None:
                t.by_app_instance.setdefault(o.app_instance_id, set()).add(o.persistent_id)
        key = (o.file_id, o.stream_key)
        if img.lease is not None and o.lease is None:
            g = img.lease
            lease = t.leases.lookup_for_open(r.caller.client_guid, g.key, key, o.is_directory, g.version,
                                             g.parent_key, g.epoch)
            lease.state, lease.epoch, lease.fresh = Caching(g.state), g.epoch, False
            t.leases.attach(lease, o.persistent_id)
            o.lease, o.lease_key, o.oplock_level = lease, g.key, LEASE
            if o.is_directory:
                from sofs.handlestate.notify import fold

                c.dir_leases[fold(o.path)] = key
            caching.journal_lease(c, o)
        elif img.lease is None and img.oplock_level not in (NONE, LEASE) and not o.oplock_level:
            caching.set_oplock(c, o, img.oplock_level, None)
        for rng in r.locks:
            want = RangeLock(o.persistent_id, rng.offset, rng.length, rng.exclusive)
            held = [lk for lk in t.locks.locks_of(key) if lk.owner == o.persistent_id
                    and (lk.offset, lk.length, lk.exclusive) == (rng.offset, rng.length, rng.exclusive)]
            if not held and t.locks.try_lock(key, want) is None:
                t.log(R.LockAdded(o.file_id, o.persistent_id, o.stream_key, rng.offset, rng.length,
                                  rng.exclusive), o.persistent)
        for idx, num in r.lock_sequences:
            o.sequences()[idx] = num
        if r.watch is not None and o.is_directory:
            from sofs.handlestate.coord_notify import register_watch

            register_watch(c, o, r.watch[0], r.watch[1])
        keys.add(key)
    c.set_watching()
    await c.commit()
    if opens:
        c.stats.reregistered(c.name, c.endpoint_name(endpoint), len(opens) - len(refused), len(refused))
    # the process's mirror starts again from what is here now (its locks, read caching): before the
    # answer, as after a LOCK, so its data path and its next reclaim see the locks it re-declared
    from sofs.handlestate.coord_locks import sync_facts

    for key in keys:
        await sync_facts(c, key)
    c.reclaimed(endpoint)
    return tuple(refused)
