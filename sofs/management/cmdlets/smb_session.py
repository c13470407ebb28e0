"""SmbSession cmdlets: Get-SmbSession, Close-SmbSession, Get-SmbConnection, Get-SmbMultichannelConnection."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T

_INSTANCE = ParamSpec("SmbInstance", T.STRING, unsupported="sofs runs one SMB server instance (Default)")


def _ids(values: list[str] | None) -> list[int] | None:
    if not values:
        return None
    try:
        return [int(v, 0) for v in values]
    except ValueError:
        raise ManagementError(f"-SessionId takes session numbers (decimal or 0x...), not {values!r}.",
                              "InvalidArgument") from None


_SELECTORS = (ParamSpec("ClientComputerName", T.STRING_LIST), ParamSpec("ClientUserName", T.STRING_LIST),
              ParamSpec("ScopeName", T.STRING_LIST), ParamSpec("ClusterNodeName", T.STRING_LIST))


def _selected(p: dict[str, Any]) -> tuple[Any, ...]:
    return (_ids(p.get("SessionId")), p.get("ClientComputerName"), p.get("ClientUserName"),
            p.get("ClusterNodeName"), p.get("ScopeName"))


@cmdlet("Get-SmbSession", ParamSpec("SessionId", T.STRING_LIST, position=0), *_SELECTORS, _INSTANCE,
        ParamSpec("IncludeHidden", T.SWITCH, unsupported="sofs hides no session: every one is always listed"))
async def get_smb_session(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """SMB sessions of every node: client, user (DOMAIN\\user), open files, dialect, age and idle time."""
    svc = await ctx.service("sessions")
    return list(await svc.get_sessions(*_selected(p)))


@cmdlet("Close-SmbSession", ParamSpec("SessionId", T.STRING_LIST, position=0), *_SELECTORS, _INSTANCE,
        ParamSpec("Force", T.SWITCH, help="sofs never prompts"))
async def close_smb_session(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """End sessions (the node holding each one ends it within about a second: its open files close,
    persistent ones too; the client's next request gets STATUS_USER_SESSION_DELETED). sofs never
    prompts; -Force is accepted."""
    svc = await ctx.service("sessions")
    await svc.close_sessions(*_selected(p))
    return []


@cmdlet("Get-SmbConnection", ParamSpec("ServerName", T.STRING_LIST, position=0),
        ParamSpec("ShareName", T.STRING_LIST, position=1), _INSTANCE,
        ParamSpec("UserName", T.STRING_LIST, help="sofs extension: only these users (wildcards allowed)"))
async def get_smb_connection(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Clients' connections to shares (one per tree connect of a session), as the servers see them:
    the name the client used, share, user, dialect, open files, CA / encrypted / signed."""
    svc = await ctx.service("sessions")
    return list(await svc.get_connections(p.get("ServerName"), p.get("ShareName"), p.get("UserName")))


@cmdlet("Get-SmbMultichannelConnection", ParamSpec("ServerName", T.STRING_LIST, position=0), _INSTANCE,
        ParamSpec("IncludeNotSelected", T.SWITCH,
                  unsupported="the server sees only the channels clients opened (all selected)"))
async def get_smb_multichannel_connection(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """The channels of every session (client address / server address pairs), with the server
    interface each one arrived on (index, speed, RSS as the OS reports; never RDMA)."""
    svc = await ctx.service("sessions")
    return list(await svc.get_multichannel_connections(p.get("ServerName")))
