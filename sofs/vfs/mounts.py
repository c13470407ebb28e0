"""Which backend serves a share path: a local directory (``PosixVfs``) or a CephFS directory (``CephVfs``).

A directory is the **mount point** of a CephFS directory when it holds ``.sofs-mount.json``
(written by ``sofs.storage.ceph_volumes.write_mount`` for each Ceph-backed volume, at
``<state dir>/ClusterStorage/VolumeN``)::

    {"backend": "cephfs", "conf": "/…/ceph/ceph.conf", "client": "smb", "keyring": "/…/ceph.client.smb.keyring",
     "fs": "cephfs", "root": "/volumes/Volume1"}

A share whose path lies at or below a mount point is served from ``root`` + the rest of the path,
through libcephfs; the local directory stays the place of sofs's own per-share files (persistent
handle journals, open-file status), as for local volumes. One libcephfs client per process and
volume (mounted at the volume's root, as a kernel mount would be), shared by the volume's shares.

On a cluster node each client session carries the uuid ``sofs:<node>:<fs>:<root>``
(:func:`session_uuid`): a node that restarts evicts its previous incarnation's session before it
mounts (``CephMount(uuid=...)``). The nodes publish their clients' addresses (:func:`session_addrs`);
when the cluster declares a node down, a survivor blocklists them (:func:`fence_node`).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MOUNT_FILE = ".sofs-mount.json"


@dataclass(frozen=True, slots=True)
class CephMountSpec:
    conf: str
    client: str
    keyring: str
    fs: str
    root: str


def read_mount(directory: Path) -> CephMountSpec | None:
    try:
        doc = json.loads((directory / MOUNT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if doc.get("backend") != "cephfs":
        return None
    return CephMountSpec(str(doc["conf"]), str(doc["client"]), str(doc["keyring"]), str(doc["fs"]),
                         str(doc["root"]))


def find_mount(path: str | Path) -> tuple[CephMountSpec, str] | None:
    """The Ceph mount holding ``path`` and the directory ``path`` maps to, relative to the mount's
    root (``/`` for the mount point itself), or None (a local directory)."""
    p = Path(path).absolute()
    rest: list[str] = []
    for d in (p, *p.parents):
        spec = read_mount(d)
        if spec is not None:
            return spec, "/" + "/".join(reversed(rest))
        rest.append(d.name)
    return None


_mounts: dict[tuple[str, str, str, str], Any] = {}
_lock = threading.Lock()
_tag: str | None = None


def set_session_tag(tag: str | None) -> None:
    """Name this process's Ceph client sessions after ``tag`` (a cluster node's name), so that another
    node can evict them when this node dies (:func:`fence_sessions`). Set before the first mount."""
    global _tag
    _tag = tag


def session_uuid(tag: str, spec: CephMountSpec) -> str:
    """The uuid of the session a process tagged ``tag`` holds on ``spec``'s volume (``ceph_set_uuid``)."""
    return f"sofs:{tag}:{spec.fs}:{spec.root}"


def cluster_mounts(volume_root: Path) -> list[CephMountSpec]:
    """The Ceph mount specs of the volumes under ``volume_root`` (``<state dir>/ClusterStorage``)."""
    try:
        dirs = sorted(d for d in volume_root.iterdir() if d.is_dir())
    except OSError:
        return []
    return [spec for d in dirs if (spec := read_mount(d)) is not None]


def session_addrs() -> list[str]:
    """The addresses of this process's Ceph clients (what :func:`fence_node` blocklists)."""
    from sofs.vfs.cephmon import client_addr

    with _lock:
        mounts = list(_mounts.values())
    return sorted({client_addr(m.addrs()) for m in mounts})


def fence_node(spec: CephMountSpec, node: str, addrs: list[str]) -> list[str]:
    """Fence the dead cluster node ``node`` out of ``spec``'s Ceph cluster: its clients at ``addrs``
    (:func:`session_addrs` of its process) blocklisted, its OSDs marked down, its MDS failed
    (:func:`sofs.vfs.cephmon.fence_node`). Without it a file the dead node had open for writing
    could not be opened by another node for the MDS's session timeout (60 s; measured 65 s). Blocking
    (run it in a thread). Returns what was done."""
    from sofs.vfs.ceph import CLIENT_OPTIONS
    from sofs.vfs.cephmon import fence_node as fence

    return fence(spec.conf, spec.client, node, addrs, {"keyring": spec.keyring, **CLIENT_OPTIONS})


def ceph_client(spec: CephMountSpec) -> Any:
    """This process's libcephfs client of ``spec``'s volume (one per volume, mounted at its root as a
    kernel mount would be: the volume's quota is the size ``statfs`` reports, and no path leaves it)."""
    from sofs.vfs.ceph import CLIENT_OPTIONS
    from sofs.vfs.cephlib import CephMount

    key = (spec.conf, spec.client, spec.fs, spec.root)
    with _lock:
        m = _mounts.get(key)
        if m is None:
            m = _mounts[key] = CephMount(spec.conf, spec.client, spec.fs,
                                         {"keyring": spec.keyring, **CLIENT_OPTIONS}, root=spec.root,
                                         uuid=session_uuid(_tag, spec) if _tag else None)
        return m


def renew_evicted() -> int:
    """Re-create this process's Ceph clients whose session was evicted (this node was fenced while
    alive); returns how many. Blocking (run it in a thread)."""
    with _lock:
        mounts = list(_mounts.values())
    n = 0
    for m in mounts:
        if m.evicted():
            m.remount()
            n += 1
    return n


def share_root_exists(path: str) -> bool:
    """A share can be served from ``path``: a local directory, or a path below a Ceph mount point."""
    return Path(path).is_dir() or find_mount(path) is not None


def open_share_vfs(path: str, *, write_through: bool = False) -> Any:
    """The VFS of a share rooted at ``path`` (see the module docstring). For a Ceph-backed share the
    CephFS directory and the local directory of sofs's own files are created when missing, and
    ``write_through`` (continuously available shares) makes every write reach the OSDs before it is
    acknowledged: libcephfs buffers writes inside this process, so a node killed with data in that
    buffer would lose writes its clients were told are done (a local file system's page cache
    outlives the process; Windows writes through on CA shares for the same reason)."""
    found = find_mount(path)
    if found is None:
        from sofs.vfs.posix import PosixVfs

        return PosixVfs(path)
    from sofs.vfs.ceph import CephVfs

    spec, ceph_root = found
    Path(path).mkdir(parents=True, exist_ok=True)
    return CephVfs(ceph_client(spec), ceph_root, write_through=write_through)
