"""CHANGE_NOTIFY watches of a volume ([MS-SMB2] 3.3.5.19, [MS-FSCC] 2.7.1, [MS-FSA] 2.1.5.10).

Model: one :class:`Watch` per directory open that has sent a CHANGE_NOTIFY (the first request fixes
the completion filter and WATCH_TREE, as on Windows/Samba). Changes are reported as
``(path, action, filter)`` with share-relative paths (backslashes, no leading separator; '' is the
share root) by whatever changed the namespace; :meth:`NotifyTable.report` hands each matching watch
the entry with the name relative to the watched directory. A watch buffers entries while no request
is pending and answers the next request with them at once.

Invariants:

N1  A watch's buffer holds at most ``max_entries`` entries; beyond that (or when the next request's
    output buffer is too small) the watch is *overflowed*: the next answer is STATUS_NOTIFY_ENUM_DIR
    with no data, after which the buffer starts empty.
N2  Matching: a change of ``dir\\name`` reaches watches on ``dir``; with WATCH_TREE also watches on
    every ancestor of ``dir``. Path comparison is case-insensitive (folded keys).
N3  A watch is removed when its directory open closes (pending request → STATUS_NOTIFY_CLEANUP).
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from sofs.wire.messages.notify import FileNotifyInformation, encode_file_notify_information

MAX_BUFFERED = 256  # entries kept between requests before a watch overflows (Samba keeps ~1000)
ENTRY_OVERHEAD = 12


def fold(path: str) -> str:
    return path.strip("\\").upper()


def split_parent(path: str) -> tuple[str, str]:
    p = path.strip("\\")
    i = p.rfind("\\")
    return (p[:i], p[i + 1:]) if i >= 0 else ("", p)


@dataclass(eq=False, slots=True)
class Watch:
    """The notify state of one directory open."""

    owner: Hashable
    dir_key: str  # fold(share-relative directory path)
    completion_filter: int
    watch_tree: bool
    scope: str = ""  # the share (volume) the directory is on
    entries: list[FileNotifyInformation] = field(default_factory=list)
    overflowed: bool = False
    max_entries: int = MAX_BUFFERED

    def add(self, entry: FileNotifyInformation) -> None:
        if self.overflowed:
            return
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
            self.overflowed = True
            return
        self.entries.append(entry)

    @property
    def has_news(self) -> bool:
        return self.overflowed or bool(self.entries)

    def take(self, output_buffer_length: int) -> tuple[bool, bytes]:
        """Drain the buffer into one answer: (enum_dir, FILE_NOTIFY_INFORMATION bytes).

        ``enum_dir`` (STATUS_NOTIFY_ENUM_DIR) when the watch overflowed or the entries do not fit in
        the client's output buffer (N1)."""
        if self.overflowed:
            self.overflowed = False
            self.entries.clear()
            return True, b""
        data = encode_file_notify_information(self.entries) if self.entries else b""
        self.entries.clear()
        if len(data) > output_buffer_length:
            return True, b""
        return False, data


def relative_name(watch: Watch, parent_key: str, name: str, parent_path: str) -> str | None:
    """The name of a change below ``parent`` as ``watch`` reports it, or None if out of its scope."""
    if parent_key == watch.dir_key:
        return name
    if not watch.watch_tree:
        return None
    if watch.dir_key == "":
        return f"{parent_path}\\{name}" if parent_path else name
    if parent_key.startswith(watch.dir_key + "\\"):
        return f"{parent_path[len(watch.dir_key) + 1:]}\\{name}"
    return None


@dataclass(slots=True)
class NotifyTable:
    """Every watch of a volume (by owner), with a by-directory index for cheap reports."""

    watches: dict[Hashable, Watch] = field(default_factory=dict)

    def watch(self, owner: Hashable, dir_path: str, completion_filter: int, watch_tree: bool,
              scope: str = "") -> Watch:
        w = self.watches.get(owner)
        if w is None:
            w = self.watches[owner] = Watch(owner, fold(dir_path), completion_filter, watch_tree, scope)
        return w

    def remove(self, owner: Hashable) -> Watch | None:
        return self.watches.pop(owner, None)

    def report(self, path: str, action: int, completion_filter: int, scope: str = "",
               unless_filter: int = 0) -> list[Watch]:
        """Record a change of ``path`` for every watch it concerns (N2); returns those watches.

        ``unless_filter``: watches whose filter has any of these bits are left out (they saw the
        same operation as another event already: a renamed file's attribute change is reported
        only to watches that do not follow names; smb2.notify.rec and .mask-change)."""
        if not self.watches:
            return []
        parent_path, name = split_parent(path)
        parent_path = parent_path.strip("\\")
        parent_key = parent_path.upper()
        hit: list[Watch] = []
        for w in self.watches.values():
            if w.scope != scope or not w.completion_filter & completion_filter:
                continue
            if w.completion_filter & unless_filter:
                continue
            rel = relative_name(w, parent_key, name, parent_path)
            if rel is None:
                continue
            w.add(FileNotifyInformation(action, rel))
            hit.append(w)
        return hit
