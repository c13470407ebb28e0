"""``PosixVfs.open_stat`` (the CREATE path's one call) against ``open`` + ``stat`` +
``get_security_descriptor``, the one-component openat fast path of ``Confined.open``, and
``build_info`` against its helpers."""
from __future__ import annotations

import errno
import os

import pytest

from sofs.vfs.base import VfsError
from sofs.vfs.confine import Confined
from sofs.vfs.meta import (
    XATTR_DOSATTRIB,
    XATTR_SD,
    decode_dosattrib,
    encode_dosattrib,
    file_id_from_stat,
    report_attributes,
)
from sofs.vfs.posix import PosixVfs
from sofs.vfs.posix_info import build_info, creation_time
from sofs.wire.fscc_constants import CreateAction, CreateDisposition, CreateOptions, unix_ns_to_filetime
from sofs.wire.status import NtStatus

D = CreateDisposition
DIR = int(CreateOptions.DIRECTORY_FILE)
NONDIR = int(CreateOptions.NON_DIRECTORY_FILE)


def _xattrs_ok(root: str) -> bool:
    try:
        os.setxattr(root, "user.sofs-probe", b"1")
        os.removexattr(root, "user.sofs-probe")
    except OSError:
        return False
    return True


def _reference(vfs: PosixVfs, path: str, disp: int, opts: int = 0) -> tuple[CreateAction, object, bytes | None]:
    h, action = vfs.open(path, D(disp), opts, 0)
    try:
        return action, vfs.stat(h), vfs.get_security_descriptor(h) if action == CreateAction.OPENED else None
    finally:
        vfs.close(h)


@pytest.mark.parametrize("path", ["", "f", "d", "d\\g", "F", "D\\G", "f::$DATA"])
@pytest.mark.parametrize("disp", [D.OPEN, D.OPEN_IF])
def test_open_stat_matches_open_then_stat(vfs: PosixVfs, root: str, path: str, disp: int) -> None:
    os.mkdir(os.path.join(root, "d"))
    for rel in ("f", "d/g"):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(b"x" * 1000)
    if _xattrs_ok(root):
        os.setxattr(os.path.join(root, "f"), XATTR_DOSATTRIB, encode_dosattrib(0x22, 131_000_000_000_000_000))
        os.setxattr(os.path.join(root, "d"), XATTR_SD, b"\x01\x00\x04\x80" + bytes(16))
    want = _reference(vfs, path, disp)
    h, action, info, sd = vfs.open_stat(path, disp)
    try:
        assert (action, info, sd) == want
        assert h.path == {"F": "f", "D\\G": "d\\g", "f::$DATA": "f"}.get(path, path)
    finally:
        vfs.close(h)


def test_open_stat_missing_and_created(vfs: PosixVfs, root: str) -> None:
    with pytest.raises(VfsError) as e:
        vfs.open_stat("nope", D.OPEN)
    assert e.value.status == NtStatus.OBJECT_NAME_NOT_FOUND
    with pytest.raises(VfsError) as e:
        vfs.open_stat("nope\\x", D.OPEN_IF)
    assert e.value.status == NtStatus.OBJECT_PATH_NOT_FOUND
    h, action, info, sd = vfs.open_stat("new", D.OPEN_IF, 0, 0x20)
    try:
        assert action == CreateAction.CREATED and sd is None and not info.is_directory
        assert info == vfs.stat(h)
    finally:
        vfs.close(h)
    h, action, info, sd = vfs.open_stat("newdir", D.OPEN_IF, DIR, 0)
    vfs.close(h)
    assert action == CreateAction.CREATED and info.is_directory
    h, action, _, _ = vfs.open_stat("new", D.OPEN_IF)
    vfs.close(h)
    assert action == CreateAction.OPENED


