"""OpenTable behaviour: indexes, share modes across opens, delete pending, renames, durable
disconnect/reconnect, and journal hooks + replay rebuilding the same state."""
from __future__ import annotations

from typing import Any

import pytest

from sofs.handlestate import records as R
from sofs.handlestate.locks import RangeLock
from sofs.handlestate.model import Open
from sofs.handlestate.oplocks import Caching
from sofs.handlestate.table import OpenTable
from sofs.wire.fscc_constants import AccessMask as AM
from sofs.wire.fscc_constants import CreateOptions as CO
from sofs.wire.status import NtStatus as S

RD, WR, DEL = int(AM.FILE_READ_DATA), int(AM.FILE_WRITE_DATA), int(AM.DELETE)
ALL_SHARE = 7


class ListJournal:
    def __init__(self) -> None:
        self.entries: list[R.JournalEntry] = []

    def append(self, entry: R.JournalEntry) -> None:
        self.entries.append(entry)


def mk(fid: int = 10, path: str = "dir\\f.txt", access: int = RD, share: int = ALL_SHARE,
       **kw: Any) -> Open:
    kw.setdefault("stream", None)
    kw.setdefault("is_directory", False)
    kw.setdefault("create_options", 0)
    return Open(0, 0, fid, path, granted_access=access, share_access=share, **kw)


def snapshot(t: OpenTable) -> object:
    """Comparable image of the state (runtime-only fields excluded)."""
    files = {}
    for fid, f in t.files.items():
        opens = {pid: (o.path, o.granted_access, o.share_access, o.delete_on_close, o.disconnected_at,
                       o.channel_sequence, dict(o.lock_sequences or {}), o.oplock_level,
                       (o.lease.state, o.lease.epoch) if o.lease is not None else None)
                 for pid, o in f.opens.items()}
        files[fid] = (f.path, f.delete_pending, sorted(f.stream_delete_pending), opens)
    return (files, sorted(t.by_create_guid.items()), sorted((k, sorted(v)) for k, v in t.by_app_instance.items()),
            {k: list(v) for k, v in t.locks.files.items()})


def add(t: OpenTable, o: Open) -> Open:
    """Admit ``o`` if the table's own check allows it (what the coordinator does before add_open)."""
    status = t.check_new_open(o.file_id, o.stream, o.granted_access, o.share_access)
    if status != S.SUCCESS:
        raise AssertionError(status)
    return t.add_open(o)


def test_add_lookup_close() -> None:
    t = OpenTable(epoch=3)
    o = t.add_open(mk(create_guid=b"g" * 16, app_instance_id=b"a" * 16))
    assert o.persistent_id >> 40 == 3
    assert t.get_by_persistent(o.persistent_id) is o
    assert t.get_by_create_guid(b"g" * 16) is o
    assert t.get_by_app_instance(b"a" * 16) == [o]
    assert [f.file_id for f in t.files_at_path("DIR\\F.TXT")] == [10]
    t.check_invariants()
    res = t.close_open(o.persistent_id)
    assert not res.delete and res.last_open
    assert t.files == {} and t.by_create_guid == {} and t.by_app_instance == {}
    t.check_invariants()


def test_share_violation_across_opens() -> None:
    t = OpenTable()
    a = add(t, mk(access=RD, share=1))
    assert t.check_new_open(10, None, WR, ALL_SHARE) == S.SHARING_VIOLATION
    with pytest.raises(AssertionError):
        add(t, mk(access=WR))
    add(t, mk(access=RD, share=1))  # another reader is fine
    add(t, mk(fid=11, path="other", access=WR, share=0))  # another file is independent
    # streams have their own share modes ...
    add(t, mk(access=WR, share=0, stream="ads"))
    # ... but deleting the file needs FILE_SHARE_DELETE from open streams
    assert t.check_new_open(10, None, DEL, ALL_SHARE) == S.SHARING_VIOLATION
    t.check_invariants()
    t.close_open(a.persistent_id)
    t.check_invariants()


