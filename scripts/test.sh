#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks format and lints, then runs
# the unit tests and the integration tests against a real etcd (started on loopback by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== format" >&2
cargo fmt --all --check
echo "== clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p linstor-db-core --no-default-features --locked -- -D warnings
echo "== tests" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line with the totals of every test binary (cargo's own last line is a doc-test summary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed", p, f; if (s) printf ", %d skipped", s; printf "\n" }' "$log"
exit "$status"
