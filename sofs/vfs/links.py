"""Symbolic links of a POSIX share as Windows symbolic-link reparse points ([MS-FSCC] 2.1.2.4).

A symbolic link in the share is a POSIX symlink; sofs **never follows one** on the server (the
confined opener resolves with ``RESOLVE_NO_SYMLINKS``, :mod:`sofs.vfs.confine`). As on Windows, a
CREATE whose path meets a link answers STATUS_STOPPED_ON_SYMLINK with the link's target and the
unparsed rest of the path ([MS-SMB2] 2.2.2.2.1, 3.3.5.9); the client resolves it. A CREATE with
FILE_OPEN_REPARSE_POINT on a link opens the link itself. So a link cannot lead a client anywhere the
server would not let it go by name.

How a Windows link is stored (the text of the POSIX symlink):

- relative link (SYMLINK_FLAG_RELATIVE): the substitute name with ``/`` for ``\\`` — an ordinary
  Linux relative symlink. One whose target climbs above the share root is refused on creation.
- absolute link (``\\??\\UNC\\srv\\share\\x``, ``\\??\\C:\\x``): the substitute name verbatim. On
  Linux it is a dangling relative name (no ``/``), so it never resolves anywhere either.
- a trailing separator marks a *directory* link (``mklink /D``); without it a link is a directory
  link when its (relative) target is a directory in the share.
- the print name is derived: the substitute name for relative links, without ``\\??\\`` (and
  ``UNC\\`` → ``\\\\``) for absolute ones — what Windows and smbprotocol write. A different print
  name set by a client is not kept.

POSIX symlinks made on the server with an absolute POSIX target (``/etc``) or a relative one that
leaves the share are *foreign*: not listed, and refused (ACCESS_DENIED) when named, as before.
Times of a link can be set (``utimensat`` without following); DOS attributes, creation time,
security descriptors, EAs and streams cannot be stored on a Linux symlink: a link reports ARCHIVE
(files) or DIRECTORY, and REPARSE_POINT, no EAs, no streams and the default security descriptor.
"""
from __future__ import annotations

import os
import secrets
import stat as stat_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sofs.vfs.base import FileInfo, VfsError, file_info
from sofs.vfs.confine import status_from_errno
from sofs.vfs.meta import file_id_from_stat
from sofs.wire.fscc_constants import FILETIME_UNIX_EPOCH, filetime_to_unix_ns
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.reparse import IO_REPARSE_TAG_SYMLINK, SymlinkTarget
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.vfs.posix import PosixHandle, PosixVfs

_NT = "\\??\\"
_REPARSE_POINT = int(FA.REPARSE_POINT)
_LINK_FILE_ATTRS = int(FA.REPARSE_POINT | FA.ARCHIVE)
_LINK_DIR_ATTRS = int(FA.REPARSE_POINT | FA.DIRECTORY)
_NO_SET = frozenset({0, -1, -2, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE})


def reparse_tag_of(attributes: int) -> int:
    """The ReparseTag reported with FILE_ATTRIBUTE_REPARSE_POINT (links are the only reparse points)."""
    return IO_REPARSE_TAG_SYMLINK if attributes & _REPARSE_POINT else 0


class SymlinkMet(VfsError):
    """A path resolution met a symbolic link (ELOOP under RESOLVE_NO_SYMLINKS). Handlers that do not
    translate it see ACCESS_DENIED, the status a refused link had before."""

    def __init__(self, message: str = "") -> None:
        super().__init__(NtStatus.ACCESS_DENIED, message or "symbolic link in the path")


class StoppedOnSymlink(VfsError):
    """[MS-SMB2] 3.3.5.9: the CREATE stops at a link; ``unparsed_length`` is the UTF-16 byte length
    of the client's path after it (leading backslash included; 0 when the link is the last name)."""

    def __init__(self, target: SymlinkTarget, unparsed_length: int, link_path: str) -> None:
        super().__init__(NtStatus.STOPPED_ON_SYMLINK, f"{link_path} is a symbolic link")
        self.target = target
        self.unparsed_length = unparsed_length


@dataclass(frozen=True, slots=True)
class Link:
    """A link as clients see it: its target and whether it is a directory link."""

    target: SymlinkTarget
    directory: bool


def print_name(substitute: str, relative: bool) -> str:
    """The print name Windows (and smbprotocol) give a link with this substitute name."""
    if relative or not substitute.startswith(_NT):
        return substitute
    rest = substitute[len(_NT):]
    return "\\\\" + rest[4:] if rest[:4].upper() == "UNC\\" else rest


def _climbs_out(link_dir: tuple[str, ...], parts: list[str]) -> bool:
    depth = len(link_dir)
    for p in parts:
        if p in ("", "."):
            continue
        depth = depth - 1 if p == ".." else depth + 1
        if depth < 0:
            return True
    return False


