"""Issue 15 acceptance 4, SMB side: share, access, session and open-file cmdlet parameters take effect
on a real 3-node cluster, seen by real SMB clients (smbprotocol) — or are refused with a message.

Registered in ``param_tests.py``; ``test_mgmt_params.py`` checks that every parameter Get-Help prints
has such a test."""
from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest
from params_cluster import ADDR, Live, live, until  # noqa: F401  (live: the module's cluster fixture)

from tests.conftest import USERS

pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.interop.test_ca_durable import RW, _ctx, _lease

pytestmark = pytest.mark.interop
ACCESS_DENIED = 0xC0000022
USER_SESSION_DELETED = 0xC0000203
READ = 0x1 | 0x80  # FILE_READ_DATA | FILE_READ_ATTRIBUTES


class Client:
    """One logged-on SMB session to one node (the connection kept to close it)."""

    def __init__(self, live: Live, user: str, node: str = "n1") -> None:
        self.addr = ADDR[node]
        self.conn = Connection(uuid.uuid4(), self.addr, live.port, require_signing=False)
        until(self._connect, 20, f"{node} accepts SMB connections")
        self.session = Session(self.conn, user, USERS[user], require_encryption=False)
        self.session.connect()

    def _connect(self) -> bool:
        try:
            self.conn.connect(Dialects.SMB_3_1_1, timeout=5)
            return True
        except ValueError:  # smbprotocol's "Failed to connect" (the node's SMB server not listening yet)
            return False

    def tree(self, share: str) -> TreeConnect:
        t = TreeConnect(self.session, rf"\\{self.addr}\{share}")
        t.connect()
        return t

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.disconnect()


def status(fn: Any) -> int:
    try:
        fn()
    except SMBResponseException as e:
        return int(e.status)
    return 0


def create(tree: TreeConnect, name: str, access: int = RW) -> Open:
    op = Open(tree, name)
    op.create(ImpersonationLevel.Impersonation, access, 0x80, 7, CreateDisposition.FILE_OPEN_IF, 0x40)
    return op


def connects(live: Live, user: str, share: str) -> int:
    """0 when ``user`` can tree-connect ``share`` (served by every node: asked through n2), else the status."""
    c = Client(live, user, "n2")
    try:
        return status(lambda: c.tree(share))
    finally:
        c.close()


def share_path(name: str) -> str:
    return rf"C:\ClusterStorage\Volume1\Shares\{name}"


