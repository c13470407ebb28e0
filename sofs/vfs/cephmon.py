"""Monitor commands through librados (``librados.so.2``, installed with libcephfs2), by ctypes.

Used to fence a dead node out of the Ceph cluster (:func:`fence_node`): a few monitor commands in
one connection, ~0.1 s, where each ``ceph`` CLI process costs ~0.7 s to start. Every call raises :class:`OSError`
with the errno librados or the monitor returns, and the monitor's message.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
from collections.abc import Iterator
from typing import Any

from sofs.vfs.cephlib import load

_vp, _cp = ctypes.c_void_p, ctypes.c_char_p
_SIGS: dict[str, tuple[list[object], object]] = {
    "rados_create": ([ctypes.POINTER(_vp), _cp], ctypes.c_int),
    "rados_conf_read_file": ([_vp, _cp], ctypes.c_int),
    "rados_conf_set": ([_vp, _cp, _cp], ctypes.c_int),
    "rados_connect": ([_vp], ctypes.c_int),
    "rados_shutdown": ([_vp], None),
    "rados_mon_command": ([_vp, ctypes.POINTER(_cp), ctypes.c_size_t, _cp, ctypes.c_size_t,
                           ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
                           ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)], ctypes.c_int),
    "rados_buffer_free": ([ctypes.c_void_p], None),
}
_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """``librados.so.2`` with the prototypes above; OSError when it is not installed."""
    global _lib
    if _lib is None:
        _lib = load("rados", "librados.so.2", _SIGS)
    return _lib


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")


def _take(lib: ctypes.CDLL, p: ctypes.c_void_p, n: ctypes.c_size_t) -> str:
    if not p.value:
        return ""
    try:
        return ctypes.string_at(p.value, n.value).decode(errors="replace")
    finally:
        lib.rados_buffer_free(p)


def _one(lib: ctypes.CDLL, h: _vp, cmd: dict[str, Any]) -> str:
    argv = (_cp * 1)(json.dumps(cmd).encode())
    out, outlen, st, stlen = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p(), ctypes.c_size_t()
    rc = lib.rados_mon_command(h, argv, 1, b"", 0, ctypes.byref(out), ctypes.byref(outlen), ctypes.byref(st),
                               ctypes.byref(stlen))
    text, status = _take(lib, out, outlen), _take(lib, st, stlen)
    if rc < 0:
        raise OSError(-rc, f"ceph {cmd['prefix']}: {status or os.strerror(-rc)}")
    return text or status


def mon_commands(conf_file: str, client_id: str, cmds: list[dict[str, Any]],
                 options: dict[str, str] | None = None, timeout_s: int = 15) -> list[str]:
    """Run monitor commands (``{"prefix": ..., ...}``) in turn as ``client.<client_id>``; their outputs."""
    lib = library()
    with _connected(lib, conf_file, client_id, options, timeout_s) as h:
        return [_one(lib, h, cmd) for cmd in cmds]


@contextlib.contextmanager
def _connected(lib: ctypes.CDLL, conf_file: str, client_id: str, options: dict[str, str] | None,
               timeout_s: int = 15) -> Iterator[_vp]:
    h = _vp()
    _check(lib.rados_create(ctypes.byref(h), client_id.encode()), "rados_create")
    try:
        _check(lib.rados_conf_read_file(h, conf_file.encode()), f"rados_conf_read_file {conf_file}")
        for k, v in {"client_mount_timeout": str(timeout_s), "rados_mon_op_timeout": str(timeout_s),
                     **(options or {})}.items():
            _check(lib.rados_conf_set(h, k.encode(), str(v).encode()), f"rados_conf_set {k}")
        _check(lib.rados_connect(h), "rados_connect")
        yield h
    finally:
        lib.rados_shutdown(h)


def client_addr(addrs: str) -> str:
    """The address to blocklist from ``ceph_getaddrs``' text (``[v2:127.0.0.1:0/123,v1:…]`` or
    ``127.0.0.1:0/123``): the first, without its type (the blocklist matches any type)."""
    first = addrs.strip().strip("[]").split(",")[0].strip()
    for t in ("v2:", "v1:", "any:"):
        first = first.removeprefix(t)
    return first


def fence_node(conf_file: str, client_id: str, node: str, addrs: list[str],
               options: dict[str, str] | None = None) -> list[str]:
    """What a surviving node tells the monitors when ``node`` (a CRUSH host and an MDS name) died, in
    one connection; returns what was done.

    1. ``osd blocklist add`` each of the dead node's client addresses: every MDS kills their sessions
       and releases their caps as soon as it sees the new OSD map (also an MDS taking over, which
       otherwise waits 45 s for them to reconnect), and the OSDs refuse their writes. Must succeed.
    2. ``osd down`` the node's OSDs: on a network where a dead host answers nothing (no connection
       refused), its peers would report them only after ``osd heartbeat grace``.
    3. ``mds fail <node>``: the monitors forget their last beacon at every election, and a node's
       death is one (its monitor dies), so its MDS would be replaced only ``mds beacon grace`` after
       the re-election; failing it starts the standby's takeover at once.
    Steps 2 and 3 are best effort (the daemon may be gone from the maps already)."""
    lib = library()
    done: list[str] = []
    with _connected(lib, conf_file, client_id, options) as h:
        for a in addrs:
            _one(lib, h, {"prefix": "osd blocklist", "blocklistop": "add", "addr": a})
            done.append(f"blocklisted {a}")
        try:
            ids = [int(i) for i in json.loads(_one(lib, h, {"prefix": "osd ls-tree", "name": node, "format": "json"}))]
            if ids:
                _one(lib, h, {"prefix": "osd down", "ids": [str(i) for i in ids]})
                done.append("osd down " + " ".join(map(str, ids)))
        except (OSError, ValueError) as e:
            done.append(f"osd down: {e}")
        try:
            _one(lib, h, {"prefix": "mds fail", "role_or_gid": node})
            done.append(f"mds fail {node}")
        except OSError as e:
            done.append(f"mds fail: {e}")
    return done
