"""The layer order of docs/DESIGN.md, enforced: a package imports only the layers below it.

``wire → crypto → engine → handlers → server``; handlers use vfs · handlestate · security · rpc · auth;
cluster knows nothing of SMB; management wraps cluster (and share definitions). Imports under
``if TYPE_CHECKING:`` are annotations only and do not count. Known exceptions are listed with the reason;
the test fails if one disappears too (so the list stays true).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "sofs"

ALLOWED: dict[str, set[str]] = {
    "wire": set(),
    "config": set(),
    "crypto": {"wire"},
    "domain": {"wire", "crypto"},  # AD membership over LDAP (issue 18)
    "auth": {"wire", "crypto"},
    "rpc": {"wire"},
    "engine": {"wire", "crypto"},
    "vfs": {"wire"},
    "handlestate": {"wire", "vfs"},
    "security": {"wire", "vfs", "auth"},
    "handlers": {"wire", "crypto", "engine", "vfs", "handlestate", "security", "rpc", "auth", "config"},
    "server": {"wire", "crypto", "engine", "handlers", "vfs", "handlestate", "security", "rpc", "auth",
               "config", "domain"},
    "cluster": {"config"},
    "storage": {"config", "cluster"},
    # management reads the open-file listing the servers publish on the volumes (Get-SmbOpenFile)
    "management": {"cluster", "config", "storage", "handlestate", "domain"},
}

# (module, imported layer): why it is tolerated for now (none today)
KNOWN: dict[tuple[str, str], str] = {}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        lines.add(n.lineno)
    return lines


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sofs" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_layers_point_down() -> None:
    violations = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if len(rel.parts) < 2:
            continue
        layer = rel.parts[0]
        if layer not in ALLOWED:
            continue
        for dep in imports_of(path) - {layer} - ALLOWED[layer]:
            violations.add((rel.as_posix(), dep))
    unexpected = sorted(violations - set(KNOWN))
    assert not unexpected, "imports against the layer order: " + ", ".join(f"{m} -> {d}" for m, d in unexpected)
    gone = sorted(set(KNOWN) - violations)
    assert not gone, f"known exceptions no longer needed, remove them from KNOWN: {gone}"
