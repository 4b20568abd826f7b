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
cargo test --workspace --locked
