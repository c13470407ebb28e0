"""MIT keytab files, format version 0x502 (the ``FILE:`` keytab of MIT krb5 and Heimdal), pure bytes.

File: ``05 02``, then entries, each an int32 (big-endian) size followed by: number of components
(uint16), realm and components (uint16 length + bytes), name type (uint32), timestamp (uint32), 8-bit
kvno, keyblock (uint16 enctype, uint16 length, key) and the 32-bit kvno. A negative size is a hole
(deleted entry) and is skipped when reading.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.errors import invalid

KEYTAB_VERSION = b"\x05\x02"
NT_PRINCIPAL = 1
NT_SRV_HST = 3


@dataclass(frozen=True, slots=True)
class KeytabEntry:
    """One key of one principal (``components`` without the realm, e.g. ``("cifs", "host.fqdn")``)."""

    realm: str
    components: tuple[str, ...]
    name_type: int
    timestamp: int
    kvno: int
    enctype: int
    key: bytes

    @property
    def principal(self) -> str:
        return "/".join(self.components) + "@" + self.realm


def _counted(s: bytes) -> bytes:
    return struct.pack(">H", len(s)) + s


def encode_entry(e: KeytabEntry) -> bytes:
    body = (struct.pack(">H", len(e.components)) + _counted(e.realm.encode())
            + b"".join(_counted(c.encode()) for c in e.components)
            + struct.pack(">IIBHH", e.name_type, e.timestamp & 0xFFFFFFFF, e.kvno & 0xFF, e.enctype,
                          len(e.key)) + e.key + struct.pack(">I", e.kvno & 0xFFFFFFFF))
    return struct.pack(">i", len(body)) + body


def encode_keytab(entries: list[KeytabEntry]) -> bytes:
    return KEYTAB_VERSION + b"".join(encode_entry(e) for e in entries)


def decode_keytab(data: bytes) -> list[KeytabEntry]:
    """Parse a version 0x502 keytab; WireError on a malformed file."""
    if data[:2] != KEYTAB_VERSION:
        raise invalid("not a version 0x502 keytab")
    out: list[KeytabEntry] = []
    pos = 2
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        pos += 4
        if size < 0:
            pos += -size
            continue
        if size == 0:
            break  # MIT: a zero size ends the file
        if pos + size > len(data):
            raise invalid(f"keytab entry of {size} bytes overruns the file")
        out.append(_entry(data[pos:pos + size]))
        pos += size
    return out


def _entry(b: bytes) -> KeytabEntry:
    try:
        (n,), p = struct.unpack_from(">H", b, 0), 2

        def counted() -> str:
            nonlocal p
            (ln,) = struct.unpack_from(">H", b, p)
            s = b[p + 2:p + 2 + ln]
            if len(s) != ln:
                raise invalid("keytab string overflows its entry")
            p += 2 + ln
            return s.decode()

        realm = counted()
        comps = tuple(counted() for _ in range(n))
        name_type, ts, vno8, enctype, klen = struct.unpack_from(">IIBHH", b, p)
        p += 13
        key = b[p:p + klen]
        if len(key) != klen:
            raise invalid("keytab key overflows its entry")
        p += klen
        kvno = struct.unpack_from(">I", b, p)[0] if p + 4 <= len(b) else vno8
    except (struct.error, UnicodeDecodeError) as e:
        raise invalid(f"malformed keytab entry: {e}") from None
    return KeytabEntry(realm, comps, name_type, ts, kvno, enctype, key)
