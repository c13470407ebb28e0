"""sofs.handlers.eager: the first step runs inline; a Task continues only if the coroutine suspends."""
from __future__ import annotations

import asyncio

import pytest

from sofs.handlers.eager import start_eager


def test_synchronous_coroutine_needs_no_task() -> None:
    seen: list[str] = []

    async def body() -> None:
        seen.append("ran")

    async def go() -> None:
        assert start_eager(asyncio.get_running_loop(), body()) is None
        assert seen == ["ran"]  # before any loop iteration

    asyncio.run(go())


def test_suspended_coroutine_continues_in_a_task() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        steps: list[object] = []

        async def body() -> int:
            steps.append("start")
            v = await fut
            steps.append(v)
            await asyncio.sleep(0)  # a bare yield is forwarded too
            steps.append("end")
            return v * 2

        task = start_eager(loop, body())
        assert task is not None and steps == ["start"]
        fut.set_result(21)
        assert await task == 42
        assert steps == ["start", 21, "end"]

    asyncio.run(go())


def test_cancelling_the_task_reaches_the_coroutine() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        never: asyncio.Future[None] = loop.create_future()
        log: list[str] = []

        async def body() -> None:
            try:
                await never
            except asyncio.CancelledError:
                log.append("cancelled")
                raise
            finally:
                log.append("finally")

        task = start_eager(loop, body())
        assert task is not None
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log == ["cancelled", "finally"]

    asyncio.run(go())


def test_cancel_can_be_turned_into_a_result() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        never: asyncio.Future[None] = loop.create_future()

        async def body() -> str:
            try:
                await never
            except asyncio.CancelledError:
                return "answered CANCELLED"
            return "no"

        task = start_eager(loop, body())
        assert task is not None
        await asyncio.sleep(0)
        task.cancel()
        assert await task == "answered CANCELLED"

    asyncio.run(go())


def test_errors_before_and_after_suspension() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()

        async def early() -> None:
            raise ValueError("eager")

        with pytest.raises(ValueError, match="eager"):
            start_eager(loop, early())

        fut: asyncio.Future[None] = loop.create_future()

        async def late() -> None:
            await fut
            raise KeyError("late")

        task = start_eager(loop, late())
        assert task is not None
        fut.set_result(None)
        with pytest.raises(KeyError):
            await task

    asyncio.run(go())
