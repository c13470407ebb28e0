"""The narrow file-system interface the SMB handlers use ([MS-FSA] semantics on top of a backend).

Every method is synchronous and blocking; the server runs them in a thread pool. Implementations hold
no global lock: calls on different handles are independent, and calls on the same handle are safe as
long as the caller does not close it concurrently.

Errors are raised as :class:`VfsError` carrying the NTSTATUS the client should see.

Timestamps are FILETIME integers (100 ns since 1601, [MS-DTYP] 2.3.3). In ``set_basic_info`` the
values 0 (no change), -1 / 0xFFFFFFFFFFFFFFFF (stop automatic updates) and -2 / 0xFFFFFFFFFFFFFFFE
(resume automatic updates) all leave the stored value unchanged: the sticky/unsticky behaviour is
per handle and is recorded by the handle layer (``handlestate.Open.frozen_times``), which re-applies
frozen times after writes (or at close) through ``set_basic_info``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sofs.wire.codec import frozen_builder
from sofs.wire.fscc_constants import CreateAction, CreateDisposition
from sofs.wire.status import NtStatus


class VfsError(Exception):
    """A file-system failure mapped to the NTSTATUS the client gets."""

    def __init__(self, status: NtStatus, message: str = "") -> None:
        super().__init__(f"{status.name}: {message}" if message else status.name)
        self.status = status


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What QUERY_INFO / QUERY_DIRECTORY / CREATE responses need about one file or stream.

    ``file_id`` is 64-bit and stable across restarts (see ``posix.file_id_from_stat``). For a named
    stream, times/attributes/file_id are the base file's and the sizes are the stream's.
    ``attributes`` is FILE_ATTRIBUTE_* as reported (DIRECTORY set for directories, NORMAL when
    nothing else is set on a file).
    """

    creation_time: int
    last_access_time: int
    last_write_time: int
    change_time: int
    allocation_size: int
    end_of_file: int
    attributes: int
    file_id: int
    nlink: int
    is_directory: bool


file_info: Callable[[int, int, int, int, int, int, int, int, int, bool], FileInfo] = frozen_builder(FileInfo)
"""``FileInfo(...)`` (positional) at a third of its cost: every CREATE and listed entry builds one."""


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One directory listing entry (QUERY_DIRECTORY), including ``.`` and ``..``."""

    name: str
    info: FileInfo


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One FileStreamInformation entry ([MS-FSCC] 2.4.44): ``name`` as ``::$DATA`` / ``:x:$DATA``."""

    name: str
    size: int
    allocation_size: int


@dataclass(frozen=True, slots=True)
class EaEntry:
    """One extended attribute ([MS-FSCC] 2.4.15 FILE_FULL_EA_INFORMATION).

    ``name`` is ASCII bytes; NTFS stores and returns EA names upper-cased, and so do we.
    """

    name: bytes
    value: bytes
    flags: int = 0


@dataclass(frozen=True, slots=True)
class FsStats:
    """FileFsSizeInformation / FileFsFullSizeInformation / FileFsSectorSizeInformation inputs."""

    total_units: int
    caller_available_units: int
    actual_available_units: int
    sectors_per_unit: int
    bytes_per_sector: int
    volume_serial: int
    volume_creation_time: int
    max_name_length: int = 255


@runtime_checkable
class VfsHandle(Protocol):
    """An open file, directory or stream. ``path`` is the share-relative backslash path with the
    on-disk case (no stream suffix); ``stream`` the stream name or None; ``fd`` the data descriptor
    (usable for ``os.sendfile``), or -1 for a backend without OS descriptors (``CephVfs``): handlers
    then do data I/O through the Vfs methods."""

    path: str
    stream: str | None
    is_directory: bool
    file_id: int
    fd: int


NewSd = Callable[[str, bool], "bytes | None"]
"""See :meth:`Vfs.open_stat`: (SMB path of the object about to be created, is_directory) -> descriptor."""


