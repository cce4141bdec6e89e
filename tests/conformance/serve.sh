#!/usr/bin/env bash
# Starts a fresh Vaultline on one backend for the conformance tools and seeds it:
# two admins (credit-line overrides need a second one), a user with money in the wallet and
# the vault, a merchant.
# Usage: serve.sh sqlite|postgres WORKDIR   (prints shell assignments to eval:
#   BASE, USER_TOKEN, PEER_TOKEN, ADMIN_TOKEN, APPROVER_TOKEN, SERVICE_PID, MERCHANT_ID, CONFORMANCE_DB_URL)
# The second user is `bob_99`, the name the document gives as the transfer example.
# Needs: target/debug/vaultline (or VAULTLINE_BIN), curl, python3; for postgres, createdb/psql
# reaching $PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
backend=$1 work=$2
bin=${VAULTLINE_BIN:-target/debug/vaultline}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
mkdir -p "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case $backend in
  sqlite) db_url="sqlite://$work/vaultline.db" ;;
  postgres)
    db="vl_conformance_$$_$port"
    psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    db_url="${pg_url%/*}/$db" ;;
  *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac
export VAULTLINE__DATABASE__URL=$db_url VAULTLINE__SERVER__DATA_DIR=$work VAULTLINE__SERVER__BIND=127.0.0.1:$port
export VAULTLINE__LOG__LEVEL=${VAULTLINE__LOG__LEVEL:-warn} VAULTLINE__CREDIT__ALLOW_FUTURE_BILLING=true
# Thousands of fuzzed money requests a minute from one user: the request budget would answer
# most of them 429 (a correct answer, but one that keeps the fuzzer from the money rules).
# The outflow and unlock caps keep their defaults and are exercised.
export VAULTLINE__LIMITS__MONEY_REQUESTS_PER_WINDOW=1000000
# Likewise registrations from the one fuzzing address, and the spraying friction (a second a
# login once many usernames failed from it). The API tests cover both at their defaults.
export VAULTLINE__AUTH__REGISTRATIONS_PER_ADDRESS_PER_HOUR=1000000 VAULTLINE__AUTH__REGISTRATIONS_PER_NETWORK_PER_HOUR=1000000
export VAULTLINE__AUTH__REGISTRATIONS_PER_MINUTE=1000000
export VAULTLINE__AUTH__LOGIN_FRICTION_MS=20
"$bin" migrate >/dev/null
VAULTLINE_ADMIN_PASSWORD='conformance admin pass' "$bin" admin create --username ops_admin >/dev/null
VAULTLINE_ADMIN_PASSWORD='conformance approver pass' "$bin" admin create --username ops_approver >/dev/null
"$bin" serve >"$work/service.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
curl -fs "$base/readyz" >/dev/null || { cat "$work/service.log" >&2; exit 1; }

post() { # post PATH BODY [TOKEN] -> body
  local auth=()
  [ -n "${3:-}" ] && auth=(-H "authorization: Bearer $3")
  curl -fsS -X POST "$base$1" -H 'content-type: application/json' -H "idempotency-key: seed-$RANDOM-$RANDOM" \
    "${auth[@]}" -d "$2"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() { post /v1/auth/login "{\"username\":\"$1\",\"password\":\"$2\"}" | field "['access_token']"; }

post /v1/auth/register '{"username":"fuzz_user","password":"fuzzing password 1"}' >/dev/null
post /v1/auth/register '{"username":"bob_99","password":"fuzzing password 2"}' >/dev/null
user_token=$(login fuzz_user 'fuzzing password 1')
peer_token=$(login bob_99 'fuzzing password 2')
admin_token=$(login ops_admin 'conformance admin pass')
approver_token=$(login ops_approver 'conformance approver pass')
post /v1/wallet/deposits '{"amount":"500000.00"}' "$user_token" >/dev/null
post /v1/vault/lock '{"amount":"200000.00"}' "$user_token" >/dev/null
merchant=$(post /v1/admin/merchants '{"name":"Fuzz Mart"}' "$admin_token" | field "['id']")
cat <<OUT
BASE=$base
USER_TOKEN=$user_token
PEER_TOKEN=$peer_token
ADMIN_TOKEN=$admin_token
APPROVER_TOKEN=$approver_token
SERVICE_PID=$pid
MERCHANT_ID=$merchant
CONFORMANCE_DB_URL=$db_url
OUT
