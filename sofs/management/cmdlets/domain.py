"""Add-Computer, Remove-Computer, Reset-ComputerMachinePassword, Get-ComputerDomain (issue 18).

``-Credential`` names a domain account allowed to create computer objects; its password comes from
``$SOFS_CREDENTIAL_PASSWORD`` or, on a terminal, a prompt (a PSCredential cannot be typed on a
command line). ``-Server`` is the domain controller's address; ``-ServerName`` its DNS name as in its
LDAPS certificate and ``-CertificateAuthority`` the CA file that signed it (system CAs otherwise).
"""
from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from sofs.domain.join import Domain
from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T

_CREDENTIAL = ParamSpec("Credential", T.STRING, mandatory=True,
                        help="DOMAIN\\user allowed to create computer accounts (password: "
                             "$SOFS_CREDENTIAL_PASSWORD or a prompt)")


def _password(user: str) -> str:
    pw = os.environ.get("SOFS_CREDENTIAL_PASSWORD")
    if pw:
        return pw
    if not sys.stdin.isatty():
        raise ManagementError(f"No password for {user}: set SOFS_CREDENTIAL_PASSWORD or run on a terminal.",
                              "InvalidArgument")
    return getpass.getpass(f"Password for {user}: ")


@cmdlet("Add-Computer", ParamSpec("DomainName", T.STRING, mandatory=True, position=0), _CREDENTIAL,
        ParamSpec("Server", T.STRING, mandatory=True, help="a domain controller's address"),
        ParamSpec("ServerName", T.STRING, help="the DC's DNS name (its LDAPS certificate's name)"),
        ParamSpec("CertificateAuthority", T.STRING, help="CA file of the DC's LDAPS certificate"),
        ParamSpec("DomainNetBIOSName", T.STRING, help="the domain's NetBIOS name (default: first label)"))
async def add_computer(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Join every cluster node to the domain and create the cluster name object with the role SPNs."""
    dns = p["DomainName"].strip().lower()
    if "." not in dns:
        raise ManagementError(f"-DomainName {dns!r} must be the domain's DNS name.", "InvalidArgument", dns)
    netbios = (p.get("DomainNetBIOSName") or dns.split(".")[0]).upper()
    domain = Domain(dns, netbios, p["Server"], p.get("ServerName") or "", p.get("CertificateAuthority"))
    svc = await ctx.service("domain")
    return list(await svc.add_computer(domain, p["Credential"], _password(p["Credential"])))


@cmdlet("Remove-Computer", ParamSpec("UnjoinDomainCredential", T.STRING, mandatory=True, aliases=("Credential",)))
async def remove_computer(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Delete the nodes' and the cluster name object's accounts; the nodes stop accepting Kerberos."""
    user = p["UnjoinDomainCredential"]
    svc = await ctx.service("domain")
    return list(await svc.remove_computer(user, _password(user)))


@cmdlet("Reset-ComputerMachinePassword", _CREDENTIAL)
async def reset_machine_password(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """New machine passwords (nodes and cluster name object); previous keys kept for old tickets."""
    svc = await ctx.service("domain")
    return list(await svc.reset_machine_password(p["Credential"], _password(p["Credential"])))


@cmdlet("Get-ComputerDomain")
async def get_computer_domain(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """The domain membership of every node (no secret)."""
    svc = await ctx.service("domain")
    return list(await svc.get_computer_domain())
