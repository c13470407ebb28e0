"""[MS-WKST] wkssvc server: NetrWkstaGetInfo level 100 (what Windows asks when browsing a server)."""
from __future__ import annotations

import uuid

from sofs.rpc.dcerpc import NCA_S_OP_RNG_ERROR, RpcFault, SyntaxId
from sofs.rpc.ndr import NdrReader, NdrWriter
from sofs.rpc.srvsvc import ERROR_INVALID_LEVEL, NERR_SUCCESS, PLATFORM_ID_NT

WKSSVC_SYNTAX = SyntaxId(uuid.UUID("6bffd098-a112-3610-9833-46c3f87e345a"), 1)
OPNUM_NETR_WKSTA_GET_INFO = 0


class WkssvcService:
    syntax = WKSSVC_SYNTAX
    pipe_name = "wkssvc"

    def __init__(self, server_name: str, domain_name: str) -> None:
        self._server_name = server_name
        self._domain_name = domain_name

    def call(self, opnum: int, stub: bytes) -> bytes:
        if opnum != OPNUM_NETR_WKSTA_GET_INFO:
            raise RpcFault(NCA_S_OP_RNG_ERROR)
        r = NdrReader(stub)
        r.unique_wstr()
        level = r.u32()
        w = NdrWriter()
        w.u32(level)
        if level != 100:
            w.u32(ERROR_INVALID_LEVEL)
            return w.getvalue()
        w.pointer(True)
        w.u32(PLATFORM_ID_NT)  # [MS-WKST] 2.2.5.1 WKSTA_INFO_100
        w.pointer(True)
        w.pointer(True)
        w.u32(10)
        w.u32(0)
        w.wstr(self._server_name)
        w.wstr(self._domain_name)
        w.u32(NERR_SUCCESS)
        return w.getvalue()
