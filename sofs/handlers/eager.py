"""Eager start of request coroutines: run the first step inline, make a Task only if it suspends.

Most SMB requests (ECHO, CREATE/CLOSE on a local file system, small READ/WRITE) complete without
ever awaiting a pending future. Wrapping each in an ``asyncio.Task`` costs a Task object, a
``call_soon`` handle and one more loop iteration before the response can be written; measured on the
ECHO path that was a large share of the per-request CPU, and it also prevents batching the responses
of one ``buffer_updated`` into a single ``writelines`` (one syscall instead of one per request).

Python 3.12 has ``asyncio.eager_task_factory``; 3.11 has not, so :func:`start_eager` drives
``coro.send(None)`` itself. If the coroutine suspends, the value it yielded (a future with
``_asyncio_future_blocking`` set, or ``None`` for a bare yield) is handed to a Task through
:class:`Resume`, which then forwards ``send``/``throw`` to the original coroutine exactly as
``yield from`` would (cancellation included).

Caveat (documented for handler authors): during the eager step ``asyncio.current_task()`` is
``None``, so code that needs the current task (``asyncio.timeout``, ``TaskGroup``) must not run
before the first real suspension. No handler does today; :mod:`sofs.server.connection` keeps the
task of a chain in its per-chain record instead of calling ``current_task()``.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


class Resume:
    """Awaitable that continues an already started coroutine (a hand-written ``yield from``)."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._first
        self._first = None
        while True:
            try:
                value = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:  # noqa: BLE001 - forwarded into the coroutine, as yield from
                try:
                    pending = coro.throw(e)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(value)
                except StopIteration as stop:
                    return stop.value


async def _continue(resume: Resume) -> Any:
    return await resume


def run_eager(loop: asyncio.AbstractEventLoop,
              coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` up to its first suspension now: ``(True, its result)`` when it finished, else
    ``(False, a Task that carries on from where it stopped)``. An exception raised during the
    eager step propagates to the caller."""
    try:
        first = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, resume(loop, coro, first)


def resume(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], first: Any) -> asyncio.Task[Any]:
    """The Task that carries on with ``coro``, which the caller started with ``coro.send(None)``
    and which yielded ``first`` (the caller's own :func:`run_eager`, one call less per request)."""
    return loop.create_task(_continue(Resume(coro, first)))


def start_eager(loop: asyncio.AbstractEventLoop,
                coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """:func:`run_eager` for ``-> None`` coroutines that handle their own errors: None when it
    finished (the result is dropped), else the Task that carries on."""
    done, value = run_eager(loop, coro)
    return None if done else value  # type: ignore[no-any-return]


__all__ = ["Resume", "resume", "run_eager", "start_eager"]
