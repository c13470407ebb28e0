"""Tokens from configured users, name → SID mapping, share permissions, ABE visibility."""
from __future__ import annotations

import pytest

from sofs.auth.users import UserDb, UserEntry
from sofs.config import ShareConfig
from sofs.security.abe import visible
from sofs.security.share_acl import (
    CHANGE_ACCESS,
    FULL_ACCESS,
    READ_ACCESS,
    share_maximal_access,
    unknown_names,
)
from sofs.security.token import sid_for_name, token_for_user
from sofs.wire.dtyp import SID_BUILTIN_ADMINISTRATORS, SID_EVERYONE, SecurityDescriptor, Sid

DOM = "S-1-5-21-1-2-3"
db = UserDb(DOM, [UserEntry("alice", "x", groups=("HyperVHosts",)), UserEntry("bob", "y"),
                  UserEntry("root", "z", groups=("Administrators",))])
alice, bob, root = (token_for_user(db.lookup(n)) for n in ("alice", "bob", "root"))


def test_tokens():
    hv = Sid.parse(db.group("HyperVHosts").sid)
    assert alice.has(hv) and not bob.has(hv)
    assert alice.has(SID_EVERYONE) and alice.primary_group == Sid.parse(f"{DOM}-513")
    assert root.has(SID_BUILTIN_ADMINISTRATORS) and root.privileges
    assert not alice.privileges


NAMES = [
    ("alice", db.lookup("alice").sid), ("ALICE", db.lookup("alice").sid),
    ("DOMAIN\\HyperVHosts$", db.group("HyperVHosts").sid), ("hypervhosts", db.group("HyperVHosts").sid),
    ("Everyone", "S-1-1-0"), ("BUILTIN\\Administrators", "S-1-5-32-544"),
    ("NT AUTHORITY\\Authenticated Users", "S-1-5-11"), ("S-1-5-18", "S-1-5-18"), ("nobody", None),
]


@pytest.mark.parametrize(("name", "sid"), NAMES)
def test_sid_for_name(name, sid):
    got = sid_for_name(name, db)
    assert (str(got) if got else None) == sid


SHARES = [
    # (full, change, read, no, read_only, alice, bob)
    ([], [], [], [], False, FULL_ACCESS, FULL_ACCESS),
    (["HyperVHosts$"], [], [], [], False, FULL_ACCESS, 0),
    (["HyperVHosts"], [], ["bob"], [], False, FULL_ACCESS, READ_ACCESS),
    ([], ["Everyone"], [], ["bob"], False, CHANGE_ACCESS, 0),
    (["Everyone"], [], [], [], True, READ_ACCESS, READ_ACCESS),
    (["alice"], [], ["Everyone"], [], False, FULL_ACCESS, READ_ACCESS),
]


@pytest.mark.parametrize(("full", "change", "read", "no", "ro", "a", "b"), SHARES)
def test_share_access(full, change, read, no, ro, a, b):
    cfg = ShareConfig("s", "/tmp", read_only=ro, full_access=full, change_access=change,
                      read_access=read, no_access=no)
    assert share_maximal_access(cfg, alice, db) == a
    assert share_maximal_access(cfg, bob, db) == b


def test_unknown_names():
    cfg = ShareConfig("s", "/tmp", full_access=["alice", "ghost"])
    assert unknown_names(cfg, db) == ["ghost"]


def test_abe_visible():
    only_alice = SecurityDescriptor.from_sddl(f"O:{db.lookup('alice').sid}D:(A;;FA;;;{db.lookup('alice').sid})")
    raw = only_alice.encode()
    assert visible(raw, alice) and not visible(raw, bob)
    assert visible(None, bob)  # no stored descriptor: default (everyone)
    list_only = SecurityDescriptor.from_sddl("O:BAD:(A;;0x80;;;WD)").encode()  # READ_ATTRIBUTES only
    assert not visible(list_only, bob)
