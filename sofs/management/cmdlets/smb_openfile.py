"""SmbOpenFile cmdlets: Get-SmbOpenFile, Close-SmbOpenFile."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("Get-SmbOpenFile",
        ParamSpec("FileId", T.STRING_LIST, position=0), ParamSpec("SessionId", T.STRING_LIST),
        ParamSpec("ClientComputerName", T.STRING_LIST), ParamSpec("ClientUserName", T.STRING_LIST),
        ParamSpec("ClusterNodeName", T.STRING_LIST), ParamSpec("ScopeName", T.STRING, unsupported=(
            "open files are listed for every scope; choose shares with -ShareName")),
        ParamSpec("IncludeHidden", T.SWITCH, unsupported="sofs hides no open file: every one is always listed"),
        ParamSpec("ShareName", T.STRING_LIST, help="sofs extension: only these shares (wildcards allowed)"))
async def get_smb_open_file(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Open files of the cluster's shares: path, client, user, node, durable/persistent state, locks."""
    svc = await ctx.service("openfiles")
    return list(await svc.get_open_files(
        p.get("ShareName"), p.get("ClientUserName"), p.get("ClusterNodeName"),
        [int(x, 0) for x in p.get("FileId") or ()], [int(x, 0) for x in p.get("SessionId") or ()],
        p.get("ClientComputerName")))


@cmdlet("Close-SmbOpenFile", ParamSpec("FileId", T.STRING_LIST, mandatory=True, position=0),
        ParamSpec("Force", T.SWITCH, help="sofs never prompts"))
async def close_smb_open_file(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Close open files by FileId (the node holding each one closes it within about a second; its client
    gets STATUS_FILE_CLOSED on its next use). sofs never prompts; -Force is accepted."""
    svc = await ctx.service("openfiles")
    for x in p["FileId"]:
        await svc.close_open_file(int(x, 0))
    return []
