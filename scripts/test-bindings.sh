#!/usr/bin/env bash
# The C ABI and its bindings, tested from C, Go and Python against real servers:
#   1. builds liblinstor_db (crate linstor-db-ffi) and checks the checked-in C header against cbindgen;
#   2. c:        a C program over the ABI, under valgrind: no definite or indirect leak, no memory
#                error; and valgrind must catch a leak built in on purpose (so the check can fail);
#   3. go:       go test in bindings/go (starts its own etcd and kube-apiserver);
#   4. python:   pytest in bindings/python (likewise);
#   5. examples: the Go and Python example programs, run against an etcd and a kube-apiserver;
#   6. go-module: scripts/install-ffi.sh into a temp prefix, then a fresh Go module outside the
#                 repository, finding the library through PKG_CONFIG_PATH alone, builds and runs;
#   7. python-package: `pip wheel` and `pip install ./bindings/python` (setuptools-rust builds and
#                 bundles the library) in a fresh virtualenv, then a job without LINSTOR_DB_LIBRARY.
# Prints one line per suite, "suite NAME: N passed, N failed (T s)"; scripts/test.sh adds them to its
# totals. Exit status 0 only if every suite passed. Needs etcd, valgrind, cc, go, pkg-config, python3
# (pytest, venv) and PyPI (setuptools-rust). Suites 6 and 7 install and package the dev build (what
# the other suites test; a cold release build would add about 10 minutes on 2 cores) with the same
# commands a user runs for release: install-ffi.sh without --debug, pip without
# SETUPTOOLS_RUST_CARGO_PROFILE.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
libdir=$target/debug
work=$(mktemp -d "${TMPDIR:-/tmp}/linstor-db-bindings.XXXXXX")
summaries=()
status=0
etcd_pid=""
kube_dir=""

