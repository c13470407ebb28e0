#!/usr/bin/env bash
# bench/coordlink_icount.sh — user-space instructions per coordinator-link call (both ends, one
# process, loopback TCP; bench/coordlink_rtt.py --inproc), counted by valgrind's callgrind: the same
# count however loaded the machine is. The kernel's share (two sends, two receives, epoll) is not in it.
#
#   bench/coordlink_icount.sh [oplock_ack|admit] [--asyncio]
#
# Two runs with N1 and N2 calls (N1=1000, N2=2000 by default); the difference divided by N2-N1, so
# start-up, imports and the handshake cancel out. PYTHONHASHSEED is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
CALL=${1:-oplock_ack}
shift || true
N1=${N1:-1000} N2=${N2:-2000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

count() { # n [options] -> instructions of the whole run
  local n=$1
  shift
  PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg" \
    .venv/bin/python bench/coordlink_rtt.py --inproc "$n" --call "$CALL" "$@" >/dev/null 2>"$OUT/err"
  grep -m1 -oE 'Collected : [0-9]+' "$OUT/err" | awk '{ print $3 }'
}
a=$(count "$N1" "$@")
b=$(count "$N2" "$@")
echo "$CALL ${*:-(uvloop)}: $(( (b - a) / (N2 - N1) )) instructions/call"
