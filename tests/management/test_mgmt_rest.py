"""Issue 15 acceptance 1, 2, 5: the REST API, /metrics and the event log against a real 3-node cluster.

``sofs cluster up 3 --api-port P`` (HTTPS with the certificate made at creation, verified here as the
trust anchor), accounts made by the cmdlets: ``admin`` (Grant-ClusterAccess -Full), ``viewer``
(-ReadOnly), ``plain`` (no cluster access). Every route is called; the data matches the cmdlets'
``-AsJson`` output; every mutating route refuses the unauthenticated, the read-only and the plain
caller and malformed bodies, changing nothing; ``/metrics`` of every node parses with Prometheus's
parser and its request counters move with an SMB workload.
"""
from __future__ import annotations

import base64
import contextlib
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_proc import free_port_on, sofs

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
USERS = {"admin": "admin password", "viewer": "viewer password", "plain": "plain password"}


class Api:
    def __init__(self, state: Path, port: int) -> None:
        self.port = port
        self.ctx = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))

    def call(self, method: str, path: str, user: str | None = "admin", body: Any = None, raw: bytes | None = None,
             node: str = "n1") -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"https://{ADDR[node]}:{self.port}{path}", data=data, method=method)
        if user is not None:
            token = base64.b64encode(f"{user}:{USERS.get(user, 'wrong')}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=20) as r:
                text = r.read().decode()
                status = r.status
                ctype = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            text, status, ctype = e.read().decode(), e.code, e.headers.get("Content-Type", "")
        return status, (json.loads(text) if "json" in ctype and text else text)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Api, int]]:
    state = tmp_path_factory.mktemp("rest") / "c"
    state.mkdir()
    api_port = free_port_on(list(ADDR.values()))
    smb_port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "rest", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(smb_port), "--api-port", str(api_port))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        for u, pw in USERS.items():
            assert sofs("New-LocalUser", u, "-Password", pw, state=state).returncode == 0
        assert sofs("Grant-ClusterAccess", "admin", "-Full", state=state).returncode == 0
        assert sofs("Grant-ClusterAccess", "viewer", "-ReadOnly", state=state).returncode == 0
        r = sofs("New-SmbShare", "Data", r"C:\ClusterStorage\Volume1\Shares\Data", "-FullAccess", "admin",
                 "-CreatePath", state=state)
        assert r.returncode == 0, r.stderr
        api = Api(state, api_port)
        deadline = time.monotonic() + 30
        while True:
            try:
                if all(api.call("GET", "/api/v1/whoami", node=n)[0] == 200 for n in ADDR):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the API did not come up on every node"
            time.sleep(0.3)
        yield state, api, smb_port
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


GETS = ["/api/v1/", "/api/v1/whoami", "/api/v1/cluster", "/api/v1/nodes", "/api/v1/nodes/n2", "/api/v1/groups",
        "/api/v1/resources", "/api/v1/quorum", "/api/v1/shares", "/api/v1/shares/Data", "/api/v1/shares/Data/access",
        "/api/v1/openfiles", "/api/v1/sessions", "/api/v1/connections", "/api/v1/multichannel", "/api/v1/accounts",
        "/api/v1/events", "/api/v1/volumes", "/api/v1/volumes/state", "/api/v1/witness", "/metrics"]
MUTATIONS: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/nodes/n3/suspend", {"drain": True}), ("POST", "/api/v1/nodes/n3/resume", None),
    ("POST", "/api/v1/groups/Cluster%20Group/move", {"node": "n2"}), ("POST", "/api/v1/volumes/Volume1/move", {"node": "n2"}),
    ("POST", "/api/v1/shares", {"name": "X", "path": r"C:\ClusterStorage\Volume1\X", "create_path": True}),
    ("POST", "/api/v1/witness/HOST1/move", {"node": "n2"}),
    ("DELETE", "/api/v1/shares/Data", None), ("DELETE", "/api/v1/openfiles/1", None),
    ("DELETE", "/api/v1/sessions/n1/1", None)]


def as_json(state: Path, *cmd: str) -> Any:
    r = sofs(*cmd, "-AsJson", state=state)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    return data if isinstance(data, list) else [data]


