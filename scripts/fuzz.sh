#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for SECONDS each (default 600), one after the
# other, on the nightly toolchain. New inputs go to fuzz/corpus/<target>/ (commit them after
# `cargo +nightly fuzz cmin <target> fuzz/corpus/<target>`), crashes to fuzz/artifacts/<target>/:
# once fixed, copy the input to fuzz/regressions/<target>/ so that the replay test
# (crates/linstor-db-core/tests/fuzz_corpus.rs, stable, part of `cargo test`) keeps it fixed.
# Not part of CI. Usage: scripts/fuzz.sh [SECONDS] [TARGET…]; the last line per target is libFuzzer's
# final stats (executions, run time).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# Backup targets write each input to a temporary file: keep those in memory.
export TMPDIR=${TMPDIR:-/dev/shm}
target_dir=${CARGO_TARGET_DIR:-$PWD/fuzz/target}
status=0
for target in "${targets[@]}"; do
    # secret_list reads Kubernetes Secrets, so it needs the core's k8s feature: built in a directory of
    # its own, so that it neither rebuilds the other targets nor waits for their build lock.
    features=()
    export CARGO_TARGET_DIR=$target_dir
    if [ "$target" = secret_list ]; then
        features=(--features k8s)
        export CARGO_TARGET_DIR=$target_dir-k8s
    fi
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="fuzz/artifacts/$target/run-$(date -u +%Y%m%dT%H%M%S).log"
    echo "== $target: ${seconds}s" >&2
    # -rss_limit_mb: a parser that needs more than this for a small input is a finding (memory must
    # not grow with what an input packs); -timeout: one input taking over 10 s is one too.
    if cargo +nightly fuzz run -O "${features[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="FOUND SOMETHING (fuzz/artifacts/$target/)"
        status=1
    fi
    done_line=$(grep -m1 '^Done [0-9]* runs in' "$log" || echo "no final stats")
    echo "$target: $result; $done_line; corpus $(find "fuzz/corpus/$target" -type f | wc -l) files" >&2
done
exit "$status"
