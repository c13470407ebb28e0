"""Case-insensitive name lookup for ``CephVfs``, with a cache of each directory's folded names.

Windows names are case-insensitive: a CREATE of ``Foo`` must open an existing ``FOO``. An exact
``statx`` answers most lookups; a miss (every CREATE of a new name) needs the directory's names. On
CephFS a listing of a large directory is a round trip to the MDS that returns every entry (a 250-entry
``getdnames`` took ~16 ms here, so 5,000 creates in one directory took minutes), hence a cache:

- per directory: (inode, mtime ns, size, {folded name: name}). The client reports a directory's size
  as its number of entries (``client_dirsize_rbytes = false``, set by ``CephVfs``); the cache is used
  only while inode, mtime and size are what a fresh ``statx`` shows (changes by any client, on any
  node, move the mtime);
- after its own create in a directory, the VFS adds the name itself when the directory grew by
  exactly one entry (else the entry is dropped and the next miss lists again); deletes and renames
  drop the entry.

Bounded (``MAX_DIRS`` directories, oldest dropped first); thread-safe.
"""
from __future__ import annotations

import errno
import stat as stat_mod
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sofs.vfs.base import VfsError
from sofs.vfs.names import fold_name
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.vfs.ceph import CephVfs

MAX_DIRS = 256


@dataclass(slots=True)
class _Dir:
    ino: int
    mtime_ns: int
    size: int
    names: dict[str, str] = field(default_factory=dict)


class DirNameCache:
    def __init__(self) -> None:
        self._dirs: OrderedDict[bytes, _Dir] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, vfs: CephVfs, parent: bytes, comp: str) -> str | None:
        """The entry of directory ``parent`` equal to ``comp`` but for case, or None."""
        try:
            st = vfs.mount.lstat(parent)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise
        with self._lock:
            d = self._dirs.get(parent)
            if d is not None and (d.ino, d.mtime_ns, d.size) == (st.ino, st.mtime_ns, st.size):
                self._dirs.move_to_end(parent)
                return d.names.get(fold_name(comp))
        names: dict[str, str] = {}
        for name in vfs.mount.listdir(parent):  # the first in directory order wins, as _find_folded
            names.setdefault(fold_name(name), name)
        with self._lock:
            self._dirs[parent] = _Dir(st.ino, st.mtime_ns, st.size, names)
            self._dirs.move_to_end(parent)
            while len(self._dirs) > MAX_DIRS:
                self._dirs.popitem(last=False)
        return names.get(fold_name(comp))

    def created(self, vfs: CephVfs, parent: bytes, name: str) -> None:
        """This client created ``name`` in ``parent``: keep the entry if that is the only change."""
        with self._lock:
            d = self._dirs.get(parent)
        if d is None:
            return
        try:
            st = vfs.mount.lstat(parent)
        except OSError:
            st = None
        with self._lock:
            if st is not None and st.ino == d.ino and st.size == d.size + 1:
                d.mtime_ns, d.size = st.mtime_ns, st.size
                d.names.setdefault(fold_name(name), name)
            else:
                self._dirs.pop(parent, None)

    def forget(self, *parents: bytes) -> None:
        with self._lock:
            for p in parents:
                self._dirs.pop(p, None)


def lookup(vfs: CephVfs, comps: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """Case-correct ``comps``; (actual components, whether the last one exists)."""
    m = vfs.mount
    try:
        m.lstat(vfs.abs(comps))
        return comps, True
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno != errno.ENOTDIR:
            raise VfsError(_status(e), str(e)) from None
        raise VfsError(NtStatus.OBJECT_PATH_NOT_FOUND, "/".join(comps)) from None
    if len(comps) <= 1 or _is_dir(vfs, comps[:-1]):  # the parent as given exists: look in it only
        name = _scan(vfs, comps[:-1], comps[-1])
        return (*comps[:-1], name or comps[-1]), name is not None
    actual: list[str] = []
    for i, comp in enumerate(comps):
        name = comp if _exists(vfs, (*actual, comp)) else _scan(vfs, tuple(actual), comp)
        if name is None:
            if i == len(comps) - 1:
                return (*actual, comp), False
            raise VfsError(NtStatus.OBJECT_PATH_NOT_FOUND, "\\".join(comps[: i + 1]))
        actual.append(name)
    return tuple(actual), True


def _status(e: OSError) -> NtStatus:
    from sofs.vfs.confine import status_from_errno

    return status_from_errno(e.errno)


def _is_dir(vfs: CephVfs, comps: tuple[str, ...]) -> bool:
    try:
        return stat_mod.S_ISDIR(vfs.mount.lstat(vfs.abs(comps)).mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None


def _exists(vfs: CephVfs, comps: tuple[str, ...]) -> bool:
    try:
        vfs.mount.lstat(vfs.abs(comps))
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None


def _scan(vfs: CephVfs, parent: tuple[str, ...], comp: str) -> str | None:
    if vfs.case_sensitive:
        return None
    try:
        return vfs.names.find(vfs, vfs.abs(parent), comp)
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None
