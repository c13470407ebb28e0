"""CHANGE_NOTIFY watch state ([MS-SMB2] 3.3.5.19, [MS-FSCC] 2.7.1)."""
from __future__ import annotations

from sofs.handlestate.notify import NotifyTable
from sofs.wire.constants import CompletionFilter as CF
from sofs.wire.constants import NotifyAction as NA
from sofs.wire.messages.notify import decode_file_notify_information


def names(data: bytes) -> list[tuple[int, str]]:
    return [(e.action, e.file_name) for e in decode_file_notify_information(data)]


def test_single_dir_and_tree_watches() -> None:
    t = NotifyTable()
    d = t.watch("d", "Dir", CF.FILE_NAME, False, "s")
    tree = t.watch("root", "", CF.FILE_NAME | CF.DIR_NAME, True, "s")
    other = t.watch("o", "Dir", CF.FILE_NAME, False, "other-share")
    assert set(map(id, t.report("dir\\a.txt", NA.ADDED, CF.FILE_NAME, "s"))) == {id(d), id(tree)}
    assert t.report("dir\\sub\\b.txt", NA.REMOVED, CF.FILE_NAME, "s") == [tree]
    assert t.report("dir\\c", NA.ADDED, CF.DIR_NAME, "s") == [tree]  # filter excludes the dir watch
    assert names(d.take(4096)[1]) == [(NA.ADDED, "a.txt")]
    assert names(tree.take(4096)[1]) == [(NA.ADDED, "dir\\a.txt"), (NA.REMOVED, "dir\\sub\\b.txt"),
                                         (NA.ADDED, "dir\\c")]
    assert not other.has_news


def test_overflow_and_small_buffer_give_enum_dir() -> None:
    t = NotifyTable()
    w = t.watch("d", "", CF.FILE_NAME, False)
    w.max_entries = 3
    for i in range(5):
        t.report(f"f{i}", NA.ADDED, CF.FILE_NAME)
    assert w.has_news and w.take(4096) == (True, b"")
    assert not w.has_news  # starts empty again
    t.report("f", NA.ADDED, CF.FILE_NAME)
    assert w.take(4) == (True, b"")  # does not fit the client's buffer


def test_tree_watch_below_subdirectory_is_case_insensitive() -> None:
    t = NotifyTable()
    w = t.watch("d", "A\\B", CF.FILE_NAME, True)
    t.report("a\\b\\c\\x", NA.ADDED, CF.FILE_NAME)
    t.report("a\\bc\\x", NA.ADDED, CF.FILE_NAME)  # a sibling with a common prefix is not inside
    assert names(w.take(4096)[1]) == [(NA.ADDED, "c\\x")]
    assert t.remove("d") is w and t.report("a\\b\\y", NA.ADDED, CF.FILE_NAME) == []


def test_unless_filter_skips_watches_following_names() -> None:
    """A renamed file's attribute change goes only to watches without FILE_NAME (smb2.notify.rec /
    .mask-change)."""
    t = NotifyTable()
    attrs = t.watch("a", "", CF.ATTRIBUTES, True, "s")
    both = t.watch("b", "", CF.FILE_NAME | CF.ATTRIBUTES, True, "s")
    hit = t.report("x", NA.MODIFIED, CF.ATTRIBUTES | CF.CREATION, "s", unless_filter=CF.FILE_NAME)
    assert hit == [attrs] and not both.has_news
