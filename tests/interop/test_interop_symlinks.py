"""Symbolic links as Windows clients make them, and SET_INFO times kept through a copy (issue 18,
acceptance 4): smbprotocol's ``smbclient`` against a real sofs server.

The server listens on port 445 of a free loopback address: ``smbclient``'s ``DirEntry.stat`` (used by
``scandir``/``copytree``) reconnects without the session's port.
"""
from __future__ import annotations

import datetime
import os
import struct

import pytest
from conftest import USERS

from sofs.wire.reparse import SymlinkTarget, encode_symlink_reparse

pytestmark = pytest.mark.interop

smbclient = pytest.importorskip("smbclient")
shutil_ = pytest.importorskip("smbclient.shutil")


@pytest.fixture
def smb445(srv445):  # type: ignore[no-untyped-def]
    smbclient.register_session(srv445.host, username="alice", password=USERS["alice"])
    yield srv445
    smbclient.reset_connection_cache()


def _unc(srv, *parts: str) -> str:  # type: ignore[no-untyped-def]
    return "\\\\" + srv.host + "\\data" + "".join("\\" + p for p in parts)


def test_symlink_readlink_lstat_follow_and_copytree(smb445) -> None:
    srv = smb445
    smbclient.makedirs(_unc(srv, "src", "d"))
    with smbclient.open_file(_unc(srv, "src", "d", "f.txt"), "w") as f:
        f.write("hello")
    smbclient.symlink("d\\f.txt", _unc(srv, "src", "rel"))
    smbclient.symlink("d", _unc(srv, "src", "reldir"), target_is_directory=True)
    smbclient.symlink(_unc(srv, "src", "d"), _unc(srv, "src", "absdir"), target_is_directory=True)
    # on disk: POSIX symlinks (relative ones usable on Linux too)
    assert os.readlink(srv.share / "src" / "rel") == "d/f.txt"
    assert os.readlink(srv.share / "src" / "reldir") == "d/"
    assert smbclient.readlink(_unc(srv, "src", "rel")) == _unc(srv, "src", "d", "f.txt")
    assert smbclient.readlink(_unc(srv, "src", "absdir")) == _unc(srv, "src", "d")
    st = smbclient.lstat(_unc(srv, "src", "rel"))
    assert st.st_file_attributes == 0x420 and st.st_reparse_tag == 0xA000000C  # REPARSE_POINT|ARCHIVE
    assert smbclient.lstat(_unc(srv, "src", "reldir")).st_file_attributes == 0x410  # |DIRECTORY
    # following: the server answers STOPPED_ON_SYMLINK, the client resolves and opens the target
    with smbclient.open_file(_unc(srv, "src", "rel")) as f:
        assert f.read() == "hello"
    with smbclient.open_file(_unc(srv, "src", "reldir", "f.txt")) as f:
        assert f.read() == "hello"
    kinds = {e.name: (e.is_symlink(), e.is_dir()) for e in smbclient.scandir(_unc(srv, "src"))}
    assert kinds == {"d": (False, True), "rel": (True, False), "reldir": (True, True), "absdir": (True, True)}
    shutil_.copytree(_unc(srv, "src"), _unc(srv, "dst"), symlinks=True)
    for name in ("rel", "reldir", "absdir"):
        assert smbclient.lstat(_unc(srv, "dst", name)).st_reparse_tag == 0xA000000C
        assert smbclient.readlink(_unc(srv, "dst", name)) == smbclient.readlink(_unc(srv, "src", name))
    with smbclient.open_file(_unc(srv, "dst", "d", "f.txt")) as f:
        assert f.read() == "hello"
    smbclient.remove(_unc(srv, "dst", "rel"))
    smbclient.rmdir(_unc(srv, "dst", "reldir"))  # a directory link goes like a directory, target kept
    assert not os.path.lexists(srv.share / "dst" / "rel") and (srv.share / "src" / "d" / "f.txt").exists()


def _raw_create_error(srv, path: str) -> bytes:  # type: ignore[no-untyped-def]
    """The SMB2 ERROR Response body of a plain CREATE of ``path`` (smbprotocol, no link following)."""
    from smbclient._pool import get_smb_tree
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, ShareAccess

    tree, name = get_smb_tree(_unc(srv, *path.split("\\")))
    op = Open(tree, name)
    msg, _ = op.create(ImpersonationLevel.Impersonation, 0x80, 0, ShareAccess.FILE_SHARE_READ,
                       CreateDisposition.FILE_OPEN, 0, send=False)
    conn = tree.session.connection
    request = conn.send(msg, tree.session.session_id, tree.tree_connect_id)
    with pytest.raises(SMBResponseException) as e:
        conn.receive(request, resolve_symlinks=False)  # smbprotocol would follow the link itself
    assert e.value.status == 0x8000002D, hex(e.value.status)  # STATUS_STOPPED_ON_SYMLINK
    return bytes(e.value.header["data"].get_value())