def snapshot(api: Api) -> Any:
    """What a mutation could change (LastHeartbeat moves by itself)."""
    nodes = [{k: v for k, v in n.items() if k != "LastHeartbeat"} for n in api.call("GET", "/api/v1/nodes")[1]]
    return [nodes, *(api.call("GET", p)[1] for p in ("/api/v1/groups", "/api/v1/shares"))]


def test_every_get_route_on_every_node(cluster: tuple[Path, Api, int]) -> None:
    state, api, _ = cluster
    for node in ADDR:
        for path in GETS:
            status, data = api.call("GET", path, node=node)
            assert status == 200, (node, path, data)
    routes = api.call("GET", "/api/v1/")[1]["routes"]
    assert "POST /api/v1/groups/{name}/move" in routes and "GET /api/v1/events" in routes
    assert api.call("GET", "/api/v1/whoami", "viewer")[1] == {"Name": "viewer", "ClusterAccess": "Read"}
    # the data is the cmdlets' data
    nodes = api.call("GET", "/api/v1/nodes")[1]
    assert [(n["Name"], n["State"]) for n in nodes] == [(n["Name"], n["State"]) for n in as_json(state, "Get-ClusterNode")]
    assert api.call("GET", "/api/v1/shares")[1] == as_json(state, "Get-SmbShare")
    assert api.call("GET", "/api/v1/quorum")[1] == as_json(state, "Get-ClusterQuorum")[0]
    assert api.call("GET", "/api/v1/groups")[1] == as_json(state, "Get-ClusterGroup")
    assert api.call("GET", "/api/v1/volumes")[1] == as_json(state, "Get-ClusterSharedVolume")
    assert api.call("GET", "/api/v1/volumes/state")[1] == as_json(state, "Get-ClusterSharedVolumeState")
    assert api.call("GET", "/api/v1/witness")[1] == as_json(state, "Get-SmbWitnessClient") == []  # none registered
    assert api.call("GET", "/api/v1/nodes/n9")[0] == 404


def test_mutations_need_full_access_and_valid_bodies(cluster: tuple[Path, Api, int]) -> None:
    _state, api, _ = cluster
    before = snapshot(api)
    for method, path, body in MUTATIONS:
        assert api.call(method, path, None, body)[0] == 401, (method, path)
        assert api.call(method, path, "nobody-such", body)[0] == 401, (method, path)
        assert api.call(method, path, "viewer", body)[0] == 403, (method, path)
        assert api.call(method, path, "plain", body)[0] == 403, (method, path)
    for path in GETS[1:]:
        assert api.call("GET", path, None)[0] == 401 and api.call("GET", path, "plain")[0] == 403, path
    malformed = [("POST", "/api/v1/nodes/n3/suspend", b"{not json"), ("POST", "/api/v1/nodes/n3/suspend", b"[1]"),
                 ("POST", "/api/v1/nodes/n3/suspend", b'{"drain": "yes"}'),
                 ("POST", "/api/v1/nodes/n3/suspend", b'{"drian": true}'),
                 ("POST", "/api/v1/groups/Cluster%20Group/move", b'{"node": 3}'),
                 ("POST", "/api/v1/volumes/Volume1/move", b'{"nod": "n2"}'),
                 ("POST", "/api/v1/witness/HOST1/move", b'{}'),
                 ("POST", "/api/v1/shares", b'{"name": "Y"}'),
                 ("POST", "/api/v1/shares", b'{"name": "Y", "path": "/tmp", "full_access": [1]}'),
                 ("DELETE", "/api/v1/openfiles/abc", None), ("DELETE", "/api/v1/sessions/n1/abc", None)]
    for method, path, raw in malformed:
        status, data = api.call(method, path, raw=raw)
        assert status == 400 and data["error"]["message"], (path, raw, data)
    for method, path, body in [("POST", "/api/v1/nodes/n9/suspend", None), ("POST", "/api/v1/groups/nope/move", None),
                               ("DELETE", "/api/v1/shares/nope", None), ("DELETE", "/api/v1/sessions/n1/7", None),
                               ("POST", "/api/v1/volumes/nope/move", None),
                               ("POST", "/api/v1/witness/nope/move", {"node": "n2"})]:
        assert api.call(method, path, body=body)[0] == 404, path
    assert api.call("POST", "/api/v1/groups/Cluster%20Group/move", body={"node": "n9"})[0] == 404
    assert snapshot(api) == before  # nothing changed


