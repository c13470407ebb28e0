"""[MS-FSCC] 2.5 file system information classes (QUERY_INFO with InfoType FILESYSTEM).

Same conventions as ``fscc_file``: frozen dataclasses with ``encode()`` / ``decode(buf)``;
``FS_INFO_TYPES`` maps the class number to its codec.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from sofs.wire.fscc_base import Buffer, take, unpack, utf16_decode, utf16_encode
from sofs.wire.fscc_constants import DeviceCharacteristics, DeviceType
from sofs.wire.fscc_constants import FsInfoClass as FSC

__all__ = [
    "FS_INFO_TYPES", "FileFsAttributeInformation", "FileFsControlInformation", "FileFsDeviceInformation",
    "FileFsFullSizeInformation", "FileFsLabelInformation", "FileFsObjectIdInformation",
    "FileFsSectorSizeInformation", "FileFsSizeInformation", "FileFsVolumeInformation",
]


@dataclass(frozen=True, slots=True)
class FileFsVolumeInformation:
    """[MS-FSCC] 2.5.9 FILE_FS_VOLUME_INFORMATION (18 bytes + label)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsVolumeInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qIIBx")
    volume_creation_time: int = 0
    volume_serial_number: int = 0
    volume_label: str = ""
    supports_objects: bool = False

    def encode(self) -> bytes:
        label = utf16_encode(self.volume_label)
        return self._ST.pack(self.volume_creation_time, self.volume_serial_number, len(label),
                             int(self.supports_objects)) + label

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsVolumeInformation:
        t, serial, n, so = unpack(cls._ST, buf)
        return cls(t, serial, utf16_decode(buf, 18, n), bool(so))


@dataclass(frozen=True, slots=True)
class FileFsLabelInformation:
    """[MS-FSCC] 2.5.5 FILE_FS_LABEL_INFORMATION (SET_INFO only)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsLabelInformation
    volume_label: str = ""

    def encode(self) -> bytes:
        label = utf16_encode(self.volume_label)
        return struct.pack("<I", len(label)) + label

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsLabelInformation:
        (n,) = struct.unpack("<I", take(buf, 0, 4))
        return cls(utf16_decode(buf, 4, n))


@dataclass(frozen=True, slots=True)
class FileFsSizeInformation:
    """[MS-FSCC] 2.5.8 FILE_FS_SIZE_INFORMATION (24 bytes)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsSizeInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qqII")
    total_allocation_units: int = 0
    available_allocation_units: int = 0
    sectors_per_allocation_unit: int = 8
    bytes_per_sector: int = 512

    def encode(self) -> bytes:
        return self._ST.pack(self.total_allocation_units, self.available_allocation_units,
                             self.sectors_per_allocation_unit, self.bytes_per_sector)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsSizeInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileFsFullSizeInformation:
    """[MS-FSCC] 2.5.4 FILE_FS_FULL_SIZE_INFORMATION (32 bytes)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsFullSizeInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qqqII")
    total_allocation_units: int = 0
    caller_available_allocation_units: int = 0
    actual_available_allocation_units: int = 0
    sectors_per_allocation_unit: int = 8
    bytes_per_sector: int = 512

    def encode(self) -> bytes:
        return self._ST.pack(self.total_allocation_units, self.caller_available_allocation_units,
                             self.actual_available_allocation_units, self.sectors_per_allocation_unit,
                             self.bytes_per_sector)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsFullSizeInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileFsDeviceInformation:
    """[MS-FSCC] 2.5.10 FILE_FS_DEVICE_INFORMATION (8 bytes)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsDeviceInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<II")
    device_type: int = DeviceType.DISK
    characteristics: int = DeviceCharacteristics.DEVICE_IS_MOUNTED

    def encode(self) -> bytes:
        return self._ST.pack(self.device_type, self.characteristics)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsDeviceInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileFsAttributeInformation:
    """[MS-FSCC] 2.5.1 FILE_FS_ATTRIBUTE_INFORMATION (12 bytes + file system name)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsAttributeInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<IiI")
    file_system_attributes: int = 0
    maximum_component_name_length: int = 255
    file_system_name: str = "NTFS"

    def encode(self) -> bytes:
        name = utf16_encode(self.file_system_name)
        return self._ST.pack(self.file_system_attributes, self.maximum_component_name_length,
                             len(name)) + name

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsAttributeInformation:
        a, m, n = unpack(cls._ST, buf)
        return cls(a, m, utf16_decode(buf, 12, n))


@dataclass(frozen=True, slots=True)
class FileFsControlInformation:
    """[MS-FSCC] 2.5.2 FILE_FS_CONTROL_INFORMATION (48 bytes)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsControlInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qqqqqI4x")
    free_space_start_filtering: int = 0
    free_space_threshold: int = 0
    free_space_stop_filtering: int = 0
    default_quota_threshold: int = -1
    default_quota_limit: int = -1
    file_system_control_flags: int = 0

    def encode(self) -> bytes:
        return self._ST.pack(self.free_space_start_filtering, self.free_space_threshold,
                             self.free_space_stop_filtering, self.default_quota_threshold,
                             self.default_quota_limit, self.file_system_control_flags)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsControlInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileFsSectorSizeInformation:
    """[MS-FSCC] 2.5.7 FILE_FS_SECTOR_SIZE_INFORMATION (28 bytes)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsSectorSizeInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<7I")
    logical_bytes_per_sector: int = 512
    physical_bytes_per_sector_for_atomicity: int = 512
    physical_bytes_per_sector_for_performance: int = 512
    effective_physical_bytes_per_sector_for_atomicity: int = 512
    flags: int = 0
    byte_offset_for_sector_alignment: int = 0
    byte_offset_for_partition_alignment: int = 0

    def encode(self) -> bytes:
        return self._ST.pack(self.logical_bytes_per_sector, self.physical_bytes_per_sector_for_atomicity,
                             self.physical_bytes_per_sector_for_performance,
                             self.effective_physical_bytes_per_sector_for_atomicity, self.flags,
                             self.byte_offset_for_sector_alignment,
                             self.byte_offset_for_partition_alignment)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsSectorSizeInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileFsObjectIdInformation:
    """[MS-FSCC] 2.5.6 FILE_FS_OBJECTID_INFORMATION: ObjectId (16) + ExtendedInfo (48)."""

    INFO_CLASS: ClassVar[int] = FSC.FileFsObjectIdInformation
    object_id: bytes = bytes(16)
    extended_info: bytes = bytes(48)

    def encode(self) -> bytes:
        if len(self.object_id) != 16 or len(self.extended_info) != 48:
            raise ValueError("ObjectId must be 16 bytes and ExtendedInfo 48")
        return self.object_id + self.extended_info

    @classmethod
    def decode(cls, buf: Buffer) -> FileFsObjectIdInformation:
        return cls(take(buf, 0, 16), take(buf, 16, 48))


FS_INFO_TYPES: dict[int, type] = {
    FSC.FileFsVolumeInformation: FileFsVolumeInformation,
    FSC.FileFsLabelInformation: FileFsLabelInformation,
    FSC.FileFsSizeInformation: FileFsSizeInformation,
    FSC.FileFsDeviceInformation: FileFsDeviceInformation,
    FSC.FileFsAttributeInformation: FileFsAttributeInformation,
    FSC.FileFsControlInformation: FileFsControlInformation,
    FSC.FileFsFullSizeInformation: FileFsFullSizeInformation,
    FSC.FileFsObjectIdInformation: FileFsObjectIdInformation,
    FSC.FileFsSectorSizeInformation: FileFsSectorSizeInformation,
}