def link_from_text(text: str, link_dir: tuple[str, ...]) -> tuple[SymlinkTarget, bool | None] | None:
    """Decode a POSIX symlink's text: (target, directory marker or None = unknown), or None for a
    foreign link (absolute POSIX target, or one that leaves the share)."""
    marked = text.endswith(("/", "\\")) and len(text) > 1
    body = text[:-1] if marked else text
    if body.startswith(_NT):
        return SymlinkTarget(body, print_name(body, False), False), (True if marked else None)
    if not body or body.startswith("/") or _climbs_out(link_dir, body.split("/")):
        return None
    sub = body.replace("/", "\\")
    return SymlinkTarget(sub, sub, True), (True if marked else None)


def text_from_link(target: SymlinkTarget, directory: bool, link_dir: tuple[str, ...]) -> str:
    """The POSIX symlink text for a link set by a client; ACCESS_DENIED for a relative target that
    leaves the share, INVALID_PARAMETER for one Linux cannot hold (NUL, or ``/`` in a name)."""
    sub = target.substitute
    if "\0" in sub or "/" in sub:
        raise VfsError(NtStatus.IO_REPARSE_DATA_INVALID, "link target with NUL or '/'")
    if target.relative:
        if sub.startswith("\\") or ":" in sub:
            raise VfsError(NtStatus.IO_REPARSE_DATA_INVALID, f"relative link target {sub!r} is absolute")
        parts = sub.split("\\")
        if _climbs_out(link_dir, parts):
            raise VfsError(NtStatus.ACCESS_DENIED, f"link target {sub!r} leaves the share")
        text = "/".join(parts)
    else:
        if not sub.startswith(_NT):
            raise VfsError(NtStatus.IO_REPARSE_DATA_INVALID, f"absolute link target {sub!r} without \\??\\")
        text = sub
    return text + ("/" if target.relative else "\\") if directory and not text.endswith(("/", "\\")) else text


