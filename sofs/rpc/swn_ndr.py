"""[MS-SWN] Service Witness Protocol: NDR of its five calls and of the notification messages — pure.

Interface ``ccd8c074-d0e5-4a40-92b4-d074faa6ba28`` version 1.1 over ncacn_ip_tcp; opnums 0
WitnessrGetInterfaceList, 1 WitnessrRegister, 2 WitnessrUnRegister, 3 WitnessrAsyncNotify, 4
WitnessrRegisterEx ([MS-SWN] 3.1.4). Addresses inside the structures are in network byte order
([MS-SWN] 2.2.2.2, 2.2.2.4). Samba's own NDR code (python3-samba) cross-checks every encoding in
``tests/rpc/swn_oracle.py``.
"""
from __future__ import annotations

import ipaddress
import struct
import uuid
from dataclasses import dataclass

from sofs.rpc.dcerpc import SyntaxId
from sofs.rpc.ndr import NdrError, NdrReader, NdrWriter

SWN_SYNTAX = SyntaxId(uuid.UUID("ccd8c074-d0e5-4a40-92b4-d074faa6ba28"), 1 | 1 << 16)
OP_GET_INTERFACE_LIST, OP_REGISTER, OP_UNREGISTER, OP_ASYNC_NOTIFY, OP_REGISTER_EX = range(5)

WITNESS_V1 = 0x00010001
WITNESS_V2 = 0x00020000

# [MS-SWN] 2.2.2.4 WITNESS_INTERFACE_INFO
STATE_UNKNOWN, STATE_AVAILABLE, STATE_UNAVAILABLE = 0x0000, 0x0001, 0x00FF
IPV4_VALID, IPV6_VALID, INTERFACE_WITNESS = 0x01, 0x02, 0x04
GROUP_NAME_CHARS = 260
INTERFACE_INFO_SIZE = 552

# [MS-SWN] 2.2.2.6 RESP_ASYNC_NOTIFY MessageType, 2.2.2.1 RESOURCE_CHANGE ChangeType
RESOURCE_CHANGE, CLIENT_MOVE, SHARE_MOVE, IP_CHANGE = 1, 2, 3, 4
RESOURCE_UNKNOWN, RESOURCE_AVAILABLE, RESOURCE_UNAVAILABLE = 0x00, 0x01, 0xFF
# [MS-SWN] 2.2.2.2 IPADDR_INFO Flags
IPADDR_V4, IPADDR_V6, IPADDR_ONLINE, IPADDR_OFFLINE = 0x01, 0x02, 0x08, 0x10
IPADDR_INFO_SIZE = 24
REGISTER_IP_NOTIFICATION = 0x01  # RegisterEx Flags

# Win32 error codes returned by the calls ([MS-ERREF] 2.2)
ERROR_SUCCESS = 0
ERROR_INVALID_PARAMETER = 87
ERROR_NOT_FOUND = 1168
ERROR_REVISION_MISMATCH = 1306
ERROR_TIMEOUT = 1460
ERROR_INVALID_STATE = 5023


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    group_name: str
    state: int
    address: str
    flags: int = 0
    version: int = WITNESS_V2


@dataclass(frozen=True, slots=True)
class RegisterArgs:
    """WitnessrRegister / WitnessrRegisterEx input (``share_name``/``flags``/``timeout`` only for Ex)."""

    version: int
    net_name: str | None
    ip_address: str | None
    client_computer_name: str | None
    share_name: str | None = None
    flags: int = 0
    timeout: int = 0
    ex: bool = False


def _addr_bytes(address: str) -> tuple[int, bytes, bytes]:
    """(IPv4/IPv6 valid flag, 4 IPv4 bytes, 16 IPv6 bytes), network order."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return IPV4_VALID, ip.packed, bytes(16)
    return IPV6_VALID, bytes(4), ip.packed


def encode_interface_list(interfaces: list[InterfaceInfo], status: int = ERROR_SUCCESS) -> bytes:
    """[MS-SWN] 3.1.4.1 response: ``[out] PWITNESS_INTERFACE_LIST *`` then the status."""
    w = NdrWriter()
    w.pointer(True)
    w.u32(len(interfaces))
    w.pointer(bool(interfaces))
    if interfaces:
        w.u32(len(interfaces))  # conformant array max_count
        for i in interfaces:
            name = i.group_name.encode("utf-16-le")[: 2 * (GROUP_NAME_CHARS - 1)]
            valid, v4, v6 = _addr_bytes(i.address)
            w.align(4)
            w.buf += name.ljust(2 * GROUP_NAME_CHARS, b"\x00")
            w.u32(i.version)
            w.u16(i.state)
            w.align(4)
            w.buf += v4 + v6
            w.u32(i.flags | valid)
    w.u32(status)
    return w.getvalue()


def decode_register(stub: bytes, ex: bool) -> RegisterArgs:
    r = NdrReader(stub)
    version = r.u32()
    net_name = r.unique_wstr()
    share = r.unique_wstr() if ex else None
    ip = r.unique_wstr()
    client = r.unique_wstr()
    flags = timeout = 0
    if ex:
        flags, timeout = r.u32(), r.u32()
    return RegisterArgs(version, net_name, ip, client, share, flags, timeout, ex)


def encode_handle_result(handle: bytes, status: int) -> bytes:
    """``[out] PPCONTEXT_HANDLE`` (20 bytes: attributes + uuid) and the status."""
    if len(handle) != 20:
        raise ValueError("a context handle is 20 bytes")
    return handle + struct.pack("<I", status)


def decode_handle(stub: bytes) -> bytes:
    if len(stub) < 20:
        raise NdrError("short context handle")
    return bytes(stub[:20])


def new_handle(ident: uuid.UUID) -> bytes:
    return struct.pack("<I", 0) + ident.bytes_le


def handle_id(handle: bytes) -> uuid.UUID | None:
    """The registration id of a context handle (None for the null handle)."""
    ident = uuid.UUID(bytes_le=handle[4:20])
    return None if ident.int == 0 else ident


def encode_status(status: int) -> bytes:
    return struct.pack("<I", status)


def resource_change(name: str, change: int) -> bytes:
    """[MS-SWN] 2.2.2.1 RESOURCE_CHANGE (unaligned, Length counts the whole structure)."""
    raw = name.encode("utf-16-le") + b"\x00\x00"
    return struct.pack("<II", 8 + len(raw), change) + raw


def ipaddr_info_list(entries: list[tuple[str, int]]) -> bytes:
    """[MS-SWN] 2.2.2.3 IPADDR_INFO_LIST of (address, IPADDR_ONLINE/OFFLINE flag) entries."""
    body = bytearray()
    for address, state in entries:
        valid, v4, v6 = _addr_bytes(address)
        body += struct.pack("<I", state | (IPADDR_V4 if valid == IPV4_VALID else IPADDR_V6)) + v4 + v6
    return struct.pack("<III", len(body), 0, len(entries)) + bytes(body)


def encode_notify(message_type: int, messages: list[bytes], status: int = ERROR_SUCCESS) -> bytes:
    """[MS-SWN] 3.1.4.4 response: ``[out] PRESP_ASYNC_NOTIFY *`` then the status."""
    w = NdrWriter()
    if status != ERROR_SUCCESS:
        w.pointer(False)
        w.u32(status)
        return w.getvalue()
    buf = b"".join(messages)
    w.pointer(True)
    w.u32(message_type)
    w.u32(len(buf))
    w.u32(len(messages))
    w.pointer(bool(buf))
    if buf:
        w.u32(len(buf))
        w.buf += buf
    w.u32(status)
    return w.getvalue()
