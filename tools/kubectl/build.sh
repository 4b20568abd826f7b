#!/usr/bin/env bash
# Build the upstream kubectl (k8s.io/kubernetes/cmd/kubectl at the version pinned in ./go.mod, the same
# pin as tools/kube-apiserver) into a cache dir and print the path of the binary on stdout. Build logs
# go to stderr. The benchmark uses it so that its kubectl baselines do not depend on whatever kubectl
# a machine happens to have.
#
#   tools/kubectl/build.sh            # -> $CACHE/kubectl/v1.34.4/kubectl
#
# Environment:
#   LINSTOR_DB_CACHE   cache root (default: $HOME/.cache/linstor-db)
#   GO                 go binary (default: `go` from PATH, else /usr/local/go/bin/go)
#   FORCE=1            rebuild even if the binary already exists
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

K8S_VERSION=$(awk '{ for (i = 1; i < NF; i++) if ($i == "k8s.io/kubernetes" && $(i + 1) ~ /^v[0-9]/) { print $(i + 1); exit } }' "$HERE/go.mod")
[[ -n "$K8S_VERSION" ]] || { echo "build.sh: cannot find k8s.io/kubernetes version in $HERE/go.mod" >&2; exit 1; }

CACHE=${LINSTOR_DB_CACHE:-$HOME/.cache/linstor-db}
OUT_DIR=$CACHE/kubectl/$K8S_VERSION
OUT=$OUT_DIR/kubectl
if [[ -x "$OUT" && -z "${FORCE:-}" ]]; then
  echo "$OUT"
  exit 0
fi

GO=${GO:-}
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go); else GO=/usr/local/go/bin/go; fi
fi

mkdir -p "$OUT_DIR"
exec 9>"$OUT_DIR/.build.lock"
command -v flock >/dev/null 2>&1 && flock 9
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
echo "build.sh: building kubectl $K8S_VERSION with $("$GO" version) ..." >&2
start=$(date +%s)
(
  cd "$HERE"
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod -buildvcs=false" \
    "$GO" build -trimpath -ldflags="$ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kubectl
)
mv -f "$tmp" "$OUT"
trap - EXIT
echo "build.sh: built in $(( $(date +%s) - start ))s: $OUT ($(du -h "$OUT" | cut -f1))" >&2
echo "$OUT"
