#!/usr/bin/env bash
# The release binary to ship (issue 15): x86_64 Linux, linked statically against musl (no loader, no
# shared library: it runs in a scratch image and on any distribution, and resolves host names from
# /etc/hosts and /etc/resolv.conf by itself), without debug info, symbols stripped. Prints its path.
#
#   bash scripts/static.sh     # target/static/x86_64-unknown-linux-musl/dist/linstor-db
#
# Installs what it needs once: the Rust standard library for the musl target (rustup) and musl-gcc
# (Debian's musl-tools, for the C parts of ring). Built in target/static, so that it runs from inside
# `cargo test` too (no wait for the lock on target/) and stays cached between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl

if ! rustup target list --installed | grep -qx "$target"; then
  echo "static: installing the Rust standard library for $target" >&2
  rustup target add "$target" >&2
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "static: installing musl-tools" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musl-tools >/dev/null
fi

export CARGO_TARGET_DIR="$PWD/target/static"
export CC_x86_64_unknown_linux_musl=musl-gcc
cargo build --locked --profile dist --target "$target" -p linstor-db-cli >&2
echo "$CARGO_TARGET_DIR/$target/dist/linstor-db"
