#!/usr/bin/env bash
# test.sh — set everything up, then run the default test suite (unit + interop + smbtorture ratchet).
# Slow suites are marked `slow`: run them with `scripts/test.sh -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONDONTWRITEBYTECODE=1
rc=0
.venv/bin/python -m pytest -q -ra "$@" || rc=$?
if [ "$rc" = 5 ]; then echo "test.sh: no tests collected" >&2; exit 1; fi
exit "$rc"
