"""Encodings of the metadata the POSIX backend keeps in extended attributes, and the file id rule.

xattrs (all in the ``user.`` namespace, so no privilege is needed; ext4/xfs/tmpfs ≥ 6.6/CephFS):

``user.sofs.dosattrib`` (16 bytes) -- DOS attributes **and** creation time in one xattr, so that a
    stat costs one getxattr: ``struct '<BBHIQ'`` = version (1), reserved u8, reserved u16,
    FILE_ATTRIBUTE_* (the storable bits only), creation FILETIME (0 = unknown). Absent → attributes
    ARCHIVE (files) / none (directories), creation time = min(mtime, ctime). (The brief suggested a
    separate ``user.sofs.btime``; merged here on purpose.)
``user.sofs.sd`` -- the self-relative security descriptor, raw bytes (codec is in ``wire/``).
``user.sofs.ea`` -- all EAs of the file as one blob: repeated ``<BBH`` flags, name length,
    value length, then name (ASCII, upper-cased as NTFS does) and value. NTFS caps a file's EAs at
    64 KiB, the same order as the xattr value limit; ext4 without ``ea_inode`` caps xattrs at one
    block, so large EA sets fail there with EA_TOO_LARGE.
``user.sofs.streamkey`` -- 16 random bytes naming the file's stream directory (see ``streams``).
``user.sofs.streamname`` -- on a stream's data file: the stream name as given (UTF-8).
``user.sofs.allocation`` -- CephVfs only: the AllocationSize a client set beyond the data (8 bytes, little
    endian). CephFS reserves no blocks (PosixVfs uses fallocate KEEP_SIZE instead), so the size asked
    for is remembered and reported until the file is truncated below it.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable

from sofs.vfs.base import EaEntry, VfsError
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.status import NtStatus

XATTR_DOSATTRIB = "user.sofs.dosattrib"
XATTR_SD = "user.sofs.sd"
XATTR_EA = "user.sofs.ea"
XATTR_STREAMKEY = "user.sofs.streamkey"
XATTR_STREAMNAME = "user.sofs.streamname"
XATTR_ALLOCATION = "user.sofs.allocation"

_DOS = struct.Struct("<BBHIQ")
DOSATTRIB_VERSION = 1

# Attributes we store; DIRECTORY / NORMAL / REPARSE_POINT / COMPRESSED are derived, never stored.
STORABLE_ATTRIBUTES = int(FA.READONLY | FA.HIDDEN | FA.SYSTEM | FA.ARCHIVE | FA.TEMPORARY
                          | FA.SPARSE_FILE | FA.OFFLINE | FA.NOT_CONTENT_INDEXED | FA.ENCRYPTED
                          | FA.INTEGRITY_STREAM | FA.NO_SCRUB_DATA)


def encode_dosattrib(attributes: int, creation_time: int) -> bytes:
    return _DOS.pack(DOSATTRIB_VERSION, 0, 0, attributes & STORABLE_ATTRIBUTES,
                     creation_time & 0xFFFFFFFFFFFFFFFF)


def decode_dosattrib(blob: bytes | None) -> tuple[int, int] | None:
    """(attributes, creation_time) or None when absent/unknown version/corrupt (then defaults apply)."""
    if blob is None or len(blob) < _DOS.size:
        return None
    version, _r1, _r2, attributes, ctime = _DOS.unpack_from(blob)
    if version != DOSATTRIB_VERSION:
        return None
    return attributes & STORABLE_ATTRIBUTES, ctime


_DIRECTORY = int(FA.DIRECTORY)  # plain ints on the CREATE path (IntFlag operators are slow)
_NORMAL = int(FA.NORMAL)


def report_attributes(stored: int, is_directory: bool) -> int:
    """Attributes as the client sees them: DIRECTORY for directories, NORMAL for an otherwise bare file."""
    attrs = int(stored) & STORABLE_ATTRIBUTES
    if is_directory:
        return attrs | _DIRECTORY
    return attrs or _NORMAL


def normalize_ea_name(name: bytes) -> bytes:
    """EA names: 1..255 ASCII bytes, no control or ``"*+,/:;<=>?[\\]|`` ([MS-FSCC] 2.4.15); upper-cased."""
    if not 0 < len(name) <= 255:
        raise VfsError(NtStatus.INVALID_EA_NAME, "EA name length")
    for b in name:
        if b < 0x20 or b >= 0x7F or chr(b) in '"*+,/:;<=>?[\\]|':
            raise VfsError(NtStatus.INVALID_EA_NAME, f"EA name byte {b:#x}")
    return name.upper()


def encode_eas(eas: Iterable[EaEntry]) -> bytes:
    out = bytearray()
    for ea in eas:
        if len(ea.value) > 0xFFFF:
            raise VfsError(NtStatus.EA_TOO_LARGE)
        out += struct.pack("<BBH", ea.flags & 0xFF, len(ea.name), len(ea.value))
        out += ea.name
        out += ea.value
    return bytes(out)


def decode_eas(blob: bytes | None) -> list[EaEntry]:
    """Decode the EA blob; a corrupt tail is dropped (never raises)."""
    out: list[EaEntry] = []
    if not blob:
        return out
    pos = 0
    while pos + 4 <= len(blob):
        flags, nlen, vlen = struct.unpack_from("<BBH", blob, pos)
        pos += 4
        if pos + nlen + vlen > len(blob):
            break
        name = bytes(blob[pos:pos + nlen])
        value = bytes(blob[pos + nlen:pos + nlen + vlen])
        pos += nlen + vlen
        out.append(EaEntry(name, value, flags))
    return out


def merge_eas(existing: list[EaEntry], updates: Iterable[EaEntry]) -> list[EaEntry]:
    """SET_INFO FileFullEaInformation semantics: set or replace by name, an empty value deletes."""
    merged = {ea.name: ea for ea in existing}
    for ea in updates:
        name = normalize_ea_name(ea.name)
        if ea.value:
            merged[name] = EaEntry(name, ea.value, ea.flags)
        else:
            merged.pop(name, None)
    return list(merged.values())


_MASK64 = 0xFFFFFFFFFFFFFFFF


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def file_id_from_stat(st_dev: int, st_ino: int, root_dev: int) -> int:
    """The 64-bit FileId ([MS-FSCC] 2.4.20 IndexNumber) for an inode.

    On the share root's device the id is the inode number itself: unique, and stable across restarts
    and remounts (st_dev numbers are not stable: they change with mount order, btrfs subvolumes,
    FUSE). Inodes of other devices mounted inside the share are hashed with their st_dev
    (splitmix64) and get the top bit set; those ids are unique with high probability only and are
    stable only while st_dev is. 0 and 0xFFFF...FF are reserved, so they are remapped.
    """
    if st_dev == root_dev:
        fid = st_ino & _MASK64
    else:
        fid = _splitmix64(((st_dev * 0x9E3779B97F4A7C15) ^ st_ino) & _MASK64) | (1 << 63)
    if fid in (0, _MASK64):
        fid = 0x7FFFFFFFFFFFFFFE if fid == _MASK64 else 1
    return fid
