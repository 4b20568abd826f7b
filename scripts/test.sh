#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks format and lints, then runs
# the unit tests and the integration tests against a real etcd (started on loopback by the tests), then
# the C ABI from C (under valgrind), Go and Python against real servers (scripts/test-bindings.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== format" >&2
cargo fmt --all --check
echo "== clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p linstor-db-core --no-default-features --locked -- -D warnings
echo "== static binary and image" >&2
# Built before the suite, whose tests of them then find them cached (a build inside the suite would
# compete with the timing-sensitive fault tests for the two cores).
bash scripts/image.sh >/dev/null
# tests/deploy.rs renders the overlays with $KUBECTL, else kubectl on PATH, else the pinned build of
# tools/kubectl: built here when needed, for the same reason.
if [[ -z "${KUBECTL:-}" ]] && ! command -v kubectl >/dev/null; then
  KUBECTL=$(bash tools/kubectl/build.sh)
  export KUBECTL
fi
echo "== tests" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
echo "== bindings" >&2
bash scripts/test-bindings.sh 2>&1 | tee -a "$log" || status=$?
# One closing line with the totals of every test binary (cargo's own last line is a doc-test summary)
# and of the binding suites ("suite NAME: N passed, N failed").
awk '/^test result:/ || /^suite [a-z]+: [0-9]+ passed/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed", p, f; if (s) printf ", %d skipped", s; printf "\n" }' "$log"
exit "$status"
