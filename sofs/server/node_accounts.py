"""A cluster node's users: ``smb.toml``'s ``[[user]]`` entries plus the cluster accounts in the store.

Cluster accounts (``New-LocalUser``; contract in ``sofs.management.services.accounts``) live under
``<prefix>accounts/``: JSON records holding the NT hash, the RID, and whether the account is enabled.
The node builds one :class:`~sofs.auth.users.UserDb` from both (a cluster account replaces an
``smb.toml`` user of the same name; a disabled one cannot log on) and rebuilds it on every change it
sees through a watch, so an account created, changed or disabled on any node applies everywhere at
once. Sessions already set up keep their user until they log off, as on Windows.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from sofs.auth.users import UserDb, UserEntry
from sofs.config import ServerConfig

log = logging.getLogger("sofs.node.accounts")


def user_db(cfg: ServerConfig, records: list[dict[str, Any]]) -> UserDb:
    """Pure: the user database of ``cfg``'s users and the cluster account ``records``."""
    cluster = {}
    for r in records:
        if r.get("enabled") is True and isinstance(r.get("name"), str) and isinstance(r.get("rid"), int):
            cluster[r["name"].lower()] = UserEntry(r["name"], None, str(r["nt_hash"]), int(r["rid"]))
    local = [UserEntry(u.name, u.password, u.nt_hash, u.rid, tuple(u.groups)) for u in cfg.users
             if u.name.lower() not in cluster]
    return UserDb(cfg.domain_sid, [*local, *cluster.values()], groups=[g for u in cfg.users for g in u.groups])


class AccountFollower:
    """Keeps ``server.users`` and its acceptor's user database equal to smb.toml + the store's accounts."""

    def __init__(self, server: Any, store: Any, prefix: str, cfg: ServerConfig) -> None:
        self.server = server
        self.store = store
        self.prefix = (prefix if prefix.endswith("/") else prefix + "/") + "accounts/"
        self.cfg = cfg
        self.on_records: Callable[[list[dict[str, Any]]], None] | None = None  # the node's worker processes

    async def load(self) -> int:
        listing = await self.store.list(self.prefix)
        records = []
        for kv in listing.kvs:
            with contextlib.suppress(ValueError):
                records.append(json.loads(kv.value))
        try:
            db = user_db(self.cfg, records)
        except ValueError as e:
            log.warning("cluster accounts not applied: %s", e)
            return int(listing.revision)
        db.directory = self.server.users.directory  # the domain's (DomainMember), kept across rebuilds
        self.server.users = db
        self.server.acceptor.userdb = db
        if self.on_records is not None:
            self.on_records(records)
        return int(listing.revision)

    async def follow(self) -> None:
        revision = await self.load()
        while True:
            try:
                async for ev in self.store.watch(self.prefix, start_revision=revision + 1):
                    revision = await self.load()
                    log.info("cluster accounts changed (%s %s)", ev.type.value, ev.key[len(self.prefix):])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - store hiccup: reload and watch again
                log.warning("account watch interrupted (%s); reloading", e)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    revision = await self.load()
