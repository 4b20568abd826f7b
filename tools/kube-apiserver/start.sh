#!/usr/bin/env bash
# Start a throwaway etcd + kube-apiserver on 127.0.0.1 for tests.
#
#   dir=$(tools/kube-apiserver/start.sh [--watch-pid PID] [--dir DIR] [--timeout SECS])
#   set -a; . "$dir/env"; set +a        # KUBECONFIG, KUBE_TEST_SERVER, tokens, PIDs ...
#   ...
#   tools/kube-apiserver/stop.sh "$dir"
#
# Prints the state directory (and nothing else) on stdout once /readyz is ok.
# Progress and errors go to stderr; etcd.log / kube-apiserver.log are in the dir.
#
# Options / environment:
#   --watch-pid PID   (LINSTOR_DB_WATCH_PID) a watchdog stops everything and
#                     deletes the dir when PID exits. Default: the parent of
#                     this script ($PPID). Use 0 to disable. From an interactive
#                     shell use `--watch-pid $$` (a $(...) subshell may be the
#                     parent and exit immediately).
#   --dir DIR         (KUBE_TEST_DIR) use DIR (created if needed) instead of a
#                     fresh mktemp dir. Default: mktemp -d under $TMPDIR.
#   --timeout SECS    (KUBE_TEST_START_TIMEOUT) readiness timeout, default 120.
#   KUBE_APISERVER    kube-apiserver binary; default: output of ./build.sh
#                     (builds it on first use, which takes many minutes).
#   ETCD              etcd binary; default: etcd in PATH or /usr/bin/etcd
#                     (apt-get install etcd-server if missing and running as root).
#   KUBE_APISERVER_EXTRA_ARGS  extra flags appended to kube-apiserver (word-split).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "start.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WATCH_PID=${LINSTOR_DB_WATCH_PID:-$PPID}
DIR=${KUBE_TEST_DIR:-}
TIMEOUT=${KUBE_TEST_START_TIMEOUT:-120}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --watch-pid) WATCH_PID=$2; shift 2 ;;
    --watch-pid=*) WATCH_PID=${1#*=}; shift ;;
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --timeout=*) TIMEOUT=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

command -v openssl >/dev/null || die "openssl not found"
command -v curl >/dev/null || die "curl not found"

