"""Security descriptors and EAs kept in xattrs of the base object (``meta``): the calls both backends share.

A backend mixes :class:`XattrMetadata` in and provides three primitives on a handle's base object:
``_get_xattr`` (None when absent), ``_set_xattr`` and ``_remove_xattr`` (absent is fine); OSError becomes
the VfsError carrying the NTSTATUS of its errno.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sofs.vfs.base import EaEntry, VfsError
from sofs.vfs.confine import status_from_errno
from sofs.vfs.meta import XATTR_EA, XATTR_SD, decode_eas, encode_eas, merge_eas


class XattrMetadata:
    def _get_xattr(self, h: Any, name: str) -> bytes | None:
        raise NotImplementedError

    def _set_xattr(self, h: Any, name: str, value: bytes) -> None:
        raise NotImplementedError

    def _remove_xattr(self, h: Any, name: str) -> None:
        raise NotImplementedError

    def get_security_descriptor(self, h: Any) -> bytes | None:
        try:
            return self._get_xattr(h, XATTR_SD)
        except OSError as e:
            raise VfsError(status_from_errno(e.errno), str(e)) from None

    def set_security_descriptor(self, h: Any, sd: bytes) -> None:
        try:
            self._set_xattr(h, XATTR_SD, bytes(sd))
        except OSError as e:
            raise VfsError(status_from_errno(e.errno), str(e)) from None

    def get_eas(self, h: Any) -> list[EaEntry]:
        try:
            return decode_eas(self._get_xattr(h, XATTR_EA))
        except OSError as e:
            raise VfsError(status_from_errno(e.errno), str(e)) from None

    def set_eas(self, h: Any, eas: Iterable[EaEntry]) -> None:
        """Merge ``eas`` into the file's EAs (SET_INFO semantics: an empty value deletes that EA)."""
        merged = merge_eas(self.get_eas(h), eas)
        try:
            if merged:
                self._set_xattr(h, XATTR_EA, encode_eas(merged))
            else:
                self._remove_xattr(h, XATTR_EA)
        except OSError as e:
            raise VfsError(status_from_errno(e.errno), str(e)) from None
