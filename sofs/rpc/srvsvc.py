"""[MS-SRVS] srvsvc server: share enumeration and server info, so ``smbclient -L`` / ``net view`` work.

Implemented: NetrShareEnum (opnum 15, levels 0/1/2/501/502), NetrShareGetInfo (opnum 16, levels
0/1/2/501/502/1005), NetrServerGetInfo (opnum 21, levels 100/101/102). Other opnums fault with
nca_s_op_rng_error (the pipe does that). Levels 2/502 are answered to everybody (Windows reserves
them to administrators); ``path`` is whatever the share source reports (a Windows-style path).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import NamedTuple

from sofs.rpc.dcerpc import NCA_S_OP_RNG_ERROR, RpcFault, SyntaxId
from sofs.rpc.ndr import NdrError, NdrReader, NdrWriter

SRVSVC_SYNTAX = SyntaxId(uuid.UUID("4b324fc8-1670-01d3-1278-5a47bf6ee188"), 3)

OPNUM_NETR_SHARE_ENUM = 15
OPNUM_NETR_SHARE_GET_INFO = 16
OPNUM_NETR_SERVER_GET_INFO = 21

# [MS-SRVS] 2.2.2.4 share types.
STYPE_DISKTREE = 0x00000000
STYPE_PRINTQ = 0x00000001
STYPE_DEVICE = 0x00000002
STYPE_IPC = 0x00000003
STYPE_SPECIAL = 0x80000000
STYPE_TEMPORARY = 0x40000000

# [MS-SRVS] 2.2.4.29 SHARE_INFO_1005 flags (the subset a file server sets).
SHI1005_FLAGS_RESTRICT_EXCLUSIVE_OPENS = 0x00000100
SHI1005_FLAGS_FORCE_SHARED_DELETE = 0x00000200
SHI1005_FLAGS_ALLOW_NAMESPACE_CACHING = 0x00000400
SHI1005_FLAGS_ACCESS_BASED_DIRECTORY_ENUM = 0x00000800
SHI1005_FLAGS_FORCE_LEVELII_OPLOCK = 0x00001000
SHI1005_FLAGS_ENABLE_HASH = 0x00002000
SHI1005_FLAGS_ENABLE_CA = 0x00004000
SHI1005_FLAGS_ENCRYPT_DATA = 0x00008000
SHI1005_FLAGS_COMPRESS_DATA = 0x00100000

# Win32 / NERR status codes returned as NET_API_STATUS.
NERR_SUCCESS = 0
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_PARAMETER = 87
ERROR_INVALID_LEVEL = 124
NERR_NET_NAME_NOT_FOUND = 2310

PLATFORM_ID_NT = 500
SV_TYPE_WORKSTATION = 0x00000001
SV_TYPE_SERVER = 0x00000002
SV_TYPE_NT = 0x00001000
SV_TYPE_SERVER_NT = 0x00008000
SERVER_TYPE = SV_TYPE_WORKSTATION | SV_TYPE_SERVER | SV_TYPE_NT | SV_TYPE_SERVER_NT


class ShareInfo(NamedTuple):
    """One share as srvsvc reports it; ``flags`` are SHI1005 flags, ``path`` a Windows-style path."""

    name: str
    type: int
    comment: str
    flags: int = 0
    path: str = ""


ShareInfoSource = Callable[[], Sequence[ShareInfo | tuple[str, int, str, int]]]


def _shares(source: ShareInfoSource) -> list[ShareInfo]:
    return [s if isinstance(s, ShareInfo) else ShareInfo(*s) for s in source()]


def _share_fixed(w: NdrWriter, level: int, s: ShareInfo) -> None:
    """The fixed part of one SHARE_INFO_<level> ([MS-SRVS] 2.2.4.22-2.2.4.29)."""
    if level == 1005:
        w.u32(s.flags)
        return
    w.pointer(True)  # shi*_netname
    if level == 0:
        return
    w.u32(s.type)
    w.pointer(True)  # shi*_remark
    if level == 1:
        return
    if level == 501:
        w.u32(s.flags)
        return
    w.u32(0)  # permissions
    w.u32(0xFFFFFFFF)  # max_uses: unlimited
    w.u32(0)  # current_uses
    w.pointer(True)  # path
    w.pointer(False)  # passwd
    if level == 502:
        w.u32(0)  # reserved (security descriptor length)
        w.pointer(False)  # security descriptor


def _share_deferred(w: NdrWriter, level: int, s: ShareInfo) -> None:
    if level == 1005:
        return
    w.wstr(s.name)
    if level == 0:
        return
    w.wstr(s.comment)
    if level in (2, 502):
        w.wstr(s.path)


ENUM_LEVELS = frozenset({0, 1, 2, 501, 502})
GET_INFO_LEVELS = frozenset({0, 1, 2, 501, 502, 1005})


class SrvsvcService:
    """The srvsvc interface for one pipe open; ``shares`` is asked on every call (per-user views)."""

    syntax = SRVSVC_SYNTAX
    pipe_name = "srvsvc"

    def __init__(self, shares: ShareInfoSource, server_name: str, server_comment: str = "") -> None:
        self._shares = shares
        self._server_name = server_name
        self._server_comment = server_comment

    def call(self, opnum: int, stub: bytes) -> bytes:
        if opnum == OPNUM_NETR_SHARE_ENUM:
            return self.netr_share_enum(stub)
        if opnum == OPNUM_NETR_SHARE_GET_INFO:
            return self.netr_share_get_info(stub)
        if opnum == OPNUM_NETR_SERVER_GET_INFO:
            return self.netr_server_get_info(stub)
        raise RpcFault(NCA_S_OP_RNG_ERROR)

    def netr_share_enum(self, stub: bytes) -> bytes:
        """[MS-SRVS] 3.1.4.8 NetrShareEnum (Samba: NetShareEnumAll)."""
        r = NdrReader(stub)
        r.unique_wstr()  # ServerName
        level = r.u32()
        if r.u32() != level:
            raise NdrError("union discriminant differs from Level")
        if level in ENUM_LEVELS and r.pointer():
            r.u32()  # EntriesRead
            if r.pointer():
                raise NdrError("client sent a non-empty share container")
        r.u32()  # PreferedMaximumLength: everything fits, we always return all entries
        resume_ptr = r.pointer()
        resume = r.u32() if resume_ptr else 0

        w = NdrWriter()
        w.u32(level)
        w.u32(level)
        if level not in ENUM_LEVELS:
            w.u32(0)  # TotalEntries
            w.pointer(False)
            w.u32(ERROR_INVALID_LEVEL)
            return w.getvalue()
        shares = _shares(self._shares)
        page = shares[resume:] if resume < len(shares) else []
        w.pointer(True)  # container
        w.u32(len(page))
        w.pointer(bool(page))
        if page:
            w.u32(len(page))  # conformant array max_count
            for s in page:
                _share_fixed(w, level, s)
            for s in page:
                _share_deferred(w, level, s)
        w.u32(len(shares))  # TotalEntries
        if resume_ptr:
            w.pointer(True)
            w.u32(0)  # all returned: resume handle back to 0
        else:
            w.pointer(False)
        w.u32(NERR_SUCCESS)
        return w.getvalue()

    def netr_share_get_info(self, stub: bytes) -> bytes:
        """[MS-SRVS] 3.1.4.10 NetrShareGetInfo."""
        r = NdrReader(stub)
        r.unique_wstr()  # ServerName
        netname = r.wstr()  # [in, string] ref pointer: no referent id
        level = r.u32()
        w = NdrWriter()
        w.u32(level)  # union discriminant
        if level not in GET_INFO_LEVELS:
            w.u32(ERROR_INVALID_LEVEL)
            return w.getvalue()
        share = next((s for s in _shares(self._shares) if s.name.lower() == netname.lower()), None)
        if share is None:
            w.pointer(False)
            w.u32(NERR_NET_NAME_NOT_FOUND)
            return w.getvalue()
        w.pointer(True)
        _share_fixed(w, level, share)
        _share_deferred(w, level, share)
        w.u32(NERR_SUCCESS)
        return w.getvalue()

    def netr_server_get_info(self, stub: bytes) -> bytes:
        """[MS-SRVS] 3.1.4.17 NetrServerGetInfo, levels 100/101/102."""
        r = NdrReader(stub)
        r.unique_wstr()
        level = r.u32()
        w = NdrWriter()
        w.u32(level)
        if level not in (100, 101, 102):
            w.u32(ERROR_INVALID_LEVEL)
            return w.getvalue()
        w.pointer(True)
        w.u32(PLATFORM_ID_NT)
        w.pointer(True)  # name
        if level >= 101:
            w.u32(10)  # version major
            w.u32(0)  # version minor
            w.u32(SERVER_TYPE)
            w.pointer(True)  # comment
        if level == 102:
            w.u32(0)  # users
            w.i32(15)  # disc (autodisconnect minutes)
            w.u32(0)  # hidden
            w.u32(240)  # announce
            w.u32(3000)  # anndelta
            w.u32(0)  # licenses
            w.pointer(True)  # userpath
        w.wstr(self._server_name)
        if level >= 101:
            w.wstr(self._server_comment)
        if level == 102:
            w.wstr("C:\\")
        w.u32(NERR_SUCCESS)
        return w.getvalue()
