"""SMB2 QUERY_INFO ([MS-SMB2] 3.3.5.20): file, file-system, security and quota information.

Output sizes follow [MS-SMB2] 3.3.5.20.1 through ``fscc.fit_output`` (INFO_LENGTH_MISMATCH below a
class's fixed size, BUFFER_OVERFLOW with truncated data for variable classes); security descriptors
that do not fit get BUFFER_TOO_SMALL with the needed size (3.3.5.20.3). Quotas are not supported
(NOT_SUPPORTED, as Windows without quotas). Names are reported with a leading backslash, relative
to the share (FileNameInformation / FileAllInformation), without it for FileNormalizedName (3.1.1).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Handle, change_time, get_open
from sofs.security.files import query_security
from sofs.security.token import token_of_session
from sofs.vfs.base import FileInfo
from sofs.vfs.links import reparse_tag_of
from sofs.wire import fscc
from sofs.wire.constants import InfoType
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.fscc_constants import FileSystemAttributes as FSA
from sofs.wire.fscc_constants import FsInfoClass as FSC
from sofs.wire.fscc_constants import SecurityInformation as SI
from sofs.wire.messages.misc import ErrorResponse
from sofs.wire.messages.query import QueryInfoRequest, QueryInfoResponse
from sofs.wire.status import NtStatus

FS_ATTRIBUTES = int(FSA.CASE_PRESERVED_NAMES | FSA.CASE_SENSITIVE_SEARCH | FSA.UNICODE_ON_DISK
                    | FSA.PERSISTENT_ACLS | FSA.SUPPORTS_SPARSE_FILES | FSA.NAMED_STREAMS
                    | FSA.SUPPORTS_EXTENDED_ATTRIBUTES | FSA.SUPPORTS_OPEN_BY_FILE_ID
                    | FSA.SUPPORTS_HARD_LINKS)
_FILE_READ_ATTRIBUTES = int(A.FILE_READ_ATTRIBUTES)  # a plain int: IntFlag's & runs Python code
_READ_ATTR_CLASSES = frozenset({FIC.FileBasicInformation, FIC.FileAllInformation,
                                FIC.FileNetworkOpenInformation, FIC.FileAttributeTagInformation})


def _ea_size(eas: list[Any]) -> int:
    """Bytes of FileFullEaInformation for these EAs (what FileEaInformation reports)."""
    total = 0
    for ea in eas:
        total += (8 + len(ea.name) + 1 + len(ea.value) + 3) & ~3
    return total


_83_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()-@^_`{}~")


def short_name(op: Handle) -> str:
    """The 8.3 name: the name itself, upper-cased, when it already is a valid 8.3 name; else
    none (short-name generation is off, as on a Windows volume with 8dot3name disabled)."""
    last = op.path.rsplit("\\", 1)[-1].upper()
    base, dot, ext = last.partition(".")
    if (0 < len(base) <= 8 and len(ext) <= 3 and "." not in ext and not (dot and not ext)
            and set(base + ext) <= _83_CHARS):
        return last
    return ""


def smb_name(op: Handle) -> str:
    name = "\\" + op.path if op.path else "\\"
    if op.stream:
        name += ":" + op.stream
    return name


def _delete_pending(op: Handle) -> bool:
    return bool(op.pid) and op.share.volume.delete_pending(op)


def _basic(op: Handle, info: FileInfo, ea_size: int) -> bytes:
    return fscc.FileBasicInformation(info.creation_time, info.last_access_time, info.last_write_time,
                                     change_time(info), info.attributes).encode()


def _standard(op: Handle, info: FileInfo, ea_size: int) -> bytes:
    return fscc.FileStandardInformation(info.allocation_size, info.end_of_file, info.nlink,
                                        _delete_pending(op), info.is_directory).encode()


def _all(op: Handle, info: FileInfo, ea_size: int) -> bytes:
    """FileAllInformation ([MS-FSCC] 2.4.2) packed in one go: the nine classes below, back to back."""
    return fscc.FileAllInformation.pack(
        info.creation_time, info.last_access_time, info.last_write_time, change_time(info), info.attributes,
        info.allocation_size, info.end_of_file, info.nlink, _delete_pending(op), info.is_directory,
        info.file_id, ea_size, op.granted_access, op.position, op.mode, 0, smb_name(op))


def _network_open(op: Handle, info: FileInfo, ea_size: int) -> bytes:
    return fscc.FileNetworkOpenInformation(info.creation_time, info.last_access_time, info.last_write_time,
                                           change_time(info), info.allocation_size, info.end_of_file,
                                           info.attributes).encode()


# information class -> encoder of the open's answer (op, its FileInfo, EaSize); [MS-FSCC] 2.4.x
_FILE_CLASSES: dict[int, Callable[[Handle, FileInfo, int], bytes]] = {
    FIC.FileBasicInformation: _basic,
    FIC.FileStandardInformation: _standard,
    FIC.FileInternalInformation: lambda op, info, ea: fscc.FileInternalInformation(info.file_id).encode(),
    FIC.FileEaInformation: lambda op, info, ea: fscc.FileEaInformation(ea).encode(),
    FIC.FileAccessInformation: lambda op, info, ea: fscc.FileAccessInformation(op.granted_access).encode(),
    FIC.FilePositionInformation: lambda op, info, ea: fscc.FilePositionInformation(op.position).encode(),
    FIC.FileModeInformation: lambda op, info, ea: fscc.FileModeInformation(op.mode).encode(),
    FIC.FileAlignmentInformation: lambda op, info, ea: fscc.FileAlignmentInformation(0).encode(),
    FIC.FileNameInformation: lambda op, info, ea: fscc.FileNameInformation(smb_name(op)).encode(),
    FIC.FileAllInformation: _all,
    FIC.FileNetworkOpenInformation: _network_open,
    FIC.FileAttributeTagInformation: lambda op, info, ea: fscc.FileAttributeTagInformation(
        info.attributes, reparse_tag_of(info.attributes)).encode(),
    FIC.FileCompressionInformation: lambda op, info, ea: fscc.FileCompressionInformation(
        info.end_of_file, 0, 0, 0, 0).encode(),
    FIC.FileStandardLinkInformation: lambda op, info, ea: fscc.FileStandardLinkInformation(
        info.nlink, info.nlink, _delete_pending(op), info.is_directory).encode(),
    FIC.FileIdInformation: lambda op, info, ea: fscc.FileIdInformation(0, info.file_id).encode(),
}


def _file_class(op: Handle, cls: int, info: FileInfo, ea_size: int, dialect: int) -> bytes | None:
    """The encoded answer for FILE class ``cls``, None for a class this server does not answer."""
    enc = _FILE_CLASSES.get(cls)
    if enc is not None:
        return enc(op, info, ea_size)
    if cls == FIC.FileNormalizedNameInformation:
        if dialect < 0x0311:
            raise SmbError(NtStatus.NOT_SUPPORTED, "FileNormalizedNameInformation needs 3.1.1")
        return fscc.FileNameInformation(smb_name(op)[1:]).encode()
    return None


def _fs_class(ctx: Ctx, op: Handle, cls: int, stats: Any) -> bytes | None:
    if cls == FSC.FileFsVolumeInformation:
        return fscc.FileFsVolumeInformation(stats.volume_creation_time, stats.volume_serial,
                                            op.share.name, False).encode()
    if cls == FSC.FileFsSizeInformation:
        return fscc.FileFsSizeInformation(stats.total_units, stats.caller_available_units,
                                          stats.sectors_per_unit, stats.bytes_per_sector).encode()
    if cls == FSC.FileFsFullSizeInformation:
        return fscc.FileFsFullSizeInformation(stats.total_units, stats.caller_available_units,
                                              stats.actual_available_units, stats.sectors_per_unit,
                                              stats.bytes_per_sector).encode()
    if cls == FSC.FileFsDeviceInformation:
        return fscc.FileFsDeviceInformation().encode()
    if cls == FSC.FileFsAttributeInformation:
        attrs = FS_ATTRIBUTES | (FSA.READ_ONLY_VOLUME if op.share.config.read_only else 0)
        return fscc.FileFsAttributeInformation(int(attrs), stats.max_name_length, "NTFS").encode()
    if cls == FSC.FileFsSectorSizeInformation:
        bps = stats.bytes_per_sector
        return fscc.FileFsSectorSizeInformation(bps, bps, bps, bps, 0x3, 0, 0).encode()
    if cls == FSC.FileFsObjectIdInformation:
        return fscc.FileFsObjectIdInformation(stats.volume_serial.to_bytes(16, "little")).encode()
    if cls == FSC.FileFsControlInformation:
        return fscc.FileFsControlInformation().encode()
    return None


def _answer(size: fscc.InfoSize | None, data: bytes, out_len: int) -> Reply:
    if size is None:
        if len(data) > out_len:
            raise SmbError(NtStatus.INFO_LENGTH_MISMATCH)
        return reply(QueryInfoResponse(data).encode())
    status, out = fscc.fit_output(size, data, out_len)
    if status == NtStatus.INFO_LENGTH_MISMATCH:
        raise SmbError(status)
    return Reply((QueryInfoResponse(out).encode(),), status)


async def handle_query_info(ctx: Ctx, req: QueryInfoRequest) -> Reply:
    """[MS-SMB2] 3.3.5.20 Receiving an SMB2 QUERY_INFO Request."""
    op = get_open(ctx, req.file_id)
    if req.output_buffer_length > ctx.conn.max_transact_size:
        raise SmbError(NtStatus.INVALID_PARAMETER, "OutputBufferLength > MaxTransactSize")
    it = req.info_type
    if op.is_pipe:
        raise SmbError(NtStatus.NOT_SUPPORTED, "QUERY_INFO on a pipe")
    if it == InfoType.FILE:
        return await _query_file(ctx, op, req)
    if it == InfoType.FILESYSTEM:
        size = fscc.buffer_for(2, req.file_info_class)
        if size is None:
            raise SmbError(NtStatus.INVALID_INFO_CLASS, f"fs class {req.file_info_class}")
        stats = await run_fs(op.share.vfs.fs_stats)
        data = _fs_class(ctx, op, req.file_info_class, stats)
        if data is None:
            raise SmbError(NtStatus.INVALID_INFO_CLASS)
        return _answer(size, data, req.output_buffer_length)
    if it == InfoType.SECURITY:
        return await _query_security(ctx, op, req)
    if it == InfoType.QUOTA:
        raise SmbError(NtStatus.NOT_SUPPORTED, "quotas")
    raise SmbError(NtStatus.INVALID_PARAMETER, f"InfoType {it}")


async def _query_file(ctx: Ctx, op: Handle, req: QueryInfoRequest) -> Reply:
    cls = req.file_info_class
    if cls in _READ_ATTR_CLASSES and not op.granted_access & _FILE_READ_ATTRIBUTES:
        raise SmbError(NtStatus.ACCESS_DENIED, "no FILE_READ_ATTRIBUTES")
    vfs = op.share.vfs
    if cls == FIC.FileFullEaInformation:
        return await _query_eas(op, req)
    if cls == FIC.FileStreamInformation:
        streams = await run_fs(vfs.list_streams, op.handle)
        data = fscc.FileStreamInformation(tuple(
            fscc.StreamEntry(s.name, s.size, s.allocation_size) for s in streams)).encode()
        return _answer(fscc.buffer_for(1, cls), data, req.output_buffer_length)
    if cls in (FIC.FileAlternateNameInformation, FIC.FileShortNameInformation):
        data = fscc.FileNameInformation(short_name(op)).encode()
        return _answer(fscc.buffer_for(1, FIC.FileAlternateNameInformation), data, req.output_buffer_length)
    size = fscc.buffer_for(1, cls)
    if size is None:
        raise SmbError(NtStatus.INVALID_INFO_CLASS, f"file class {cls}")
    need_eas = cls in (FIC.FileEaInformation, FIC.FileAllInformation)
    info, eas = await run_fs(_stat_eas, vfs, op.handle, need_eas)
    encoded = _file_class(op, cls, info, _ea_size(eas), ctx.dialect)
    if encoded is None:
        raise SmbError(NtStatus.INVALID_INFO_CLASS, f"file class {cls}")
    return _answer(size, encoded, req.output_buffer_length)


def _stat_eas(vfs: Any, h: Any, need_eas: bool) -> tuple[FileInfo, list[Any]]:
    return vfs.stat(h), (vfs.get_eas(h) if need_eas else [])


async def _query_eas(op: Handle, req: QueryInfoRequest) -> Reply:
    """FileFullEaInformation ([MS-SMB2] 3.3.5.20.1, [MS-FSA] 2.1.5.2.x): all EAs or the listed ones."""
    if not op.granted_access & A.FILE_READ_EA:
        raise SmbError(NtStatus.ACCESS_DENIED, "no FILE_READ_EA")
    eas = await run_fs(op.share.vfs.get_eas, op.handle)
    wanted: list[str] | None = None
    if len(req.input_buffer):
        try:
            wanted = list(fscc.FileGetEaInformation.decode(req.input_buffer).names)
        except Exception:  # noqa: BLE001 - any decode failure is the client's
            raise SmbError(NtStatus.INVALID_PARAMETER, "bad FILE_GET_EA_INFORMATION") from None
    out: list[fscc.EaEntry] = []
    if wanted is None:
        if not eas:
            raise SmbError(NtStatus.NO_EAS_ON_FILE)
        out = [fscc.EaEntry(e.name.decode("latin-1"), e.value, e.flags) for e in eas]
    else:
        by_name = {e.name.upper(): e for e in eas}
        for n in wanted:
            e = by_name.get(n.encode("latin-1").upper())
            out.append(fscc.EaEntry(n, e.value if e else b"", e.flags if e else 0))
    # whole entries only: stop at the first one that does not fit
    parts: list[fscc.EaEntry] = []
    size = 0
    for ea in out:
        esize = len(fscc.FileFullEaInformation.encode_entry(ea))
        if size + esize > req.output_buffer_length:
            break
        parts.append(ea)
        size = (size + esize + 3) & ~3
    if not parts:
        raise SmbError(NtStatus.BUFFER_TOO_SMALL)
    data = fscc.FileFullEaInformation(tuple(parts)).encode()
    status = NtStatus.BUFFER_OVERFLOW if len(parts) < len(out) else NtStatus.SUCCESS
    return Reply((QueryInfoResponse(data).encode(),), status)


async def _query_security(ctx: Ctx, op: Handle, req: QueryInfoRequest) -> Reply:
    """[MS-SMB2] 3.3.5.20.3: the requested parts of the security descriptor."""
    info = req.additional_information
    if info & (SI.OWNER | SI.GROUP | SI.DACL | SI.LABEL) and not op.granted_access & A.READ_CONTROL:
        raise SmbError(NtStatus.ACCESS_DENIED, "no READ_CONTROL")
    if info & SI.SACL and not op.granted_access & A.ACCESS_SYSTEM_SECURITY:
        raise SmbError(NtStatus.ACCESS_DENIED, "no ACCESS_SYSTEM_SECURITY")
    data = await run_fs(query_security, op.share.vfs, op.handle, token_of_session(ctx.session),
                        op.is_directory, info)
    if len(data) > req.output_buffer_length:
        raise SmbError(NtStatus.BUFFER_TOO_SMALL, body=ErrorResponse.buffer_too_small(len(data)).encode())
    return reply(QueryInfoResponse(data).encode())
