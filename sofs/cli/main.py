"""`sofs` command line entry point.

Sub-commands live in their own modules and are imported lazily so that `sofs --help` stays fast:

- ``sofs serve ...``              standalone SMB server            (sofs.cli.serve_cmd)
- ``sofs cluster up N ...``       embedded cluster on loopback     (sofs.cli.cluster_cmd)
- ``sofs node ...``               one cluster node process         (sofs.cli.node_cmd)
- ``sofs demo``                    3-node demo cluster with a CA share (sofs.cli.demo_cmd)
- ``sofs Verb-Noun -Param v ...`` a cmdlet, PowerShell style       (sofs.cli.cmdlet_cmd)

Which cluster the cmdlets (and ``sofs cluster``/``sofs node``) act on, first hit wins:
``-Cluster <state dir or name>`` on the cmdlet (``--state-dir`` for ``sofs cluster``/``node``),
``$SOFS_CLUSTER_CONFIG`` (path of a cluster.json), ``$SOFS_CLUSTER_DIR`` (a state directory),
then ``./.sofs-cluster``. ``$SOFS_SMB_PORT``: the SMB port ``sofs cluster up`` and ``sofs demo``
give the nodes (default 445). ``sofs Get-Command`` lists the cmdlets; ``sofs Get-Help NAME``
shows one.
"""
from __future__ import annotations

import importlib
import os
import re
import sys

SUBCOMMANDS = {
    "serve": "sofs.cli.serve_cmd",
    "cluster": "sofs.cli.cluster_cmd",
    "node": "sofs.cli.node_cmd",
    "handles": "sofs.cli.handles_cmd",
    "demo": "sofs.cli.demo_cmd",
    "ps": "sofs.cli.cmdlet_cmd",
}
CMDLET_RE = re.compile(r"^[A-Za-z]+-[A-Za-z]+$")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    try:
        return _dispatch(args)
    except BrokenPipeError:  # `sofs Get-X | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it


def _dispatch(args: list[str]) -> int:
    head = args[0]
    if head in SUBCOMMANDS:
        mod = importlib.import_module(SUBCOMMANDS[head])
        return int(mod.main(args[1:]) or 0)
    if CMDLET_RE.match(head):
        mod = importlib.import_module("sofs.cli.cmdlet_cmd")
        rc = int(mod.main(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler above
        return rc
    print(f"sofs: unknown command {head!r}; try `sofs --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