def test_admin_actions_take_effect(cluster: tuple[Path, Api, int]) -> None:
    state, api, _ = cluster
    status, g = api.call("POST", "/api/v1/groups/Cluster%20Group/move", body={"node": "n3"})
    assert status == 200 and g["OwnerNode"] == "n3"
    assert as_json(state, "Get-ClusterGroup", "Cluster Group")[0]["OwnerNode"] == "n3"
    vol = as_json(state, "Get-ClusterSharedVolume", "Volume1")[0]
    target = next(n for n in ADDR if n != vol["Node"])
    status, v = api.call("POST", "/api/v1/volumes/Volume1/move", body={"node": target}, node="n2")
    assert status == 200 and v["Node"] == target and v["Epoch"] > vol["Epoch"], (vol, v)
    assert as_json(state, "Get-ClusterSharedVolume", "Volume1")[0]["Node"] == target
    status, n = api.call("POST", "/api/v1/nodes/n2/suspend", body={"drain": True}, node="n3")
    assert status == 200 and n["State"] == "Paused"
    wait_event(api, "NodePaused")
    assert api.call("POST", "/api/v1/nodes/n2/resume", node="n2")[1]["State"] == "Up"
    status, s = api.call("POST", "/api/v1/shares", body={"name": "Tmp", "path": r"C:\ClusterStorage\Volume1\Tmp",
                                                         "create_path": True, "continuously_available": True})
    assert status == 201 and s["ContinuouslyAvailable"] is True
    assert as_json(state, "Get-SmbShare", "Tmp")[0]["Name"] == "Tmp"
    assert api.call("POST", "/api/v1/shares", body={"name": "Tmp", "path": "/tmp"})[0] == 409
    assert api.call("DELETE", "/api/v1/shares/Tmp", node="n2")[0] == 204
    assert sofs("Get-SmbShare", "Tmp", state=state).returncode == 1
    for kind in ("OwnerChanged", "NodeUp", "ShareAdded", "ShareRemoved"):
        wait_event(api, kind)
    out = state / "logs"
    out.mkdir()
    r = sofs("Get-ClusterLog", "-Destination", str(out), "-TimeSpan", "10", state=state)
    assert r.returncode == 0 and "n3_cluster.log" in r.stdout, r.stderr
    text = (out / "n1_cluster.log").read_text()
    assert "[OwnerChanged] group Cluster Group: owner" in text and "sofs.cluster.agent" in text


