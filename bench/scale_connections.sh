#!/usr/bin/env bash
# bench/scale_connections.sh — 1,000 idle connections × 100 opens each held on one server while a few
# active clients are timed (issue 16 part 3, acceptance 5): sofs with each worker count of
# SOFS_WORKERS and Samba, one server at a time, the order rotating from round to round.
# Prints bench/scale_connections.py's summary per server (server RSS/PSS of all its processes,
# kB per idle connection and per open, active clients' latency alone and under the load, errors).
#
#   bash bench/scale_connections.sh                      # 1000 × 100, sofs --workers 1, 2 and 6, Samba
#   CONNS=200 OPENS=20 ROUNDS=2 SOFS_WORKERS="1" bash bench/scale_connections.sh
#   SOFS="env PYTHONSAFEPATH=1 PYTHONPATH=/tmp/old .venv/bin/python -m sofs" SAMBA=no bash bench/scale_connections.sh
#                                    # another build of sofs (e.g. `git archive` of an older commit)
#
# Descriptors: sofs holds one per open and one per connection, and a process may hold at most the hard RLIMIT_NOFILE
# (`ulimit -Hn`; 20,000 in a container without CAP_SYS_RESOURCE). The opens per connection of a sofs
# run are capped so that every worker stays below it (the cap is printed); Samba forks one smbd per
# connection and needs only OPENS descriptors in each.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMBA_PORT=${SAMBA_PORT:-4460} SOFS_PORT=${SOFS_PORT:-4465}  # not the other benches' ports
source bench/servers.sh
CONNS=${CONNS:-1000} OPENS=${OPENS:-100} ROUNDS=${ROUNDS:-1}
PROCS=${PROCS:-4} ACTIVE=${ACTIVE:-4} SECONDS_ACTIVE=${SECONDS_ACTIVE:-10}
SOFS_WORKERS=${SOFS_WORKERS:-"1 2 6"} SOFS=${SOFS:-.venv/bin/sofs} SAMBA=${SAMBA:-yes}
bench_state "${STATE:-/tmp/sofs-bench-scale}"
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
PY=.venv/bin/python

run_one() {  # NAME PORT PID OPENS
  echo "--- $1 (server pid $3, $4 opens per connection)"
  $PY bench/scale_connections.py --target "$1=127.0.0.1:$2/share:$USER_NAME:$PASS" --server-pid "$3" \
    --conns "$CONNS" --opens "$4" --procs "$PROCS" --active "$ACTIVE" --seconds "$SECONDS_ACTIVE" \
    || echo "$1: the run had errors (exit $?)"
}

run_sofs() {  # WORKERS
  local w=$1 opens=$OPENS per
  per=$(( (CONNS + w - 1) / w ))
  if [ $(( per * (OPENS + 1) + 500 )) -gt "$NOFILE" ]; then
    opens=$(( (NOFILE - 500) / per - 1 ))
    echo "sofs --workers $w: $per connections per worker × $OPENS opens exceed RLIMIT_NOFILE $NOFILE: $opens opens each"
  fi
  local dir=$STATE/sofs-w$w
  # shellcheck disable=SC2086  # SOFS is a command line
  sofs_start "$SOFS_PORT" "$dir" "$STATE/sofs-w$w.log" $SOFS serve --workers "$w"
  local pid=${BENCH_PIDS[-1]}
  sleep 3  # the worker processes are up (the main process listens first)
  run_one "sofs-w$w" "$SOFS_PORT" "$pid" "$opens"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  unset 'BENCH_PIDS[-1]'
  rm -rf "$dir"
}

run_samba() {
  rm -rf "$SHARE_ROOT/share"
  samba_start
  run_one samba "$SAMBA_PORT" "$(cat "$STATE/samba/smbd.pid")" "$OPENS"
  bash scripts/samba-down.sh "$STATE/samba" >/dev/null 2>&1 || true
}

echo "scale_connections: $CONNS connections × $OPENS opens, $ACTIVE active clients, $PROCS client processes," \
     "RLIMIT_NOFILE $NOFILE, $(nproc) cores"
targets=()
for w in $SOFS_WORKERS; do targets+=("sofs $w"); done
[ "$SAMBA" = no ] || targets+=("samba")
for ((r = 0; r < ROUNDS; r++)); do
  echo "=== round $((r + 1))"
  n=${#targets[@]}
  for ((i = 0; i < n; i++)); do
    t=${targets[$(( (i + r) % n ))]}
    case $t in
      samba) run_samba ;;
      sofs*) run_sofs "${t#sofs }" ;;
    esac
  done
done
