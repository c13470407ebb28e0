"""What a serving process asks of the other SMB worker processes of its server (``server.workers``),
and of the other nodes of its cluster about sessions (``server.channels``).

A server with several worker processes (:mod:`sofs.server.workers`) gives each process's
:class:`~sofs.server.state.ServerState` a :class:`Peers`: the few things that cross workers outside
the volume coordinator. A one-process server has none (``server.workers is None``).
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Peers(Protocol):
    def connection_closed(self, token: int, handed_back: asyncio.Future[Any] | None) -> None:
        """Connection ``token`` (the main process's number for it) is gone; ``handed_back`` is done
        when its opens were handed back to the coordinator (a reconnect elsewhere finds them
        disconnected only then)."""

    async def logoff_previous(self, session_id: int, user: str) -> bool:
        """[MS-SMB2] 3.3.5.5.3 for a PreviousSessionId this process does not hold: the worker holding
        it logs it off when its user is ``user`` (lower-case name). True when a session ended."""

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """The open-file rows the other workers published (share name -> rows)."""

    def owner_of(self, session_id: int) -> int | None:
        """The index of the other worker whose session ids look like ``session_id`` (None: this one)."""

    def hand_off(self, token: int, worker: int, state: dict[str, Any], request: bytes, fd: int) -> None:
        """Move connection ``token`` (socket ``fd``, a duplicate the caller closes afterwards) to
        ``worker``, which goes on from ``state`` by receiving ``request`` again."""

    def close_elsewhere(self, volume: str, persistent_id: int) -> None:
        """Close-SmbOpenFile of an open this process neither holds nor coordinates: whichever worker
        holds it closes it."""


class ChannelHolders(Protocol):
    """Which node of the cluster holds a session (a cluster node's ``server.channels``; see
    :mod:`sofs.server.channel_relay`). A standalone server has none."""

    def holder_of(self, session_id: int) -> int | None:
        """The id of the other node whose session ids look like ``session_id`` and that a binding
        connection can be carried to (None: this node, or no node known by that id)."""