def wait_event(api: Api, kind: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        kinds = {e["Kind"] for e in api.call("GET", "/api/v1/events?limit=500")[1]}
        if kind in kinds:
            return
        assert time.monotonic() < deadline, (kind, kinds)
        time.sleep(0.2)


def test_metrics_parse_and_move_with_a_workload(cluster: tuple[Path, Api, int]) -> None:
    from prometheus_client.parser import text_string_to_metric_families
    smbprotocol = pytest.importorskip("smbprotocol")  # noqa: F841
    from smbprotocol.connection import Connection, Dialects
    from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect

    _state, api, smb_port = cluster

    def scrape(node: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = api.call("GET", "/metrics", "viewer", node=node)
        assert status == 200
        out = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    for node in ADDR:
        m = scrape(node)
        assert m[("sofs_cluster_quorum", ())] == 1
        assert m[("sofs_cluster_node_up", (("node", node),))] == 1
    before = scrape("n1")
    conn = Connection(uuid.uuid4(), ADDR["n1"], smb_port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=5)
    session = Session(conn, "admin", USERS["admin"], require_encryption=False)
    session.connect()
    tree = TreeConnect(session, rf"\\{ADDR['n1']}\Data")
    tree.connect()
    op = Open(tree, "m.bin")
    op.create(ImpersonationLevel.Impersonation, 0x3, 0x80, 0, CreateDisposition.FILE_OVERWRITE_IF, 0x40)
    for i in range(10):
        op.write(b"x" * 4096, i * 4096)
    assert len(op.read(0, 4096)) == 4096
    during = scrape("n1")
    op.close()
    conn.disconnect()
    w = ("sofs_smb_requests_total", (("command", "WRITE"), ("status", "SUCCESS")))
    assert during[w] - before.get(w, 0) == 10
    hist = ("sofs_smb_request_duration_seconds_count", (("command", "WRITE"),))
    assert during[hist] - before.get(hist, 0) == 10
    assert during[("sofs_smb_sessions", ())] >= 1 and during[("sofs_smb_open_files", (("kind", "plain"),))] >= 1
    assert during[("sofs_smb_requests_total", (("command", "CREATE"), ("status", "SUCCESS")))] >= 1
    moved = {k: during[(k, ())] - before[(k, ())] for k in ("sofs_smb_written_bytes_total", "sofs_smb_read_bytes_total")}
    assert moved == {"sofs_smb_written_bytes_total": 10 * 4096, "sofs_smb_read_bytes_total": 4096}, moved
    for node in ADDR:  # breaks and journal commits: counted by the coordinator (tests/handlestate), shown here
        m = scrape(node)
        assert ("sofs_smb_breaks_sent_total", ()) in m and ("sofs_smb_breaks_timed_out_total", ()) in m
        assert ("sofs_journal_commit_duration_seconds_count", ()) in m
        assert ("sofs_smb_handle_events_total", (("kind", "HandleReclaimed"),)) in m
        assert ("sofs_journal_commit_duration_seconds_bucket", (("le", "+Inf"),)) in m


def test_sessions_through_the_api(cluster: tuple[Path, Api, int]) -> None:
    """GET /sessions, /connections, /multichannel answer what the cmdlets answer; DELETE /sessions ends one."""
    pytest.importorskip("smbprotocol")
    from smbprotocol.connection import Connection, Dialects
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect

    state, api, smb_port = cluster
    conn = Connection(uuid.uuid4(), ADDR["n2"], smb_port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=5)
    session = Session(conn, "admin", USERS["admin"], require_encryption=False)
    session.connect()
    tree = TreeConnect(session, rf"\\{ADDR['n2']}\Data")
    tree.connect()
    op = Open(tree, "s.bin")
    op.create(ImpersonationLevel.Impersonation, 0x3, 0x80, 0, CreateDisposition.FILE_OVERWRITE_IF, 0x40)
    try:
        deadline = time.monotonic() + 15
        while not (mine := [s for s in api.call("GET", "/api/v1/sessions?node=n2")[1]
                            if s["ClientUserName"].endswith("\\admin")]):
            assert time.monotonic() < deadline, "the session never listed"
            time.sleep(0.3)
        cmd = [s for s in as_json(state, "Get-SmbSession", "-ClusterNodeName", "n2")
               if s["SessionId"] == mine[0]["SessionId"]]
        drop = ("SecondsExists", "SecondsIdle")
        assert [{k: v for k, v in s.items() if k not in drop} for s in mine] == \
            [{k: v for k, v in s.items() if k not in drop} for s in cmd]
        assert mine[0]["NumOpens"] == 1 and mine[0]["ClusterNodeName"] == "n2"
        conns = [c for c in api.call("GET", "/api/v1/connections?share=Data")[1] if c["SessionId"] == mine[0]["SessionId"]]
        assert [(c["ServerName"], c["NumOpens"]) for c in conns] == [(ADDR["n2"], 1)]
        chans = [m for m in api.call("GET", "/api/v1/multichannel", node="n3")[1] if m["SessionId"] == mine[0]["SessionId"]]
        assert [m["ServerIpAddress"] for m in chans] == [ADDR["n2"]]
        assert api.call("DELETE", f"/api/v1/sessions/n2/{mine[0]['SessionId']}", "viewer")[0] == 403
        status, closed = api.call("DELETE", f"/api/v1/sessions/n2/{mine[0]['SessionId']}", node="n1")
        assert status == 200 and closed[0]["SessionId"] == mine[0]["SessionId"], closed
        with pytest.raises(SMBResponseException) as ei:
            op.read(0, 1)
        assert ei.value.status == 0xC0000203  # STATUS_USER_SESSION_DELETED
    finally:
        with contextlib.suppress(Exception):
            conn.disconnect()
