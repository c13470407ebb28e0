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


_mounts: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


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
                                         {"keyring": spec.keyring, **CLIENT_OPTIONS}, root=spec.root)
        return m


def share_root_exists(path: str) -> bool:
    """A share can be served from ``path``: a local directory, or a path below a Ceph mount point."""
    return Path(path).is_dir() or find_mount(path) is not None


def open_share_vfs(path: str) -> Any:
    """The VFS of a share rooted at ``path`` (see the module docstring). For a Ceph-backed share the
    CephFS directory and the local directory of sofs's own files are created when missing."""
    found = find_mount(path)
    if found is None:
        from sofs.vfs.posix import PosixVfs

        return PosixVfs(path)
    from sofs.vfs.ceph import CephVfs

    spec, ceph_root = found
    Path(path).mkdir(parents=True, exist_ok=True)
    return CephVfs(ceph_client(spec), ceph_root)
