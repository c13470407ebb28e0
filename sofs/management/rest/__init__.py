"""The management REST API (aiohttp), served by every node: see :mod:`sofs.management.rest.app`."""
