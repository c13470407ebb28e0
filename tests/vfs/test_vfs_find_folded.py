"""The case-insensitive directory scan returns what a plain fold_name loop returns."""
from __future__ import annotations

import random

from sofs.vfs.names import fold_name
from sofs.vfs.posix import _find_folded

NAMES = ["abc", "ABC", "ß", "SS", "ss", "ı", "I", "i", "straße", "STRASSE", "ﬁle", "FILE", "Ǆ", "ǅ",
         "ǆ", "é", "É", "xxxxx", "Ärger", "ÄRGER"]


def _reference(names: list[str], key: str) -> str | None:
    for n in names:
        if fold_name(n) == key:
            return n
    return None


def test_same_first_match_as_the_reference() -> None:
    rnd = random.Random(1234)
    for _ in range(3000):
        names = rnd.sample(NAMES, rnd.randint(0, len(NAMES)))
        key = fold_name(rnd.choice([*NAMES, "nope", "STRAßE", "Straße"]))
        assert _find_folded(names, key) == _reference(names, key), (names, key)


def test_multi_char_upper_is_not_a_match() -> None:
    # "ß".upper() is "SS", but fold_name keeps "ß": a file "ß" is not found as "SS"
    assert _find_folded(["ß"], fold_name("SS")) is None
    assert _find_folded(["ß", "ss"], fold_name("SS")) == "ss"
    assert _find_folded(["straße"], fold_name("STRAßE")) == "straße"
