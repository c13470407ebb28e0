"""dispatch looks a request's FileId up once (opens.lookup_open into ctx.open); get_open checks it."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sofs.handlers.base import FILE_ID_RELATED, SmbError
from sofs.handlers.opens import get_open, lookup_open

A, B = b"a" * 16, b"b" * 16


def _ctx(related: bool, chain_fid: bytes | None, session: Any = "s", tree: Any = "t") -> Any:
    handles = {fid: SimpleNamespace(file_id=fid, closed=False, session="s", tree="t") for fid in (A, B)}
    return SimpleNamespace(header=SimpleNamespace(flags=0x4 if related else 0),
                           chain=SimpleNamespace(file_id=chain_fid), open=None, session=session, tree=tree,
                           server=SimpleNamespace(handles=SimpleNamespace(by_id=handles)))


def test_an_unrelated_request_names_its_open() -> None:
    assert lookup_open(_ctx(False, B), memoryview(A)).file_id == A
    assert lookup_open(_ctx(False, None), b"c" * 16) is None


def test_a_related_request_uses_the_previous_file_id_whatever_it_names() -> None:
    assert lookup_open(_ctx(True, B), FILE_ID_RELATED).file_id == B
    assert lookup_open(_ctx(True, B), A).file_id == B  # Samba compat_chain_fsp
    assert lookup_open(_ctx(True, None), A).file_id == A
    assert lookup_open(_ctx(True, None), FILE_ID_RELATED) is None


def test_get_open_takes_the_dispatched_open_and_checks_it() -> None:
    ctx = _ctx(False, None)
    ctx.open = ctx.server.handles.by_id[B]
    assert get_open(ctx, A) is ctx.open  # no second lookup: dispatch resolved this request's FileId
    assert ctx.chain.file_id == B
    ctx.open.closed = True
    with pytest.raises(SmbError):
        get_open(ctx, B)
    other = _ctx(False, None, session="other")
    other.open = other.server.handles.by_id[A]
    with pytest.raises(SmbError):
        get_open(other, A)
    with pytest.raises(SmbError):
        get_open(_ctx(True, None), FILE_ID_RELATED)  # related without a previous FileId: FILE_CLOSED
