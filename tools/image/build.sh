#!/usr/bin/env bash
# Build the image builder (tools/image, go-containerregistry) into a cache dir keyed by the
# hash of its sources, and print the path of the binary on stdout. Build logs go to stderr.
#
# Environment:
#   LINSTOR_DB_CACHE   cache root (default: $HOME/.cache/linstor-db)
#   GO                 go binary (default: `go` from PATH, else /usr/local/go/bin/go)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hash=$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-16)
OUT_DIR=${LINSTOR_DB_CACHE:-$HOME/.cache/linstor-db}/image/$hash
OUT=$OUT_DIR/image
if [[ -x "$OUT" ]]; then
  echo "$OUT"
  exit 0
fi

GO=${GO:-}
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go); else GO=/usr/local/go/bin/go; fi
fi
mkdir -p "$OUT_DIR"
tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "build.sh: building tools/image with $("$GO" version) ..." >&2
(
  cd "$HERE"
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod -buildvcs=false" \
    "$GO" build -trimpath -ldflags="-s -w" -o "$tmp" .
)
mv -f "$tmp" "$OUT"
trap - EXIT
echo "$OUT"
