#!/usr/bin/env bash
# End-to-end smoke test with plain curl: start etcd + kube-apiserver, create the
# LINSTOR "Nodes" CRD (internal.linstor.linbit.com, cluster scoped), wait for it
# to be Established, create/list custom resources (?limit=1 pagination), check
# RBAC denies the non-admin token, create/read a Secret, stop, check no process
# is left.  Needs bash, curl, openssl, python3 (for JSON checks).
#
#   tools/kube-apiserver/smoke-test.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

DIR=$("$HERE/start.sh" --watch-pid $$)
trap '"$HERE/stop.sh" "$DIR"' EXIT
set -a; . "$DIR/env"; set +a

S=$KUBE_TEST_SERVER
admin_cert=(--cacert "$KUBE_TEST_CA_FILE" --cert "$KUBE_TEST_ADMIN_CERT_FILE" --key "$KUBE_TEST_ADMIN_KEY_FILE")
admin_tok=(--cacert "$KUBE_TEST_CA_FILE" -H "Authorization: Bearer $KUBE_TEST_ADMIN_TOKEN")
user_tok=(--cacert "$KUBE_TEST_CA_FILE" -H "Authorization: Bearer $KUBE_TEST_USER_TOKEN")
json=(-H "Content-Type: application/json" -H "Accept: application/json")

# one-line JSON without managedFields, for the log
compact() {
  python3 -c 'import json,sys
t=sys.stdin.read()
try:
    d=json.loads(t); d.get("metadata",{}).pop("managedFields",None); t=json.dumps(d,separators=(",",":"))
except Exception: t=t.strip()
print(t[:400] + ("..." if len(t) > 400 else ""))'
}
# req NAME CURL-ARGS... : prints "NAME -> HTTP code (seconds)" and the body to stderr; sets CODE, OUT
req() {
  local name=$1; shift
  local w
  w=$(curl -sS -o "$DIR/out.json" -w '%{http_code} %{time_total}' "$@")
  CODE=${w% *}
  OUT=$(cat "$DIR/out.json")
  printf '== %s -> HTTP %s (%ss)\n   %s\n' "$name" "$CODE" "${w#* }" "$(compact <<<"$OUT")" >&2
}
expect() { [[ "$CODE" == "$1" ]] || { echo "FAIL: expected HTTP $1, got $CODE" >&2; exit 1; }; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$OUT"; }

req "GET /version" "${admin_tok[@]}" "$S/version"; expect 200
req "GET /readyz" "${admin_cert[@]}" "$S/readyz"; expect 200

# --- CRD -------------------------------------------------------------------------
ref=/work/shared/reference/linstor-crds/v1_33_1/Nodes.yaml
if [[ -f $ref ]] && python3 -c 'import yaml' 2>/dev/null; then
  python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$ref" > "$DIR/crd.json"
else
  cat > "$DIR/crd.json" <<'EOF'
{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"nodes.internal.linstor.linbit.com"},
 "spec":{"group":"internal.linstor.linbit.com","scope":"Cluster",
  "names":{"plural":"nodes","singular":"nodes","kind":"Nodes"},
  "versions":[{"name":"v1-33-1","served":true,"storage":true,
   "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{
     "uuid":{"type":"string"},"node_name":{"type":"string"},"node_dsp_name":{"type":"string"},
     "node_flags":{"type":"integer","format":"int64"},"node_type":{"type":"integer","format":"int32"}}}}}}}]}}
EOF
fi
CRDS=$S/apis/apiextensions.k8s.io/v1/customresourcedefinitions
req "POST CRD nodes.internal.linstor.linbit.com (admin client cert)" "${admin_cert[@]}" "${json[@]}" -X POST --data-binary @"$DIR/crd.json" "$CRDS"; expect 201

t=$(date +%s.%N)
for _ in $(seq 1 100); do
  OUT=$(curl -sS "${admin_tok[@]}" "$CRDS/nodes.internal.linstor.linbit.com")
  est=$(jq_py '[c["status"] for c in d.get("status",{}).get("conditions",[]) if c["type"]=="Established"]')
  [[ "$est" == "['True']" ]] && break
  sleep 0.1
done
[[ "$est" == "['True']" ]] || { echo "FAIL: CRD not Established" >&2; exit 1; }
echo "== CRD Established after $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s: $(jq_py 'd["status"]["conditions"]')" >&2

