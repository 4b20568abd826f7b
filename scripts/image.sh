#!/usr/bin/env bash
# The container image (issue 15), without a container daemon: the static binary of scripts/static.sh
# on scratch, run as user 65532, with OCI labels, written as an OCI image layout by tools/image
# (go-containerregistry, the library behind crane and ko). Reproducible: every time in it is the time
# of the commit. Prints the layout directory. `Containerfile` builds the same with docker or podman.
#
#   bash scripts/image.sh      # target/image/linstor-db-VERSION
#   skopeo copy oci:target/image/linstor-db-0.1.0:0.1.0 docker://REGISTRY/linstor-db:0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(bash scripts/static.sh)
tool=$(bash tools/image/build.sh)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}" +%Y-%m-%dT%H:%M:%SZ)
out="$PWD/target/image/linstor-db-$version"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
"$tool" -binary "$binary" -version "$version" -revision "$revision" -created "$created" \
  -source "$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -1)" -out "$out" >&2
echo "$out"
