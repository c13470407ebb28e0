"""sofs.wire.bufpool: buffers are reused only once nothing references them."""
from __future__ import annotations

from sofs.wire.bufpool import MAX_POOLED, MIN_SIZE, BufferPool


def test_size_classes_and_reuse() -> None:
    pool = BufferPool()
    a = pool.get(100)
    assert len(a) == MIN_SIZE
    a_id = id(a)
    del a
    assert id(pool.get(MIN_SIZE)) == a_id  # idle: handed out again
    assert len(pool.get(MIN_SIZE + 1)) == 2 * MIN_SIZE


def test_referenced_buffers_are_not_reused() -> None:
    pool = BufferPool()
    a = pool.get(5000)
    view = memoryview(a)[:10]  # e.g. a queued write or a request still being served
    del a
    b = pool.get(5000)
    assert b is not view.obj
    view.release()
    c = pool.get(5000)
    assert c is not b  # b is still referenced here
    del b
    assert pool.get(5000) is not None


def test_oversized_buffers_are_one_off() -> None:
    pool = BufferPool()
    big = pool.get(MAX_POOLED + 1)
    assert len(big) >= MAX_POOLED + 1
    assert pool._classes == {}
