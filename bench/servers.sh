# bench/servers.sh — sourced by the side-by-side benchmarks (run.sh, interleaved.sh, echo_compare.sh):
# a private Samba (scripts/samba-up.sh) and sofs servers on loopback, stopped when the script exits.
#
#   bench_state DIR                      fresh state dir (Samba's shares under DIR/samba-shares)
#   samba_start                          Samba on $SAMBA_PORT
#   sofs_start PORT DIR LOG [CMD...]     serve DIR as "share" on PORT (CMD: default .venv/bin/sofs serve)
#   torture_client_files                 smbtorture's client.conf and auth.txt in $STATE
#   torture_rate PORT NPROCS QDEPTH TEST the last per-second rate smb2.bench.TEST prints in a T-second run
USER_NAME=sofs PASS='Passw0rd!'
SAMBA_PORT=${SAMBA_PORT:-4450} SOFS_PORT=${SOFS_PORT:-4455}
BENCH_PIDS=()

bench_cleanup() {
  [ ${#BENCH_PIDS[@]} -eq 0 ] || kill "${BENCH_PIDS[@]}" 2>/dev/null
  bash scripts/samba-down.sh "$STATE/samba" >/dev/null 2>&1
}

bench_state() {
  STATE=$1
  rm -rf "$STATE"; mkdir -p "$STATE"; chmod 755 "$STATE"
  export SHARE_ROOT=$STATE/samba-shares
  trap bench_cleanup EXIT
}

samba_start() {
  bash scripts/samba-up.sh "$STATE/samba" "$SAMBA_PORT" 127.0.0.1 >/dev/null || { echo "samba-up failed" >&2; exit 1; }
}

sofs_start() {
  local port=$1 dir=$2 log=$3
  shift 3
  [ $# -gt 0 ] || set -- .venv/bin/sofs serve
  mkdir -p "$dir"; chmod 777 "$dir"
  "$@" -q --listen "127.0.0.1:$port" --share "share=$dir" --user "$USER_NAME:$PASS" >"$log" 2>&1 &
  BENCH_PIDS+=($!)
  for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0; sleep 0.1; done  # 30 s: imports on a loaded machine
  echo "the server on port $port did not start (see $log)" >&2
  exit 1
}

torture_client_files() {
  printf '[global]\n client min protocol = SMB2_02\n client max protocol = SMB3_11\n' >"$STATE/client.conf"
  ( umask 077; printf 'username = %s\npassword = %s\n' "$USER_NAME" "$PASS" >"$STATE/auth.txt" )
}

torture_rate() {
  timeout $((T + 30)) smbtorture "//127.0.0.1/share" -p "$1" -s "$STATE/client.conf" -A "$STATE/auth.txt" \
    "--option=torture:timelimit=$T" "--option=torture:nprocs=$2" "--option=torture:qdepth=$3" \
    --option=torture:progress=no "smb2.bench.$4" 2>&1 | tr '\r' '\n' | grep -E 'second: ' | tail -1 |
    sed -E 's/.*num\/s=([0-9]+),.*/\1/'
}