# --- custom resources ---------------------------------------------------------------
NODES=$S/apis/internal.linstor.linbit.com/v1-33-1/nodes
for n in 1 2 3; do
  body='{"apiVersion":"internal.linstor.linbit.com/v1-33-1","kind":"Nodes","metadata":{"name":"node'$n'"},"spec":{"uuid":"00000000-0000-0000-0000-00000000000'$n'","node_name":"NODE'$n'","node_dsp_name":"node'$n'","node_flags":0,"node_type":2}}'
  for _ in $(seq 1 50); do  # the new resource may take a moment to be served
    req "POST Nodes node$n" "${admin_tok[@]}" "${json[@]}" -X POST --data "$body" "$NODES"
    [[ "$CODE" == 404 ]] || break
    sleep 0.2
  done
  expect 201
done
req "GET Nodes ?limit=1" "${admin_tok[@]}" "$NODES?limit=1"; expect 200
[[ $(jq_py 'len(d["items"])') == 1 ]] || { echo "FAIL: limit=1 returned != 1 item" >&2; exit 1; }
cont=$(jq_py 'd["metadata"].get("continue","")')
[[ -n "$cont" ]] || { echo "FAIL: no continue token" >&2; exit 1; }
req "GET Nodes ?limit=1&continue=..." "${admin_tok[@]}" "$NODES?limit=1&continue=$cont"; expect 200
[[ $(jq_py 'd["items"][0]["metadata"]["name"]') == node2 ]] || { echo "FAIL: page 2 is not node2" >&2; exit 1; }
req "GET Nodes node1" "${admin_tok[@]}" "$NODES/node1"; expect 200
[[ $(jq_py 'd["spec"]["node_name"]') == NODE1 ]] || { echo "FAIL: wrong spec" >&2; exit 1; }

# --- RBAC: the non-admin user is denied until granted -----------------------------------
req "GET Nodes as $KUBE_TEST_USER (no RBAC grant)" "${user_tok[@]}" "$NODES"; expect 403
req "POST ClusterRole nodes-reader" "${admin_tok[@]}" "${json[@]}" -X POST "$S/apis/rbac.authorization.k8s.io/v1/clusterroles" \
  --data '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"linstor-nodes-reader"},"rules":[{"apiGroups":["internal.linstor.linbit.com"],"resources":["nodes"],"verbs":["get","list","watch"]}]}'
expect 201
req "POST ClusterRoleBinding" "${admin_tok[@]}" "${json[@]}" -X POST "$S/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" \
  --data '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"linstor-nodes-reader"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"linstor-nodes-reader"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"'"$KUBE_TEST_USER"'"}]}'
expect 201
for _ in $(seq 1 50); do
  req "GET Nodes as $KUBE_TEST_USER (after grant)" "${user_tok[@]}" "$NODES"; [[ "$CODE" == 200 ]] && break; sleep 0.1
done
expect 200
req "DELETE Nodes node1 as $KUBE_TEST_USER (read-only)" "${user_tok[@]}" -X DELETE "$NODES/node1"; expect 403

# --- namespace + Secret ---------------------------------------------------------------
req "POST Namespace linstor-test" "${admin_tok[@]}" "${json[@]}" -X POST "$S/api/v1/namespaces" \
  --data '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"linstor-test"}}'; expect 201
req "POST Secret linstor-test/s1" "${admin_cert[@]}" "${json[@]}" -X POST "$S/api/v1/namespaces/linstor-test/secrets" \
  --data '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s1"},"type":"Opaque","data":{"passphrase":"aHVudGVyMg=="}}'; expect 201
req "GET Secret linstor-test/s1" "${admin_tok[@]}" "$S/api/v1/namespaces/linstor-test/secrets/s1"; expect 200
[[ $(jq_py 'd["data"]["passphrase"]') == aHVudGVyMg== ]] || { echo "FAIL: secret data" >&2; exit 1; }
req "GET Secret as $KUBE_TEST_USER" "${user_tok[@]}" "$S/api/v1/namespaces/linstor-test/secrets/s1"; expect 403

trap - EXIT
"$HERE/stop.sh" "$DIR"
left=$(pgrep -a -f "$DIR" || true)
[[ -z "$left" ]] || { echo "FAIL: processes left: $left" >&2; exit 1; }
echo "smoke-test: OK" >&2