# --- binaries -----------------------------------------------------------------
ETCD=${ETCD:-$(command -v etcd || echo /usr/bin/etcd)}
if [[ ! -x "$ETCD" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "etcd not found, installing Debian package etcd-server (waiting for the dpkg lock if needed) ..."
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends etcd-server >&2 \
      || { apt-get -o DPkg::Lock::Timeout=900 update >&2 \
           && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends etcd-server >&2; }
    ETCD=/usr/bin/etcd
  fi
  [[ -x "$ETCD" ]] || die "etcd not found (install the Debian package etcd-server or set ETCD=)"
fi

KUBE_APISERVER=${KUBE_APISERVER:-}
if [[ -z "$KUBE_APISERVER" ]]; then
  KUBE_APISERVER=$("$HERE/build.sh" | tail -n1)
fi
[[ -x "$KUBE_APISERVER" ]] || die "kube-apiserver binary not executable: $KUBE_APISERVER"

# --- state dir ----------------------------------------------------------------
if [[ -z "$DIR" ]]; then
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/linstor-db-kube.XXXXXX")
else
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  [[ -e "$DIR/env" ]] && die "$DIR/env exists; is another instance using $DIR? (stop.sh it first)"
fi
case "$DIR" in *[[:space:]\'\"\$\`\\]*) die "state dir path must not contain spaces or quotes: $DIR" ;; esac
chmod 700 "$DIR"

ETCD_PID=""; APISERVER_PID=""; WATCHDOG_PID=""
started_ok=0
cleanup_on_failure() {
  [[ $started_ok -eq 1 ]] && return
  for p in $WATCHDOG_PID $APISERVER_PID $ETCD_PID; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in $APISERVER_PID $ETCD_PID; do kill -9 "$p" 2>/dev/null || true; done
  log "startup failed; logs kept in $DIR (remove it with: rm -rf $DIR)"
}
trap cleanup_on_failure EXIT

# --- free loopback ports ---------------------------------------------------------
# Ports in use (any state) according to /proc/net/tcp{,6}; pick random ones not in it, below the
# kernel's ephemeral range: a port of that range can be taken by any outgoing connection between the
# pick and the bind ("bind: address already in use").
used_ports() {
  local _sl local_addr _rest
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | while read -r _sl local_addr _rest; do
    [[ "$local_addr" == *:* ]] || continue
    printf '%d\n' "0x${local_addr##*:}" 2>/dev/null || true
  done
}
PICKED=" "
EPHEMERAL_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
(( EPHEMERAL_LOW > 11000 )) || EPHEMERAL_LOW=32768
free_port() { # sets PORT
  local used p
  used=" $(used_ports | sort -u | tr '\n' ' ') "
  for _ in $(seq 1 200); do
    p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (EPHEMERAL_LOW - 10000) ))
    if [[ "$used" != *" $p "* && "$PICKED" != *" $p "* ]]; then
      PICKED+="$p "; PORT=$p; return 0
    fi
  done
  die "no free port found"
}
free_port; ETCD_CLIENT_PORT=$PORT
free_port; ETCD_PEER_PORT=$PORT
free_port; APISERVER_PORT=$PORT

# --- certificates and keys --------------------------------------------------------
pki=$DIR/pki
mkdir -p "$pki"
(
  cd "$pki"
  genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  genkey ca.key
  openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj "/CN=linstor-db-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  sign() { # name subj ext
    genkey "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  sign apiserver "/CN=kube-apiserver" \
    "$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1')"
  sign admin "/O=system:masters/CN=linstor-db-admin" \
    "$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')"
  genkey sa.key
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
) || die "certificate generation with openssl failed"

ADMIN_TOKEN=$(openssl rand -hex 24)
USER_TOKEN=$(openssl rand -hex 24)
USER_NAME=linstor-db-test-user
USER_GROUP=linstor-db-test-users
# token,user,uid,"group1,group2"
cat > "$pki/tokens.csv" <<EOF
$ADMIN_TOKEN,linstor-db-admin,linstor-db-admin,"system:masters"
$USER_TOKEN,$USER_NAME,$USER_NAME,"$USER_GROUP"
EOF
chmod 600 "$pki/tokens.csv"

SERVER=https://127.0.0.1:$APISERVER_PORT
ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT

# --- etcd ---------------------------------------------------------------------------
# 8 GiB, etcd's largest recommended quota: the 2 GiB default is close to what 1M LINSTOR rows take
# (about 1.2 KiB per custom resource), and the benchmark writes that many.
mkdir -p "$DIR/etcd"
chmod 700 "$DIR/etcd"
"$ETCD" \
  --name=default \
  --data-dir="$DIR/etcd" \
  --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state=new \
  --initial-cluster-token="linstor-db-test-$$" \
  --snapshot-count=100000 \
  --quota-backend-bytes=$((8 * 1024 * 1024 * 1024)) \
  </dev/null >"$DIR/etcd.log" 2>&1 &
ETCD_PID=$!

for _ in $(seq 1 $((TIMEOUT * 5))); do
  kill -0 "$ETCD_PID" 2>/dev/null || { tail -n 30 "$DIR/etcd.log" >&2; die "etcd exited during startup"; }
  if curl -fsS --max-time 2 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; then
    break
  fi
  sleep 0.2
done
curl -fsS --max-time 2 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"' \
  || { tail -n 30 "$DIR/etcd.log" >&2; die "etcd not healthy after ${TIMEOUT}s"; }
log "etcd ready at $ETCD_URL after $(elapsed)s"

# --- kube-apiserver ------------------------------------------------------------------
# shellcheck disable=SC2086
"$KUBE_APISERVER" \
  --etcd-servers="$ETCD_URL" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$pki/apiserver.crt" \
  --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --token-auth-file="$pki/tokens.csv" \
  --anonymous-auth=false \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --endpoint-reconciler-type=none \
  --disable-admission-plugins=ServiceAccount \
  --enable-priority-and-fairness=false \
  --profiling=false \
  --v=1 \
  ${KUBE_APISERVER_EXTRA_ARGS:-} \
  </dev/null >"$DIR/kube-apiserver.log" 2>&1 &
APISERVER_PID=$!

# --- kubeconfigs and env file ---------------------------------------------------------
b64() { base64 -w0 < "$1"; }
write_kubeconfig() { # file user-name user-yaml-lines
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: linstor-db-test
  cluster:
    server: $SERVER
    certificate-authority-data: $(b64 "$pki/ca.crt")
contexts:
- name: $2@linstor-db-test
  context:
    cluster: linstor-db-test
    user: $2
current-context: $2@linstor-db-test
users:
- name: $2
  user:
$3
EOF
  chmod 600 "$1"
}
write_kubeconfig "$DIR/kubeconfig" linstor-db-admin \
"    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")"
write_kubeconfig "$DIR/kubeconfig-admin-token" linstor-db-admin \
"    token: $ADMIN_TOKEN"
write_kubeconfig "$DIR/kubeconfig-user" "$USER_NAME" \
"    token: $USER_TOKEN"

