"""The Scale-Out File Server role and its Distributed Network Name, as pure functions over a snapshot.

``Add-ClusterScaleOutFileServerRole -Name SOFS`` creates a group of type ``ScaleOutFileServer`` holding
two resources, as Windows does:

- ``SOFS``, a **Distributed Network Name** (DNN): one client access name that resolves to the address of
  every Up node (not to one floating IP). Its private properties (``Get-ClusterParameter``) are
  ``DnsName`` and ``HostRecordTTL`` (Windows' names), plus sofs extensions for the RFC 2136
  registration a domain-joined Windows node makes through its own DNS client: ``DnsZone`` (the zone the
  name is registered in, e.g. ``example.test``), ``DnsServer`` (``address[:port]`` of the site DNS
  server; empty = no dynamic update), ``TsigKeyName`` / ``TsigSecret`` (base64) / ``TsigAlgorithm``.
- ``Scale-Out File Server (\\\\SOFS)``: the file server resource shares are scoped to
  (``New-SmbShare -ScopeName SOFS``).

The group has an owner node like any group (the node that registers the name in DNS); every Up node
serves the role's shares and answers for its name.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sofs.cluster.model import GroupRecord, GroupType, NodeState, ResourceRecord, Snapshot

DNN_TYPE = "Distributed Network Name"
SOFS_TYPE = "Scale Out File Server"
DEFAULT_TTL = 1200
"""``HostRecordTTL`` of a Windows network name (seconds)."""
DNN_PARAMETERS: dict[str, type] = {
    "DnsName": str, "HostRecordTTL": int, "DnsZone": str, "DnsServer": str,
    "TsigKeyName": str, "TsigSecret": str, "TsigAlgorithm": str,
}
READ_ONLY_PARAMETERS = frozenset({"DnsName"})
SECRET_PARAMETERS = frozenset({"TsigSecret"})


def file_server_resource_name(role: str) -> str:
    return f"Scale-Out File Server (\\\\{role})"


def sofs_role_record(name: str, parameters: Mapping[str, Any] | None = None) -> GroupRecord:
    """The group record of a new role named ``name`` (no owner yet: the agents place it)."""
    params: dict[str, Any] = {"DnsName": name, "HostRecordTTL": DEFAULT_TTL, "DnsZone": "", "DnsServer": "",
                              "TsigKeyName": "", "TsigSecret": "", "TsigAlgorithm": "hmac-sha256"}
    params.update(parameters or {})
    return GroupRecord(name, GroupType.SOFS.value, resources=(
        ResourceRecord(name, DNN_TYPE, params), ResourceRecord(file_server_resource_name(name), SOFS_TYPE)))


@dataclass(frozen=True, slots=True)
class NetworkName:
    """One DNN as the DNS side sees it: the names it answers and the addresses they resolve to."""

    role: str
    owner: str | None
    dns_name: str
    zone: str
    ttl: int
    addresses: tuple[str, ...]
    parameters: Mapping[str, Any]

    @property
    def fqdns(self) -> tuple[str, ...]:
        """Absolute names answered: ``name.`` and, with a zone, ``name.zone.`` (lower case)."""
        short = self.dns_name.lower().rstrip(".") + "."
        return (short, f"{short}{self.zone.lower().strip('.')}.") if self.zone.strip(".") else (short,)


def up_addresses(snap: Snapshot) -> tuple[str, ...]:
    """Client-access addresses of every Up node, in node id order (a DNN resolves to all of them)."""
    out: list[str] = []
    for name, v in sorted(snap.nodes.items(), key=lambda kv: kv[1].record.id):
        if snap.node_state(name) is NodeState.UP:
            out += [a for a in v.record.addresses if a not in out]
    return tuple(out)


def dnn_resource(group: GroupRecord) -> ResourceRecord | None:
    return next((r for r in group.resources if r.resource_type == DNN_TYPE), None)


def network_names(snap: Snapshot) -> list[NetworkName]:
    """Every Scale-Out File Server role's network name with the addresses it resolves to now."""
    addrs = up_addresses(snap)
    out = []
    for g in snap.groups.values():
        rec = g.record
        res = dnn_resource(rec) if rec.group_type == GroupType.SOFS.value else None
        if res is None:
            continue
        p = res.parameters
        out.append(NetworkName(rec.name, rec.owner, str(p.get("DnsName") or rec.name), str(p.get("DnsZone") or ""),
                               int(p.get("HostRecordTTL", DEFAULT_TTL)), addrs, dict(p)))
    return out


def sofs_roles(snap: Snapshot) -> list[str]:
    return sorted(g.record.name for g in snap.groups.values() if g.record.group_type == GroupType.SOFS.value)


def check_parameter(name: str, value: Any) -> tuple[str, Any]:
    """(canonical name, converted value) of a DNN parameter; ValueError names the problem."""
    key = next((k for k in DNN_PARAMETERS if k.lower() == name.lower()), None)
    if key is None:
        raise ValueError(f"Unknown parameter '{name}' (known: {', '.join(DNN_PARAMETERS)}).")
    if key in READ_ONLY_PARAMETERS:
        raise ValueError(f"The parameter '{key}' is read-only.")
    if DNN_PARAMETERS[key] is int:
        try:
            ivalue = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be an integer, not {value!r}.") from None
        if not 0 <= ivalue <= 2_147_483_647:
            raise ValueError(f"{key} must be between 0 and 2147483647.")
        return key, ivalue
    text = "" if value is None else str(value)
    if key == "DnsServer" and text:
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        import ipaddress
        try:
            ipaddress.ip_address(host or text)
            if port and not 1 <= int(port) <= 65535:
                raise ValueError
        except ValueError:
            raise ValueError(f"DnsServer must be an IP address with an optional :port, not {text!r}.") from None
    if key == "TsigSecret" and text:
        import base64
        import binascii
        try:
            base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError("TsigSecret must be base64.") from None
    return key, text