def test_new_share_rights_description_ca_timeout_read_only(live: Live) -> None:
    live.ok("New-SmbShare", "-Name", "PR", "-Path", share_path("PR"), "-CreatePath", "-FullAccess", "alice",
            "-ReadAccess", "bob", "-ContinuouslyAvailable", "$true", "-CATimeout", "30",
            "-Description", "read for bob")
    live.ok("New-SmbShare", "-Name", "PC", "-Path", share_path("PC"), "-CreatePath", "-FullAccess", "alice",
            "-ChangeAccess", "bob")
    live.ok("New-SmbShare", "-Name", "PN", "-Path", share_path("PN"), "-CreatePath", "-FullAccess", "alice,bob",
            "-NoAccess", "bob")
    live.ok("New-SmbShare", "-Name", "PO", "-Path", share_path("PO"), "-CreatePath", "-FullAccess", "alice,bob",
            "-ReadOnly")
    live.ok("New-SmbShare", "-Name", "PE", "-Path", share_path("PE"), "-CreatePath", "-FullAccess", "alice",
            "-EncryptData", "$true")
    (pr,) = live.json("Get-SmbShare", "-Name", "PR")
    assert (pr["Description"], pr["CATimeout"], pr["ContinuouslyAvailable"]) == ("read for bob", 30, True)

    alice, bob = Client(live, "alice"), Client(live, "bob")
    try:
        until(lambda: status(lambda: alice.tree("PO")) == 0, 20, "the new shares served")
        t = alice.tree("PR")
        create(t, "f.txt").close()
        # -CATimeout: the persistent handle's timeout granted on the wire (DH2Q response, in ms)
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, uuid.uuid4()
        op = Open(t, "vm.vhdx")
        rsp = op.create(ImpersonationLevel.Impersonation, RW, 0x80, 1, CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                        [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(uuid.uuid4().bytes)],
                        oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        granted = [c["timeout"].get_value() for c in rsp or [] if isinstance(c, SMB2CreateDurableHandleResponseV2)]
        assert granted == [30_000], rsp
        op.close()
        # -ReadAccess: bob reads, cannot write
        tb = bob.tree("PR")
        create(tb, "f.txt", READ).close()
        assert status(lambda: create(tb, "f.txt")) == ACCESS_DENIED
        # -ChangeAccess: bob writes
        create(bob.tree("PC"), "b.txt").close()
        # -ReadOnly: nobody writes, reading works
        to = alice.tree("PO")
        assert status(lambda: create(to, "new.txt")) != 0
        # -EncryptData: the tree connect says so (SMB2_SHAREFLAG_ENCRYPT_DATA) and the client encrypts
        assert alice.tree("PE").encrypt_data is True and alice.tree("PR").encrypt_data is False
    finally:
        alice.close()
        bob.close()
    # -NoAccess: bob is refused although -FullAccess names him
    assert connects(live, "bob", "PN") == ACCESS_DENIED and connects(live, "alice", "PN") == 0


def test_share_access_cmdlets_scope_name_and_force(live: Live) -> None:
    live.ok("New-SmbShare", "-Name", "PA", "-Path", share_path("PA"), "-CreatePath", "-FullAccess", "alice")
    for cmd in ("Grant-SmbShareAccess", "Block-SmbShareAccess", "Unblock-SmbShareAccess", "Revoke-SmbShareAccess"):
        extra = ["-AccessRight", "Change"] if cmd.startswith("Grant") else []
        err = live.refused(cmd, "-Name", "PA", "-AccountName", "bob", "-ScopeName", "OTHER", "-Force", *extra)
        assert "its scope is '*'" in err, (cmd, err)
    assert "its scope is '*'" in live.refused("Get-SmbShareAccess", "-Name", "PA", "-ScopeName", "OTHER")
    until(lambda: connects(live, "alice", "PA") == 0, 20, "PA served")
    assert connects(live, "bob", "PA") == ACCESS_DENIED
    live.ok("Grant-SmbShareAccess", "-Name", "PA", "-AccountName", "bob", "-AccessRight", "Change", "-ScopeName", "*",
            "-Force")
    until(lambda: connects(live, "bob", "PA") == 0, 20, "bob granted")
    live.ok("Block-SmbShareAccess", "-Name", "PA", "-AccountName", "bob", "-ScopeName", "*", "-Force")
    rows = live.json("Get-SmbShareAccess", "-Name", "PA", "-ScopeName", "*")
    assert {(r["AccountName"], r["AccessControlType"]) for r in rows} >= {("bob", "Deny"), ("bob", "Allow")}, rows
    until(lambda: connects(live, "bob", "PA") == ACCESS_DENIED, 20, "bob blocked")
    live.ok("Unblock-SmbShareAccess", "-Name", "PA", "-AccountName", "bob", "-ScopeName", "*", "-Force")
    until(lambda: connects(live, "bob", "PA") == 0, 20, "bob unblocked")
    live.ok("Revoke-SmbShareAccess", "-Name", "PA", "-AccountName", "bob", "-ScopeName", "*", "-Force")
    until(lambda: connects(live, "bob", "PA") == ACCESS_DENIED, 20, "bob revoked")
    assert [r["AccountName"] for r in live.json("Get-SmbShareAccess", "PA")] == ["alice"]
    assert "PA" in {x["Name"] for x in live.json("Get-SmbShare", "-ScopeName", "*")}
    assert live.json("Get-SmbShare", "-ScopeName", "OTHER") == []
    assert "its scope is '*'" in live.refused("Remove-SmbShare", "-Name", "PA", "-ScopeName", "OTHER", "-Force")
    live.ok("Remove-SmbShare", "-Name", "PA", "-ScopeName", "*", "-Force")
    assert "'PA'" in live.refused("Get-SmbShare", "-Name", "PA")


def test_session_connection_and_open_file_selectors(live: Live) -> None:
    live.ok("New-SmbShare", "-Name", "PS", "-Path", share_path("PS"), "-CreatePath", "-FullAccess", "alice,bob")
    alice, bob = Client(live, "alice", "n1"), Client(live, "bob", "n2")
    try:
        a_file = create(until(lambda: _tree(alice, "PS"), 20, "PS served"), "a.txt")
        b_file = create(until(lambda: _tree(bob, "PS"), 20, "PS served"), "b.txt")

        def two() -> list[dict[str, Any]] | None:
            s = [x for x in live.json("Get-SmbSession") if x["NumOpens"] == 1]
            return s if len(s) == 2 else None

        by_user = {s["ClientUserName"].split("\\")[1]: s for s in until(two, 20, "both sessions listed")}
        a_id, b_id = str(by_user["alice"]["SessionId"]), str(by_user["bob"]["SessionId"])

        def users(*argv: str) -> list[str]:
            return sorted((x.get("ClientUserName") or x["UserName"]).split("\\")[1] for x in live.json(*argv))

        assert users("Get-SmbSession", "-SessionId", a_id) == ["alice"]
        assert users("Get-SmbSession", "-ClientComputerName", "127.0.0.1") == ["alice", "bob"]
        assert users("Get-SmbSession", "-ClientComputerName", "192.0.2.1") == []
        assert users("Get-SmbSession", "-ScopeName", "*") == ["alice", "bob"]
        assert users("Get-SmbSession", "-ScopeName", "OTHER") == []

        opens = {o["ShareRelativePath"]: o for o in live.json("Get-SmbOpenFile", "-ShareName", "PS")}
        assert set(opens) == {"a.txt", "b.txt"}
        assert "'NOSUCH'" in live.refused("Get-SmbOpenFile", "-ShareName", "NOSUCH")
        fid = str(opens["a.txt"]["FileId"])
        assert [o["ShareRelativePath"] for o in live.json("Get-SmbOpenFile", "-FileId", fid)] == ["a.txt"]
        assert [o["ShareRelativePath"] for o in live.json("Get-SmbOpenFile", "-SessionId", b_id)] == ["b.txt"]
        assert [o["ShareRelativePath"] for o in live.json("Get-SmbOpenFile", "-ClientUserName", "bob",
                                                          "-ShareName", "PS")] == ["b.txt"]
        assert live.json("Get-SmbOpenFile", "-ClientComputerName", "192.0.2.1") == []
        assert {o["ShareRelativePath"] for o in live.json("Get-SmbOpenFile", "-ClientComputerName", "127.0.0.1",
                                                           "-ShareName", "PS")} == {"a.txt", "b.txt"}

        assert users("Get-SmbConnection", "-ServerName", ADDR["n1"]) == ["alice"]
        assert users("Get-SmbConnection", "-UserName", "*\\bob") == ["bob"]
        assert users("Get-SmbConnection", "-ShareName", "PS") == ["alice", "bob"]
        assert users("Get-SmbConnection", "-ShareName", "NOSUCH") == []
        chans = live.json("Get-SmbMultichannelConnection", "-ServerName", ADDR["n2"])
        assert {c["SessionId"] for c in chans} == {int(b_id)}, chans

        # Close-SmbSession by user, computer and scope: bob's session ends, alice's lives on
        live.ok("Close-SmbSession", "-ClientUserName", "*\\bob", "-ClientComputerName", "127.0.0.1", "-ScopeName", "*",
                "-Force")
        until(lambda: status(lambda: b_file.write(b"b", 0)) == USER_SESSION_DELETED, 20, "bob's session closed")
        a_file.write(b"a", 0)
        assert "No matching SMB session" in live.refused("Close-SmbSession", "-ClientComputerName", "192.0.2.1")
        assert "No matching SMB session" in live.refused("Close-SmbSession", "-ScopeName", "OTHER")
        assert users("Get-SmbSession", "-ClientUserName", "*\\alice") == ["alice"]
    finally:
        alice.close()
        bob.close()


def _tree(c: Client, share: str) -> TreeConnect | None:
    try:
        return c.tree(share)
    except SMBResponseException:
        return None
