"""``sofs serve``: run a standalone SMB server.

    sofs serve --listen 127.0.0.1:4455 --share data=/srv/data --user alice:secret
    sofs serve --config sofs.toml [-v|--debug]
"""
from __future__ import annotations

import argparse
import logging
import sys

from sofs.config import ConfigError, load_config, parse_listen, parse_share_flag, parse_user_flag, validate


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sofs serve", description="Run a standalone SMB server.")
    p.add_argument("--config", help="TOML configuration file")
    p.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                   help="address to listen on (repeatable; default 127.0.0.1:445)")
    p.add_argument("--share", action="append", default=[], metavar="NAME=PATH[,ca][,encrypt][,ro]",
                   help="export a directory (repeatable)")
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                   help="add a user (repeatable)")
    p.add_argument("--require-signing", action="store_true", help="require SMB signing")
    p.add_argument("--encrypt", action="store_true", help="require encryption server-wide")
    p.add_argument("--guest", action="store_true", help="allow anonymous/guest sessions")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="SMB worker processes (default: one per core; 1: a single process)")
    p.add_argument("--dedicated-coordinator", action="store_true",
                   help="the main process coordinates the volumes and serves no client (the --workers N serve)")
    p.add_argument("--no-uvloop", action="store_true", help="use the stdlib asyncio loop")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: info (default), -vv: debug with a per-request trace")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose >= 2 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        cfg = load_config(args.config)
        if args.listen:
            cfg.listen = [parse_listen(x) for x in args.listen]
        for s in args.share:
            share = parse_share_flag(s)
            cfg.shares = [x for x in cfg.shares if x.name.lower() != share.name.lower()] + [share]
        for u in args.user:
            user = parse_user_flag(u)
            cfg.users = [x for x in cfg.users if x.name.lower() != user.name.lower()] + [user]
        cfg.require_signing |= args.require_signing
        cfg.encrypt_data |= args.encrypt
        cfg.guest_ok |= args.guest
        if args.workers is not None:
            cfg.workers = args.workers
            if args.workers < 1:
                raise ConfigError(f"--workers {args.workers}: at least 1")
        cfg.dedicated_coordinator |= args.dedicated_coordinator
        validate(cfg)
    except ConfigError as e:
        print(f"sofs serve: {e}", file=sys.stderr)
        return 2
    if not cfg.shares:
        print("sofs serve: no share configured (use --share NAME=PATH or a [[share]] in --config)",
              file=sys.stderr)
        return 2
    from sofs.server.app import run

    try:
        run(cfg, use_uvloop=not args.no_uvloop)
    except OSError as e:
        print(f"sofs serve: cannot listen: {e}", file=sys.stderr)
        return 1
    return 0
