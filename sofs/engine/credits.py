"""Credits and the command sequence window ([MS-SMB2] 3.3.1.1, 3.3.1.2, 3.3.5.2.3).

The server grants message ids to the client as credits. Every request consumes ``CreditCharge`` ids
starting at its ``MessageId`` (a charge of 0 counts as 1); each id may be used once, and only ids that
were granted may be used. Responses grant new credits, which extend the window at its top.

Invariants kept by :class:`SequenceWindow`:
- ``low <= high``; ids ``< low`` are all consumed; ids in ``[low, high)`` are granted, and those in
  ``used`` have been consumed out of order.
- ``outstanding()`` (granted, unused ids) never exceeds ``max_credits``.
"""
from __future__ import annotations


class SequenceWindow:
    __slots__ = ("high", "low", "max_credits", "used")

    def __init__(self, max_credits: int = 8192) -> None:
        self.low = 0
        self.high = 1  # message id 0 (NEGOTIATE) is granted from the start
        self.used: set[int] = set()
        self.max_credits = max_credits

    def outstanding(self) -> int:
        """Credits the client still holds (granted, not yet consumed)."""
        return self.high - self.low - len(self.used)

    def consume(self, message_id: int, charge: int) -> bool:
        """Consume ids ``message_id .. message_id+charge-1``; False if any is not available."""
        n = charge or 1
        end = message_id + n
        if message_id < self.low or end > self.high:
            return False
        if self.used:
            for mid in range(message_id, end):
                if mid in self.used:
                    return False
        if message_id == self.low:
            self.low = end
            used = self.used
            while self.low in used:
                used.discard(self.low)
                self.low += 1
        else:
            self.used.update(range(message_id, end))
        return True

    def grant(self, requested: int, charge: int = 1) -> int:
        """Credits to grant in a response; the window grows by that many.

        Grants what was asked (at least one, so that a client is never left without credits), up to the
        configured maximum of outstanding credits ([MS-SMB2] 3.3.1.2).
        """
        outstanding = self.high - self.low - len(self.used)
        g = requested if requested > 1 else 1  # noqa: FURB136 - a builtin call costs more, every response
        room = self.max_credits - outstanding
        if g > room:
            g = room if room > 0 else (1 if outstanding == 0 else 0)
        self.high += g
        return g
