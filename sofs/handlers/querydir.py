"""SMB2 QUERY_DIRECTORY ([MS-SMB2] 3.3.5.18).

Each directory open keeps a cursor (:class:`~sofs.handlers.opens.DirCursor`): the first query (or
one with RESTART_SCANS / REOPEN) lists the directory once with the pattern it carries, sorted the
way NTFS returns names (``.`` and ``..`` first, then by upper-cased name), and later queries
continue from the cursor; a new pattern without RESTART/REOPEN is ignored, as Windows does.
No match on the first query → NO_SUCH_FILE; nothing left → NO_MORE_FILES. INDEX_SPECIFIED's
FileIndex is ignored (NTFS gives no stable indexes either; Samba does the same).

Access-based enumeration (issue 3): on shares with FolderEnumerationMode AccessBased the listing
goes through :func:`sofs.security.abe.abe_filter` ``(ctx, open, entries) -> entries``, run in the
file-system thread pool.
"""
from __future__ import annotations

from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import DirCursor, change_time, get_open
from sofs.security.abe import abe_filter
from sofs.vfs.links import reparse_tag_of
from sofs.vfs.names import fold_name
from sofs.wire.codec import frozen_builder
from sofs.wire.constants import QueryDirectoryFlags as QF
from sofs.wire.fscc import DIR_INFO_CLASSES, DirEntry, encode_dir_entries
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.messages.query import QueryDirectoryRequest, QueryDirectoryResponse
from sofs.wire.status import NtStatus


def _sort_key(e: Any) -> tuple[int, str]:
    if e.name == ".":
        return (0, "")
    if e.name == "..":
        return (1, "")
    return (2, fold_name(e.name))


# DirEntry(name, file_id, creation, access, write, change, eof, allocation, attributes, ea_size,
# short_name, reparse_tag, file_index), positional, at a third of DirEntry(...)'s cost: one per entry
_entry = frozen_builder(DirEntry)


def _list(vfs: Any, h: Any, pattern: str) -> list[DirEntry]:
    entries = sorted(vfs.list_directory(h, pattern), key=_sort_key)
    return [_entry(e.name, (i := e.info).file_id, i.creation_time, i.last_access_time, i.last_write_time,
                   change_time(i), i.end_of_file, i.allocation_size, i.attributes, 0, "",
                   reparse_tag_of(i.attributes), 0)
            for e in entries]


def _alive(vfs: Any, h: Any, entries: list[DirEntry]) -> list[DirEntry]:
    """The entries still in the directory (``.`` and ``..`` always)."""
    return [e for e in entries if e.name in (".", "..") or vfs.child_exists(h, e.name)]


async def handle_query_directory(ctx: Ctx, req: QueryDirectoryRequest) -> Reply:
    """[MS-SMB2] 3.3.5.18 Receiving an SMB2 QUERY_DIRECTORY Request."""
    op = get_open(ctx, req.file_id)
    info_class = req.file_information_class
    if info_class not in DIR_INFO_CLASSES:
        raise SmbError(NtStatus.INVALID_INFO_CLASS, f"directory class {info_class}")
    if op.is_pipe or not op.is_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "QUERY_DIRECTORY on a non-directory")
    if not op.granted_access & A.FILE_LIST_DIRECTORY:
        raise SmbError(NtStatus.ACCESS_DENIED, "no FILE_LIST_DIRECTORY access")
    max_out = req.output_buffer_length
    if max_out > ctx.conn.max_transact_size:
        raise SmbError(NtStatus.INVALID_PARAMETER, "OutputBufferLength > MaxTransactSize")
    if max_out == 0:
        raise SmbError(NtStatus.INVALID_PARAMETER, "zero OutputBufferLength")
    cur = op.cursor
    end: int | None = None
    restart = bool(req.flags & (QF.RESTART_SCANS | QF.REOPEN))
    if cur is None or restart or not cur.started:
        pattern = req.file_name or "*"
        if cur is not None and cur.started and not req.file_name and not req.flags & QF.REOPEN:
            pattern = cur.pattern  # RESTART_SCANS without a pattern keeps the old one
        entries = await run_fs(_list, op.share.vfs, op.handle, pattern)
        if op.share.config.access_based_enumeration:
            entries = list(await run_fs(abe_filter, ctx, op, entries))
        cur = op.cursor = DirCursor(pattern=pattern, entries=entries, index=0, started=True)
        if not entries:
            raise SmbError(NtStatus.NO_SUCH_FILE)
    elif cur.index < len(cur.entries):
        # entries deleted since the listing started are not returned (smb2.dir.fixed); only the
        # window this reply can hold is checked: one stat per entry, not a relisting
        end = cur.index + (1 if req.flags & QF.RETURN_SINGLE_ENTRY else max(1, max_out // 16))
        window = cur.entries[cur.index:end]
        alive = await run_fs(_alive, op.share.vfs, op.handle, window)
        cur.entries[cur.index:end] = alive
        end = cur.index + len(alive)
    if cur.index >= len(cur.entries):
        raise SmbError(NtStatus.NO_MORE_FILES)
    if req.flags & QF.RETURN_SINGLE_ENTRY:
        todo = cur.entries[cur.index:cur.index + 1]
    else:
        todo = cur.entries[cur.index:end]
    data, count = encode_dir_entries(info_class, todo, max_out)
    if count == 0:
        raise SmbError(NtStatus.INFO_LENGTH_MISMATCH, "output buffer too small for one entry")
    cur.index += count
    return reply(QueryDirectoryResponse(data).encode())
