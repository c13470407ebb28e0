"""SmbShare cmdlets: New-/Get-/Remove-SmbShare, Grant-/Revoke-/Block-/Unblock-/Get-SmbShareAccess."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T

NAME = ParamSpec("Name", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True)
ACCOUNTS = ParamSpec("AccountName", T.STRING_LIST, mandatory=True, position=1)
SCOPE = ParamSpec("ScopeName", T.STRING, help="the share's scope ('*' or its Scale-Out File Server role): a "
                                                "share of another scope is not found")
FORCE = ParamSpec("Force", T.SWITCH, help="sofs never prompts")


async def _in_scope(svc: Any, p: dict[str, Any]) -> None:
    """-ScopeName on a cmdlet naming one share: that share must be in that scope."""
    scope = p.get("ScopeName")
    if scope is None:
        return
    share = (await svc.get_shares([p["Name"]]))[0]
    if share.scope_name.lower() != scope.lower():
        raise ManagementError(f"No MSFT_SmbShare objects found with property 'Name' equal to '{p['Name']}' and "
                              f"'ScopeName' equal to '{scope}' (its scope is '{share.scope_name}').",
                              "ObjectNotFound", p["Name"])


@cmdlet("New-SmbShare",
        ParamSpec("Name", T.STRING, mandatory=True, position=0), ParamSpec("Path", T.STRING, mandatory=True,
                                                                           position=1),
        ParamSpec("FullAccess", T.STRING_LIST), ParamSpec("ChangeAccess", T.STRING_LIST),
        ParamSpec("ReadAccess", T.STRING_LIST), ParamSpec("NoAccess", T.STRING_LIST),
        ParamSpec("ContinuouslyAvailable", T.BOOL), ParamSpec("EncryptData", T.BOOL),
        ParamSpec("FolderEnumerationMode", T.STRING, choices=("AccessBased", "Unrestricted")),
        ParamSpec("CATimeout", T.INT), ParamSpec("Description", T.STRING), SCOPE,
        ParamSpec("ReadOnly", T.SWITCH, help="sofs extension: the share is read-only for everyone"),
        ParamSpec("CreatePath", T.SWITCH, help="sofs extension: create the folder when it does not exist"),
        ParamSpec("Temporary", T.SWITCH, unsupported="shares live in the cluster store and outlive restarts"),
        ParamSpec("ConcurrentUserLimit", T.INT, unsupported="no per-share session limit is enforced"))
async def new_smb_share(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Create a share (stored in the cluster store; every node serves it)."""
    svc = await ctx.service("shares")
    return [await svc.new_share(
        p["Name"], p["Path"], full_access=p.get("FullAccess") or (), change_access=p.get("ChangeAccess") or (),
        read_access=p.get("ReadAccess") or (), no_access=p.get("NoAccess") or (),
        continuously_available=bool(p.get("ContinuouslyAvailable")), encrypt_data=bool(p.get("EncryptData")),
        folder_enumeration_mode=p.get("FolderEnumerationMode") or "Unrestricted",
        ca_timeout=int(p.get("CATimeout", 60)), description=p.get("Description") or "",
        scope_name=p.get("ScopeName"), read_only=bool(p.get("ReadOnly")),
        create_path=bool(p.get("CreatePath")))]


@cmdlet("Get-SmbShare", ParamSpec("Name", T.STRING_LIST, position=0), SCOPE)
async def get_smb_share(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List shares (Name, ScopeName, Path, Description)."""
    svc = await ctx.service("shares")
    scope = (p.get("ScopeName") or "").lower()
    return [s for s in await svc.get_shares(p.get("Name")) if not scope or s.scope_name.lower() == scope]


@cmdlet("Remove-SmbShare", NAME, SCOPE, FORCE)
async def remove_smb_share(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Delete a share definition (sofs never prompts; -Force is accepted)."""
    svc = await ctx.service("shares")
    await _in_scope(svc, p)
    await svc.remove_share(p["Name"])
    return []


@cmdlet("Grant-SmbShareAccess", NAME, ACCOUNTS, SCOPE,
        ParamSpec("AccessRight", T.STRING, mandatory=True, choices=("Full", "Change", "Read")),
        FORCE)
async def grant_smb_share_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Allow accounts Full, Change or Read access to a share."""
    svc = await ctx.service("shares")
    await _in_scope(svc, p)
    return list(await svc.grant_access(p["Name"], p["AccountName"], p["AccessRight"]))


@cmdlet("Revoke-SmbShareAccess", NAME, ACCOUNTS, SCOPE, FORCE)
async def revoke_smb_share_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Remove the allow entries of accounts."""
    svc = await ctx.service("shares")
    await _in_scope(svc, p)
    return list(await svc.revoke_access(p["Name"], p["AccountName"]))


@cmdlet("Block-SmbShareAccess", NAME, ACCOUNTS, SCOPE, FORCE)
async def block_smb_share_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Deny accounts any access to a share."""
    svc = await ctx.service("shares")
    await _in_scope(svc, p)
    return list(await svc.block_access(p["Name"], p["AccountName"], True))


@cmdlet("Unblock-SmbShareAccess", NAME, ACCOUNTS, SCOPE, FORCE)
async def unblock_smb_share_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Remove accounts from the deny list."""
    svc = await ctx.service("shares")
    await _in_scope(svc, p)
    return list(await svc.block_access(p["Name"], p["AccountName"], False))


@cmdlet("Get-SmbShareAccess", NAME, SCOPE)
async def get_smb_share_access(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show a share's access entries."""
    svc = await ctx.service("shares")
    await _in_scope(svc, p)
    return list(await svc.get_access(p["Name"]))
