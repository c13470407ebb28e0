"""IOCTL ([MS-SMB2] 3.3.5.15): the dispatcher of FSCTLs.

Connection-level FSCTLs live here (VALIDATE_NEGOTIATE_INFO 3.3.5.15.12, QUERY_NETWORK_INTERFACE_INFO
3.3.5.15.11, DFS referrals). File-level FSCTLs (server-side copy, sparse files, reparse points,
resiliency, pipes) are registered by other handler modules with :func:`register_fsctl`. An FSCTL nobody
registered answers STATUS_INVALID_DEVICE_REQUEST, as Windows does for an unknown control code; a
non-FSCTL IOCTL answers STATUS_NOT_SUPPORTED.

The FSCTLs that take no file handle (:data:`HANDLELESS_FSCTLS`) need FileId 0xFF..FF; any other FileId is
STATUS_INVALID_PARAMETER before anything else is looked at ([MS-SMB2] 3.3.5.15.11, 3.3.5.15.2; Windows
and Samba's ``smbd_smb2_request_process_ioctl``; smbtorture smb2.ioctl.bug14788.NETWORK_INTERFACE).
The raw FileId of the request is checked, not the related-compound substitute: clients send the marker.
"""
from __future__ import annotations

import importlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable

from sofs.handlers.base import Ctx, Reply, SmbError
from sofs.wire.constants import CtlCode, Dialect, GlobalCaps, IoctlFlags
from sofs.wire.errors import WireError
from sofs.wire.fsctl import (
    NetworkInterfaceInfo,
    ValidateNegotiateInfoRequest,
    ValidateNegotiateInfoResponse,
    encode_network_interfaces,
)
from sofs.wire.messages.ioctl import NO_FILE_ID, IoctlRequest, IoctlResponse
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.ioctl")

FsctlHandler = Callable[[Ctx, IoctlRequest], Awaitable[bytes | Reply]]
FSCTL_HANDLERS: dict[int, FsctlHandler] = {}

# Modules that register file-level FSCTLs when imported (missing ones are skipped).
FSCTL_MODULES = ("sofs.handlers.pipes", "sofs.handlers.fsctl_file", "sofs.handlers.copychunk",
                 "sofs.handlers.resilience")
_loaded = False

# [MS-SMB2] 3.3.5.15: the CtlCodes whose request names no open (FileId must be 0xFF..FF).
HANDLELESS_FSCTLS = frozenset({
    CtlCode.DFS_GET_REFERRALS, CtlCode.DFS_GET_REFERRALS_EX, CtlCode.PIPE_WAIT,
    CtlCode.VALIDATE_NEGOTIATE_INFO, CtlCode.QUERY_NETWORK_INTERFACE_INFO,
})


def register_fsctl(code: int) -> Callable[[FsctlHandler], FsctlHandler]:
    def deco(fn: FsctlHandler) -> FsctlHandler:
        FSCTL_HANDLERS[int(code)] = fn
        return fn

    return deco


def _load_modules() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in FSCTL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as e:
            if e.name != name:
                raise


def ioctl_reply(req: IoctlRequest, output: bytes, status: int = 0, file_id: bytes | None = None) -> Reply:
    """An IOCTL response echoing CtlCode/FileId with ``output`` ([MS-SMB2] 2.2.32)."""
    resp = IoctlResponse(req.ctl_code, file_id if file_id is not None else bytes(req.file_id), b"", output, 0)
    return Reply((resp.encode(),), status)