cleanup() {
  [[ -n "$etcd_pid" ]] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
  [[ -n "$kube_dir" ]] && bash tools/kube-apiserver/stop.sh "$kube_dir" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# summary NAME PASSED FAILED START
summary() {
  summaries+=("suite $1: $2 passed, $3 failed ($(since "$4") s)")
  [[ "$3" -eq 0 ]] || status=1
}
# check DESCRIPTION COMMAND...: runs COMMAND, prints "ok   DESCRIPTION" or "FAIL DESCRIPTION" and
# counts it in passed/failed (which each suite sets to 0 first).
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"; passed=$((passed + 1))
  else
    echo "FAIL $what"; failed=$((failed + 1))
  fi
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_etcd() { # sets etcd_url, etcd_pid
  local client peer
  client=$(free_port)
  peer=$(free_port)
  etcd --data-dir="$work/etcd" --listen-client-urls="http://127.0.0.1:$client" \
    --advertise-client-urls="http://127.0.0.1:$client" --listen-peer-urls="http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls="http://127.0.0.1:$peer" --initial-cluster="default=http://127.0.0.1:$peer" \
    --log-level=error >"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  etcd_url=etcd://127.0.0.1:$client
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$client") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "etcd did not start:" >&2
  cat "$work/etcd.log" >&2
  return 1
}

echo "== bindings: build liblinstor_db" >&2
# The dev build, installed as a user would install it (header, linstor_db.pc) for cgo's pkg-config.
debug_prefix=$work/debug-prefix
bash scripts/install-ffi.sh --debug --prefix "$debug_prefix" || exit 1

echo "== bindings: C header" >&2
if cargo test -p linstor-db-ffi --locked --test header -q >"$work/header.log" 2>&1; then
  header_line="header: crates/linstor-db-ffi/include/linstor_db.h is up to date"
else
  cat "$work/header.log" >&2
  header_line="header: STALE or unchecked (see above)"
  status=1
fi

echo "== bindings: c (valgrind)" >&2
t0=$(now)
c_passed=0 c_failed=0
start_etcd || exit 1
flags=(-std=c11 -Wall -Wextra -Werror -I crates/linstor-db-ffi/include)
link=(-L "$libdir" -llinstor_db "-Wl,-rpath,$libdir" -lpthread)
if cc "${flags[@]}" crates/linstor-db-ffi/tests/c/leak_check.c "${link[@]}" -o "$work/leak_check" &&
   cc "${flags[@]}" -DLSDB_DELIBERATE_LEAK crates/linstor-db-ffi/tests/c/leak_check.c "${link[@]}" -o "$work/leak_check_leaky"; then
  # run_valgrind LOG PROGRAM ARGS...: exit 97 on a definite or indirect leak or a memory error.
  run_valgrind() {
    local log=$1
    shift
    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=97 --log-file="$log" "$@"
  }
  mkdir -p "$work/c1" "$work/c2"
  run_valgrind "$work/valgrind.log" "$work/leak_check" "$work/c1" "$etcd_url" | tee "$work/c.log"
  c_status=${PIPESTATUS[0]}
  read -r p f < <(awk '/^[0-9]+ passed, [0-9]+ failed$/ { print $1, $3 }' "$work/c.log")
  c_passed=${p:-0} c_failed=${f:-1}
  grep -E "definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY" "$work/valgrind.log" | sed 's/^==[0-9]*== */  valgrind: /'
  if [[ $c_status -eq 0 ]]; then
    echo "ok   valgrind: no definite or indirect leak, no memory error"
    c_passed=$((c_passed + 1))
  else
    echo "FAIL valgrind (exit $c_status); full log:"
    cat "$work/valgrind.log"
    c_failed=$((c_failed + 1))
  fi
  # The same program with one report never freed: valgrind must report it, or the check above proves nothing.
  run_valgrind "$work/valgrind-leaky.log" "$work/leak_check_leaky" "$work/c2" >/dev/null
  leaky_status=$?
  if [[ $leaky_status -eq 97 ]] && grep -qE "definitely lost: [1-9]" "$work/valgrind-leaky.log"; then
    echo "ok   valgrind catches a deliberate leak"
    c_passed=$((c_passed + 1))
  else
    echo "FAIL valgrind did not report the deliberate leak (exit $leaky_status)"
    c_failed=$((c_failed + 1))
  fi
else
  c_failed=1
fi
summary c "$c_passed" "$c_failed" "$t0"

echo "== bindings: go" >&2
t0=$(now)
export GOTOOLCHAIN=local
export PKG_CONFIG_PATH=$debug_prefix/lib/pkgconfig
(cd bindings/go && go vet ./... && go test -count=1 -v ./...) 2>&1 | tee "$work/go.log"
go_status=${PIPESTATUS[0]}
go_passed=$(grep -c '^--- PASS' "$work/go.log")
go_failed=$(grep -c '^--- FAIL' "$work/go.log")
# A build or vet failure, or a crash, has no "--- FAIL" line: count it as one failure.
[[ $go_status -ne 0 && $go_failed -eq 0 ]] && go_failed=1
summary go "$go_passed" "$go_failed" "$t0"

echo "== bindings: python" >&2
t0=$(now)
export LINSTOR_DB_LIBRARY=$libdir/liblinstor_db.so
(cd bindings/python && python3 -m pytest -v -p no:cacheprovider --junitxml="$work/pytest.xml") 2>&1 | tee "$work/python.log"
py_status=${PIPESTATUS[0]}
read -r py_passed py_failed < <(python3 - "$work/pytest.xml" <<'EOF' 2>/dev/null || echo "0 1"
import sys
import xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
# A skipped test did not pass; it is reported as a failure here so that nothing hides behind a skip.
print(tests - failures - errors - skipped, failures + errors + skipped)
EOF
)
[[ $py_status -ne 0 && $py_failed -eq 0 ]] && py_failed=1
summary python "$py_passed" "$py_failed" "$t0"

echo "== bindings: examples" >&2
t0=$(now)
passed=0 failed=0
# A fresh etcd prefix is not needed: the examples replace what the store holds.
example_go() {
  (cd examples/go && go vet . && go run . -etcd "$etcd_url" -kubeconfig "$kubeconfig" -rows 1500 -workdir "$work") |
    tee "$work/example-go.log" && grep -q "^verified: equal" "$work/example-go.log"
}
example_python() {
  PYTHONPATH=bindings/python python3 examples/python/migrate.py --etcd "$etcd_url" --kubeconfig "$kubeconfig" \
    --rows 1200 --workdir "$work" | tee "$work/example-python.log" && grep -q "^verified: equal" "$work/example-python.log"
}
if kube_dir=$(bash tools/kube-apiserver/start.sh --watch-pid $$); then
  kubeconfig=$(sed -n 's/^KUBE_TEST_ADMIN_KUBECONFIG=//p' "$kube_dir/env")
  check examples/go example_go
  check examples/python example_python
else
  echo "FAIL the kube-apiserver for the examples did not start"
  failed=2
fi
summary examples "$passed" "$failed" "$t0"

# Both package suites run the same job as a user would (bindings/go/testdata/user,
# bindings/python/tests/installed_job.py): the version, then generate job_rows rows into the etcd
# (replacing what the examples left) and read them back with info.
job_rows=300
# job_ran LOG: the program printed a version and two equal, non-zero row counts.
job_ran() {
  grep -q "^version: [0-9]" "$1" && grep -Eq "^rows: generated ([1-9][0-9]*), info \1$" "$1"
}

echo "== bindings: go-module" >&2
t0=$(now)
passed=0 failed=0
prefix=$work/prefix
install_prefix() {
  bash scripts/install-ffi.sh --debug --prefix "$prefix" 2>"$work/install-ffi.log" || { tail -30 "$work/install-ffi.log"; return 1; }
  ls "$prefix/lib/liblinstor_db.so" "$prefix/lib/liblinstor_db.a" "$prefix/include/linstor_db.h" &&
    PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --print-errors --libs --cflags linstor_db
}
go_module() {
  # Outside the repository; only go.mod's replace (the module is not published yet) points back.
  local dir=$work/gomod
  mkdir -p "$dir"
  cp bindings/go/testdata/user/main.go "$dir/"
  printf '%s\n' "module example.com/user" "" "go 1.24" "" \
    "require github.com/linstor-db/linstor-db/bindings/go v0.0.0" "" \
    "replace github.com/linstor-db/linstor-db/bindings/go => $repo/bindings/go" >"$dir/go.mod"
  # PKG_CONFIG_PATH alone: no CGO_* flags, no LD_LIBRARY_PATH (the rpath in linstor_db.pc finds the .so).
  (cd "$dir" && env -u CGO_CFLAGS -u CGO_LDFLAGS -u LD_LIBRARY_PATH PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
     sh -c 'go vet . && go build -o user . && ./user "$0" "$1"' "$etcd_url" "$job_rows") |
    tee "$work/go-module.log" && job_ran "$work/go-module.log"
}
check "scripts/install-ffi.sh --prefix: library, header and linstor_db.pc" install_prefix
check "a fresh module builds through pkg-config and runs a job" go_module
summary go-module "$passed" "$failed" "$t0"

echo "== bindings: python-package" >&2
t0=$(now)
passed=0 failed=0
venv=$work/venv
# In $work, without PYTHONPATH and LINSTOR_DB_LIBRARY: only the installed package can be imported.
vpython() { (cd "$work" && env -u LINSTOR_DB_LIBRARY -u PYTHONPATH SETUPTOOLS_RUST_CARGO_PROFILE=dev "$venv/bin/python" "$@"); }
pip_wheel() {
  local started
  started=$(now)
  vpython -m pip wheel --no-deps -q -w "$work/wheels" "$repo/bindings/python" || return 1
  echo "  pip wheel (dev build of liblinstor_db inside pip): $(since "$started") s"
  ls "$work/wheels"
  # One binary wheel for every CPython >= 3.9 (abi3), carrying the library.
  vpython -m zipfile -l "$work"/wheels/linstor_db-*-cp39-abi3-linux_*.whl | grep -q "linstor_db/liblinstor_db"
}
pip_install() { vpython -m pip install -q "$repo/bindings/python"; }
python_package() {
  vpython "$repo/bindings/python/tests/installed_job.py" "$etcd_url" "$job_rows" | tee "$work/python-package.log" &&
    job_ran "$work/python-package.log" && grep -q "^library: $venv/" "$work/python-package.log"
}
# LINSTOR_DB_LIBRARY still wins over the bundled library: a wrong one must make loading fail.
python_override() {
  ! (cd "$work" && LINSTOR_DB_LIBRARY=$work/missing.so "$venv/bin/python" -c 'import linstor_db; linstor_db.version()') 2>/dev/null
}
if python3 -m venv "$venv"; then
  check "pip wheel ./bindings/python bundles the library" pip_wheel
  check "pip install ./bindings/python" pip_install
  check "the installed package finds its library and runs a job" python_package
  check "LINSTOR_DB_LIBRARY overrides the bundled library" python_override
else
  echo "FAIL python3 -m venv"
  failed=1
fi
summary python-package "$passed" "$failed" "$t0"

echo "$header_line"
printf '%s\n' "${summaries[@]}"
exit "$status"
