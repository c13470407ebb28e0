"""OutputBarrier (sofs.handlestate.barrier): owed commits made in order, once; a failure stops the
outputs that may depend on it and only those."""
from __future__ import annotations

import asyncio

import pytest

from sofs.handlestate.barrier import OutputBarrier


class FakeCommitter:
    def __init__(self, name: str, log: list[str], inline: bool = True, fail: bool = False) -> None:
        self.name, self.log, self.inline, self.fail = name, log, inline, fail

    def commit_inline(self) -> bool:
        if self.fail:
            raise OSError("disk gone")
        if self.inline:
            self.log.append(f"inline {self.name}")
        return self.inline

    async def commit(self) -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise OSError("disk gone")
        self.log.append(f"group {self.name}")


def test_owed_commits_are_made_once_in_order() -> None:
    log: list[str] = []
    b = OutputBarrier()
    a, z = FakeCommitter("a", log), FakeCommitter("z", log)
    mark = b.count
    b.owe(a)
    b.owe(z)
    b.owe(a)  # owed twice, committed once
    assert b.owed and b.count == mark + 3
    assert b.settle(mark)
    assert log == ["inline a", "inline z"] and not b.owed
    assert b.settle(mark) and log == ["inline a", "inline z"]  # nothing owed: nothing done


def test_a_commit_that_cannot_be_inline_is_waited_for() -> None:
    log: list[str] = []
    b = OutputBarrier()
    slow = FakeCommitter("slow", log, inline=False)
    b.owe(slow)
    assert not b.settle(0) and b.owed
    asyncio.run(b.wait())
    assert log == ["group slow"] and not b.owed


def test_a_failure_stops_the_outputs_that_may_depend_on_it_only() -> None:
    log: list[str] = []
    b = OutputBarrier()
    early = b.count  # an output whose requests began before the owe
    bad = FakeCommitter("bad", log, fail=True)
    b.owe(bad)
    with pytest.raises(OSError):
        b.settle(early)
    assert not b.owed
    # another output begun before the failed owe (it may have suspended after owing): refused too
    with pytest.raises(OSError):
        b.settle(early)
    # output of requests begun after the failure: not concerned
    assert b.settle(b.count)


def test_a_failed_group_commit_is_reported_to_the_waiter() -> None:
    b = OutputBarrier()
    mark = b.count
    b.owe(FakeCommitter("bad", [], inline=False, fail=True))
    with pytest.raises(OSError):
        asyncio.run(b.wait())
    with pytest.raises(OSError):
        b.settle(mark)
