"""SMB2 OPLOCK_BREAK acknowledgments ([MS-SMB2] 3.3.5.22): oplock and lease acks, applied by the
volume's coordinator (which sent the break, wherever the other opens' clients are)."""
from __future__ import annotations

import dataclasses
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.opens import get_open
from sofs.handlestate.api import HandleStateError
from sofs.handlestate.oplocks import LEASE
from sofs.wire.messages.oplock import (
    LeaseBreakAcknowledgment,
    LeaseBreakResponse,
    OplockBreakAcknowledgment,
    OplockBreakResponse,
)
from sofs.wire.status import NtStatus


async def handle_oplock_break(ctx: Ctx, req: Any) -> Reply:
    """[MS-SMB2] 3.3.5.22 Receiving an SMB2 OPLOCK_BREAK Acknowledgment (oplock or lease)."""
    if isinstance(req, OplockBreakAcknowledgment):
        op = get_open(ctx, req.file_id)
        if op.oplock_level == LEASE or op.lease_key is not None:
            raise SmbError(NtStatus.INVALID_OPLOCK_PROTOCOL, "oplock ack on a leased open")
        try:
            level = await op.share.volume.svc.oplock_ack(op.pid, req.oplock_level)
        except HandleStateError as e:
            raise SmbError(e.status, e.message) from None
        op.oplock_level = level
        return reply(OplockBreakResponse(oplock_level=level, file_id=op.file_id).encode())
    if isinstance(req, LeaseBreakAcknowledgment):
        if ctx.dialect < 0x0210:
            raise SmbError(NtStatus.INVALID_PARAMETER, "lease ack before SMB 2.1")
        tree = ctx.tree
        assert tree is not None
        # the lease lives on the volume of the tree the ack names, or else on another volume of this
        # process (a lease key belongs to its client, not to a share)
        vols = [tree.share.volume, *(v for v in ctx.server.volume_clients() if v is not tree.share.volume)]
        for i, vol in enumerate(vols):
            try:
                await vol.svc.lease_ack(ctx.conn.client_guid, bytes(req.lease_key), req.lease_state)
                for h in ctx.server.handles.by_pid.values():  # what a reclaim would re-declare
                    if h.lease is not None and h.lease.key == req.lease_key and h.share.volume is vol \
                            and h.session.connection.client_guid == ctx.conn.client_guid:
                        h.lease = dataclasses.replace(h.lease, state=int(req.lease_state))
                break
            except HandleStateError as e:
                if e.status != NtStatus.OBJECT_NAME_NOT_FOUND or i == len(vols) - 1:
                    raise SmbError(e.status, e.message) from None
        # the acknowledged state, even when a follow-up break already lowered it (smb2.lease.breaking3)
        return reply(LeaseBreakResponse(req.lease_key, int(req.lease_state)).encode())
    raise SmbError(NtStatus.INVALID_PARAMETER, "unknown OPLOCK_BREAK")
