#!/usr/bin/env bash
# The benchmark of issue 6, all of it: builds linstor-db (release), the bench harness, bench-raw (raw
# etcd / Kubernetes baselines, Go) and kubectl v1.34.4 (pinned upstream module), then for each size
# generates a LINSTOR database and measures export, import, backup, restore and migrate against
# etcdctl, kubectl and the raw baselines on a throwaway etcd and a real kube-apiserver on loopback.
# Results go to benchmarks/results-*.json; BENCHMARKS.md is regenerated from them (with
# benchmarks/notes.md, the hand-written analysis, inserted after the header).
#
#   bash scripts/bench.sh            # the full run (below), about 2 hours on 2 cores
#   bash scripts/bench.sh 10000      # one size, every job and baseline (results: benchmarks/results.json)
#   BENCH_ARGS="--trials 1" bash scripts/bench.sh 10000 100000
#
# The full run: 10 000 rows with every job and baseline (3 trials, 1 of kubectl); 100 000 rows the
# same with one trial of each Kubernetes write; 1 000 000 rows with every etcd job and baseline
# (except one `etcdctl` process per transaction: 31 000 processes) and, of the Kubernetes writes,
# migrate only (each 1M-object Kubernetes write takes 20-40 min here; migrate covers the etcd read,
# the archive, the Kubernetes write and the verification that reads Kubernetes back), then every
# Kubernetes read and its baselines on what migrate wrote. The 1M API servers run without their
# watch cache: with it, kube-apiserver holds ~55 KB per custom resource (11.5 GB at 203k objects),
# more than this 23.5 GiB machine has for 1.13M objects; without it, 0.85 GB at 1.13M.
#
# Environment: BENCH_ARGS (more `linstor-db-bench run` options, see `linstor-db-bench run --help`),
# BENCH_LABEL (title line of the report), BENCH_RESULTS (results file of an explicit-size run),
# BENCH_WORK (scratch dir). Run it on a quiet machine: other load shows up in the numbers (the
# report records the load average).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

cargo build --release --locked -p linstor-db-cli -p linstor-db-bench
bench_raw=$(bash tools/bench-raw/build.sh)
kubectl=$(bash tools/kubectl/build.sh)
mkdir -p benchmarks

# run RESULTS REPRODUCE SIZE... [-- OPTIONS...]
run() {
  local results=$1 reproduce=$2; shift 2
  local sizes=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do sizes+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  # shellcheck disable=SC2086
  target/release/linstor-db-bench run \
    --rows "${sizes[@]}" \
    --results "$results" \
    --work-dir "${BENCH_WORK:-${TMPDIR:-/tmp}/linstor-db-bench}" \
    --label "${BENCH_LABEL:-"Benchmark run of $(date -u +%Y-%m-%d)"}" \
    --reproduce "$reproduce" \
    --linstor-db target/release/linstor-db \
    --bench-raw "$bench_raw" \
    --kubectl "$kubectl" \
    "$@" ${BENCH_ARGS:-}
}

if [ $# -gt 0 ]; then
  results=${BENCH_RESULTS:-benchmarks/results.json}
  run "$results" "bash scripts/bench.sh $*${BENCH_ARGS:+  # with BENCH_ARGS=\"$BENCH_ARGS\"}" "$@"
  all=("$results")
else
  reproduce="bash scripts/bench.sh${BENCH_ARGS:+  # with BENCH_ARGS=\"$BENCH_ARGS\"}"
  run benchmarks/results-10k.json "$reproduce" 10000
  run benchmarks/results-100k.json "$reproduce" 100000 -- --k8s-write-trials 1
  KUBE_APISERVER_EXTRA_ARGS=--watch-cache=false run benchmarks/results-1m.json "$reproduce" 1000000 -- \
    --etcdctl-txn-max-rows 100000 --k8s-migrate-only-write-above 100000
  all=(benchmarks/results-10k.json benchmarks/results-100k.json benchmarks/results-1m.json)
fi
notes=()
[ -f benchmarks/notes.md ] && notes=(--notes benchmarks/notes.md)
target/release/linstor-db-bench report --results "${all[@]}" "${notes[@]}" --out BENCHMARKS.md