class Vfs(Protocol):
    """The file-system operations handlers call. Paths are SMB paths relative to the share root."""

    def open(self, path: str, disposition: CreateDisposition, options: int = 0,
             attributes: int = 0, *, truncate: bool = True) -> tuple[VfsHandle, CreateAction]:
        """Open or create per [MS-SMB2] 2.2.13 CreateDisposition; options FILE_DIRECTORY_FILE /
        FILE_NON_DIRECTORY_FILE honoured; ``attributes`` are applied to created/overwritten files.
        ``truncate=False``: report OVERWRITTEN/SUPERSEDED but let the caller ``overwrite`` later."""
        ...

    def open_stat(self, path: str, disposition: int, options: int = 0, attributes: int = 0,
                  new_sd: NewSd | None = None) -> tuple[VfsHandle, CreateAction, FileInfo, bytes | None]:
        """The CREATE path's one call: :meth:`open` with ``truncate=False``, the object's
        :class:`FileInfo`, and for an opened (existing) object its stored security descriptor.

        ``new_sd(path, is_directory)`` is called when the (default stream of the) object is about to
        be created; the descriptor it returns (self-relative bytes, or None) is stored on the new
        object before its name can be seen by any other open, on any node — a directory created with
        an inherited deny ACE never admits a create below it ([MS-FSA] 2.1.5.1.1; smbtorture
        smb2.create.mkdir-visible). It may raise to refuse the create before anything exists."""
        ...

    def overwrite(self, h: VfsHandle, attributes: int = 0) -> None: ...

    def close(self, h: VfsHandle) -> None: ...
    def stat(self, h: VfsHandle) -> FileInfo: ...
    def stat_path(self, path: str) -> FileInfo: ...
    def read(self, h: VfsHandle, offset: int, length: int) -> bytes: ...
    def readinto(self, h: VfsHandle, offset: int, buf: memoryview | bytearray) -> int: ...
    def write(self, h: VfsHandle, offset: int, data: bytes | bytearray | memoryview) -> int: ...
    def flush(self, h: VfsHandle) -> None: ...
    def set_end_of_file(self, h: VfsHandle, size: int) -> None: ...
    def set_allocation_size(self, h: VfsHandle, size: int) -> None: ...
    def get_times_ns(self, h: VfsHandle) -> tuple[int, int]:
        """(atime, mtime) in ns since the Unix epoch (delayed write-time updates)."""
        ...

    def set_times_ns(self, h: VfsHandle, atime_ns: int, mtime_ns: int) -> None: ...
    def child_exists(self, h: VfsHandle, name: str) -> bool:
        """Whether directory ``h`` still has the entry ``name`` (QUERY_DIRECTORY drops vanished ones)."""
        ...

    def set_basic_info(self, h: VfsHandle, creation_time: int = 0, last_access_time: int = 0,
                       last_write_time: int = 0, change_time: int = 0, attributes: int = 0) -> None:
        """FileBasicInformation: 0/-1/-2 times and attributes 0 leave values unchanged."""
        ...

    def list_directory(self, h: VfsHandle, pattern: str = "*") -> list[DirEntry]: ...
    def is_directory_empty(self, h: VfsHandle) -> bool: ...
    def rename(self, h: VfsHandle, new_path: str, replace_if_exists: bool) -> str:
        """Rename/move within the share (or rename a stream when ``new_path`` starts with ':');
        updates ``h.path``/``h.stream`` and returns the new path."""
        ...

    def link(self, h: VfsHandle, new_path: str, replace_if_exists: bool) -> None: ...
    def delete(self, h: VfsHandle) -> None:
        """Remove the object ``h`` names (file, empty directory, or stream); the handle stays open."""
        ...

    def fs_stats(self) -> FsStats: ...
    def get_security_descriptor(self, h: VfsHandle) -> bytes | None: ...
    def set_security_descriptor(self, h: VfsHandle, sd: bytes) -> None: ...
    def get_eas(self, h: VfsHandle) -> list[EaEntry]: ...
    def set_eas(self, h: VfsHandle, eas: Iterable[EaEntry]) -> None: ...
    def list_streams(self, h: VfsHandle) -> Sequence[StreamInfo]: ...