def test_open_stat_type_checks(vfs: PosixVfs, root: str) -> None:
    fds_before = len(os.listdir(f"/proc/{os.getpid()}/fd"))
    os.mkdir(os.path.join(root, "d"))
    open(os.path.join(root, "f"), "wb").close()
    for path, opts, status in (("d", NONDIR, NtStatus.FILE_IS_A_DIRECTORY), ("f", DIR, NtStatus.NOT_A_DIRECTORY),
                               ("f", DIR | NONDIR, NtStatus.INVALID_PARAMETER)):
        with pytest.raises(VfsError) as e:
            vfs.open_stat(path, D.OPEN, opts)
        assert e.value.status == status
    os.mkfifo(os.path.join(root, "p"))
    with pytest.raises(VfsError) as e:
        vfs.open_stat("p", D.OPEN)
    assert e.value.status == NtStatus.ACCESS_DENIED
    assert len(os.listdir(f"/proc/{os.getpid()}/fd")) <= fds_before  # nothing leaked by the failures


def test_one_component_fast_path_keeps_openat2_semantics(root: str) -> None:
    os.mkdir(os.path.join(root, "d"))
    open(os.path.join(root, "d", "f"), "wb").close()
    os.symlink("d", os.path.join(root, "ld"))           # inside: not followed either (ELOOP)
    os.symlink("/etc", os.path.join(root, "escape"))     # outside: refused
    os.symlink("d/f", os.path.join(root, "lf"))
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        c = Confined(rfd, use_openat2=True)
        if not c.use_openat2:
            pytest.skip("no openat2")
        for name, flags in (("d", os.O_RDONLY | os.O_DIRECTORY), ("d/f", os.O_RDONLY),
                            ("", os.O_RDONLY | os.O_DIRECTORY)):
            fd = c.open(name, flags)
            os.close(fd)
        for name, flags in (("escape", os.O_RDONLY | os.O_DIRECTORY), ("escape", os.O_RDONLY),
                            ("..", os.O_RDONLY | os.O_DIRECTORY), ("ld", os.O_RDONLY | os.O_DIRECTORY),
                            ("ld", os.O_PATH | os.O_DIRECTORY), ("lf", os.O_RDONLY), ("ld/f", os.O_RDONLY),
                            ("lf", os.O_PATH)):
            with pytest.raises(OSError) as e:
                c.open(name, flags)
            assert e.value.errno in (errno.EXDEV, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOTDIR)
        # O_PATH | O_NOFOLLOW opens the link itself
        fd = c.open("lf", os.O_PATH | os.O_NOFOLLOW)
        try:
            assert os.path.samestat(os.fstat(fd), os.lstat(os.path.join(root, "lf")))
        finally:
            os.close(fd)
    finally:
        os.close(rfd)


@pytest.mark.parametrize("blob", [None, encode_dosattrib(0, 0), encode_dosattrib(0x23, 5), b"junk"])
@pytest.mark.parametrize("kind", ["file", "dir", "stream"])
def test_build_info_matches_helpers(root: str, blob: bytes | None, kind: str) -> None:
    p = os.path.join(root, "x")
    if kind == "dir":
        os.mkdir(p)
    else:
        with open(p, "wb") as f:
            f.write(b"y" * 5000)
    st = os.stat(p)
    sst = os.stat(p) if kind == "stream" else None
    dev = os.stat(root).st_dev
    for root_dev in (dev, dev + 1):
        info = build_info(st, blob, root_dev, sst)
        dec = decode_dosattrib(blob)
        is_dir = kind == "dir"
        stored = dec[0] if dec is not None else (0 if is_dir else 0x20)
        assert info.attributes == report_attributes(stored, is_dir)
        assert info.creation_time == creation_time(st, blob)
        assert info.last_access_time == unix_ns_to_filetime(st.st_atime_ns)
        assert info.last_write_time == unix_ns_to_filetime(st.st_mtime_ns)
        assert info.change_time == unix_ns_to_filetime(st.st_ctime_ns)
        assert info.file_id == file_id_from_stat(st.st_dev, st.st_ino, root_dev)
        assert info.is_directory is is_dir
        assert info.end_of_file == (0 if is_dir else 5000)
        assert info.nlink == (1 if is_dir else st.st_nlink)


