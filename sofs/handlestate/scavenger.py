"""The disconnected-handle scavenger: a periodic task that releases abandoned durable/persistent opens
(and with them their locks, leases and share modes) once their timeout has passed ([MS-SMB2]
3.3.2.1 durable open scavenger timer).

Generic and clock-free: ``tick`` does the work (the handlers' ``close_expired``) and returns how many
opens it released; ``sleep`` is injected so tests drive it without waiting.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("sofs.scavenger")

SCAVENGE_INTERVAL_S = 1.0


async def run_scavenger(tick: Callable[[], Awaitable[int]], *, interval: float = SCAVENGE_INTERVAL_S,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                        stop: asyncio.Event | None = None,
                        after_tick: Callable[[], None] | None = None) -> None:
    """Call ``tick`` every ``interval`` seconds until ``stop`` is set (or the task is cancelled)."""
    while stop is None or not stop.is_set():
        await sleep(interval)
        try:
            n = await tick()
            if n:
                log.info("scavenger released %d disconnected open(s)", n)
            if after_tick is not None:
                after_tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad open must not stop the scavenger
            log.exception("scavenger tick failed")
