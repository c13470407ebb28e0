"""The management service layer: the one place for queries and mutations (CLI, REST, web wrap it)."""
from __future__ import annotations

from typing import Any


async def close_quietly(obj: Any) -> None:
    """Close what a service wraps (a store or client, sync or async ``close``; nothing when it has none)."""
    closer = getattr(obj, "close", None)
    if closer is not None:
        res = closer()
        if hasattr(res, "__await__"):
            await res