def test_file_info_fast_constructor_equals_dataclass() -> None:
    from dataclasses import FrozenInstanceError

    from sofs.vfs.base import FileInfo, file_info

    args = (1, 2, 3, 4, 5, 6, 0x20, 99, 1, False)
    fast = file_info(*args)
    assert fast == FileInfo(*args) and hash(fast) == hash(FileInfo(*args)) and type(fast) is FileInfo
    with pytest.raises(FrozenInstanceError):
        fast.attributes = 0  # type: ignore[misc]


@pytest.mark.parametrize(("opts", "disp"), [(DIR, D.CREATE), (DIR, D.OPEN_IF), (NONDIR, D.CREATE),
                                           (NONDIR, D.OPEN_IF), (NONDIR, D.OVERWRITE_IF)])  # no directory overwrite
def test_a_new_object_is_born_with_its_descriptor(vfs: PosixVfs, root: str, opts: int, disp: int) -> None:
    """``new_sd``: the object appears under its name already carrying the descriptor (made in
    ``.sofs/new`` and renamed into place), so no other open ever sees it without (smb2.create.mkdir-visible)."""
    if not _xattrs_ok(root):
        pytest.skip("no user xattrs here")
    sd = b"\x01\x00\x04\x80" + bytes(16)
    seen: list[tuple[str, bool, bool]] = []

    def born(path: str, is_dir: bool) -> bytes:
        seen.append((path, is_dir, os.path.lexists(os.path.join(root, path))))
        return sd

    h, action, info, got = vfs.open_stat("new", disp, opts, 0x20, born)
    try:
        assert action == CreateAction.CREATED and got is None
        assert seen == [("new", opts == DIR, False)]
        assert os.getxattr(os.path.join(root, "new"), XATTR_SD) == sd
        assert vfs.get_security_descriptor(h) == sd
        assert info.is_directory == (opts == DIR)
        assert os.listdir(os.path.join(root, ".sofs", "new")) == []
    finally:
        vfs.close(h)
    # an existing object is opened: the callback is not asked, nothing staged
    h, action, _, _ = vfs.open_stat("new", D.OPEN_IF, opts, 0, born)
    vfs.close(h)
    assert action == CreateAction.OPENED and len(seen) == 1


def test_a_refused_new_object_is_never_created(vfs: PosixVfs, root: str) -> None:
    """``new_sd`` raising (the parent does not allow creating here) leaves nothing behind."""
    class Refused(Exception):
        pass

    def born(path: str, is_dir: bool) -> bytes:
        raise Refused(path)

    for opts in (DIR, NONDIR):
        with pytest.raises(Refused):
            vfs.open_stat("nope", D.CREATE, opts, 0, born)
        assert not os.path.lexists(os.path.join(root, "nope"))


def test_a_born_object_that_lost_the_race_is_opened(vfs: PosixVfs, root: str) -> None:
    """The name appears between the lookup and the rename: the staged object is removed again and
    the open of the winner's object follows (OPEN_IF)."""
    if not _xattrs_ok(root):
        pytest.skip("no user xattrs here")

    def born(path: str, is_dir: bool) -> bytes:
        os.mkdir(os.path.join(root, path))  # the other creator wins
        return b"\x01\x00\x04\x80" + bytes(16)

    h, action, info, _ = vfs.open_stat("race", D.OPEN_IF, DIR, 0, born)
    vfs.close(h)
    assert action == CreateAction.OPENED and info.is_directory
    assert os.listdir(os.path.join(root, ".sofs", "new")) == []


def test_out_of_descriptors_in_a_case_insensitive_lookup_is_too_many_opened_files(
        vfs: PosixVfs, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing a directory for a case-folded match needs a descriptor: EMFILE there answers
    TOO_MANY_OPENED_FILES (Samba's status), not an internal error."""
    def no_fd(_fd: int) -> list[str]:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr("sofs.vfs.posix.os.listdir", no_fd)
    with pytest.raises(VfsError) as e:
        vfs.open_stat("not-there", D.OPEN_IF, 0, 0x20)
    assert e.value.status == NtStatus.TOO_MANY_OPENED_FILES
