#!/usr/bin/env bash
# The failover drill: brings the cluster up (scripts/ha/up.sh), runs the bank-style load
# through the front HAProxy for T seconds (default 90), SIGKILLs one service instance at
# KILL_APP_AT (30 s) and the PostgreSQL primary's postmaster at KILL_PG_AT (45 s), then
# verifies from the database (scripts/ha/verify.sh) and takes everything down again.
# Exit 0 only if nothing acknowledged was lost or doubled and every check is clean.
#   scripts/ha/drill.sh                    C=32 USERS=100 T=90
#   PGBOUNCER=1 scripts/ha/drill.sh        the same through PgBouncer (session mode)
#   NO_FAULTS=1 scripts/ha/drill.sh        the load and the checks alone
#   KEEP=1 scripts/ha/drill.sh             keep $HA_DIR (logs, the client's files) afterwards
set -uo pipefail
source "$(dirname "$0")/env.sh"
C=${C:-32} USERS=${USERS:-100} T=${T:-90} KILL_APP_AT=${KILL_APP_AT:-30} KILL_PG_AT=${KILL_PG_AT:-45}
DRILL=$ROOT/target/release/vaultline-drill

say "building the service and the drill client"
(cd "$ROOT" && nice -n 10 cargo build --release --quiet --features load --bin vaultline --bin vaultline-drill) || exit 1
"$(dirname "$0")/down.sh"   # leftovers of an interrupted run
trap '"$(dirname "$0")/down.sh"' EXIT
"$(dirname "$0")/up.sh" || { export KEEP=1; exit 1; }   # keep its logs
out=$HA_DIR/drill; mkdir -p "$out"

export VAULTLINE_ADMIN_PASSWORD='drill admin password'
VAULTLINE__DATABASE__URL=$(db_url) "$BIN" admin create --username drill_admin > /dev/null || exit 1

faults=()
if [ "${NO_FAULTS:-0}" != 1 ]; then
  faults+=(--fault "$KILL_APP_AT=kill -9 \$(cat $HA_DIR/run/app2.pid)")
  faults+=(--fault "$KILL_PG_AT=$(dirname "$0")/kill-primary.sh")
fi
say "load: C=$C users=$USERS T=${T}s through http://127.0.0.1:$FRONT_PORT $([ ${#faults[@]} -gt 0 ] && echo "(instance kill at ${KILL_APP_AT}s, primary kill at ${KILL_PG_AT}s)")"
nice -n 5 "$DRILL" --base-url "http://127.0.0.1:$FRONT_PORT" -c "$C" --users "$USERS" -t "$T" \
  --admin-user drill_admin --out "$out" "${faults[@]}" 2> "$out/drill.err" | tee "$out/drill.out"
load_rc=${PIPESTATUS[0]}
grep -v '^refused' "$out/drill.err" | tail -n 20 >&2

say "cluster after the drill"
curl -fs "http://127.0.0.1:${REST_PORTS[1]}/cluster" | python3 -c 'import json,sys
for m in json.load(sys.stdin)["members"]: print("  ", m["name"], m["role"], m["state"], "timeline", m.get("timeline"))'
grep -h "promoted self to leader" "$HA_DIR"/log/patroni-pg*.log | sed 's/^/  patroni: /' >&2
say "verification"
"$(dirname "$0")/verify.sh" "$out"; verify_rc=$?
[ "$load_rc" = 0 ] || echo "the load client reported refused or unanswered operations (exit $load_rc)"
[ "$load_rc" = 0 ] && [ "$verify_rc" = 0 ] && { echo "DRILL PASS"; exit 0; }
echo "DRILL FAIL"; exit 1
