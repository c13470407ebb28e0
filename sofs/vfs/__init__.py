"""The file-system layer: the ``Vfs`` interface handlers use, and its POSIX backend.

Public API: ``Vfs``, ``VfsHandle``, ``VfsError``, ``FileInfo``, ``DirEntry``, ``StreamInfo``,
``EaEntry``, ``FsStats`` (``base``), ``PosixVfs`` / ``PosixHandle`` (``posix``), and the pure name
helpers ``parse_smb_path``, ``fold_name``, ``wildcard_match`` (``names``).
"""
from sofs.vfs.base import DirEntry, EaEntry, FileInfo, FsStats, StreamInfo, Vfs, VfsError, VfsHandle
from sofs.vfs.names import SmbPath, fold_name, parse_smb_path, wildcard_match
from sofs.vfs.posix import PosixHandle, PosixVfs

__all__ = [
    "DirEntry",
    "EaEntry",
    "FileInfo",
    "FsStats",
    "PosixHandle",
    "PosixVfs",
    "SmbPath",
    "StreamInfo",
    "Vfs",
    "VfsError",
    "VfsHandle",
    "fold_name",
    "parse_smb_path",
    "wildcard_match",
]