def test_delete_on_close_protocol() -> None:
    t = OpenTable()
    a = t.add_open(mk(access=RD | DEL, create_options=CO.DELETE_ON_CLOSE))
    b = t.add_open(mk(access=RD))
    assert a.delete_on_close
    res = t.close_open(a.persistent_id)
    assert not res.delete  # b still open; the file is now delete pending
    assert t.check_new_open(10, None, RD, ALL_SHARE) == S.DELETE_PENDING
    res = t.close_open(b.persistent_id)
    assert res.delete and res.last_open and res.stream is None
    assert t.check_new_open(10, None, RD, ALL_SHARE) == S.DELETE_PENDING  # until the delete is done
    t.finish_delete(res.file_id)
    assert t.files == {}
    t.check_invariants()


def test_disposition_set_and_cleared() -> None:
    t = OpenTable()
    a = t.add_open(mk(access=DEL))
    t.set_delete_pending(10, None, True)
    t.set_delete_pending(10, None, False)
    assert not t.close_open(a.persistent_id).delete


def test_stream_delete_pending() -> None:
    t = OpenTable()
    s = t.add_open(mk(access=DEL, stream="ADS"))
    base = t.add_open(mk(access=RD))
    t.set_delete_pending(10, "ads", True)
    assert t.check_new_open(10, "Ads", RD, ALL_SHARE) == S.DELETE_PENDING
    assert t.check_new_open(10, None, RD, ALL_SHARE) == S.SUCCESS
    res = t.close_open(s.persistent_id)
    assert res.delete and res.stream == "ADS" and not res.last_open
    t.finish_delete(10, "ADS")
    t.close_open(base.persistent_id)
    assert t.files == {}


def test_rename_moves_paths_including_children() -> None:
    t = OpenTable()
    d = t.add_open(mk(fid=1, path="Dir", is_directory=True))
    f = t.add_open(mk(fid=2, path="Dir\\Sub\\f"))
    other = t.add_open(mk(fid=3, path="Dirt\\g"))  # same prefix, not below
    assert {o.persistent_id for o in t.opens_below("dir")} == {f.persistent_id}
    assert len(t.opens_below("")) == 3
    t.move_path(1, "Dir", "New", True)
    assert d.path == "New" and f.path == "New\\Sub\\f" and other.path == "Dirt\\g"
    assert t.files[2].path == "New\\Sub\\f"
    assert t.files_at_path("new\\sub\\F")[0].file_id == 2 and t.files_at_path("Dir\\Sub\\f") == []
    t.check_invariants()


def test_durable_disconnect_reconnect_and_expiry() -> None:
    t = OpenTable()
    o = t.add_open(mk(access=WR, share=0, durable=True, durable_timeout_ms=60_000, session_id=5, endpoint=3))
    assert t.opens_of_endpoint(3) == [o]
    t.disconnect(o.persistent_id, now=1_000)
    assert not o.connected and t.opens_of_endpoint(3) == []
    assert t.check_new_open(10, None, WR, ALL_SHARE) == S.SHARING_VIOLATION  # still blocks
    assert t.expired(now=1_000 + 59_999_999_999) == []
    assert t.expired(now=1_000 + 60_000_000_000) == [o]
    t.check_invariants()
    assert t.disconnected == 1
    o2 = t.reconnect(o.persistent_id, session_id=6, tree_id=7, endpoint=4)
    assert o2 is o and o.connected and o.session_id == 6 and t.opens_of_endpoint(4) == [o]
    t.check_invariants()
    assert t.disconnected == 0
    t.disconnect(o.persistent_id, now=2_000)
    t.close_open(o.persistent_id)  # expired: closed while disconnected
    assert t.disconnected == 0
    t.check_invariants()