async def handle_ioctl(ctx: Ctx, req: IoctlRequest) -> Reply:
    _load_modules()
    if not req.flags & IoctlFlags.IS_FSCTL:
        raise SmbError(NtStatus.NOT_SUPPORTED, "non-FSCTL IOCTL")
    limit = ctx.conn.max_transact_size
    if (req.max_input_response > limit or req.max_output_response > limit
            or len(req.input) > limit):
        raise SmbError(NtStatus.INVALID_PARAMETER, "IOCTL buffer sizes above MaxTransactSize")
    code = req.ctl_code
    if code in HANDLELESS_FSCTLS and bytes(req.file_id) != NO_FILE_ID:
        raise SmbError(NtStatus.INVALID_PARAMETER, f"FSCTL 0x{code:08x} with a FileId")
    if code == CtlCode.VALIDATE_NEGOTIATE_INFO:
        return _validate_negotiate(ctx, req)
    if code == CtlCode.QUERY_NETWORK_INTERFACE_INFO:
        return _network_interfaces(ctx, req)
    if code in (CtlCode.DFS_GET_REFERRALS, CtlCode.DFS_GET_REFERRALS_EX):
        raise SmbError(NtStatus.NOT_FOUND, "no DFS namespace on this server")
    handler = FSCTL_HANDLERS.get(code)
    if handler is None:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, f"FSCTL 0x{code:08x} not supported")
    out = await handler(ctx, req)
    if isinstance(out, Reply):
        return out
    if len(out) > req.max_output_response:
        raise SmbError(NtStatus.BUFFER_TOO_SMALL, "FSCTL output larger than MaxOutputResponse")
    return ioctl_reply(req, out, file_id=ctx.file_id(bytes(req.file_id)))


def _validate_negotiate(ctx: Ctx, req: IoctlRequest) -> Reply:
    """[MS-SMB2] 3.3.5.15.12: a mismatch with what was negotiated means tampering: drop the connection."""
    from sofs.handlers.base import ConnectionAbort

    conn = ctx.conn
    if conn.dialect == Dialect.SMB3_1_1:
        raise ConnectionAbort("VALIDATE_NEGOTIATE_INFO on a 3.1.1 connection")
    try:
        v = ValidateNegotiateInfoRequest.decode(req.input)
    except (WireError, ValueError, IndexError):
        raise ConnectionAbort("malformed VALIDATE_NEGOTIATE_INFO") from None
    if (v.capabilities != conn.client_capabilities or bytes(v.guid) != conn.client_guid
            or v.security_mode != conn.client_security_mode or tuple(v.dialects) != conn.client_dialects):
        raise ConnectionAbort("VALIDATE_NEGOTIATE_INFO does not match the NEGOTIATE")
    if req.max_output_response < 24:
        raise SmbError(NtStatus.INVALID_PARAMETER, "MaxOutputResponse too small")
    out = ValidateNegotiateInfoResponse(conn.server_capabilities, ctx.server.config.server_guid,
                                        conn.server_security_mode, conn.dialect).encode()
    return ioctl_reply(req, out)


def _network_interfaces(ctx: Ctx, req: IoctlRequest) -> Reply:
    """[MS-SMB2] 3.3.5.15.11: the addresses this server listens on, each with the OS interface holding it
    (index, speed and RSS as the kernel reports them: :mod:`sofs.handlers.netif`)."""
    if ctx.conn.dialect < Dialect.SMB3_0:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST)
    if not ctx.conn.server_capabilities & GlobalCaps.MULTI_CHANNEL:
        # Windows and Samba without multichannel (smb2.session.anon-encryption2)
        raise SmbError(NtStatus.FS_DRIVER_REQUIRED, "multichannel not offered")
    from sofs.handlers.netif import interface_entries, os_interfaces

    addrs = list(dict.fromkeys(_concrete_address(h, ctx.conn.server_address) for h, _ in ctx.server.config.listen))
    entries = [NetworkInterfaceInfo(*e) for e in interface_entries(addrs, os_interfaces())]
    out = encode_network_interfaces(entries)
    if len(out) > req.max_output_response:
        raise SmbError(NtStatus.BUFFER_TOO_SMALL)
    return ioctl_reply(req, out)


def _concrete_address(host: str, server_address: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
        if not ip.is_unspecified:
            return str(ip)
    except ValueError:
        try:
            return socket.gethostbyname(host)
        except OSError:
            pass
    return server_address.rsplit(":", 1)[0] or "127.0.0.1"
