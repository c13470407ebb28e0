"""The Test-Cluster HTML report (``Validation Report <date>.htm``, as Windows names it).

Structure (stable, so tests parse it with ``html.parser``):
``<h1>`` title; ``<table id="summary">`` with one ``<tr class="summary-row">`` per status count;
``<p id="overall">``; ``<table id="tests">`` with one ``<tr class="test status-<pass|warn|fail|skip>">``
per check (cells: category, name linking to its section, status); then one
``<section class="test-detail" id="test-<n>">`` per check holding ``<h2>`` name, ``<p class="status">``
and the detail lines in ``<pre>``.
"""
from __future__ import annotations

import datetime as _dt
import html
import os
from collections.abc import Sequence

from sofs.management.testcluster import CheckResult, NodeTarget, overall

_CSS = """body{font-family:Segoe UI,Arial,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}.status-pass td.st{color:#107c10}
.status-warn td.st{color:#b8860b}.status-fail td.st{color:#c50f1f}.status-skip td.st{color:#777}
pre{background:#f4f4f4;padding:8px}"""


def default_report_name(when: _dt.datetime, directory: str = ".") -> str:
    """``Validation Report 2026.11.25 At 15.04.05.htm`` in ``directory`` (Windows' naming)."""
    return os.path.join(directory, when.strftime("Validation Report %Y.%m.%d At %H.%M.%S.htm"))


def render_report(results: Sequence[CheckResult], *, cluster: str, nodes: Sequence[NodeTarget],
                  started: _dt.datetime, finished: _dt.datetime) -> str:
    """The whole report as an HTML string."""
    e = html.escape
    counts = {s: sum(1 for r in results if r.status == s) for s in ("Pass", "Warn", "Fail", "Skip")}
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
           f"<title>Failover Cluster Validation Report - {e(cluster or 'sofs')}</title>",
           f"<style>{_CSS}</style></head><body>",
           "<h1>Failover Cluster Validation Report</h1>",
           f"<p id=\"cluster\">Cluster: {e(cluster or '(none)')}</p>",
           f"<p id=\"nodes\">Nodes: {e(', '.join(n.name for n in nodes))}</p>",
           f"<p id=\"started\">Started: {e(started.isoformat(timespec='seconds'))}</p>",
           f"<p id=\"completed\">Completed: {e(finished.isoformat(timespec='seconds'))}</p>",
           f"<p id=\"overall\">{e(overall(results))}</p>",
           "<h2>Summary</h2>", "<table id=\"summary\"><tr><th>Result</th><th>Count</th></tr>"]
    for status, n in counts.items():
        out.append(f"<tr class=\"summary-row\" data-status=\"{status}\"><td>{status}</td><td>{n}</td></tr>")
    out += ["</table>", "<h2>Tests</h2>",
            "<table id=\"tests\"><tr><th>Category</th><th>Test</th><th>Result</th><th>Duration (ms)</th></tr>"]
    for i, r in enumerate(results):
        out.append(f"<tr class=\"test status-{r.status.lower()}\"><td>{e(r.category)}</td>"
                   f"<td><a href=\"#test-{i}\">{e(r.name)}</a></td><td class=\"st\">{e(r.status)}</td>"
                   f"<td>{r.duration_ms:g}</td></tr>")
    out.append("</table>")
    for i, r in enumerate(results):
        out += [f"<section class=\"test-detail status-{r.status.lower()}\" id=\"test-{i}\">",
                f"<h2>{e(r.name)}</h2>", f"<p class=\"category\">{e(r.category)}</p>",
                f"<p class=\"status\">{e(r.status)}</p>", f"<pre>{e(r.detail)}</pre>", "</section>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(path: str, text: str) -> str:
    """Write the report (creating parent directories); returns the absolute path."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