def _target_is_dir(vfs: PosixVfs, link_dir: tuple[str, ...], target: SymlinkTarget) -> bool:
    """Whether a relative link's target is a directory in the share (no link is followed)."""
    parts: list[str] = list(link_dir)
    for p in target.substitute.split("\\"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                return False
            parts.pop()
        else:
            parts.append(p)
    try:
        fd = vfs.confined.open("/".join(parts), os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return False
    os.close(fd)
    return True


def describe(vfs: PosixVfs, text: str, link_dir: tuple[str, ...]) -> Link | None:
    """The :class:`Link` a POSIX symlink text stands for in directory ``link_dir`` (None: foreign)."""
    decoded = link_from_text(text, link_dir)
    if decoded is None:
        return None
    target, marked = decoded
    directory = marked if marked is not None else (target.relative and _target_is_dir(vfs, link_dir, target))
    return Link(target, bool(directory))


def link_info(st: os.stat_result, directory: bool, root_dev: int) -> FileInfo:
    """FileInfo of a link from its ``lstat``: REPARSE_POINT with ARCHIVE or DIRECTORY, size 0 (the
    link has no data stream a client could read), creation time = min(mtime, ctime)."""
    e = FILETIME_UNIX_EPOCH
    mtime, ctime = st.st_mtime_ns // 100 + e, st.st_ctime_ns // 100 + e
    return file_info(min(mtime, ctime), st.st_atime_ns // 100 + e, mtime, ctime, 0, 0,
                     _LINK_DIR_ATTRS if directory else _LINK_FILE_ATTRS,
                     file_id_from_stat(st.st_dev, st.st_ino, root_dev), st.st_nlink, directory)


def read_link(vfs: PosixVfs, h: PosixHandle) -> Link:
    """The link an open link handle stands for."""
    comps = tuple(h.path.split("\\")) if h.path else ()
    try:
        text = os.readlink("", dir_fd=h.base_fd)
    except OSError as e:
        raise VfsError(NtStatus.NOT_A_REPARSE_POINT, str(e)) from None
    link = describe(vfs, text, comps[:-1])
    if link is None:
        raise VfsError(NtStatus.ACCESS_DENIED, f"{h.path}: link leads outside the share")
    return link


def locate(vfs: PosixVfs, comps: tuple[str, ...]) -> tuple[int, tuple[str, ...], str] | None:
    """The first component of ``comps`` that is a symbolic link: (index, case-correct components up to
    it, its text); None when the walk meets none (the original error stands). No link is followed."""
    actual: list[str] = []
    for i, comp in enumerate(comps):
        try:
            dfd = vfs.confined.open("/".join(actual), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            name = vfs._match_entry(dfd, comp)
            if name is None:
                return None
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            actual.append(name)
            if stat_mod.S_ISLNK(st.st_mode):
                return i, tuple(actual), os.readlink(name, dir_fd=dfd)
            if not stat_mod.S_ISDIR(st.st_mode):
                return None
        except OSError:
            return None
        finally:
            os.close(dfd)
    return None


def stopped_or_open(vfs: PosixVfs, comps: tuple[str, ...], open_reparse_point: bool,
                    want_dir: bool, want_file: bool) -> tuple[PosixHandle, FileInfo] | None:
    """After a :class:`SymlinkMet`: the link itself opened (FILE_OPEN_REPARSE_POINT on the last
    name), else raise :class:`StoppedOnSymlink`; None when no link is on the path after all."""
    found = locate(vfs, comps)
    if found is None:
        return None
    i, actual, text = found
    link = describe(vfs, text, actual[:-1])
    path = "\\".join(actual)
    if link is None:
        raise VfsError(NtStatus.ACCESS_DENIED, f"{path}: link leads outside the share")
    if i == len(comps) - 1 and open_reparse_point:
        if want_dir and not link.directory:
            raise VfsError(NtStatus.NOT_A_DIRECTORY, path)
        if want_file and link.directory:
            raise VfsError(NtStatus.FILE_IS_A_DIRECTORY, path)
        return open_link(vfs, actual, link)
    rest = "\\" + "\\".join(comps[i + 1:]) if i + 1 < len(comps) else ""
    raise StoppedOnSymlink(link.target, len(rest.encode("utf-16-le")), path)


def open_link(vfs: PosixVfs, actual: tuple[str, ...], link: Link) -> tuple[PosixHandle, FileInfo]:
    from sofs.vfs.posix import PosixHandle

    try:
        fd = vfs.confined.open("/".join(actual), os.O_PATH | os.O_NOFOLLOW)
        st = os.fstat(fd)
    except OSError as e:
        raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, str(e)) from None
    if not stat_mod.S_ISLNK(st.st_mode):
        os.close(fd)
        raise VfsError(NtStatus.SHARING_VIOLATION, "link replaced meanwhile")
    info = link_info(st, link.directory, vfs.root_dev)
    return PosixHandle(fd, fd, "\\".join(actual), None, link.directory, info.file_id, is_link=True), info


def make_link(vfs: PosixVfs, h: PosixHandle, target: SymlinkTarget) -> None:
    """FSCTL_SET_REPARSE_POINT with a symlink buffer ([MS-FSA] 2.1.5.10.37): the empty file or
    directory ``h`` (or the link ``h``) becomes a link to ``target``; ``h`` then names the link."""
    comps = tuple(h.path.split("\\")) if h.path else ()
    if not comps or h.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "the share root or a stream cannot be a link")
    text = text_from_link(target, h.is_directory, comps[:-1])
    parent = vfs._parent_fd(comps)
    name = comps[-1]
    try:
        mine = os.fstat(h.base_fd)
        there = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if (mine.st_dev, mine.st_ino) != (there.st_dev, there.st_ino):
            raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, f"{h.path} was replaced")
        if stat_mod.S_ISREG(mine.st_mode) and (mine.st_size or vfs.streams.list(h.base_fd)):
            raise VfsError(NtStatus.NOT_SUPPORTED, "only an empty file can become a symbolic link here")
        if stat_mod.S_ISDIR(mine.st_mode) and not vfs.is_directory_empty(h):
            raise VfsError(NtStatus.DIRECTORY_NOT_EMPTY, h.path)
        tmp = f".sofs-link-{secrets.token_hex(8)}"
        os.symlink(text, tmp, dir_fd=parent)
        try:
            if stat_mod.S_ISDIR(mine.st_mode):
                os.rmdir(name, dir_fd=parent)
            os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError:
            os.unlink(tmp, dir_fd=parent)
            raise
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=parent)
    except VfsError:
        raise
    except OSError as e:
        raise VfsError(status_from_errno(e.errno), str(e)) from None
    finally:
        os.close(parent)
    if h.fd != h.base_fd:
        os.close(h.fd)
    os.close(h.base_fd)
    h.fd = h.base_fd = fd
    h.is_link = True


def set_link_times(vfs: PosixVfs, h: PosixHandle, last_access_time: int, last_write_time: int) -> None:
    """FileBasicInformation on a link: access and write times (``utimensat`` without following);
    creation time and attributes cannot be stored on a Linux symlink and are left as they are."""
    set_a = last_access_time not in _NO_SET and last_access_time > 0
    set_m = last_write_time not in _NO_SET and last_write_time > 0
    if not (set_a or set_m):
        return
    comps = tuple(h.path.split("\\"))
    parent = vfs._parent_fd(comps)
    try:
        st = os.fstat(h.base_fd)
        os.utime(comps[-1], dir_fd=parent, follow_symlinks=False,
                 ns=(filetime_to_unix_ns(last_access_time) if set_a else st.st_atime_ns,
                     filetime_to_unix_ns(last_write_time) if set_m else st.st_mtime_ns))
    except OSError as e:
        raise VfsError(status_from_errno(e.errno), str(e)) from None
    finally:
        os.close(parent)
