"""A round-robin TCP relay for cross-node tests: each new connection goes to the next node in turn.

smbtorture connects every connection of a test to one address; through this relay a test's second
connection lands on another node than its first, so what a test checks between its connections
(share modes, breaks, locks, notify, replay) is checked between nodes. Runs its own event loop in a
thread; ``stop()`` closes it. Bytes are relayed unchanged.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Sequence


class RoundRobinProxy:
    def __init__(self, host: str, backends: Sequence[tuple[str, int]]) -> None:
        self.host = host
        self.backends = list(backends)
        self.port = 0
        self.connections = 0
        self._next = itertools.cycle(range(len(self.backends)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> RoundRobinProxy:
        self._thread = threading.Thread(target=self._run, name="rr-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the round-robin relay did not start")
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(asyncio.start_server(self._relay, self.host, 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        loop.run_forever()
        self._server.close()
        loop.run_until_complete(self._server.wait_closed())
        for task in asyncio.all_tasks(loop):
            task.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
        loop.close()

    async def _relay(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        self.connections += 1
        host, port = self.backends[next(self._next)]
        try:
            sr, sw = await asyncio.open_connection(host, port)
        except OSError:
            cw.close()
            return

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(1 << 16):
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    w.close()

        await asyncio.gather(pump(cr, sw), pump(sr, cw))

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
