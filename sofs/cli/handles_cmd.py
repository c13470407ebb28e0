"""``sofs handles [--config FILE] [--share NAME] [--json]``: a Get-SmbOpenFile-like listing.

Source (:mod:`sofs.handlestate.listing`): each share's ``.sofs/handles*.json``, rewritten by the
running server(s) at most once a second; for a CA share the persistent-handle journals are read as
well, so the listing still shows the persistent opens that will come back when the server is down.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from sofs.handlestate.listing import collect

COLUMNS = ("share", "path", "client", "user", "kind", "state", "locks", "lease", "file_id")


def _config_shares(path: str | None) -> list[tuple[str, str, bool]]:
    from sofs.config import load_config

    cfg = load_config(path) if path else load_config()
    return [(s.name, s.path, bool(s.continuously_available)) for s in cfg.shares]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ",".join(f"{a}+{b}{c}" for a, b, c in v)
    return str(v)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="sofs handles", description="List open files (Get-SmbOpenFile).")
    p.add_argument("--config", help="server configuration (TOML)")
    p.add_argument("--share", help="only this share")
    p.add_argument("--json", action="store_true", help="JSON output")
    args = p.parse_args(argv)
    shares = _config_shares(args.config)
    if args.share:
        shares = [s for s in shares if s[0].lower() == args.share.lower()]
    rows = collect(shares)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [COLUMNS] + [tuple(_fmt(r.get(c)) for c in COLUMNS) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
