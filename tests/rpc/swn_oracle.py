"""Run by test_rpc_swn.py under the *system* Python: Samba's NDR code (python3-samba) decodes what
sofs.rpc.swn_ndr encodes and encodes what it decodes. Prints "OK <checks>"."""
from __future__ import annotations

import sys

sys.path.insert(0, sys.argv[1])

from samba.dcerpc import witness
from samba.ndr import ndr_pack_in, ndr_unpack_out

from sofs.rpc import swn_ndr as n

checks = 0


def check(cond: bool, what: str) -> None:
    global checks
    assert cond, what
    checks += 1


ifs = [n.InterfaceInfo("N1", n.STATE_AVAILABLE, "127.0.0.11", 0),
       n.InterfaceInfo("N2", n.STATE_UNAVAILABLE, "127.0.0.12", n.INTERFACE_WITNESS),
       n.InterfaceInfo("N3", n.STATE_AVAILABLE, "fd00::13", n.INTERFACE_WITNESS)]
r = witness.GetInterfaceList()
ndr_unpack_out(r, n.encode_interface_list(ifs))
got = r.out_interface_list
check(got.num_interfaces == 3, "count")
check([i.group_name for i in got.interfaces] == ["N1", "N2", "N3"], "names")
check([i.state for i in got.interfaces] == [1, 0xFF, 1], "states")
check(got.interfaces[0].ipv4 == "127.0.0.11" and got.interfaces[0].flags == n.IPV4_VALID, "ipv4")
check(got.interfaces[1].flags == n.IPV4_VALID | n.INTERFACE_WITNESS, "witness flag")
check(got.interfaces[2].ipv6 == "fd00:0000:0000:0000:0000:0000:0000:0013" and got.interfaces[2].flags & n.IPV6_VALID,
      "ipv6")
check(all(i.version == n.WITNESS_V2 for i in got.interfaces), "version")

for ex in (False, True):
    req = witness.RegisterEx() if ex else witness.Register()
    req.in_version = n.WITNESS_V2 if ex else n.WITNESS_V1
    req.in_net_name = "SOFS"
    req.in_ip_address = "127.0.0.13"
    req.in_client_computer_name = "CLIENT1"
    if ex:
        req.in_share_name = "VMS"
        req.in_flags = 1
        req.in_timeout = 120
    args = n.decode_register(ndr_pack_in(req), ex)
    check((args.version, args.net_name, args.ip_address, args.client_computer_name) ==
          (req.in_version, "SOFS", "127.0.0.13", "CLIENT1"), "register args")
    if ex:
        check((args.share_name, args.flags, args.timeout) == ("VMS", 1, 120), "registerex args")
req = witness.Register()
req.in_version = n.WITNESS_V1
req.in_net_name = None
req.in_ip_address = None
req.in_client_computer_name = "X"
args = n.decode_register(ndr_pack_in(req), False)
check(args.net_name is None and args.ip_address is None, "null pointers")

a = witness.AsyncNotify()
ndr_unpack_out(a, n.encode_notify(n.RESOURCE_CHANGE, [n.resource_change("127.0.0.13", n.RESOURCE_UNAVAILABLE)]))
check(a.result[0] == 0 if isinstance(a.result, tuple) else True, "status")
resp = a.out_response
check(resp.type == witness.WITNESS_NOTIFY_RESOURCE_CHANGE and resp.num == 1, "notify header")
check(resp.messages[0].name == "127.0.0.13" and resp.messages[0].type == 0xFF, "resource change")
a = witness.AsyncNotify()
ndr_unpack_out(a, n.encode_notify(n.CLIENT_MOVE, [n.ipaddr_info_list([("127.0.0.12", n.IPADDR_ONLINE),
                                                                        ("127.0.1.12", n.IPADDR_ONLINE)])]))
m = a.out_response.messages[0]
check(a.out_response.type == witness.WITNESS_NOTIFY_CLIENT_MOVE and m.num == 2, "move header")
check([x.ipv4 for x in m.addr] == ["127.0.0.12", "127.0.1.12"], "move addresses")
check(all(x.flags == n.IPADDR_V4 | n.IPADDR_ONLINE for x in m.addr), "move flags")
print("OK", checks)