def test_reused_create_guid_indexes_the_newest_open() -> None:
    """The CREATE handler refuses a reused CreateGuid (DUPLICATE_OBJECTID) while its replay cache
    holds it; once the client used the first open's FileId a CREATE with the same GUID is a new
    open (smb2.replay.replay6), and the index names the newest."""
    t = OpenTable()
    a = t.add_open(mk(create_guid=b"x" * 16))
    b = t.add_open(mk(fid=11, path="b", create_guid=b"x" * 16))
    assert t.get_by_create_guid(b"x" * 16) is b
    t.check_invariants()
    t.close_open(b.persistent_id)
    assert t.get_by_create_guid(b"x" * 16) is None and a.create_guid == b"x" * 16
    t.check_invariants()


def test_journal_sees_every_mutation_first_and_replay_rebuilds() -> None:
    j = ListJournal()
    t = OpenTable(epoch=2, journal=j)
    p = t.add_open(mk(access=RD | WR, share=ALL_SHARE, persistent=True, durable=True,
                      durable_timeout_ms=60_000, create_guid=b"c" * 16, app_instance_id=b"a" * 16,
                      lease_key=b"k" * 16, client_guid=b"g" * 16))
    n = t.add_open(mk(fid=20, path="plain"))
    d = t.add_open(mk(fid=30, path="d", is_directory=True, access=DEL))
    # the machines change memory; the table journals what they did (``log``)
    p.channel_sequence = 4
    t.log(R.ChannelSequenceSet(p.persistent_id, 4), True)
    p.sequences()[3] = 9
    t.log(R.LockSequenceSet(p.persistent_id, 3, 9), True)
    assert t.locks.try_lock((10, ""), RangeLock(p.persistent_id, 0, 100, True)) is None
    t.log(R.LockAdded(10, p.persistent_id, "", 0, 100, True), True)
    lease = t.leases.lookup_for_open(b"g" * 16, b"k" * 16, (10, ""), False, 2, None, 1)
    t.leases.attach(lease, p.persistent_id)
    p.lease = lease
    lease.state, lease.epoch = Caching.R | Caching.H, 2
    t.log(R.LeaseSet(10, b"g" * 16, b"k" * 16, int(lease.state), 2, 2, None), True)
    n.oplock_level = 8
    t.log(R.OplockSet(n.persistent_id, 8), n.persistent)
    t.set_delete_on_close(d.persistent_id, True)
    t.move_path(20, "plain", "renamed", False)
    t.disconnect(p.persistent_id, now=500)
    t.close_open(n.persistent_id)
    seqs = [e.seq for e in j.entries]
    assert seqs == sorted(set(seqs))  # strictly increasing
    assert all(e.epoch == 2 for e in j.entries)
    persistent = [type(e.record).__name__ for e in j.entries if e.persistent]
    assert persistent == ["OpenAdded", "ChannelSequenceSet", "LockSequenceSet", "LockAdded", "LeaseSet",
                          "OpenDisconnected"]
    replayed = OpenTable(epoch=2)
    replayed.replay([e for e in j.entries if e.persistent])
    # what a persistent journal keeps rebuilds the persistent opens exactly
    assert snapshot(replayed)[0][10] == snapshot(t)[0][10]
    replayed.check_invariants()
    fresh = replayed.add_open(mk(fid=40, path="new"))  # id counters moved past the journal
    assert fresh.persistent_id != p.persistent_id


def test_close_drops_the_owners_locks() -> None:
    t = OpenTable()
    a = t.add_open(mk())
    b = t.add_open(mk())
    assert t.locks.try_lock((10, ""), RangeLock(a.persistent_id, 0, 10, True)) is None
    assert t.locks.try_lock((10, ""), RangeLock(b.persistent_id, 10, 10, False)) is None
    t.check_invariants()
    t.close_open(a.persistent_id)
    assert t.locks_of((10, "")) == [b.persistent_id]
    t.close_open(b.persistent_id)
    assert t.files == {} and t.locks.files == {}
