"""The journal's fast append paths write the same bytes as the generic entry encoder, and a table
fed through them replays to the same state."""
from __future__ import annotations

from pathlib import Path

from sofs.handlestate import records as R
from sofs.handlestate.apply import to_record
from sofs.handlestate.journal import PersistentHandleJournal, load_dir, snapshot_records
from sofs.handlestate.journal_codec import encode_entry, encode_frame, encode_open_added
from sofs.handlestate.model import Open
from sofs.handlestate.table import OpenTable


def _open(fid: int, **kw: object) -> Open:
    args: dict[str, object] = {
        "session_id": 2**63 + 1, "tree_id": 5, "client_guid": b"g" * 16, "owner_sid": "S-1-5-21-1-2-3-1000",
        "durable": True, "persistent": True, "durable_timeout_ms": 60000, "create_guid": b"c" * 16,
        "app_instance_version": (1, 2), "lease_key": b"k" * 16}
    args.update(kw)
    return Open(0, 0, fid, f"d\\Ä f{fid}.txt", None, False, 0x12019F, 7, 0x40, **args)  # type: ignore[arg-type]


def test_open_added_frame_read_off_the_open_is_the_record_frame() -> None:
    o = _open(9)
    o.persistent_id, o.volatile_id = (3 << 40) | 7, 0xFFFF_0000_1234
    generic = encode_entry(R.JournalEntry(4, 17, R.OpenAdded(to_record(o)), True))
    assert encode_open_added(4, 17, o, True) == generic
    assert encode_frame(4, 17, R.OpenAdded(to_record(o)), True) == generic


def test_table_fast_path_replays_to_the_same_state(tmp_path: Path) -> None:
    t = OpenTable(epoch=2)
    j = PersistentHandleJournal(tmp_path / "j", 2, lambda: snapshot_records(t), inline_sync_max_us=1e9)
    j.load()
    j.start()
    t.journal = j
    given = _open(1)
    live = t.add_open(given)
    assert live is given  # the caller's open is the live one
    t.add_open(_open(2, persistent=False))  # not journaled
    b = t.add_open(_open(3))
    b.channel_sequence = 4
    t.log(R.ChannelSequenceSet(b.persistent_id, 4), True)
    t.close_open(live.persistent_id)
    assert j.commit_now()
    t.check_invariants()
    again = OpenTable(epoch=2)
    again.replay(load_dir(tmp_path / "j").entries)
    again.check_invariants()
    assert set(again.opens_by_persistent) == {b.persistent_id}
    assert to_record(again.opens_by_persistent[b.persistent_id]) == to_record(b)
    assert again.opens_by_persistent[b.persistent_id].channel_sequence == 4


def test_state_beyond_the_record_is_journaled_with_it() -> None:
    """An open added with state its OpenAdded record does not carry (a reclaim after a coordinator
    change) is journaled with that state as records of their own: a replay rebuilds all of it."""
    t = OpenTable()
    seen: list[R.JournalEntry] = []

    class Hook:
        def append(self, e: R.JournalEntry) -> None:
            seen.append(e)

    t.journal = Hook()
    o = _open(1, channel_sequence=3, lock_sequences={2: 5})
    live = t.add_open(o)
    assert live is o
    plain = t.add_open(_open(2))
    assert [type(e.record) for e in seen] == [R.OpenAdded, R.ChannelSequenceSet, R.LockSequenceSet, R.OpenAdded]
    assert seen[3].record.open == to_record(plain)  # type: ignore[union-attr]
    again = OpenTable()
    again.replay(seen)
    assert again.opens_by_persistent[o.persistent_id].channel_sequence == 3
    assert again.opens_by_persistent[o.persistent_id].lock_sequences == {2: 5}
