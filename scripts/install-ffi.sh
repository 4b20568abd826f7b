#!/usr/bin/env bash
# Builds liblinstor_db (crate linstor-db-ffi) and installs it for C and cgo users in one command:
#   PREFIX/lib/liblinstor_db.so, PREFIX/lib/liblinstor_db.a, PREFIX/include/linstor_db.h,
#   PREFIX/lib/pkgconfig/linstor_db.pc
# The layout rustls-ffi gets from cargo-c's `cargo cinstall`, without building cargo-c (several
# minutes on a small machine) first. Then `PKG_CONFIG_PATH=PREFIX/lib/pkgconfig` is all a C build or
# the Go binding (`#cgo pkg-config: linstor_db`) needs.
#
# Usage: scripts/install-ffi.sh --prefix DIR [--debug] [--no-rpath]
#   --debug     install the dev-profile build (what scripts/test-bindings.sh tests) instead of release
#   --no-rpath  leave -Wl,-rpath out of Libs: for a prefix the dynamic loader already searches
#               (/usr, a distribution package); by default programs find the library in DIR/lib
#               without LD_LIBRARY_PATH
# Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="" profile=release rpath=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --debug) profile=dev; shift ;;
    --no-rpath) rpath=0; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-ffi.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$prefix" ]] || { echo "install-ffi.sh: --prefix DIR is required" >&2; exit 2; }
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/$([[ $profile == dev ]] && echo debug || echo release)

# `cargo rustc` rather than `cargo build` so that rustc prints the native libraries a static link
# needs (they become Libs.private); cargo replays the note when the build is already fresh.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo rustc -p linstor-db-ffi --lib --locked --profile "$profile" -- --print native-static-libs 2>&1 | tee "$log" >&2
private=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -1)
[[ -n "$private" ]] || { echo "install-ffi.sh: rustc did not print native-static-libs" >&2; exit 1; }

version=$(cargo pkgid -p linstor-db-ffi | sed 's/.*[#@]//')

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 755 "$out/liblinstor_db.so" "$prefix/lib/"
install -m 644 "$out/liblinstor_db.a" "$prefix/lib/"
install -m 644 crates/linstor-db-ffi/include/linstor_db.h "$prefix/include/"
libs='-L${libdir} -llinstor_db'
[[ $rpath -eq 1 ]] && libs='-L${libdir} -Wl,-rpath,${libdir} -llinstor_db'
cat >"$prefix/lib/pkgconfig/linstor_db.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: linstor_db
Description: C ABI of linstor-db: back up, restore, migrate and verify the LINSTOR controller database
Version: $version
Libs: $libs
Libs.private: $private
Cflags: -I\${includedir}
EOF
echo "installed liblinstor_db $version ($profile) into $prefix" >&2
