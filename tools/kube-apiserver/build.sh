#!/usr/bin/env bash
# Build the upstream kube-apiserver (pinned in ./go.mod) into a cache dir and
# print the path of the binary on stdout. Build logs go to stderr.
#
#   tools/kube-apiserver/build.sh            # -> $CACHE/kube-apiserver/v1.34.4/kube-apiserver
#
# Environment:
#   LINSTOR_DB_CACHE   cache root (default: $HOME/.cache/linstor-db)
#   GO                 go binary (default: `go` from PATH, else /usr/local/go/bin/go)
#   FORCE=1            rebuild even if the binary already exists
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The k8s.io/kubernetes version pinned in go.mod (e.g. v1.34.4).
K8S_VERSION=$(awk '($1 == "k8s.io/kubernetes" || $2 == "k8s.io/kubernetes") && $NF ~ /^v[0-9]/ { print $NF; exit }' "$HERE/go.mod")
if [[ -z "$K8S_VERSION" ]]; then
  echo "build.sh: cannot find k8s.io/kubernetes version in $HERE/go.mod" >&2
  exit 1
fi

CACHE=${LINSTOR_DB_CACHE:-$HOME/.cache/linstor-db}
OUT_DIR=$CACHE/kube-apiserver/$K8S_VERSION
OUT=$OUT_DIR/kube-apiserver

if [[ -x "$OUT" && -z "${FORCE:-}" ]]; then
  echo "$OUT"
  exit 0
fi

GO=${GO:-}
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go); else GO=/usr/local/go/bin/go; fi
fi

mkdir -p "$OUT_DIR"

# Serialise concurrent builds (e.g. several test processes starting at once).
exec 9>"$OUT_DIR/.build.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if [[ -x "$OUT" && -z "${FORCE:-}" ]]; then
  echo "$OUT"
  exit 0
fi

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "build.sh: building kube-apiserver $K8S_VERSION with $("$GO" version) (cold builds take a while) ..." >&2
start=$(date +%s)
(
  cd "$HERE"
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod -buildvcs=false" \
    "$GO" build -trimpath -ldflags="$ldflags" -o "$tmp" .
)
mv -f "$tmp" "$OUT"
trap - EXIT
echo "build.sh: built in $(( $(date +%s) - start ))s: $OUT ($(du -h "$OUT" | cut -f1))" >&2
echo "$OUT"
