"""SMB path names: parsing, validation, case folding and Windows wildcard matching.

Pure functions, no file system. An SMB2 CREATE name is relative to the share root, components are
separated by ``\\`` and the last component may carry a stream suffix ``name:stream[:$DATA]``
([MS-FSCC] 2.1.5 pathname, 2.1.5.3 stream names).

Decisions:
- A leading ``\\`` or ``/``, an empty component (``a\\\\b``), ``.`` and ``..`` components and drive
  prefixes (``C:\\...`` -- a colon outside the last component) are refused. ``..``/``.`` give
  OBJECT_PATH_SYNTAX_BAD, the rest OBJECT_NAME_INVALID. One trailing ``\\`` is tolerated.
- ``/`` is not a separator (SMB2 uses ``\\`` only) and is an invalid character, as on Windows.
- Case folding uses per-character ``str.upper`` when it maps to a single character: close to the
  NTFS upcase table (``ß`` stays ``ß``), not full Unicode case folding.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from sofs.wire.status import NtStatus

MAX_COMPONENT = 255  # UTF-16 code units in NTFS; we count code points (close enough, BMP names)
_INVALID_CHARS = frozenset('"*/:<>?\\|') | frozenset(chr(c) for c in range(0x20))
_INVALID_RE = re.compile("[" + re.escape("".join(sorted(_INVALID_CHARS))) + "]")  # the same set, one C scan
_INVALID_STREAM_CHARS = frozenset("/\\:\x00")
WILDCARD_CHARS = frozenset("*?<>\"")


class NameError_(Exception):
    """A malformed name; ``status`` is what the client gets."""

    def __init__(self, status: NtStatus, message: str = "") -> None:
        super().__init__(message or status.name)
        self.status = status


@dataclass(frozen=True, slots=True)
class SmbPath:
    """A parsed SMB path: ``components`` (empty for the share root) and an optional stream name.

    ``stream`` is None for the default data stream (``name`` or ``name::$DATA``).
    """

    components: tuple[str, ...]
    stream: str | None = None

    @property
    def is_root(self) -> bool:
        return not self.components

    @property
    def rel(self) -> str:
        """POSIX relative path ('' for the root)."""
        return "/".join(self.components)

    @property
    def smb(self) -> str:
        """Backslash form without the stream suffix."""
        return "\\".join(self.components)


def fold_name(name: str) -> str:
    """Case-insensitive comparison key for a file or stream name (NTFS-like upcase)."""
    if name.isascii():
        return name.upper()
    return _fold_unicode(name)


@lru_cache(maxsize=4096)
def _fold_unicode(name: str) -> str:
    out = []
    for ch in name:
        up = ch.upper()
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


def validate_component(comp: str) -> None:
    """Raise NameError_ unless ``comp`` is a legal file or directory name."""
    if comp in (".", ".."):
        raise NameError_(NtStatus.OBJECT_PATH_SYNTAX_BAD, f"{comp!r} component")
    if not comp:
        raise NameError_(NtStatus.OBJECT_NAME_INVALID, "empty component")
    if len(comp) > MAX_COMPONENT:
        raise NameError_(NtStatus.OBJECT_NAME_INVALID, "component too long")
    bad = _INVALID_RE.search(comp)
    if bad is not None:
        raise NameError_(NtStatus.OBJECT_NAME_INVALID, f"invalid character {bad.group()!r}")


def validate_stream_name(name: str) -> None:
    """Stream names ([MS-FSCC] 2.1.5.3) may hold anything but ``\\ / :`` and NUL."""
    if not name or len(name) > MAX_COMPONENT:
        raise NameError_(NtStatus.OBJECT_NAME_INVALID, "bad stream name length")
    for ch in name:
        if ch in _INVALID_STREAM_CHARS:
            raise NameError_(NtStatus.OBJECT_NAME_INVALID, f"invalid stream character {ch!r}")


def parse_stream_suffix(suffix: str) -> str | None:
    """Parse ``stream[:type]`` (the part after the first colon). None = default data stream."""
    if ":" in suffix:
        sname, stype = suffix.split(":", 1)
        if stype.upper() != "$DATA":
            raise NameError_(NtStatus.OBJECT_NAME_INVALID, f"stream type {stype!r}")
    else:
        sname = suffix
    if sname == "":
        if ":" not in suffix:  # "name:" alone
            raise NameError_(NtStatus.OBJECT_NAME_INVALID, "empty stream name")
        return None
    validate_stream_name(sname)
    return sname


def parse_smb_path(name: str) -> SmbPath:
    """Parse and validate an SMB2 CREATE name relative to the share root."""
    if "\x00" in name:
        raise NameError_(NtStatus.OBJECT_NAME_INVALID, "NUL in name")
    if name.startswith(("\\", "/")):
        raise NameError_(NtStatus.OBJECT_NAME_INVALID, "absolute path")
    name = name.removesuffix("\\")
    if name == "":
        return SmbPath(())
    parts = name.split("\\")
    last = parts[-1]
    stream: str | None = None
    if ":" in last:
        last, suffix = last.split(":", 1)
        stream = parse_stream_suffix(suffix)
        if last == "" and len(parts) == 1:  # ":stream" on the share root
            return SmbPath((), stream)
        parts[-1] = last
    for comp in parts:
        validate_component(comp)
    return SmbPath(tuple(parts), stream)


# --- wildcards -------------------------------------------------------------------------------

def has_wildcards(pattern: str) -> bool:
    return any(ch in WILDCARD_CHARS for ch in pattern)


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    """Translate a Windows pattern to an anchored regex ([MS-FSA] 2.1.4.4 IsNameInExpression).

    ``*`` any run; ``?`` exactly one character; ``<`` (DOS_STAR) any run that does not consume the
    last ``.`` of the name; ``>`` (DOS_QM) one character, or nothing at a ``.`` or at the end;
    ``"`` (DOS_DOT) a ``.``, or nothing at the end of the name.
    """
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "<":
            out.append(r"(?:[^.]|\.(?=.*\.))*")
        elif ch == ">":
            out.append(r"(?:[^.]|(?=\.|\Z))")
        elif ch == '"':
            out.append(r"(?:\.|\Z)")
        else:
            out.append(re.escape(fold_name(ch)))
    return re.compile("".join(out), re.DOTALL)


def wildcard_match(pattern: str, name: str) -> bool:
    """True when ``name`` matches the Windows ``pattern`` (case-insensitive)."""
    if pattern == "*":
        return True
    if not has_wildcards(pattern):
        return fold_name(pattern) == fold_name(name)
    return _compile(pattern).fullmatch(fold_name(name)) is not None


def make_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate ``name -> bool`` for ``pattern`` ('' means ``*``), fast paths for ``*`` and exact."""
    if pattern in ("*", ""):
        return lambda _name: True
    if not has_wildcards(pattern):
        key = fold_name(pattern)
        return lambda name: fold_name(name) == key
    rx = _compile(pattern)
    return lambda name: rx.fullmatch(fold_name(name)) is not None
