"""TREE_CONNECT and TREE_DISCONNECT ([MS-SMB2] 3.3.5.7, 3.3.5.8).

Share-level access (the -FullAccess/-ChangeAccess/-ReadAccess/-NoAccess lists of New-SmbShare) is
:func:`sofs.security.share_acl.share_maximal_access`: the lists as a descriptor (names resolved to
SIDs, ``DOMAIN\\HyperVHosts$`` included) checked against the session's token.
"""
from __future__ import annotations

import logging

from sofs.engine.state import TreeConnect
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.scaleout import share_capabilities
from sofs.security.share_acl import share_maximal_access
from sofs.security.token import token_of_session
from sofs.wire.constants import Dialect, ShareCaps, ShareFlags, ShareType
from sofs.wire.messages.tree import (
    TreeConnectRequest,
    TreeConnectResponse,
    TreeDisconnectRequest,
    TreeDisconnectResponse,
)
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.tree")

FULL_ACCESS = 0x001F01FF


async def handle_tree_connect(ctx: Ctx, req: TreeConnectRequest) -> Reply:
    session = ctx.session
    assert session is not None
    name = req.share_name
    server = ctx.server
    dialect = ctx.conn.dialect
    if name.upper() == "IPC$":
        tree = TreeConnect(session.next_tree_id, session, None, FULL_ACCESS, is_ipc=True)
        resp = TreeConnectResponse(ShareType.PIPE, 0, 0, FULL_ACCESS)
    else:
        share = server.share(name)
        if share is None:
            raise SmbError(NtStatus.BAD_NETWORK_NAME, f"no share {name!r}")
        cfg = share.config
        if (session.is_guest or session.is_anonymous) and not cfg.guest_ok:
            raise SmbError(NtStatus.ACCESS_DENIED, "guest access not allowed on this share")
        token = token_of_session(session)
        access = share_maximal_access(cfg, token, getattr(server, "users", None))
        if not access:
            raise SmbError(NtStatus.ACCESS_DENIED, f"share {name!r} denies {token.name or token.user}")
        encrypt = cfg.encrypt_data or server.config.encrypt_data
        if encrypt and (dialect < Dialect.SMB3_0 or session.encryptor is None):
            if server.config.reject_unencrypted:
                raise SmbError(NtStatus.ACCESS_DENIED, "share requires encryption the client cannot do")
            encrypt = False
        flags = ShareFlags.MANUAL_CACHING
        if cfg.access_based_enumeration:
            flags |= ShareFlags.ACCESS_BASED_DIRECTORY_ENUM
        if encrypt:
            flags |= ShareFlags.ENCRYPT_DATA
        clustered = bool(server.node_name)
        caps = share_capabilities(cfg, dialect, clustered)
        is_ca = bool(caps & ShareCaps.CONTINUOUS_AVAILABILITY)
        tree = TreeConnect(session.next_tree_id, session, share, access, encrypt=encrypt, is_ca=is_ca,
                           is_scaleout=bool(caps & ShareCaps.SCALEOUT))
        resp = TreeConnectResponse(ShareType.DISK, int(flags), caps, access)
    tree.server_name = req.path.lstrip("\\").split("\\", 1)[0]
    session.next_tree_id += 1
    session.trees[tree.tree_id] = tree
    ctx.tree = tree
    ctx.chain.tree_id = tree.tree_id
    log.debug("session 0x%x tree %d -> %s", session.session_id, tree.tree_id, name)
    return reply(resp.encode())


async def handle_tree_disconnect(ctx: Ctx, req: TreeDisconnectRequest) -> Reply:
    tree = ctx.tree
    session = ctx.session
    assert tree is not None and session is not None
    await end_tree(ctx.server, tree)
    session.trees.pop(tree.tree_id, None)
    return reply(TreeDisconnectResponse().encode())


async def end_tree(server, tree: TreeConnect) -> None:  # type: ignore[no-untyped-def]
    """TREE_DISCONNECT ([MS-SMB2] 3.3.5.8): the tree's handles close."""
    from sofs.handlers.opens import close_tree_opens

    try:
        await close_tree_opens(server, tree)
    except Exception:
        log.exception("closing the opens of tree %d failed", tree.tree_id)
