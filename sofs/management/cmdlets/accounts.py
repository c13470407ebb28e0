"""Cluster-local accounts: New-/Get-/Set-/Remove-/Enable-/Disable-LocalUser and the management API roles
Grant-/Remove-/Get-ClusterAccess (``sofs.management.services.accounts``)."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T

NAME = ParamSpec("Name", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True)
PASSWORD_HELP = ("the password, as plain text (PowerShell takes a SecureString; the shell has none). "
                 "Only its NT hash is stored")


@cmdlet("New-LocalUser", NAME, ParamSpec("Password", T.STRING, mandatory=True, help=PASSWORD_HELP),
        ParamSpec("Description", T.STRING), ParamSpec("Disabled", T.SWITCH))
async def new_local_user(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Create a cluster account (every node's SMB server accepts it at once)."""
    svc = await ctx.service("accounts")
    return [await svc.new_user(p["Name"], p["Password"], p.get("Description") or "", bool(p.get("Disabled")))]


@cmdlet("Get-LocalUser", ParamSpec("Name", T.STRING_LIST, position=0))
async def get_local_user(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List the cluster accounts (Name, Enabled, ClusterAccess, Description)."""
    svc = await ctx.service("accounts")
    return list(await svc.get_users(p.get("Name")))


@cmdlet("Set-LocalUser", NAME, ParamSpec("Password", T.STRING, help=PASSWORD_HELP),
        ParamSpec("Description", T.STRING))
async def set_local_user(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Change an account's password or description."""
    svc = await ctx.service("accounts")
    await svc.set_user(p["Name"], p.get("Password"), p.get("Description"))
    return []


@cmdlet("Remove-LocalUser", NAME)
async def remove_local_user(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Delete an account."""
    svc = await ctx.service("accounts")
    await svc.remove_user(p["Name"])
    return []


@cmdlet("Enable-LocalUser", NAME)
async def enable_local_user(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Let a disabled account log on again."""
    svc = await ctx.service("accounts")
    await svc.enable_user(p["Name"], True)
    return []


@cmdlet("Disable-LocalUser", NAME)
async def disable_local_user(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Refuse an account's logons (SMB and API) without deleting it."""
    svc = await ctx.service("accounts")
    await svc.enable_user(p["Name"], False)
    return []


@cmdlet("Grant-ClusterAccess", ParamSpec("User", T.STRING_LIST, mandatory=True, position=0),
        ParamSpec("Full", T.SWITCH), ParamSpec("ReadOnly", T.SWITCH))
async def grant_cluster_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Let accounts use the management API: -ReadOnly (every query) or -Full (every action)."""
    if bool(p.get("Full")) == bool(p.get("ReadOnly")):
        raise ManagementError("Give exactly one of -Full or -ReadOnly.", "InvalidArgument")
    svc = await ctx.service("accounts")
    return [await svc.set_access(u, "Full" if p.get("Full") else "Read") for u in p["User"]]


@cmdlet("Remove-ClusterAccess", ParamSpec("User", T.STRING_LIST, mandatory=True, position=0))
async def remove_cluster_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Take back an account's management API access."""
    svc = await ctx.service("accounts")
    return [await svc.set_access(u, "None") for u in p["User"]]


@cmdlet("Get-ClusterAccess", ParamSpec("User", T.STRING_LIST, position=0))
async def get_cluster_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Accounts that may use the management API, and how."""
    svc = await ctx.service("accounts")
    return [u for u in await svc.get_users(p.get("User")) if u.cluster_access != "None"]
