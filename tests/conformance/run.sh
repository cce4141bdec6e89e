#!/usr/bin/env bash
# Conformance of the served OpenAPI document, checked by real third-party tools against a
# fresh service on one backend:
#   openapi-spec-validator        the document is valid OpenAPI 3.1
#   schemathesis (all checks)     examples, coverage, fuzzing and stateful phases, once as a
#                                 user with money and once as an admin; 0 failures allowed
#   openapi-python-client         generated client runs the mobile and admin flows
#   openapi-typescript + fetch    generated types check flow.ts with tsc, then node runs it
#   promtool check metrics        /metrics is valid Prometheus text with HELP on every metric
# Usage: tests/conformance/run.sh sqlite|postgres   (tools: tests/conformance/requirements.txt,
# npm, promtool; .ci/run installs them). CONFORMANCE_SEED and CONFORMANCE_EXAMPLES tune schemathesis.
set -euo pipefail
backend=${1:?usage: run.sh sqlite|postgres}
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d)
seed=${CONFORMANCE_SEED:-20261121}
examples=${CONFORMANCE_EXAMPLES:-50}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

step() { printf '\n-- conformance (%s): %s\n' "$backend" "$*"; }
cleanup() {
  # The service is serve.sh's child, not this shell's: stop it and wait for it to go.
  if [ -n "${SERVICE_PID:-}" ] && kill "$SERVICE_PID" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "$backend" = postgres ] && [ -n "${CONFORMANCE_DB_URL:-}" ]; then
    psql -q "$pg_url" -c "DROP DATABASE IF EXISTS ${CONFORMANCE_DB_URL##*/}" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "start a fresh service"
bash tests/conformance/serve.sh "$backend" "$work/service" > "$work/service.env"
set -a; . "$work/service.env"; set +a
curl -fsS "$BASE/openapi.json" > "$work/openapi.json"

step "openapi-spec-validator"
python3 -m openapi_spec_validator "$work/openapi.json"

# The client flows run first: the fuzzer's many failed logins from this address would
# throttle their logins (issue 12: the address throttle is too coarse).
step "openapi-python-client: generate, then the mobile and admin flows"
mkdir -p "$work/python"
(cd "$work/python" && openapi-python-client generate --path "$work/openapi.json" --meta none --output-path vaultline_client)
PYTHONPATH="$work/python" python3 tests/clients/python_flow.py "$BASE" "$ADMIN_TOKEN" "$APPROVER_TOKEN"

step "openapi-typescript + openapi-fetch: generate, tsc, then the same flows"
(
  cd tests/clients/typescript
  npm ci --no-audit --no-fund --loglevel=error
  OPENAPI_URL="$work/openapi.json" npm run -s generate
  npx tsc -p tsconfig.json
  node dist/flow.js "$BASE" "$ADMIN_TOKEN" "$APPROVER_TOKEN"
)

fuzz() { # fuzz LABEL TOKEN [schemathesis filter options...]
  local label=$1 token=$2
  shift 2
  step "schemathesis --checks all, phases ${PHASES:-examples,coverage,fuzzing,stateful}, as $label (seed $seed)"
  SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/tests/conformance" schemathesis \
    --config-file "$root/tests/conformance/schemathesis.toml" run "$BASE/openapi.json" \
    --checks all --phases "${PHASES:-examples,coverage,fuzzing,stateful}" --max-examples "$examples" --seed "$seed" \
    --generation-database none --report-dir "$work/report-$label" -H "Authorization: Bearer $token" --no-color "$@" \
    || { tail -n 40 "$work/service/service.log"; return 1; }
}
# Ending every session (log out everywhere) would end the fuzzer's own session halfway, so the
# two session-ending operations get a pass of their own, last, with a token of their own.
session_enders=(--exclude-operation-id logoutAll --exclude-operation-id changePassword)
fuzz user "$USER_TOKEN" "${session_enders[@]}"
fuzz admin "$ADMIN_TOKEN" "${session_enders[@]}"
# (No links lead between these two, so no stateful phase.)
PHASES=examples,coverage,fuzzing fuzz sessions "$PEER_TOKEN" --include-operation-id logoutAll \
  --include-operation-id changePassword

step "promtool check metrics"
curl -fsS "$BASE/metrics" | promtool check metrics

step "passed"
