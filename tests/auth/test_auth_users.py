from __future__ import annotations

import pytest

from sofs.auth.users import UserDb, UserEntry, new_domain_sid, nt_hash


def test_nt_hash_known_value() -> None:
    # MD4(UTF-16LE("password")), the classic NTLM test value.
    assert nt_hash("password").hex() == "8846f7eaee8fb117ad06bdd830b7586c"


def test_domain_sid_and_rids() -> None:
    sid = new_domain_sid(bytes(range(12)))
    assert sid == "S-1-5-21-50462976-117835012-185207048"
    db = UserDb(sid, [UserEntry("alice", "x", groups=("Staff",)), UserEntry("bob", "y", rid=1000)], ["admins"])
    bob, alice = db.lookup("BOB"), db.lookup("workgroup\\Alice")
    assert bob is not None and bob.rid == 1000 and bob.sid == f"{sid}-1000"
    assert alice is not None and alice.rid not in (1000,)
    staff = db.group("staff")
    assert staff is not None and staff.sid in alice.group_sids and f"{sid}-513" in alice.group_sids
    assert db.lookup("alice@EXAMPLE.COM") is alice and db.lookup("nobody") is None
    assert "S-1-1-0" in alice.token_sids() and alice.sid in alice.token_sids()
    rids = [u.rid for u in db.users()] + [g.rid for g in db.groups()]
    assert len(set(rids)) == len(rids)


def test_bad_entries() -> None:
    with pytest.raises(ValueError):
        UserDb("S-1-5-21-1-2", [])
    with pytest.raises(ValueError):
        UserDb("S-1-5-21-1-2-3", [UserEntry("a")])
    with pytest.raises(ValueError):
        UserDb("S-1-5-21-1-2-3", [UserEntry("a", "p", nt_hash_hex="00" * 16)])
    with pytest.raises(ValueError):
        UserDb("S-1-5-21-1-2-3", [UserEntry("a", nt_hash_hex="abcd")])
    with pytest.raises(ValueError):
        UserDb("S-1-5-21-1-2-3", [UserEntry("a", "p"), UserEntry("A", "q")])
