"""Get-SmbWitnessClient, Move-SmbWitnessClient."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("Get-SmbWitnessClient", ParamSpec("ClientName", T.STRING, position=0))
async def get_smb_witness_client(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List the Witness registrations (clients watching a file server node through a witness node)."""
    svc = await ctx.service("witness")
    return list(await svc.get_clients(p.get("ClientName")))


@cmdlet("Move-SmbWitnessClient", ParamSpec("ClientName", T.STRING, mandatory=True, position=0),
        ParamSpec("DestinationNode", T.STRING, mandatory=True, position=1),
        ParamSpec("Force", T.SWITCH, help="sofs never prompts"))
async def move_smb_witness_client(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Tell a client (CLIENT_MOVE) to move its SMB connections to another node."""
    svc = await ctx.service("witness")
    return list(await svc.move_client(p["ClientName"], p["DestinationNode"]))
