"""Where cluster nodes publish their SMB sessions in the cluster store, and where ``Close-SmbSession``
asks a node to end one (the writers: ``sofs.server.node_status``; the reader:
``sofs.management.services.sessions``).

The keys live beside the cluster's prefix, not under it: every node agent lists and watches the whole
``<prefix>``, and a listing rewritten whenever a session is used would wake them all.

- ``<root>sessions/<node>``: JSON ``{"node", "time", "sessions": [...]}``, the rows of
  :func:`sofs.handlers.sessions_status.session_rows`, rewritten when they change (at most once a second);
- ``<root>close/<node>/<session id>``: a request to end that session; the node deletes it once done.
"""
from __future__ import annotations


def status_root(prefix: str) -> str:
    """``/sofs/`` → ``/sofs.smb/``."""
    return prefix.rstrip("/") + ".smb/"


def sessions_prefix(prefix: str) -> str:
    return status_root(prefix) + "sessions/"


def sessions_key(prefix: str, node: str) -> str:
    return sessions_prefix(prefix) + node


def close_prefix(prefix: str, node: str) -> str:
    return status_root(prefix) + f"close/{node}/"


def close_key(prefix: str, node: str, session_id: int) -> str:
    return close_prefix(prefix, node) + str(session_id)
