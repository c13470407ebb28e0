#!/usr/bin/env bash
# bench/ca_compare.sh — issue 5 acceptance 4 in one command (run as root): open+close per second with
# persistent-handle requests on a sofs CA share, a sofs plain share and a private Samba's plain share,
# interleaved round by round (bench/ca_openclose.py with the raw signed client, bench/smbraw.py).
#
# Knobs: ROUNDS (3), SECONDS_PER (4 per target and round), LOADS ("1:1 2:2", procs:conns),
#        SAMBA_PORT (4450), SOFS_PORT (4455), WORKERS (sofs serve --workers; default: the server's),
#        STATE_DIR (/dev/shm/sofs-ca-compare), DEPTH (1: open+close loops per connection),
#        BASE (a source snapshot, e.g. `git archive REV sofs | tar -x -C /tmp/base`: a second sofs
#        served from it on SOFS_PORT+1 adds "base-plain" and "base-ca" targets, an A/B in the same run).
#        Shares live on /dev/shm (tmpfs).
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/servers.sh
bench_state "${STATE_DIR:-/dev/shm/sofs-ca-compare}"
samba_start
mkdir -p "$STATE/ca"; chmod 777 "$STATE/ca"
sofs_start "$SOFS_PORT" "$STATE/share" "$STATE/sofs.log" \
  .venv/bin/sofs serve ${WORKERS:+--workers "$WORKERS"} --share "ca=$STATE/ca,ca"
BASE_TARGETS=()
if [ -n "${BASE:-}" ]; then
  mkdir -p "$STATE/base-ca"; chmod 777 "$STATE/base-ca"
  sofs_start $((SOFS_PORT + 1)) "$STATE/base-share" "$STATE/sofs-base.log" \
    env PYTHONPATH="$BASE" .venv/bin/sofs serve ${WORKERS:+--workers "$WORKERS"} --share "ca=$STATE/base-ca,ca"
  BASE_TARGETS=(--target "base-plain=127.0.0.1:$((SOFS_PORT + 1))/share:$USER_NAME:$PASS"
                --target "base-ca=127.0.0.1:$((SOFS_PORT + 1))/ca:$USER_NAME:$PASS")
fi
for load in ${LOADS:-1:1 2:2}; do
  echo "== ${load%%:*} process(es) x ${load##*:} connection(s)"
  .venv/bin/python bench/ca_openclose.py \
    --target "samba-plain=127.0.0.1:$SAMBA_PORT/share:$USER_NAME:$PASS" \
    --target "sofs-plain=127.0.0.1:$SOFS_PORT/share:$USER_NAME:$PASS" \
    --target "sofs-ca=127.0.0.1:$SOFS_PORT/ca:$USER_NAME:$PASS" "${BASE_TARGETS[@]}" \
    --depth "${DEPTH:-1}" --procs "${load%%:*}" --conns "${load##*:}" --seconds "${SECONDS_PER:-4}" --rounds "${ROUNDS:-3}"
done
