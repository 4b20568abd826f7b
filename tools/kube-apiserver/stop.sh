#!/usr/bin/env bash
# Stop an etcd + kube-apiserver started by start.sh and delete its state dir.
#
#   tools/kube-apiserver/stop.sh DIR [--keep]
#
# --keep (or KEEP_DIR=1) keeps DIR (logs, certs) instead of deleting it.
# Only PIDs whose command line mentions DIR are signalled, so a stale env file
# never kills an unrelated process that reused a PID.
set -uo pipefail

DIR=""; KEEP=${KEEP_DIR:-0}
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) DIR=$a ;;
  esac
done
[[ -n "$DIR" ]] || { echo "usage: stop.sh DIR [--keep]" >&2; exit 2; }
[[ -d "$DIR" ]] || { echo "stop.sh: $DIR does not exist (already stopped?)" >&2; exit 0; }
DIR=$(cd "$DIR" && pwd)
ENV_FILE=$DIR/env
[[ -f "$ENV_FILE" ]] || ENV_FILE=$DIR/env.stopped   # already stopped with --keep
[[ -f "$ENV_FILE" ]] || { echo "stop.sh: $DIR/env not found (not a start.sh dir?)" >&2; exit 1; }

get() { sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1; }
WATCHDOG_PID=$(get KUBE_TEST_WATCHDOG_PID)
APISERVER_PID=$(get KUBE_TEST_APISERVER_PID)
ETCD_PID=$(get KUBE_TEST_ETCD_PID)

# true if PID is alive and its command line refers to DIR
ours() {
  [[ -n "$1" && -r /proc/$1/cmdline ]] || return 1
  tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$DIR"
}

# alive and not a zombie (orphans are reaped lazily by init)
alive() { local st; st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; st=${st##*) }; [[ -n "$st" && ${st:0:1} != Z ]]; }

# stop_pid PID SECS: SIGTERM, wait up to SECS, then SIGKILL
stop_pid() {
  local p=$1 i
  ours "$p" || return 0
  kill "$p" 2>/dev/null || return 0
  pids+=("$p")
  for (( i = 0; i < $2 * 10; i++ )); do alive "$p" || return 0; sleep 0.1; done
  echo "stop.sh: pid $p did not exit after SIGTERM, sending SIGKILL" >&2
  kill -9 "$p" 2>/dev/null
  for (( i = 0; i < 20; i++ )); do alive "$p" || return 0; sleep 0.1; done
}

pids=()
# The watchdog first (so it does not race us), then the apiserver, then etcd
# (stopping etcd first makes the apiserver log connection errors while it drains).
stop_pid "$WATCHDOG_PID" 2
stop_pid "$APISERVER_PID" 10
stop_pid "$ETCD_PID" 10

if [[ "$KEEP" == 1 ]]; then
  [[ "$ENV_FILE" == "$DIR/env" ]] && mv -f "$ENV_FILE" "$DIR/env.stopped"
  echo "stop.sh: stopped (${pids[*]:-nothing running}); kept $DIR" >&2
else
  rm -rf "$DIR"
  echo "stop.sh: stopped (${pids[*]:-nothing running}); removed $DIR" >&2
fi
