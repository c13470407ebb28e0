"""The journal commits a process owes before its next SMB output: one commit per batch of responses.

A persistent handle's state is durable before the response that grants (CREATE) or ends (CLOSE) it
leaves the server ([MS-SMB2] 3.3.5.9.10: a client may reclaim only what survived). The coordinator
used to make each CREATE's and CLOSE's record durable itself, one write + ``fdatasync`` per request.
When the caller is a connection of this very process (endpoint ``LOCAL``) and the journal commits
inline, it now appends and *owes* the commit here instead (:meth:`OutputBarrier.owe`); the
connection settles the barrier right before it hands its output to the socket
(:meth:`OutputBarrier.settle`): the responses of one read (a client's whole queue at depth), and of
every connection's request that completed in between, ride on one commit. What the client sees is
unchanged: no response leaves before every record appended before it is on stable storage.

When a journal cannot commit inline at that moment (it moved to group commit in a thread, or a
flush is in flight), ``settle`` answers False and the connection holds its output until
:meth:`OutputBarrier.wait` has the commits done. A commit that fails (or a coordinator fenced off
meanwhile) raises: the connection is dropped rather than answer with state that is not durable.

Responses to callers in other processes (workers, cluster nodes) go through the coordinator link,
which does not settle this barrier: for them the coordinator still commits before it answers.
"""
from __future__ import annotations

from typing import Protocol


class Committer(Protocol):
    """What owes a commit: a volume coordinator (fencing check, then its journal's commit)."""

    def commit_inline(self) -> bool: ...

    async def commit(self) -> None: ...


class OutputBarrier:
    """This process's owed journal commits (see the module docstring).

    ``count`` numbers the owes; an output built from requests that started when ``count`` was
    ``mark`` passes :meth:`settle` only if no commit owed after ``mark`` has failed (a request may
    owe, suspend, and answer after another connection's settle met the failure)."""

    def __init__(self) -> None:
        self._owed: list[Committer] = []
        self.count = 0
        self.failed_upto = 0  # ``count`` at the last failed commit: owes up to it may be lost
        self.quiet = True  # nothing owed and no commit ever failed: output leaves without asking

    @property
    def owed(self) -> bool:
        return bool(self._owed)

    def owe(self, committer: Committer) -> None:
        """``committer`` appended state that must be durable before this process's next response."""
        self.count += 1
        self.quiet = False
        owed = self._owed
        if committer not in owed:
            owed.append(committer)

    def settle(self, mark: int) -> bool:
        """Make the owed commits now, on this thread; True when nothing is owed any more and the
        output of requests started at ``mark`` may leave. Raises what a commit raises (OSError,
        NotCoordinator), also for a failure met earlier by another output: the output must not
        leave then."""
        owed = self._owed
        while owed:
            try:
                if not owed[0].commit_inline():
                    return False
            except BaseException:
                owed.pop(0)
                self.failed_upto = self.count
                raise
            owed.pop(0)
        if self.failed_upto > mark:
            raise OSError("a journal commit owed by this output failed")
        self.quiet = not self.failed_upto
        return True

    async def wait(self) -> None:
        """The owed commits, waiting for group commits where they cannot be made inline."""
        owed = self._owed
        while owed:
            c = owed[0]
            try:
                await c.commit()
            except BaseException:
                if owed and owed[0] is c:
                    owed.pop(0)
                self.failed_upto = self.count
                raise
            if owed and owed[0] is c:
                owed.pop(0)
        self.quiet = not self.failed_upto
