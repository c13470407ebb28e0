"""PosixVfs rename / delete / hard link semantics."""
from __future__ import annotations

import os

import pytest

from sofs.vfs.base import VfsError
from sofs.vfs.posix import PosixVfs
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.status import NtStatus as S


def _mk(vfs: PosixVfs, rel: str, data: bytes = b"") -> None:
    with open(os.path.join(vfs.root, rel), "wb") as f:
        f.write(data)


def test_rename_file_and_case_only(vfs: PosixVfs) -> None:
    _mk(vfs, "a", b"1")
    os.mkdir(os.path.join(vfs.root, "dir"))
    h, _ = vfs.open("a", D.OPEN)
    assert vfs.rename(h, "DIR\\b", False) == "dir\\b"
    assert h.path == "dir\\b"
    assert os.listdir(os.path.join(vfs.root, "dir")) == ["b"]
    assert vfs.rename(h, "dir\\B", False) == "dir\\B"  # case-only rename of itself
    assert os.listdir(os.path.join(vfs.root, "dir")) == ["B"]
    vfs.close(h)


def test_rename_collision_and_replace(vfs: PosixVfs) -> None:
    _mk(vfs, "src", b"new")
    _mk(vfs, "DST", b"old")
    h, _ = vfs.open("src", D.OPEN)
    with pytest.raises(VfsError) as ei:
        vfs.rename(h, "dst", False)
    assert ei.value.status == S.OBJECT_NAME_COLLISION
    assert vfs.rename(h, "dst", True) == "dst"
    assert sorted(os.listdir(vfs.root)) == [".sofs", "dst"]
    with open(os.path.join(vfs.root, "dst"), "rb") as f:
        assert f.read() == b"new"
    vfs.close(h)


def test_rename_over_directory_refused(vfs: PosixVfs) -> None:
    _mk(vfs, "f")
    os.mkdir(os.path.join(vfs.root, "d"))
    h, _ = vfs.open("f", D.OPEN)
    with pytest.raises(VfsError) as ei:
        vfs.rename(h, "d", True)
    assert ei.value.status == S.ACCESS_DENIED
    for bad, status in (("..\\x", S.OBJECT_PATH_SYNTAX_BAD), ("nodir\\x", S.OBJECT_PATH_NOT_FOUND),
                        ("", S.ACCESS_DENIED), (".sofs\\x", S.ACCESS_DENIED)):
        with pytest.raises(VfsError) as ei:
            vfs.rename(h, bad, True)
        assert ei.value.status == status
    vfs.close(h)


def test_rename_directory_into_itself_refused(vfs: PosixVfs) -> None:
    os.makedirs(os.path.join(vfs.root, "d", "e"))
    h, _ = vfs.open("d", D.OPEN, O.DIRECTORY_FILE)
    with pytest.raises(VfsError) as ei:
        vfs.rename(h, "d\\e\\d2", False)
    assert ei.value.status == S.INVALID_PARAMETER
    assert vfs.rename(h, "d2", False) == "d2"
    vfs.close(h)


def test_delete_file_dir_and_not_empty(vfs: PosixVfs) -> None:
    os.mkdir(os.path.join(vfs.root, "d"))
    _mk(vfs, "d\\f".replace("\\", "/"))
    hd, _ = vfs.open("d", D.OPEN, O.DIRECTORY_FILE)
    with pytest.raises(VfsError) as ei:
        vfs.delete(hd)
    assert ei.value.status == S.DIRECTORY_NOT_EMPTY
    hf, _ = vfs.open("d\\f", D.OPEN)
    vfs.delete(hf)
    vfs.write(hf, 0, b"still usable")  # POSIX keeps the inode until close
    vfs.close(hf)
    assert vfs.is_directory_empty(hd)
    vfs.delete(hd)
    vfs.close(hd)
    assert os.listdir(vfs.root) == [".sofs"]
    root, _ = vfs.open("", D.OPEN)
    with pytest.raises(VfsError) as ei:
        vfs.delete(root)
    assert ei.value.status == S.ACCESS_DENIED
    vfs.close(root)


def test_delete_refuses_replaced_name(vfs: PosixVfs) -> None:
    _mk(vfs, "f", b"1")
    h, _ = vfs.open("f", D.OPEN)
    os.unlink(os.path.join(vfs.root, "f"))
    _mk(vfs, "f", b"2")  # a different inode under the same name
    with pytest.raises(VfsError) as ei:
        vfs.delete(h)
    assert ei.value.status == S.OBJECT_NAME_NOT_FOUND
    assert os.path.exists(os.path.join(vfs.root, "f"))
    vfs.close(h)


def test_hard_link(vfs: PosixVfs) -> None:
    _mk(vfs, "f", b"data")
    _mk(vfs, "other", b"o")
    os.mkdir(os.path.join(vfs.root, "d"))
    h, _ = vfs.open("f", D.OPEN)
    vfs.link(h, "d\\g", False)
    assert vfs.stat(h).nlink == 2
    with pytest.raises(VfsError) as ei:
        vfs.link(h, "OTHER", False)
    assert ei.value.status == S.OBJECT_NAME_COLLISION
    vfs.link(h, "OTHER", True)
    assert vfs.stat(h).nlink == 3
    g, _ = vfs.open("d\\g", D.OPEN)
    assert vfs.stat(g).file_id == vfs.stat(h).file_id
    vfs.close(g)
    vfs.close(h)
    hd, _ = vfs.open("d", D.OPEN)
    with pytest.raises(VfsError) as ei:
        vfs.link(hd, "d2", False)
    assert ei.value.status == S.FILE_IS_A_DIRECTORY
    vfs.close(hd)
