"""[MS-PAC] 2.5 KERB_VALIDATION_INFO (the PAC_LOGON_INFO buffer of a Kerberos ticket), decode only.

The buffer is an NDR type serialization version 1 ([MS-RPCE] 2.2.6): an 8-byte common header, an
8-byte private header, the referent id of the top-level pointer, then the structure with its
deferred pointer data in the order the pointers appear. Only what an access token needs is kept:
the user's and groups' SIDs and the names.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.errors import WireError
from sofs.wire.status import NtStatus

SE_GROUP_RESOURCE = 0x20000000


def _bad(message: str) -> WireError:
    return WireError(NtStatus.LOGON_FAILURE, f"PAC logon info: {message}")


@dataclass(frozen=True, slots=True)
class LogonInfo:
    """What a logon token needs from KERB_VALIDATION_INFO. ``group_sids``: the primary group, the
    domain groups (GroupIds), the extra SIDs and the resource groups, in that order, without repeats."""

    user_name: str
    domain_name: str
    domain_sid: str
    user_sid: str
    group_sids: tuple[str, ...]


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def align(self, n: int) -> None:
        self.pos = (self.pos + n - 1) // n * n

    def take(self, fmt: str) -> tuple[int, ...]:
        st = struct.Struct("<" + fmt)
        if self.pos + st.size > len(self.data):
            raise _bad("truncated")
        out = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return out

    def u32(self) -> int:
        self.align(4)
        return self.take("I")[0]

    def string(self) -> str:
        """Deferred data of an RPC_UNICODE_STRING: a conformant varying array of WCHAR."""
        _max, offset, count = self.take("III")
        if offset or count > 0x8000:
            raise _bad("bad string")
        end = self.pos + 2 * count
        if end > len(self.data):
            raise _bad("truncated string")
        s = self.data[self.pos:end].decode("utf-16-le", "replace")
        self.pos = end
        self.align(4)
        return s

    def sid(self) -> str:
        """Deferred data of an RPC_SID ([MS-DTYP] 2.4.2.3): conformant on its sub-authorities."""
        count = self.u32()
        rev, n = self.take("BB")
        auth = int.from_bytes(self.take("6s")[0], "big")  # type: ignore[arg-type]
        if rev != 1 or n != count or n > 15:
            raise _bad("bad SID")
        subs = self.take(f"{n}I")
        return "S-1-" + str(auth) + "".join(f"-{x}" for x in subs)


def decode_logon_info(data: bytes) -> LogonInfo:
    """Decode a PAC_LOGON_INFO buffer; WireError (LOGON_FAILURE) if it does not parse."""
    if len(data) < 20 or data[0] != 1 or data[1] != 0x10:
        raise _bad("not an NDR type serialization v1 (little-endian)")
    r = _Reader(bytes(data), 16)
    if not r.u32():
        raise _bad("null top-level pointer")
    r.take("48x")  # six FILETIMEs
    names = [r.take("HHI")[2] for _ in range(6)]  # EffectiveName .. HomeDirectoryDrive (Buffer ptrs)
    _count, _bad_count, user_rid, primary_rid, group_count, groups_ptr = r.take("HHIIII")
    r.take("I16x")  # UserFlags, UserSessionKey
    server_ptr, domain_ptr = r.take("HHI")[2], r.take("HHI")[2]
    domain_sid_ptr = r.u32()
    r.take("8xII16xII")  # Reserved1, UAC, SubAuthStatus, two FILETIMEs, FailedILogonCount, Reserved3
    sid_count, extra_ptr, res_sid_ptr, res_count, res_ptr = r.take("IIIII")
    strings = [r.string() if p else "" for p in names]
    groups: list[int] = []
    if groups_ptr:
        if r.u32() != group_count:
            raise _bad("group count")
        groups = [r.take("II")[0] for _ in range(group_count)]
    if server_ptr:
        r.string()
    domain_name = r.string() if domain_ptr else ""
    if not domain_sid_ptr:
        raise _bad("no LogonDomainId")
    domain_sid = r.sid()
    extra: list[str] = []
    if extra_ptr:
        if r.u32() != sid_count:
            raise _bad("extra SID count")
        ptrs = [r.take("II")[0] for _ in range(sid_count)]
        extra = [r.sid() for p in ptrs if p]
    resource: list[str] = []
    if res_sid_ptr:
        res_domain = r.sid()
        if res_ptr:
            if r.u32() != res_count:
                raise _bad("resource group count")
            resource = [f"{res_domain}-{r.take('II')[0]}" for _ in range(res_count)]
    sids: list[str] = []
    for s in (f"{domain_sid}-{primary_rid}", *(f"{domain_sid}-{g}" for g in groups), *extra, *resource):
        if s not in sids:
            sids.append(s)
    return LogonInfo(strings[0], domain_name, domain_sid, f"{domain_sid}-{user_rid}", tuple(sids))


__all__ = ["LogonInfo", "decode_logon_info"]
