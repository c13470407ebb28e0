#!/usr/bin/env bash
# bench/split_bound.sh — what several sofs worker processes could buy on this machine, at best (run as root).
#
# Runs smbtorture smb2.bench.echo and smb2.bench.path-contention-shared (open+close) with 4 connections
# at depth 1 four ways, round by round:
#   samba 4x1        one smbtorture, 4 connections to Samba (one smbd per connection)
#   samba 2x(2x1)    two smbtorture processes, 2 connections each, to Samba
#   sofs 4x1         one smbtorture, 4 connections to one sofs process
#   sofs 2x(2x1)     two smbtorture processes, 2 connections each, to two independent sofs processes
# The last line is an upper bound for a sofs with two worker processes: two servers that share nothing
# (no coordinator, no cross-process share modes) and split the load evenly.
#
# Knobs: ROUNDS (2), BENCH_TIME (4 s), SAMBA_PORT (4450), SOFS_PORT (4455; the second sofs uses +1)
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/servers.sh
T=${BENCH_TIME:-4}
bench_state /dev/shm/sofs-split-bound
samba_start
sofs_start "$SOFS_PORT" "$STATE/a" "$STATE/a.log"
sofs_start $((SOFS_PORT + 1)) "$STATE/b" "$STATE/b.log"
torture_client_files

rate() { torture_rate "$1" "$2" 1 "$3"; }  # port nprocs test -> ops/s at depth 1
split() { # port1 port2 test -> sum of two 2-connection runs at the same time
  local a b p
  a=$(mktemp) b=$(mktemp)
  rate "$1" 2 "$3" >"$a" & p=$!
  rate "$2" 2 "$3" >"$b"
  wait "$p"
  echo $(( $(cat "$a") + $(cat "$b") ))
  rm -f "$a" "$b"
}
for test in echo path-contention-shared; do
  for r in $(seq "${ROUNDS:-2}"); do
    s1=$(rate "$SAMBA_PORT" 4 "$test")
    s2=$(split "$SAMBA_PORT" "$SAMBA_PORT" "$test")
    o1=$(rate "$SOFS_PORT" 4 "$test")
    o2=$(split "$SOFS_PORT" $((SOFS_PORT + 1)) "$test")
    echo "$test round $r: samba 4x1 $s1 | samba 2x(2x1) $s2 | sofs 4x1 $o1 | two sofs 2x(2x1) $o2"
  done
done
