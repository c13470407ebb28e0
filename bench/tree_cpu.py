"""CPU seconds (user + system) a server has spent: the process PID, every live descendant, and the
children it has already reaped (``cutime``/``cstime``, where Samba's per-connection smbd processes
end up once their client left). Used by bench/workers_compare.sh to price a request.

    python3 bench/tree_cpu.py PID [PID...]          ->  one line: seconds
    python3 bench/tree_cpu.py --split PID [PID...]  ->  one line: user seconds, system seconds
    python3 bench/tree_cpu.py --run FILE CMD [ARG...] ->  runs CMD (its output passes through) and
                                                         writes "user system" seconds of CMD and its
                                                         descendants to FILE: a load generator's cost
"""
from __future__ import annotations

import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, list[str]] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(rest[1]), rest  # ppid, fields from "state" on


def tree_cpu(roots: list[int]) -> float:
    user, system = tree_cpu_split(roots)
    return user + system


def tree_cpu_split(roots: list[int]) -> tuple[float, float]:
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            got = _stat(int(name))
            if got is not None:
                procs[int(name)] = got
    children: dict[int, list[int]] = {}
    for pid, (ppid, _f) in procs.items():
        children.setdefault(ppid, []).append(pid)
    user = system = 0
    todo = [p for p in roots if p in procs]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        f = procs[pid][1]
        user += int(f[11]) + int(f[13])  # utime cutime
        system += int(f[12]) + int(f[14])  # stime cstime
        todo.extend(children.get(pid, []))
    return user / TICK, system / TICK


def run_counted(out: str, cmd: list[str]) -> int:
    """Run ``cmd``; write the CPU it and every process it waited for used to ``out``."""
    import resource
    import subprocess

    rc = subprocess.call(cmd)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        f.write(f"{ru.ru_utime:.3f} {ru.ru_stime:.3f}\n")
    return rc


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        sys.exit(run_counted(sys.argv[2], sys.argv[3:]))
    if sys.argv[1:2] == ["--split"]:
        u, s = tree_cpu_split([int(a) for a in sys.argv[2:]])
        print(f"{u:.2f} {s:.2f}")
    else:
        print(f"{tree_cpu([int(a) for a in sys.argv[1:]]):.2f}")
