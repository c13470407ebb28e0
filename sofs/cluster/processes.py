"""Node processes of an embedded cluster on this machine: start one, tell whether one runs.

Used by ``sofs cluster up/down`` and by the failover drill (which kills and restarts nodes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sofs

REPO_ROOT = str(Path(sofs.__file__).resolve().parent.parent)


def node_alive(pid: int) -> bool:
    """Is ``pid`` a running (not zombie) ``sofs node`` process?"""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and b"node" in cmdline and any(b"sofs" in a for a in cmdline)


def node_processes(state_dir: Path) -> dict[int, str]:
    """Every running ``sofs node --name NAME --state-dir STATE_DIR`` of this cluster, by pid (NAME):
    also the nodes restarted by hand, which the configuration's pids do not name."""
    want = str(Path(state_dir).resolve())
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if "node" not in args or "--name" not in args or "--state-dir" not in args:
            continue
        i, j = args.index("--name"), args.index("--state-dir")
        if i + 1 < len(args) and j + 1 < len(args) and str(Path(args[j + 1]).resolve()) == want \
                and node_alive(int(entry.name)):
            found[int(entry.name)] = args[i + 1]
    return found


def start_node(state_dir: Path, name: str, no_smb: bool, detach: bool) -> subprocess.Popen[bytes]:
    """Start ``sofs node --name NAME`` for the cluster in ``state_dir`` (log: ``<state dir>/<name>.log``)."""
    env = dict(os.environ, SOFS_CLUSTER_DIR=str(state_dir))
    env.pop("SOFS_CLUSTER_CONFIG", None)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "sofs", "node", "--name", name, "--state-dir", str(state_dir)]
    if no_smb:
        cmd.append("--no-smb")
    log = open(state_dir / f"{name}.log", "ab")  # noqa: SIM115  # handed to the child
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=detach)
    finally:
        log.close()
