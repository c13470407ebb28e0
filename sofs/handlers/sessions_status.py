"""What a server publishes about its SMB sessions, their channels and tree connects (``Get-SmbSession``,
``Get-SmbConnection``, ``Get-SmbMultichannelConnection``), and ``Close-SmbSession`` acting on it.

:func:`session_rows` reads the server's tables (pure, given the clock and the OS interfaces): one row
per valid session with its user, dialect, times, open count, every channel (the connection it was
set up on and the ones bound to it, [MS-SMB2] 3.3.1.8 Session.ChannelList) with the server
interface each arrived on, and every tree connect. A cluster node publishes the rows in the cluster
store (``sofs.server.node_status``); the management services read them from there.

Decisions:
- ClientUserName is ``DOMAIN\\user``: the domain of a Kerberos logon (from its PAC), the server's
  NetBIOS name for a local or cluster account (as Windows shows ``SERVER\\user`` for a local account);
  empty for an anonymous session.
- Times are wall-clock stamps (``created``, ``last_active``: the session's last request); the reader
  turns them into SecondsExists / SecondsIdle, so the listing does not change every second.
- ``Close-SmbSession`` ends the session as a forced logoff: every open of the session closes,
  durable and persistent ones too (MSFT_SmbSession.ForceClose: "closes all handles opened by the
  session"); the client's next request on it gets STATUS_USER_SESSION_DELETED.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sofs.engine.state import ConnectionState, Session, SessionState
from sofs.handlers.netif import OsInterface, interface_entries

log = logging.getLogger("sofs.sessions")
DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}


def dialect_name(d: int) -> str:
    return DIALECTS.get(d, f"{d:#06x}")


def client_user_name(session: Session, server_name: str) -> str:
    user = session.user
    name = str(getattr(user, "name", "") or "")
    if not name or session.is_anonymous:
        return ""
    return name if "\\" in name else f"{server_name}\\{name}"


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0] if ":" in address else address


def _channel(conn: ConnectionState, interfaces: Sequence[OsInterface]) -> dict[str, Any]:
    server_ip = _host(conn.server_address)
    entry = next(iter(interface_entries([server_ip], interfaces)), None) if server_ip else None
    return {"conn_id": conn.conn_id, "client": conn.client_address, "server": conn.server_address,
            "if_index": entry[0] if entry else 0, "rss": bool(entry[1]) if entry else False,
            "link_speed": entry[2] if entry else 0}


def session_rows(sessions: Sequence[Session], server_name: str, interfaces: Sequence[OsInterface]) -> list[dict[str, Any]]:
    """One JSON-able row per established session, valid or expired (a Kerberos session past its
    ticket's end keeps its opens until the client re-authenticates) (pure)."""
    from sofs.handlers.session import MAX_CHANNELS

    out = []
    for s in sessions:
        if s.state is SessionState.IN_PROGRESS:
            continue
        trees = []
        for t in s.trees.values():
            share = t.share
            trees.append({"tree_id": t.tree_id, "share": "IPC$" if t.is_ipc else share.name,
                          "server_name": t.server_name, "ca": t.is_ca, "scaleout": t.is_scaleout,
                          "scope": getattr(share.config, "scope_name", "*") if share is not None else "*",
                          "encrypted": bool(t.encrypt or s.encrypt_data), "num_opens": t.open_count})
        out.append({
            "session_id": s.session_id, "client": s.connection.client_address,
            "user": client_user_name(s, server_name), "dialect": dialect_name(s.dialect),
            "created": s.created_at, "last_active": s.last_active or s.created_at,
            "num_opens": sum(t["num_opens"] for t in trees), "guest": s.is_guest, "anonymous": s.is_anonymous,
            "signed": bool(s.signing_required), "encrypted": bool(s.encrypt_data),
            "channels": [_channel(c, interfaces) for c in (s.connection, *s.channels)],
            "max_channels": MAX_CHANNELS, "trees": trees})
    return sorted(out, key=lambda r: r["session_id"])


async def close_sessions(server: Any, session_ids: Sequence[int]) -> int:
    """``Close-SmbSession``: end these sessions of ``server`` (a ``ServerState``); returns how many."""
    from sofs.handlers.session import end_session

    n = 0
    for sid in session_ids:
        session = server.sessions.get(sid)
        if session is None or session.state is SessionState.IN_PROGRESS:
            continue
        log.warning("closing session 0x%x of %s on request (Close-SmbSession)", sid,
                    getattr(session.user, "name", "") or "anonymous")
        await end_session(server, session, disconnected=False, keep_durable=False)
        n += 1
    return n
