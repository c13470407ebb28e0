"""``sofs handles [--config FILE] [--share NAME] [--json]``: a Get-SmbOpenFile-like listing.

Source (see :mod:`sofs.handlers.handles_status`): each share's ``.sofs/handles.json``, rewritten by
the running server at most once a second; for a CA share the persistent-handle journal is read as
well, so the listing still shows the persistent opens that will come back when the server is down.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

COLUMNS = ("share", "path", "client", "user", "kind", "state", "locks", "lease", "file_id")


def _config_shares(path: str | None) -> list[tuple[str, str, bool]]:
    from sofs.config import load_config

    cfg = load_config(path) if path else load_config()
    return [(s.name, s.path, bool(s.continuously_available)) for s in cfg.shares]


def _journal_rows(share: str, root: str) -> list[dict[str, Any]]:
    from sofs.handlestate.journal import journal_dir, load_dir
    from sofs.handlestate.table import OpenTable

    d = journal_dir(root)
    if not d.is_dir():
        return []
    table = OpenTable()
    try:
        table.replay(load_dir(d).entries)
    except (OSError, KeyError, ValueError, TypeError):  # a journal being rewritten: skip it
        return []
    rows = []
    for o in table.opens_by_persistent.values():
        f = table.files.get(o.file_id)
        locks = [[lk.offset, lk.length, "X" if lk.exclusive else "S"]
                 for lk in (f.locks if f else []) if lk.owner == o.persistent_id]
        lease = f.leases.get((o.client_guid, o.lease_key)) if f is not None and o.lease_key else None
        rows.append({"share": share, "path": o.path, "client": "", "user": o.owner_sid, "kind": "persistent",
                     "state": "journal", "locks": locks, "lease": int(lease.state) if lease else None,
                     "file_id": (o.persistent_id.to_bytes(8, "little") + o.volatile_id.to_bytes(8, "little")).hex()})
    return rows


def collect(shares: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, root, ca in shares:
        status = os.path.join(root, ".sofs", "handles.json")
        live: list[dict[str, Any]] = []
        try:
            with open(status) as f:
                live = json.load(f).get("opens", [])
        except (OSError, ValueError):
            pass
        seen = set()
        for r in live:
            r["share"] = name
            seen.add(r["file_id"][:16])
            rows.append(r)
        if ca:
            rows.extend(r for r in _journal_rows(name, root) if r["file_id"][:16] not in seen)
    return rows


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
