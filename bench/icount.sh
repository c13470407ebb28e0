#!/usr/bin/env bash
# bench/icount.sh — instructions per request of bench/perf_micro.py KIND, counted by valgrind's
# callgrind: the same count run after run whatever else the machine does (timings here swing
# ±30 %), so an A/B of a 1-2 % change is readable. Slow: ~1-3 minutes per KIND.
#
#   bench/icount.sh KIND [PYTHONPATH]     e.g. bench/icount.sh echo /tmp/before
#
# Two runs with N1 and N2 requests (N1=1000, N2=2000 by default; open+close kinds take ~4x longer per
# request) and the difference divided by the requests between them, so start-up and imports cancel
# out. perf_micro warms up with min(N/10, 500) requests, counted here too. PYTHONHASHSEED is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:?usage: bench/icount.sh KIND [PYTHONPATH]}
PP=${2:-$(pwd)}
N1=${N1:-1000} N2=${N2:-2000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

count() { # n -> instructions of the whole run
  PYTHONHASHSEED=0 PYTHONPATH=$PP ROUNDS=1 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg" \
    .venv/bin/python bench/perf_micro.py -n "$1" "$KIND" >/dev/null 2>"$OUT/err"
  grep -m1 -oE 'Collected : [0-9]+' "$OUT/err" | awk '{ print $3 }'
}
requests() { local w=$(($1 / 10)); [ "$w" -lt 500 ] || w=500; echo $(($1 + w)); }
a=$(count "$N1")
b=$(count "$N2")
echo "$KIND ($PP): $(( (b - a) / ($(requests "$N2") - $(requests "$N1")) )) instructions/request"
