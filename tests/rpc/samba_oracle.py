"""Run by test_rpc_samba_oracle.py under the *system* Python with Samba's bindings (python3-samba).

Samba's NDR marshalling builds the requests and decodes our responses; every check is an assert,
so a non-zero exit means a mismatch. Prints "OK <n>" with the number of checks on success.
"""
from __future__ import annotations

import sys

sys.path.insert(0, sys.argv[1])

from samba.dcerpc import dcerpc, misc, srvsvc, wkssvc
from samba.ndr import ndr_pack, ndr_pack_in, ndr_unpack, ndr_unpack_out

from sofs.rpc.pipe import open_pipe
from sofs.rpc.srvsvc import ShareInfo, SrvsvcService
from sofs.rpc.wkssvc import WkssvcService

SHARES = [
    ShareInfo("data", 0, "Data share", 0x800, "C:\\data"),
    ShareInfo("VMS", 0, "Hyper-V", 0x4000 | 0x8000, "C:\\ClusterStorage\\Volume1\\VMS"),
    ShareInfo("IPC$", 0x80000003, "IPC Service (sofs)", 0, ""),
]
checks = 0


def ok(result: object) -> bool:
    return (result[0] if isinstance(result, tuple) else result) == 0


def check(cond: bool, what: str) -> None:
    global checks
    assert cond, what
    checks += 1


svc = SrvsvcService(lambda: SHARES, "SOFS", "sofs test server")

# NetShareEnumAll, every level we claim.
for level, ctr_cls in [(0, srvsvc.NetShareCtr0), (1, srvsvc.NetShareCtr1), (2, srvsvc.NetShareCtr2),
                       (501, srvsvc.NetShareCtr501), (502, srvsvc.NetShareCtr502)]:
    for resume in (None, 0, 1):
        r = srvsvc.NetShareEnumAll()
        r.in_server_unc = "\\\\SOFS"
        ctr = srvsvc.NetShareInfoCtr()
        ctr.level = level
        ctr.ctr = ctr_cls()
        r.in_info_ctr = ctr
        r.in_max_buffer = 0xFFFFFFFF
        r.in_resume_handle = resume
        ndr_unpack_out(r, svc.call(15, ndr_pack_in(r)))
        check(ok(r.result), f"enum {level} result")
        got = r.out_info_ctr.ctr.array
        want = SHARES[(resume or 0):]
        check(r.out_info_ctr.level == level and r.out_totalentries == len(SHARES), "enum counts")
        check([a.name for a in got] == [s.name for s in want], f"enum {level} names")
        if level != 0:
            check([a.comment for a in got] == [s.comment for s in want], "comments")
            check([a.type for a in got] == [s.type for s in want], "types")
        if level == 501:
            check([a.csc_policy for a in got] == [s.flags for s in want], "501 flags")
        if level in (2, 502):
            check([a.path for a in got] == [s.path for s in want], "paths")
            check(all(a.max_users == 0xFFFFFFFF and a.password is None for a in got), "2 fields")

# NetShareGetInfo, every level; unknown share; bad level.
for level in (0, 1, 2, 501, 502, 1005):
    r = srvsvc.NetShareGetInfo()
    r.in_server_unc = None
    r.in_share_name = "vms"
    r.in_level = level
    ndr_unpack_out(r, svc.call(16, ndr_pack_in(r)))
    check(ok(r.result), f"getinfo {level}")
    info = r.out_info
    if level == 1005:
        check(info.dfs_flags == 0x4000 | 0x8000, "1005 flags")
    else:
        check(info.name == "VMS", "getinfo name")
r = srvsvc.NetShareGetInfo()
r.in_server_unc = "\\\\SOFS"
r.in_share_name = "nope"
r.in_level = 1
ndr_unpack_out(r, svc.call(16, ndr_pack_in(r)))
check((r.result[0] if isinstance(r.result, tuple) else r.result) == 2310, "NERR_NetNameNotFound")

# NetSrvGetInfo 100/101/102.
for level in (100, 101, 102):
    r = srvsvc.NetSrvGetInfo()
    r.in_server_unc = "\\\\SOFS"
    r.in_level = level
    ndr_unpack_out(r, svc.call(21, ndr_pack_in(r)))
    info = r.out_info
    check(ok(r.result) and info.server_name == "SOFS" and info.platform_id == 500, f"srvgetinfo {level}")
    if level >= 101:
        check(info.comment == "sofs test server" and info.version_major == 10, "101 fields")