def test_symlink_error_response_on_the_wire(smb445) -> None:
    """[MS-SMB2] 2.2.2 + 2.2.2.1 + 2.2.2.2.1 on dialect 3.1.1, byte for byte."""
    srv = smb445
    (srv.share / "w" / "d").mkdir(parents=True)
    os.symlink("d", srv.share / "w" / "ln")
    body = _raw_create_error(srv, "w\\ln\\x")
    sub = "d".encode("utf-16-le")
    symlink = struct.pack("<IIIHHHHHHI", 28 + 2 * len(sub) - 4, 0x4C4D5953, 0xA000000C, 12 + 2 * len(sub),
                          len("\\x") * 2, 0, len(sub), len(sub), len(sub), 1) + sub + sub
    context = struct.pack("<II", len(symlink), 0) + symlink
    expected = struct.pack("<HBBI", 9, 1, 0, len(context)) + context
    assert body.hex() == expected.hex(), (body.hex(), expected.hex())


def _set_reparse(path: str, target: SymlinkTarget) -> None:
    """FSCTL_SET_REPARSE_POINT with our encoding of ``target`` on a new directory (as smbclient.symlink)."""
    from smbclient._io import SMBFileTransaction, SMBRawIO, ioctl_request
    from smbprotocol.ioctl import CtlCode, IOCTLFlags
    from smbprotocol.open import CreateOptions, FilePipePrinterAccessMask

    raw = SMBRawIO(path, mode="x", desired_access=FilePipePrinterAccessMask.FILE_WRITE_ATTRIBUTES,
                   create_options=CreateOptions.FILE_OPEN_REPARSE_POINT | CreateOptions.FILE_DIRECTORY_FILE)
    with SMBFileTransaction(raw) as tr:
        ioctl_request(tr, CtlCode.FSCTL_SET_REPARSE_POINT, flags=IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL,
                      input_buffer=encode_symlink_reparse(target))


def test_links_never_lead_outside_the_share(smb445) -> None:
    srv = smb445
    smbclient.makedirs(_unc(srv, "esc"))
    # a relative link that climbs out of the share is refused when set
    with pytest.raises(OSError) as e:
        smbclient.symlink("..\\..\\..\\..\\etc\\passwd", _unc(srv, "esc", "out"))
    assert "0xc0000022" in str(e.value).lower()  # STATUS_ACCESS_DENIED
    # an absolute link to a local Windows path (as mklink /D makes it) is stored, never followed
    _set_reparse(_unc(srv, "esc", "win"), SymlinkTarget("\\??\\C:\\Windows", "C:\\Windows", False))
    assert os.readlink(srv.share / "esc" / "win") == "\\??\\C:\\Windows\\"
    assert smbclient.readlink(_unc(srv, "esc", "win")) == "C:\\Windows"
    from smbprotocol.exceptions import SMBLinkRedirectionError

    with pytest.raises(SMBLinkRedirectionError):  # the server answers STOPPED_ON_SYMLINK; the client
        smbclient.listdir(_unc(srv, "esc", "win"))  # will not follow a link to one of its local paths
    # links planted on the server that leave the share are neither listed nor opened
    os.symlink("/etc", srv.share / "esc" / "etc")
    os.symlink("../../../../../../etc/passwd", srv.share / "esc" / "pw")
    # ("out" is the empty file smbclient.symlink created before the refused FSCTL: it stays a file)
    assert set(smbclient.listdir(_unc(srv, "esc"))) == {"win", "out"}
    assert not os.path.islink(srv.share / "esc" / "out")
    for name in ("etc", "pw"):
        with pytest.raises(OSError) as e:
            smbclient.open_file(_unc(srv, "esc", name)).close()
        assert "0xc0000022" in str(e.value).lower()
        with pytest.raises(OSError):
            smbclient.lstat(_unc(srv, "esc", name))


def test_set_info_times_kept_through_writes_and_copy(smb445) -> None:
    """[MS-FSA] 2.1.5.14.2: times set on a handle are not moved by later writes through it."""
    from smbclient._io import SMBFileTransaction, SMBRawIO, set_info
    from smbprotocol.file_info import FileBasicInformation

    srv = smb445
    p = _unc(srv, "times.bin")
    raw = SMBRawIO(p, mode="w")
    raw.open()
    raw.write(b"a" * 5000)
    t0 = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC).timestamp()
    basic = FileBasicInformation()
    ft = lambda s: int(s * 10**7) + 116444736000000000
    basic["creation_time"], basic["last_access_time"] = ft(t0), ft(t0 + 10)
    basic["last_write_time"], basic["change_time"], basic["file_attributes"] = ft(t0 + 20), ft(t0 + 30), 0
    with SMBFileTransaction(raw) as tr:
        set_info(tr, basic)
    raw.write(b"b" * 5000)
    raw.close()
    st = smbclient.stat(p)
    assert (st.st_ctime, st.st_atime, st.st_mtime) == (t0, t0 + 10, t0 + 20)
    shutil_.copy2(p, _unc(srv, "times-copy.bin"))
    cp = smbclient.stat(_unc(srv, "times-copy.bin"))
    assert cp.st_mtime == t0 + 20 and cp.st_size == 10000
