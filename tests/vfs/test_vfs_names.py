"""Tables for SMB name parsing, case folding and [MS-FSA] 2.1.4.4 wildcard matching."""
from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sofs.vfs.names import (
    NameError_,
    SmbPath,
    fold_name,
    make_matcher,
    parse_smb_path,
    wildcard_match,
)
from sofs.wire.status import NtStatus as S


@pytest.mark.parametrize("name,expected", [
    ("", SmbPath(())),
    ("a", SmbPath(("a",))),
    ("a\\b\\c.txt", SmbPath(("a", "b", "c.txt"))),
    ("dir\\", SmbPath(("dir",))),
    ("f:s", SmbPath(("f",), "s")),
    ("f:s:$DATA", SmbPath(("f",), "s")),
    ("f:s:$data", SmbPath(("f",), "s")),
    ("f::$DATA", SmbPath(("f",), None)),
    ("d\\f:str eam", SmbPath(("d", "f"), "str eam")),
    (":s", SmbPath((), "s")),
    ("ünï cödé", SmbPath(("ünï cödé",))),
])
def test_parse_ok(name: str, expected: SmbPath) -> None:
    assert parse_smb_path(name) == expected


@pytest.mark.parametrize("name,status", [
    ("..\\..\\etc\\passwd", S.OBJECT_PATH_SYNTAX_BAD),
    ("a\\..\\b", S.OBJECT_PATH_SYNTAX_BAD),
    ("a\\.\\b", S.OBJECT_PATH_SYNTAX_BAD),
    ("..", S.OBJECT_PATH_SYNTAX_BAD),
    ("\\etc\\passwd", S.OBJECT_NAME_INVALID),
    ("/etc/passwd", S.OBJECT_NAME_INVALID),
    ("C:\\Windows", S.OBJECT_NAME_INVALID),
    ("C:", S.OBJECT_NAME_INVALID),  # "C" with an empty stream name
    ("a/b", S.OBJECT_NAME_INVALID),
    ("a\x00b", S.OBJECT_NAME_INVALID),
    ("a\\\\b", S.OBJECT_NAME_INVALID),
    ("a*b", S.OBJECT_NAME_INVALID),
    ("a?b", S.OBJECT_NAME_INVALID),
    ("a|b", S.OBJECT_NAME_INVALID),
    ("a\x01b", S.OBJECT_NAME_INVALID),
    ("f:s:$INDEX_ALLOCATION", S.OBJECT_NAME_INVALID),
    ("f:s/x", S.OBJECT_NAME_INVALID),
    ("x" * 256, S.OBJECT_NAME_INVALID),
])
def test_parse_refused(name: str, status: S) -> None:
    with pytest.raises(NameError_) as ei:
        parse_smb_path(name)
    assert ei.value.status == status


def test_fold_name() -> None:
    assert fold_name("abc.TXT") == "ABC.TXT"
    assert fold_name("straße") == "STRAßE"  # NTFS upcase keeps ß; no length change
    assert fold_name("éa") == "ÉA"


WILDCARDS = [
    ("*", "anything", True),
    ("*", ".", True),
    ("*.txt", "a.txt", True),
    ("*.txt", "a.TXT", True),
    ("*.txt", "a.txt.bak", False),
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("exact", "EXACT", True),
    ("exact", "exactly", False),
    ("*.*", "noext", False),
    ("*.*", "a.b", True),
    # DOS_STAR '<': any run not consuming the last dot
    ("<.txt", "a.b.txt", True),
    ("<", "a.b", False),  # '<' alone cannot consume the final dot
    ("<", "ab", True),
    ('<"*', "a.b", True),  # what clients send for "*.*"
    ('<"*', "noext", True),
    # DOS_QM '>': one char, or nothing at a dot or the end
    (">>>.txt", "ab.txt", True),
    (">>>.txt", "abcd.txt", False),
    ("a>", "a", True),
    ("a>", "ab", True),
    ("a>", "abc", False),
    # DOS_DOT '"': a dot, or nothing at the end
    ('a"', "a", True),
    ('a"', "a.", True),
    ('a"b', "a.b", True),
    ('a"b', "ab", False),
]


@pytest.mark.parametrize("pattern,name,expected", WILDCARDS)
def test_wildcard_table(pattern: str, name: str, expected: bool) -> None:
    assert wildcard_match(pattern, name) is expected
    assert make_matcher(pattern)(name) is expected


def _reference(pattern: str, name: str) -> bool:
    """Direct transcription of the [MS-FSA] 2.1.4.4 rules, by recursion."""
    p, n = pattern, fold_name(name)

    @cache
    def m(i: int, j: int) -> bool:
        if i == len(p):
            return j == len(n)
        c = p[i]
        if c == "*":
            return m(i + 1, j) or (j < len(n) and m(i, j + 1))
        if c == "<":
            if m(i + 1, j):
                return True
            return j < len(n) and (n[j] != "." or "." in n[j + 1:]) and m(i, j + 1)
        if c == ">":
            if j == len(n) or n[j] == ".":
                return m(i + 1, j)
            return m(i + 1, j + 1)
        if c == '"':
            if j < len(n) and n[j] == ".":
                return m(i + 1, j + 1)
            return j == len(n) and m(i + 1, j)
        if c == "?":
            return j < len(n) and m(i + 1, j + 1)
        return j < len(n) and fold_name(c) == n[j] and m(i + 1, j + 1)

    return m(0, 0)


@pytest.mark.parametrize("pattern,name,expected", WILDCARDS)
def test_reference_agrees_with_table(pattern: str, name: str, expected: bool) -> None:
    assert _reference(pattern, name) is expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab.*?<>\"", max_size=6), st.text(alphabet="abAB.", max_size=7))
def test_wildcard_matches_reference(pattern: str, name: str) -> None:
    assert wildcard_match(pattern, name) == _reference(pattern, name)


def test_validate_component_refuses_exactly_the_invalid_characters() -> None:
    """The one-scan check refuses the characters Windows refuses in a name ([MS-FSCC] 2.1.5.2:
    ``" * / : < > ? \\ |`` and 0x00-0x1F), wherever they are, and nothing else."""
    from sofs.vfs.names import NameError_, validate_component

    invalid = set('"*/:<>?\\|') | {chr(c) for c in range(0x20)}
    for code in range(0x300):
        ch = chr(code)
        for name in (ch + "x", "x" + ch, "ab" + ch + "cd"):
            if ch in invalid:
                with pytest.raises(NameError_):
                    validate_component(name)
            else:
                validate_component(name)
