#!/usr/bin/env bash
# Installs what linstor-db's build, tests and demo need on a Debian machine, and nothing that is
# already there: etcd (server and etcdctl) for the real-store tests, protoc for etcd-client, openssl
# and curl for test certificates and the test API server, and a real kube-apiserver built from the
# upstream Kubernetes Go modules (cached; the first build takes about 6 minutes). Safe to run again.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The C ABI's leak check (scripts/test-bindings.sh) compiles a C program and runs it under valgrind.
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
[ -x /usr/bin/time ] || need+=(time) # GNU time: peak RSS of each benchmark run
# cgo links the Go binding through pkg-config; the python-package suite makes a fresh virtualenv.
command -v pkg-config >/dev/null 2>&1 || need+=(pkgconf)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)

if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The Python binding's tests.
if ! python3 -c 'import pytest' >/dev/null 2>&1; then
  echo "setup: installing pytest" >&2
  python3 -m pip install --quiet pytest || python3 -m pip install --quiet --break-system-packages pytest
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

# The real Kubernetes API server for the k8s tests, cached after the first build.
if [ -z "${KUBE_APISERVER:-}" ]; then
  here=$(cd "$(dirname "$0")" && pwd)
  apiserver=$(bash "$here/../tools/kube-apiserver/build.sh")
  echo "setup: kube-apiserver at $apiserver" >&2
fi
