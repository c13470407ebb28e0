"""A Witness client made of Samba's own DCE/RPC code (python3-samba; run with the *system* Python).

``swn_client.py ADDRESS PORT NETNAME WATCHED_IP CLIENT_NAME [ADDRESS2]``: RegisterEx (v2) with ADDRESS's
witness service for WATCHED_IP, then AsyncNotify in a loop; prints one JSON line per event
(``registered``, then one per notification with the wall time it arrived). After the first
notification the next AsyncNotify goes to ADDRESS2 (a new association, same registration) when given.
Anonymous, unless ``$SWN_CREDENTIALS`` is ``user%password``: then it authenticates as Windows clients do
(SPNEGO/NTLM, packet privacy; ``$SWN_BINDING`` changes the binding options, default ``seal``).
"""
from __future__ import annotations

import json
import os
import sys
import time

from samba import param
from samba.credentials import Credentials
from samba.dcerpc import witness

addr, port, net_name, ip, client = sys.argv[1:6]
addr2 = sys.argv[6] if len(sys.argv) > 6 else None
lp = param.LoadParm()
creds = Credentials()
secret = os.environ.get("SWN_CREDENTIALS")
if secret:
    lp.load_default()  # Samba's gensec needs a loaded configuration for NTLMSSP
    creds.guess(lp)
    user, _, password = secret.partition("%")
    creds.set_username(user)
    creds.set_password(password)
    creds.set_domain("WORKGROUP")
    options = "," + os.environ.get("SWN_BINDING", "seal")
else:
    creds.guess(lp)
    creds.set_anonymous()
    options = ""


def connect(a: str) -> witness.witness:
    return witness.witness(f"ncacn_ip_tcp:{a}[{port}{options}]", lp, creds)


def say(**kw: object) -> None:
    print(json.dumps({"t": time.time(), "client": client, **kw}), flush=True)


c = connect(addr)
h = c.RegisterEx(witness.WITNESS_V2, net_name, None, ip, client, 0, 3600)
say(event="registered")
n = 0
while True:
    resp = c.AsyncNotify(h)
    n += 1
    for m in resp.messages:
        if resp.type == witness.WITNESS_NOTIFY_RESOURCE_CHANGE:
            say(event="resource_change", name=m.name, state={1: "available", 0xFF: "unavailable"}.get(m.type, m.type))
        else:
            say(event={2: "client_move", 3: "share_move", 4: "ip_change"}[resp.type],
                addresses=[a.ipv4 for a in m.addr])
    if n == 1 and addr2:
        c = connect(addr2)  # the registration lives in the cluster store: any node answers for it
