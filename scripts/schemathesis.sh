#!/usr/bin/env bash
# OpenAPI-driven property test: starts `nakku up` on a scratch directory, signs in an admin,
# and lets schemathesis (from PyPI) generate requests for every operation of
# /api/v1/openapi.json. Fails on any 5xx, on any answer that breaks the documented
# schema (status code, content type, body), and on a request the document calls valid
# being refused for its shape (positive_data_acceptance; the few operations whose
# business rules a schema cannot state are listed in scripts/schemathesis.toml).
# Usage: scripts/schemathesis.sh [NAKKU_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
NAKKU=${1:-target/debug/nakku}
VENV=${VENV:-.ci/.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
[ -x "$VENV/bin/schemathesis" ] || "$VENV/bin/pip" install -q 'schemathesis==4.32.5'
dir=$(mktemp -d)
port=${ST_PORT:-18080}
export NAKKU_RATE_LIMIT_AUTH_PER_MINUTE=0 NAKKU_RATE_LIMIT_WRITE_PER_MINUTE=0 NAKKU_RATE_LIMIT_READ_PER_MINUTE=0
export NAKKU_LOG=warn NAKKU_DATA_DIR="$dir/data"
# Each service on its own port beside the gateway's, away from the defaults.
i=0
for svc in gateway user product inventory order cart payment delivery notification location analytics; do
  export "NAKKU_$(echo "$svc" | tr a-z A-Z)_PORT=$((port + i))"; i=$((i + 1))
done
"$NAKKU" up --no-seed > "$dir/up.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 120); do curl -sf "$base/health" >/dev/null 2>&1 && break; sleep 0.5; done
curl -sf "$base/health" >/dev/null || { echo "nakku up did not start:"; tail -20 "$dir/up.log"; exit 1; }
curl -sf -XPOST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"st@example.com","phone":"9876500001","password":"s3cret-pass","name":"Schemathesis"}' >/dev/null
"$NAKKU" users set-role st@example.com admin >/dev/null
token=$(curl -sf -XPOST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"st@example.com","password":"s3cret-pass"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["data"]["access_token"])')
# Deleting the signed-in account would end the run's authentication early.
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" \
  --checks "${ST_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance}" \
  --exclude-operation-id deleteMyAccount \
  --max-examples "${ST_EXAMPLES:-10}" --seed "${ST_SEED:-1}" --workers 1 --request-timeout 10 \
  -H "Authorization: Bearer $token"
