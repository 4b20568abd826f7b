#!/usr/bin/env bash
# The main job on an embedded default: start a throwaway etcd on loopback, generate a realistic
# LINSTOR 1.33 database of ${ROWS:-100000} rows, import it into etcd exactly as LINSTOR lays it out,
# show it, export it back, and check that a second import/export reproduces the export byte for byte.
# Everything runs in a temporary directory and stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

rows=${ROWS:-100000}
work=$(mktemp -d)
cleanup() {
  [ -n "${etcd_pid:-}" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client=$(free_port); peer=$(free_port)
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "default=http://127.0.0.1:$peer" --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$client") 2>/dev/null && break; sleep 0.1; done

cargo build --release --quiet -p linstor-db-cli
db=target/release/linstor-db
mkdir -p "$work/conf" "$work/conf2"
printf '[db]\nconnection_url = "etcd://127.0.0.1:%s"\n' "$client" >"$work/conf/linstor.toml"
printf '[db]\nconnection_url = "etcd://127.0.0.1:%s"\n[db.etcd]\nprefix = "/COPY/"\n' "$client" >"$work/conf2/linstor.toml"

set -x
"$db" generate --rows "$rows" --to "$work/generated.json"
"$db" import-db -c "$work/conf" "$work/generated.json"
"$db" info -c "$work/conf"
"$db" export-db -c "$work/conf" "$work/export.json"
"$db" import-db -c "$work/conf2" "$work/export.json"
"$db" export-db -c "$work/conf2" "$work/export2.json"
set +x

strip() { sed -E 's/"export_timestamp_ms":[0-9]+,//' "$1"; }
if cmp -s <(strip "$work/export.json") <(strip "$work/export2.json"); then
  echo "demo: OK: $(stat -c %s "$work/export.json") bytes exported, identical after a second import and export"
else
  echo "demo: FAILED: the second export differs from the first" >&2
  exit 1
fi
