"""``sofs Verb-Noun ...``: run a cmdlet from the shell, PowerShell style.

Two forms:

- **argv form** (what ``sofs/cli/main.py`` dispatches when the first word looks like ``Verb-Noun``):
  ``sofs New-Cluster -Name c -Node n1,n2,n3 -NoStorage``. The shell has already split and unquoted
  the words, so they are re-joined (:func:`sofs.management.psparse.join_argv`: a word containing spaces
  or quotes becomes one string) and parsed as one PowerShell line. Quote what the shell would eat:
  ``'-Drain:$false'`` (or ``-Drain:false``), ``'\\\\srv\\share'``, and the pipe: ``'|'``.
- **line form** for syntax a POSIX shell cannot carry, such as property assignment:
  ``sofs Invoke-Expression '(Get-Cluster).SameSubnetThreshold = 5'``. ``main()`` also accepts a whole
  line whose first word is not ``Verb-Noun`` (for a ``sofs ps '<line>'`` alias, should the dispatcher
  map one here).

Output goes to stdout (PowerShell's table/list views, or JSON with ``-AsJson`` / ``| ConvertTo-Json``).
Exit codes: 0 success, 1 the cmdlet failed (PowerShell-style error on stderr), 2 parse/usage error.
"""
from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from sofs.management.psbind import BindError
from sofs.management.psparse import ParseError, join_argv

_VERB_NOUN = re.compile(r"^[A-Za-z]+-[A-Za-z]+$")


def line_from_argv(argv: list[str]) -> str:
    """The PowerShell line for ``argv`` (argv form, or the whole line given as words)."""
    if argv and _VERB_NOUN.match(argv[0]):
        return join_argv(argv)
    return " ".join(argv)


async def run(line: str, service_factory: Callable[[str], Awaitable[Any]], stdout: TextIO, stderr: TextIO,
              cwd: str) -> int:
    from sofs.management.cmdlets.base import Context
    from sofs.management.runner import CmdletFailure, run_line

    ctx = Context(service_factory=service_factory, stderr=stderr, cwd=cwd)
    try:
        text = await run_line(line, ctx)
    except (ParseError, BindError) as e:
        stderr.write(f"{_first_word(line)} : {e}\n")
        return 2
    except CmdletFailure as e:
        stderr.write(e.error.render(e.cmdlet))
        return 1
    except Exception as e:  # noqa: BLE001 - store/network failures: report, do not trace back
        from sofs.management.errors import ManagementError
        if isinstance(e, ManagementError):
            stderr.write(e.render(_first_word(line)))
        else:
            stderr.write(f"{_first_word(line)} : {type(e).__name__}: {e}\n")
        return 1
    finally:
        await ctx.close()
    stdout.write(text)
    return 0


def _first_word(line: str) -> str:
    return (line.strip().split() or ["sofs"])[0].lstrip("(")


def main(argv: list[str], *, service_factory: Callable[[str], Awaitable[Any]] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None, cwd: str | None = None) -> int:
    """Run one cmdlet line; returns the exit code (0 ok, 1 cmdlet error, 2 usage error)."""
    if not argv:
        (stderr or sys.stderr).write("usage: sofs Verb-Noun [-Param value ...]   (sofs Get-Command lists them)\n")
        return 2
    if service_factory is None:
        from sofs.management.connect import default_service_factory
        service_factory = default_service_factory
    return asyncio.run(run(line_from_argv(argv), service_factory, stdout or sys.stdout, stderr or sys.stderr,
                           cwd or os.getcwd()))