# wkssvc NetWkstaGetInfo 100.
w = WkssvcService("SOFS", "WORKGROUP")
r = wkssvc.NetWkstaGetInfo()
r.in_server_name = "\\\\SOFS"
r.in_level = 100
ndr_unpack_out(r, w.call(0, ndr_pack_in(r)))
check(ok(r.result) and r.out_info.server_name == "SOFS", "wksta 100")
check(r.out_info.domain_name == "WORKGROUP", "wksta domain")

# The whole pipe: Samba builds the bind (NDR + NDR64 + bind-time features) and parses our bind_ack.
def syntax(uuid: str, version: int) -> misc.ndr_syntax_id:
    s = misc.ndr_syntax_id()
    s.uuid = misc.GUID(uuid)
    s.if_version = version
    return s


abstract = syntax("4b324fc8-1670-01d3-1278-5a47bf6ee188", 3)
ctxs = []
for i, ts in enumerate([syntax("8a885d04-1ceb-11c9-9fe8-08002b104860", 2),
                        syntax("71710533-beba-4937-8319-b5dbef9ccc36", 1),
                        syntax("6cb71c2c-9812-4540-0300-000000000000", 1)]):
    c = dcerpc.ctx_list()
    c.context_id = i
    c.num_transfer_syntaxes = 1
    c.abstract_syntax = abstract
    c.transfer_syntaxes = [ts]
    ctxs.append(c)
b = dcerpc.bind()
b.max_xmit_frag = 5840
b.max_recv_frag = 5840
b.assoc_group_id = 0
b.num_contexts = len(ctxs)
b.ctx_list = ctxs
b.auth_info = b""
pkt = dcerpc.ncacn_packet()
pkt.rpc_vers = 5
pkt.rpc_vers_minor = 0
pkt.ptype = dcerpc.DCERPC_PKT_BIND
pkt.pfc_flags = 3
pkt.drep = [0x10, 0, 0, 0]
pkt.call_id = 1
pkt.auth_length = 0
pkt.u = b
raw = bytearray(ndr_pack(pkt))
raw[8:10] = len(raw).to_bytes(2, "little")
pipe = open_pipe("\\srvsvc", shares=lambda: SHARES, server_name="SOFS", domain_name="WORKGROUP")
assert pipe is not None
out, status = pipe.transceive(bytes(raw), 4280)
check(status == 0, "bind transceive status")
ack = ndr_unpack(dcerpc.ncacn_packet, out)
check(ack.ptype == dcerpc.DCERPC_PKT_BIND_ACK and ack.frag_length == len(out), "bind_ack")
check(ack.u.secondary_address == "\\PIPE\\srvsvc", "secondary address")
res = [(x.result, x.reason.value if hasattr(x.reason, "value") else x.reason) for x in ack.u.ctx_list]
check(ack.u.num_results == 3, "3 results")
check(ack.u.ctx_list[0].result == dcerpc.DCERPC_BIND_ACK_RESULT_ACCEPTANCE, "NDR accepted")
check(ack.u.ctx_list[1].result == dcerpc.DCERPC_BIND_ACK_RESULT_PROVIDER_REJECTION, "NDR64 rejected")
check(ack.u.ctx_list[2].result == dcerpc.DCERPC_BIND_ACK_RESULT_NEGOTIATE_ACK, "BTFN negotiate_ack")

# A request through the pipe, the response parsed by Samba.
r = srvsvc.NetShareEnumAll()
r.in_server_unc = "\\\\SOFS"
ctr = srvsvc.NetShareInfoCtr()
ctr.level = 1
ctr.ctr = srvsvc.NetShareCtr1()
r.in_info_ctr = ctr
r.in_max_buffer = 0xFFFFFFFF
r.in_resume_handle = 0
req = dcerpc.request()
req.alloc_hint = 0
req.context_id = 0
req.opnum = 15
req.stub_and_verifier = ndr_pack_in(r)
pkt.ptype = dcerpc.DCERPC_PKT_REQUEST
pkt.call_id = 2
pkt.u = req
raw = bytearray(ndr_pack(pkt))
raw[8:10] = len(raw).to_bytes(2, "little")
out, status = pipe.transceive(bytes(raw), 4280)
resp = ndr_unpack(dcerpc.ncacn_packet, out)
check(resp.ptype == dcerpc.DCERPC_PKT_RESPONSE and resp.call_id == 2, "response pdu")
ndr_unpack_out(r, bytes(resp.u.stub_and_verifier))
check([a.name for a in r.out_info_ctr.ctr.array] == ["data", "VMS", "IPC$"], "names through the pipe")

print("OK", checks)
