#!/usr/bin/env bash
# The benchmark of issue 6, all of it: builds linstor-db (release), the bench harness, bench-raw (raw
# etcd / Kubernetes baselines, Go) and kubectl v1.34.4 (pinned upstream module), then for each size
# generates a LINSTOR database and measures export, import, backup, restore and migrate against
# etcdctl, kubectl and the raw baselines on a throwaway etcd and a real kube-apiserver on loopback.
# Results go to benchmarks/results.json; BENCHMARKS.md is regenerated from them (with
# benchmarks/notes.md, the hand-written analysis, inserted after the header).
#
#   bash scripts/bench.sh                      # 10 000, 100 000 and 1 000 000 rows
#   bash scripts/bench.sh 10000                # one size
#   BENCH_ARGS="--kubectl-max-rows 100000" bash scripts/bench.sh 10000 100000 1000000
#
# Environment: BENCH_ARGS (more `linstor-db-bench run` options, see `linstor-db-bench run --help`),
# BENCH_LABEL (title line of the report), BENCH_RESULTS (results file), BENCH_WORK (scratch dir).
# Run it on a quiet machine: other load shows up in the numbers (the report records the load average).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
results=${BENCH_RESULTS:-benchmarks/results.json}
label=${BENCH_LABEL:-"Benchmark run of $(date -u +%Y-%m-%d), sizes ${sizes[*]}"}

cargo build --release --locked -p linstor-db-cli -p linstor-db-bench
bench_raw=$(bash tools/bench-raw/build.sh)
kubectl=$(bash tools/kubectl/build.sh)
mkdir -p "$(dirname "$results")"

# shellcheck disable=SC2086
target/release/linstor-db-bench run \
  --rows "${sizes[@]}" \
  --results "$results" \
  --work-dir "${BENCH_WORK:-${TMPDIR:-/tmp}/linstor-db-bench}" \
  --label "$label" \
  --reproduce "bash scripts/bench.sh ${sizes[*]}${BENCH_ARGS:+  # with BENCH_ARGS=\"$BENCH_ARGS\"}" \
  --linstor-db target/release/linstor-db \
  --bench-raw "$bench_raw" \
  --kubectl "$kubectl" \
  ${BENCH_ARGS:-}
notes=()
[ -f benchmarks/notes.md ] && notes=(--notes benchmarks/notes.md)
target/release/linstor-db-bench report --results "$results" "${notes[@]}" --out BENCHMARKS.md