# --- watchdog -------------------------------------------------------------------------
if [[ "$WATCH_PID" != "0" ]]; then
  kill -0 "$WATCH_PID" 2>/dev/null || die "--watch-pid $WATCH_PID is not running"
  # Runs detached (own session if setsid exists); its command line contains $DIR
  # so stop.sh can recognise it.
  watchdog='
    watch=$1 dir=$2 api=$3 etcd=$4
    # alive but not a zombie (orphaned children are reaped lazily by init)
    alive() { local st; st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; st=${st##*) }; [[ -n "$st" && ${st:0:1} != Z ]]; }
    while alive "$watch"; do
      alive "$api" || alive "$etcd" || exit 0
      sleep 1
    done
    for p in "$api" "$etcd"; do  # apiserver first, then etcd
      kill "$p" 2>/dev/null
      for _ in $(seq 1 50); do alive "$p" || break; sleep 0.2; done
      alive "$p" && kill -9 "$p" 2>/dev/null
    done
    rm -rf "$dir"'
  setsid_cmd=(); command -v setsid >/dev/null && setsid_cmd=(setsid)
  "${setsid_cmd[@]}" bash -c "$watchdog" linstor-db-kube-watchdog "$WATCH_PID" "$DIR" "$APISERVER_PID" "$ETCD_PID" \
    </dev/null >/dev/null 2>&1 &
  WATCHDOG_PID=$!
fi

cat > "$DIR/env" <<EOF
KUBE_TEST_DIR=$DIR
KUBECONFIG=$DIR/kubeconfig
KUBE_TEST_SERVER=$SERVER
KUBE_TEST_CA_FILE=$pki/ca.crt
KUBE_TEST_ADMIN_CERT_FILE=$pki/admin.crt
KUBE_TEST_ADMIN_KEY_FILE=$pki/admin.key
KUBE_TEST_ADMIN_TOKEN=$ADMIN_TOKEN
KUBE_TEST_ADMIN_KUBECONFIG=$DIR/kubeconfig
KUBE_TEST_ADMIN_TOKEN_KUBECONFIG=$DIR/kubeconfig-admin-token
KUBE_TEST_USER=$USER_NAME
KUBE_TEST_USER_GROUP=$USER_GROUP
KUBE_TEST_USER_TOKEN=$USER_TOKEN
KUBE_TEST_USER_KUBECONFIG=$DIR/kubeconfig-user
KUBE_TEST_ETCD_URL=$ETCD_URL
KUBE_TEST_ETCD_PID=$ETCD_PID
KUBE_TEST_APISERVER_PID=$APISERVER_PID
KUBE_TEST_WATCHDOG_PID=$WATCHDOG_PID
EOF
chmod 600 "$DIR/env"

# --- wait for /readyz ---------------------------------------------------------------------
ready=0
deadline=$(( $(date +%s) + TIMEOUT ))
while [[ $(date +%s) -lt $deadline ]]; do
  kill -0 "$APISERVER_PID" 2>/dev/null || { tail -n 40 "$DIR/kube-apiserver.log" >&2; die "kube-apiserver exited during startup"; }
  kill -0 "$ETCD_PID" 2>/dev/null || { tail -n 30 "$DIR/etcd.log" >&2; die "etcd exited during startup"; }
  if [[ $(curl -sS --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" "$SERVER/readyz" 2>/dev/null) == ok ]]; then
    ready=1; break
  fi
  sleep 0.2
done
if [[ $ready -ne 1 ]]; then
  curl -sS --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" "$SERVER/readyz?verbose" >&2 || true
  tail -n 40 "$DIR/kube-apiserver.log" >&2
  die "kube-apiserver not ready after ${TIMEOUT}s"
fi

started_ok=1
trap - EXIT
log "kube-apiserver ready at $SERVER after $(elapsed)s (pids: apiserver $APISERVER_PID, etcd $ETCD_PID${WATCHDOG_PID:+, watchdog $WATCHDOG_PID on pid $WATCH_PID}); env: $DIR/env"
echo "$DIR"
