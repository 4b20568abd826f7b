#!/usr/bin/env bash
# The main job on an embedded default: start a throwaway etcd and a real kube-apiserver on loopback,
# generate a realistic LINSTOR 1.33 database of ${ROWS:-100000} rows in etcd exactly as LINSTOR lays it
# out (one LINSTOR starts on and leaves unchanged; `check` says so), back it up, migrate it to Kubernetes (LINSTOR's CRDs, one custom resource per row; backup first,
# verify row by row after) — the migration every etcd user must make before LINSTOR 1.34 —, back the
# result up into Secrets, list and dry-run-restore that backup, and check that the exports of both
# stores are identical but for their origin.
# Everything runs in a temporary directory and stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

rows=${ROWS:-100000}
work=$(mktemp -d)
cleanup() {
  set +e
  if [ -n "${etcd_pid:-}" ]; then kill "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; fi
  if [ -n "${kube_dir:-}" ]; then bash tools/kube-apiserver/stop.sh "$kube_dir" >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client=$(free_port); peer=$(free_port)
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "default=http://127.0.0.1:$peer" --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
kube_dir=$(bash tools/kube-apiserver/start.sh --watch-pid $$)
kubeconfig="$kube_dir/kubeconfig"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$client") 2>/dev/null && break; sleep 0.1; done

cargo build --release --quiet -p linstor-db-cli
db=target/release/linstor-db
mkdir -p "$work/etcd-conf" "$work/k8s-conf"
printf '[db]\nconnection_url = "etcd://127.0.0.1:%s"\n' "$client" >"$work/etcd-conf/linstor.toml"
printf '[db]\nconnection_url = "k8s"\n' >"$work/k8s-conf/linstor.toml"

set -x
"$db" generate --rows "$rows" --to "etcd://127.0.0.1:$client"
"$db" info -c "$work/etcd-conf"
"$db" backup -c "$work/etcd-conf" -o "$work/etcd-backup.tar.gz"
# The generated database passes LINSTOR's load-time rules (migrate checks them again before writing).
"$db" check -c "$work/etcd-conf"
"$db" migrate -c "$work/etcd-conf" --kubeconfig "$kubeconfig" --to k8s --backup-to "$work/before-migrate.tar.gz"
"$db" info -c "$work/k8s-conf" --kubeconfig "$kubeconfig"
"$db" check -c "$work/k8s-conf" --kubeconfig "$kubeconfig"
"$db" backup -c "$work/k8s-conf" --kubeconfig "$kubeconfig" -o secret://default/linstor-db-demo
"$db" backup list --kubeconfig "$kubeconfig" default
"$db" restore -c "$work/k8s-conf" --kubeconfig "$kubeconfig" --from secret://default/linstor-db-demo --dry-run
"$db" export-db -c "$work/etcd-conf" "$work/from-etcd.json"
"$db" export-db -c "$work/k8s-conf" --kubeconfig "$kubeconfig" "$work/from-k8s.json"
set +x

strip() { sed -E 's/^.*"exported_from":"[a-z0-9/]*",//' "$1"; }
if cmp -s <(strip "$work/from-etcd.json") <(strip "$work/from-k8s.json"); then
  echo "demo: OK: $rows-row database migrated etcd -> k8s; both exports ($(stat -c %s "$work/from-k8s.json") bytes) are identical but for their origin"
else
  echo "demo: FAILED: the export from k8s differs from the export from etcd" >&2
  exit 1
fi
