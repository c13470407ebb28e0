"""The management REST API: JSON over HTTPS, version 1 under ``/api/v1/``, served by every node.

Why aiohttp: it is an asyncio server and client that runs inside the node's own event loop beside the
SMB server and the agent (no second process, no thread), it is widely used and maintained, and it
has what this API needs — routing, middlewares for authentication and errors, TLS through the
standard ``ssl`` module. An ASGI stack (FastAPI + uvicorn) would bring its own server loop and a
validation framework we do not need for a dozen routes.

Every route calls the same services as the cmdlets (``sofs.management.services``) and answers the
objects the cmdlets print, with the cmdlets' property names (PascalCase, as ``ConvertTo-Json``).

Authentication: HTTP Basic with a cluster account (``New-LocalUser``) that has cluster access
(``Grant-ClusterAccess -ReadOnly`` lets it GET, ``-Full`` lets it do everything); the password is
checked against the account's NT hash on every request, so a disabled account or a changed password
applies at once. ``401`` without valid credentials, ``403`` when the role does not allow the method.

Errors: ``{"error": {"message": ..., "category": ...}}`` with 400 (bad argument, malformed body),
404 (not found), 409 (exists / conflicting state), 503 (store unavailable). A request body must be a
JSON object holding exactly the fields the route knows (:data:`BODIES`); anything else is a 400 and
changes nothing.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sofs.management import format as fmt
from sofs.management.errors import ManagementError
from sofs.management.events import read_events
from sofs.management.services.csv import CsvService
from sofs.management.services.witness import WitnessClientService

API = "/api/v1"
STATUS = {"ObjectNotFound": 404, "ResourceExists": 409, "InvalidOperation": 409, "InvalidArgument": 400,
          "PermissionDenied": 403, "ConnectionError": 503, "NotImplemented": 501, "InvalidData": 500}


@dataclass
class ApiServices:
    """What the API calls: the cmdlets' services over the node's store, and where logs live."""

    cluster: Any
    shares: Any
    openfiles: Any
    accounts: Any
    state_dir: Path
    metrics: Any = None
    """a ``prometheus_client`` registry (``/metrics``), or None"""
    sessions: Any = None
    """``SmbSessionService`` (sessions, connections, channels), or None"""
    logs: Any = None
    """``ClusterLogService`` (every node's events, asked through the store), or None: this machine's files"""


# route body schemas: field -> (type, required)
BODIES: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "suspend": {"drain": (bool, False)},
    "move": {"node": ((str, type(None)), False)},
    "witness-move": {"node": (str, True)},
    "share": {"name": (str, True), "path": (str, True), "continuously_available": (bool, False),
              "encrypt_data": (bool, False), "description": (str, False), "full_access": (list, False),
              "change_access": (list, False), "read_access": (list, False), "no_access": (list, False),
              "folder_enumeration_mode": (str, False), "ca_timeout": (int, False), "read_only": (bool, False),
              "create_path": (bool, False)},
}


def _sessions(svc: ApiServices) -> Any:
    if svc.sessions is None:
        raise ManagementError("This node's API serves no session listing.", "NotImplemented")
    return svc.sessions


def bad(message: str) -> web.HTTPException:
    return web.HTTPBadRequest(text=json.dumps({"error": {"message": message, "category": "InvalidArgument"}}),
                              content_type="application/json")


async def body(request: web.Request, schema: str) -> dict[str, Any]:
    """The request's JSON object, checked against :data:`BODIES` (an empty body is ``{}``)."""
    spec = BODIES[schema]
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise bad(f"The request body is not JSON: {e}.") from None
    if not isinstance(data, dict):
        raise bad("The request body must be a JSON object.")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise bad(f"Unknown field(s): {', '.join(unknown)} (this route takes: {', '.join(spec)}).")
    for name, (typ, required) in spec.items():
        if name not in data:
            if required:
                raise bad(f"The field '{name}' is required.")
            continue
        v = data[name]
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise bad(f"The field '{name}' has the wrong type ({type(v).__name__}).")
        if typ is list and not all(isinstance(x, str) for x in v):
            raise bad(f"The field '{name}' must be a list of strings.")
    return data


def reply(objects: Any, status: int = 200) -> web.Response:
    return web.json_response(fmt.to_data(objects), status=status, dumps=lambda d: json.dumps(d, indent=1))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ManagementError as e:
        return web.json_response({"error": {"message": str(e), "category": e.category}},
                                 status=STATUS.get(e.category, 400))


def auth_middleware(accounts: Any) -> Any:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/", "/favicon.ico") or request.path.startswith("/ui/"):
            return await handler(request)  # the dashboard's static page: it authenticates its API calls
        user = await _account(accounts, request.headers.get("Authorization", ""))
        if user is None:
            return web.json_response({"error": {"message": "Authentication required: HTTP Basic with a cluster "
                                                "account that has cluster access (Grant-ClusterAccess).",
                                                "category": "AuthenticationError"}}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="sofs", charset="UTF-8"'})
        read_only = request.method in ("GET", "HEAD")
        if user.cluster_access == "None" or (user.cluster_access == "Read" and not read_only):
            what = "any access" if user.cluster_access == "None" else "read-only access"
            return web.json_response({"error": {"message": f"{user.name} has {what} to the cluster; this "
                                                "request needs Grant-ClusterAccess -Full.",
                                                "category": "PermissionDenied"}}, status=403)
        request["account"] = user
        return await handler(request)
    return auth


async def _account(accounts: Any, header: str) -> Any:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return await accounts.authenticate(name, password) if sep else None


def make_app(svc: ApiServices, static_dir: Path | None = None) -> web.Application:
    app = web.Application(middlewares=[errors, auth_middleware(svc.accounts)], client_max_size=1 << 20)
    r = web.RouteTableDef()
    csvs = CsvService(svc.cluster)
    witness = WitnessClientService(svc.cluster.client)

    @r.get(API + "/")
    async def index(request: web.Request) -> web.Response:
        return web.json_response({"version": 1, "routes": sorted({f"{x.method} {x.resource.canonical}"
                                                                  for x in app.router.routes()
                                                                  if x.resource is not None})})

    @r.get(API + "/whoami")
    async def whoami(request: web.Request) -> web.Response:
        a = request["account"]
        return web.json_response({"Name": a.name, "ClusterAccess": a.cluster_access})

    @r.get(API + "/cluster")
    async def cluster(request: web.Request) -> web.Response:
        return reply(await svc.cluster.get_cluster())

    @r.get(API + "/nodes")
    async def nodes(request: web.Request) -> web.Response:
        return reply(await svc.cluster.get_nodes())

    @r.get(API + "/nodes/{name}")
    async def node(request: web.Request) -> web.Response:
        return reply((await svc.cluster.get_nodes([request.match_info["name"]]))[0])

    @r.post(API + "/nodes/{name}/suspend")
    async def suspend(request: web.Request) -> web.Response:
        b = await body(request, "suspend")
        return reply(await svc.cluster.suspend_node(request.match_info["name"], drain=bool(b.get("drain"))))

    @r.post(API + "/nodes/{name}/resume")
    async def resume(request: web.Request) -> web.Response:
        return reply(await svc.cluster.resume_node(request.match_info["name"]))

    @r.get(API + "/groups")
    async def groups(request: web.Request) -> web.Response:
        return reply(await svc.cluster.get_groups())

    @r.post(API + "/groups/{name}/move")
    async def move(request: web.Request) -> web.Response:
        b = await body(request, "move")
        return reply(await svc.cluster.move_group(request.match_info["name"], b.get("node")))

    @r.get(API + "/resources")
    async def resources(request: web.Request) -> web.Response:
        return reply(await svc.cluster.get_resources())

    @r.get(API + "/quorum")
    async def quorum(request: web.Request) -> web.Response:
        return reply(await svc.cluster.get_quorum())

    @r.get(API + "/volumes")
    async def volumes(request: web.Request) -> web.Response:
        return reply(await csvs.get_csvs())

    @r.get(API + "/volumes/state")
    async def volume_states(request: web.Request) -> web.Response:
        return reply(await csvs.get_states())

    @r.post(API + "/volumes/{name}/move")
    async def move_volume(request: web.Request) -> web.Response:
        b = await body(request, "move")
        return reply(await csvs.move_csv(request.match_info["name"], b.get("node")))

    @r.get(API + "/witness")
    async def witness_clients(request: web.Request) -> web.Response:
        return reply(await witness.get_clients(request.query.get("client")))

    @r.post(API + "/witness/{client}/move")
    async def move_witness_client(request: web.Request) -> web.Response:
        b = await body(request, "witness-move")
        return reply(await witness.move_client(request.match_info["client"], b["node"]))

    @r.get(API + "/shares")
    async def shares(request: web.Request) -> web.Response:
        return reply(await svc.shares.get_shares())

    @r.get(API + "/shares/{name}")
    async def share(request: web.Request) -> web.Response:
        return reply((await svc.shares.get_shares([request.match_info["name"]]))[0])

    @r.get(API + "/shares/{name}/access")
    async def share_access(request: web.Request) -> web.Response:
        return reply(await svc.shares.get_access(request.match_info["name"]))

    @r.post(API + "/shares")
    async def new_share(request: web.Request) -> web.Response:
        b = await body(request, "share")
        name, path = b.pop("name"), b.pop("path")
        b["description"] = b.get("description", "")
        return reply(await svc.shares.new_share(name, path, **b), status=201)

    @r.delete(API + "/shares/{name}")
    async def remove_share(request: web.Request) -> web.Response:
        await svc.shares.remove_share(request.match_info["name"])
        return web.Response(status=204)

    @r.get(API + "/openfiles")
    async def openfiles(request: web.Request) -> web.Response:
        q = request.query
        return reply(await svc.openfiles.get_open_files(
            q.getall("share", None), q.getall("user", None), q.getall("node", None)))

    @r.delete(API + "/openfiles/{file_id}")
    async def close_openfile(request: web.Request) -> web.Response:
        try:
            fid = int(request.match_info["file_id"])
        except ValueError:
            raise bad(f"'{request.match_info['file_id']}' is not a FileId (a decimal number).") from None
        return reply(await svc.openfiles.close_open_file(fid))

    @r.get(API + "/sessions")
    async def sessions(request: web.Request) -> web.Response:
        q = request.query
        return reply(await _sessions(svc).get_sessions(None, q.getall("client", None), q.getall("user", None),
                                                       q.getall("node", None)))

    @r.delete(API + "/sessions/{node}/{session_id}")
    async def close_session(request: web.Request) -> web.Response:
        try:
            sid = int(request.match_info["session_id"])
        except ValueError:
            raise bad(f"'{request.match_info['session_id']}' is not a SessionId (a decimal number).") from None
        return reply(await _sessions(svc).close_sessions([sid], cluster_node_names=[request.match_info["node"]]))

    @r.get(API + "/connections")
    async def connections(request: web.Request) -> web.Response:
        q = request.query
        return reply(await _sessions(svc).get_connections(q.getall("server", None), q.getall("share", None),
                                                          q.getall("user", None)))

    @r.get(API + "/multichannel")
    async def multichannel(request: web.Request) -> web.Response:
        return reply(await _sessions(svc).get_multichannel_connections(request.query.getall("server", None)))

    @r.get(API + "/accounts")
    async def accounts(request: web.Request) -> web.Response:
        return reply(await svc.accounts.get_users())

    @r.get(API + "/events")
    async def events(request: web.Request) -> web.Response:
        q = request.query
        try:
            since = float(q.get("since", "0"))
            limit = int(q.get("limit", "500"))
        except ValueError:
            raise bad("'since' must be a unix time and 'limit' a number.") from None
        if not 1 <= limit <= 10_000:
            raise bad("'limit' must be between 1 and 10000.")
        nodes = q.getall("node", None)
        if svc.logs is not None:
            return reply(await svc.logs.events(since, nodes, limit))
        return reply(read_events(svc.state_dir, since=since, nodes=nodes, limit=limit))

    @r.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        if svc.metrics is None:
            raise ManagementError("This node exports no metrics.", "NotImplemented")
        return web.Response(body=generate_latest(svc.metrics), headers={"Content-Type": CONTENT_TYPE_LATEST})

    if static_dir is not None:
        @r.get("/")
        async def root(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(static_dir / "index.html")
        r.static("/ui", static_dir)
    app.add_routes(r)
    return app
