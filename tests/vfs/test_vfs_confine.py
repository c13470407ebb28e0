"""Path-escape attempts against PosixVfs are refused, in both confinement modes (openat2 / walk)."""
from __future__ import annotations

import os

import pytest

from sofs.vfs.base import VfsError
from sofs.vfs.links import StoppedOnSymlink, read_link
from sofs.vfs.posix import PosixVfs
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.reparse import SymlinkTarget
from sofs.wire.status import NtStatus as S


def _refused(vfs: PosixVfs, path: str, disposition: D = D.OPEN, options: int = 0) -> S:
    with pytest.raises(VfsError) as ei:
        h, _ = vfs.open(path, disposition, options)
        vfs.close(h)
    return ei.value.status


@pytest.mark.parametrize("path", [
    "..\\..\\etc\\passwd", "..", "a\\..\\..\\etc", "\\etc\\passwd", "C:\\Windows\\win.ini",
    "C:", "/etc/passwd", "etc\x00passwd",
])
def test_syntax_escapes_refused(vfs: PosixVfs, path: str) -> None:
    assert _refused(vfs, path) in (S.OBJECT_PATH_SYNTAX_BAD, S.OBJECT_NAME_INVALID)
    assert _refused(vfs, path, D.OPEN_IF) in (S.OBJECT_PATH_SYNTAX_BAD, S.OBJECT_NAME_INVALID)


def test_symlink_to_etc_refused(vfs: PosixVfs) -> None:
    os.symlink("/etc", os.path.join(vfs.root, "etc"))
    os.symlink("/etc/passwd", os.path.join(vfs.root, "pw"))
    os.symlink("../../../../../../etc/passwd", os.path.join(vfs.root, "rel"))
    assert _refused(vfs, "etc\\passwd") == S.ACCESS_DENIED
    assert _refused(vfs, "ETC\\passwd") == S.ACCESS_DENIED  # case-insensitive slow path too
    assert _refused(vfs, "pw") == S.ACCESS_DENIED
    assert _refused(vfs, "rel") == S.ACCESS_DENIED
    assert _refused(vfs, "etc\\evil", D.CREATE) in (S.ACCESS_DENIED, S.OBJECT_PATH_NOT_FOUND)
    assert not os.path.exists("/etc/evil")
    assert _refused(vfs, "etc", D.OPEN, O.DIRECTORY_FILE) == S.ACCESS_DENIED


def test_symlink_loop_refused(vfs: PosixVfs) -> None:
    os.symlink("loop2", os.path.join(vfs.root, "loop1"))
    os.symlink("loop1", os.path.join(vfs.root, "loop2"))
    assert _refused(vfs, "loop1") == S.ACCESS_DENIED
    assert _refused(vfs, "loop1\\x", D.OPEN_IF) in (S.ACCESS_DENIED, S.OBJECT_PATH_NOT_FOUND)


def test_listing_hides_escaping_symlinks_and_shows_inner_ones_as_reparse_points(vfs: PosixVfs) -> None:
    os.symlink("/etc", os.path.join(vfs.root, "etc"))
    os.symlink("../../../../etc", os.path.join(vfs.root, "climb"))
    os.symlink("nowhere", os.path.join(vfs.root, "dangling"))
    with open(os.path.join(vfs.root, "real"), "w") as f:
        f.write("x")
    h, _ = vfs.open("", D.OPEN, O.DIRECTORY_FILE)
    entries = {e.name: e.info for e in vfs.list_directory(h)}
    vfs.close(h)
    assert set(entries) == {".", "..", "real", "dangling"}
    assert entries["dangling"].attributes == FA.REPARSE_POINT | FA.ARCHIVE


@pytest.mark.parametrize("use_openat2", [True, False], ids=["openat2", "walk"])
def test_inner_symlink_never_followed(root: str, use_openat2: bool) -> None:
    """A link is resolved by the client (STOPPED_ON_SYMLINK), in both confinement modes."""
    os.mkdir(os.path.join(root, "d"))
    with open(os.path.join(root, "d", "f"), "w") as f:
        f.write("inside")
    os.symlink("d/f", os.path.join(root, "link"))
    os.symlink("d", os.path.join(root, "dlink"))
    v = PosixVfs(root, use_openat2=use_openat2)
    try:
        with pytest.raises(VfsError) as ei:
            v.open("link", D.OPEN)
        assert ei.value.status == S.ACCESS_DENIED  # not through the CREATE path: refused
        with pytest.raises(StoppedOnSymlink) as st:
            v.open_stat("link", D.OPEN)
        assert st.value.target == SymlinkTarget("d\\f", "d\\f", True) and st.value.unparsed_length == 0
        with pytest.raises(StoppedOnSymlink) as st:
            v.open_stat("DLINK\\f", D.OPEN)
        assert st.value.target.substitute == "d" and st.value.unparsed_length == len("\\f".encode("utf-16-le"))
        h, _action, info, sd = v.open_stat("link", D.OPEN, O.OPEN_REPARSE_POINT)
        assert h.is_link and info.attributes == FA.REPARSE_POINT | FA.ARCHIVE and sd is None
        assert read_link(v, h).target.substitute == "d\\f"
        v.close(h)
        h, _a, info, _sd = v.open_stat("dlink", D.OPEN, O.OPEN_REPARSE_POINT | O.DIRECTORY_FILE)
        assert h.is_link and h.is_directory and info.attributes == FA.REPARSE_POINT | FA.DIRECTORY
        v.close(h)
    finally:
        v.shutdown()


def test_reserved_meta_dir_refused(vfs: PosixVfs) -> None:
    for path in (".sofs", ".SOFS\\streams", ".sofs\\streams\\x"):
        assert _refused(vfs, path) == S.ACCESS_DENIED
        assert _refused(vfs, path, D.OPEN_IF) == S.ACCESS_DENIED


def test_fifo_and_devices_not_opened(vfs: PosixVfs) -> None:
    os.mkfifo(os.path.join(vfs.root, "fifo"))
    assert _refused(vfs, "fifo") == S.ACCESS_DENIED  # and did not block


def test_create_over_dangling_symlink_refused(vfs: PosixVfs) -> None:
    os.symlink("/nonexistent-target-sofs", os.path.join(vfs.root, "dangle"))
    for disp in (D.OPEN_IF, D.OVERWRITE_IF, D.CREATE, D.SUPERSEDE):
        assert _refused(vfs, "dangle", disp) in (S.ACCESS_DENIED, S.OBJECT_NAME_COLLISION)
    assert not os.path.exists("/nonexistent-target-sofs")


def test_handle_satisfies_protocol(vfs: PosixVfs) -> None:
    from sofs.vfs.base import VfsHandle
    h, _ = vfs.open("", D.OPEN)
    assert isinstance(h, VfsHandle)
    vfs.close(h)
