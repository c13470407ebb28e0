"""Protocol state the engine and handlers share: connection, session and tree connect.

[MS-SMB2] 3.3.1.7 (Connection), 3.3.1.8 (Session), 3.3.1.10 (TreeConnect). Pure data: no I/O.
Sessions live in a server-wide table (a session can be reached from a reconnecting client on a
new connection); each connection points at the sessions it established or bound.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sofs.engine.credits import SequenceWindow


class SessionState(enum.Enum):
    IN_PROGRESS = "InProgress"
    VALID = "Valid"
    EXPIRED = "Expired"


@dataclass(eq=False)
class TreeConnect:
    """[MS-SMB2] 3.3.1.10. ``share`` is the runtime share object (``sofs.server.shares.Share``)."""

    tree_id: int
    session: Session
    share: Any
    maximal_access: int
    is_ipc: bool = False
    encrypt: bool = False
    is_ca: bool = False
    open_count: int = 0
    caller: Any = None  # the handle-state Caller of this tree (sofs.handlers.opens.caller_of), cached
    is_scaleout: bool = False
    """The share belongs to a Scale-Out File Server role (``sofs.handlers.scaleout``)."""
    server_name: str = ""
    """The server part of the TREE_CONNECT path (``SERVER`` of ``\\\\SERVER\\share``): the name the client used."""


@dataclass(eq=False)
class Channel:
    """[MS-SMB2] 3.3.1.14: a connection bound to a session (multichannel), with its own signing key.

    ``signer`` is None while the binding exchange (``auth``, ``preauth_hash``) is under way.
    """

    connection: ConnectionState
    signer: Any = None
    auth: Any = None
    preauth_hash: bytes = b""


@dataclass(eq=False)
class Session:
    """[MS-SMB2] 3.3.1.8."""

    session_id: int
    connection: ConnectionState
    state: SessionState = SessionState.IN_PROGRESS
    dialect: int = 0
    user: Any = None  # sofs.auth.users.User once authenticated
    is_guest: bool = False
    is_anonymous: bool = False
    auth: Any = None  # the in-progress authentication context
    session_key: bytes = b""
    signing_key: bytes = b""
    application_key: bytes = b""
    signer: Any = None
    encryptor: Any = None  # server → client cipher
    decryptor: Any = None  # client → server cipher
    nonces: Any = None  # sofs.crypto.transform.NonceCounter for the encryptor
    signing_required: bool = False
    encrypt_data: bool = False
    preauth_hash: bytes = b""
    trees: dict[int, TreeConnect] = field(default_factory=dict)
    next_tree_id: int = 1
    created_at: float = 0.0
    last_active: float = 0.0  # wall time of the session's last request (Get-SmbSession SecondsIdle)
    expires_at: float | None = None
    """Session.ExpirationTime (wall time): the end of the Kerberos ticket the session authenticated
    with, None for NTLM (no expiry); a re-authentication sets it again."""
    channels: list[ConnectionState] = field(default_factory=list)  # bound connections besides ``connection``
    bound: dict[int, Channel] = field(default_factory=dict)  # conn_id -> channel (binding or bound)
    sign_setup_responses: bool = False  # this SESSION_SETUP came signed with the session's key

    @property
    def valid(self) -> bool:
        return self.state is SessionState.VALID

    def signer_for(self, conn: ConnectionState) -> Any:
        """The signer of this session on ``conn``: the channel's key once bound ([MS-SMB2] 3.3.4.1.1),
        else the session's (first channel, and the responses of a binding exchange)."""
        ch = self.bound.get(conn.conn_id)
        if ch is not None and ch.signer is not None:
            return ch.signer
        return self.signer


@dataclass(eq=False)
class ConnectionState:
    """[MS-SMB2] 3.3.1.7: what one TCP connection negotiated."""

    conn_id: int
    client_address: str = ""
    server_address: str = ""
    dialect: int = 0  # 0 = not negotiated yet
    negotiated: bool = False
    client_guid: bytes = b"\0" * 16
    client_capabilities: int = 0
    client_security_mode: int = 0
    client_dialects: tuple[int, ...] = ()
    server_capabilities: int = 0
    server_security_mode: int = 0
    cipher_id: int = 0
    signing_algorithm: int | None = None
    preauth_hash: bytes = b""
    supports_multi_credit: bool = False
    max_read_size: int = 65536
    max_write_size: int = 65536
    max_transact_size: int = 65536
    window: SequenceWindow = field(default_factory=SequenceWindow)
    sessions: dict[int, Session] = field(default_factory=dict)
    smb1_upgraded: bool = False
    authenticated_session: bool = False  # a non-anonymous, non-guest session was set up here
    bound_sessions: dict[int, Session] = field(default_factory=dict)  # sessions of other connections bound here
    next_async_id: int = 1
    migrated: bool = False  # handed over from another worker process: it is not handed on again
    carried_in: bool = False  # carried from another cluster node: may still move to its session's worker

    def new_async_id(self) -> int:
        aid = self.next_async_id
        self.next_async_id += 1
        return aid

    def export_negotiated(self, message_id: int, charge: int) -> dict[str, Any]:
        """What another worker process needs to go on with this connection from the request
        ``message_id`` on (taken back out of the sequence window: the new owner receives it again):
        the negotiated parameters, the pre-auth hash and the credits granted. Only for a connection
        without sessions (a binding SESSION_SETUP is its first request after NEGOTIATE)."""
        w = self.window
        if self.sessions or self.bound_sessions or w.used or w.low != message_id + max(charge, 1):
            raise ValueError("only a connection whose last request is its first after NEGOTIATE moves")
        return {"dialect": self.dialect, "negotiated": self.negotiated, "client_guid": self.client_guid,
                "client_capabilities": self.client_capabilities, "client_security_mode": self.client_security_mode,
                "client_dialects": list(self.client_dialects), "server_capabilities": self.server_capabilities,
                "server_security_mode": self.server_security_mode, "cipher_id": self.cipher_id,
                "signing_algorithm": self.signing_algorithm, "preauth_hash": self.preauth_hash,
                "supports_multi_credit": self.supports_multi_credit, "max_read_size": self.max_read_size,
                "max_write_size": self.max_write_size, "max_transact_size": self.max_transact_size,
                "window": [message_id, w.high, w.max_credits], "smb1_upgraded": self.smb1_upgraded,
                "next_async_id": self.next_async_id}

    def restore_negotiated(self, d: dict[str, Any]) -> None:
        """The inverse of :meth:`export_negotiated`, on a fresh connection state."""
        for k, v in d.items():
            if k == "window":
                self.window.low, self.window.high, self.window.max_credits = (int(x) for x in v)
                self.window.used = set()
            elif k == "client_dialects":
                self.client_dialects = tuple(v)
            else:
                setattr(self, k, v)
        self.migrated = True
