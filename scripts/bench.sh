#!/usr/bin/env bash
# Benchmark: pgbench TPC-B on this machine's PostgreSQL, then the service's load scenarios on
# PostgreSQL and on SQLite with the same concurrency, in one table. Prints figures; asserts nothing.
#   scripts/bench.sh            C=16 clients, T=20 s per run
#   C=32 T=30 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

C=${C:-16}
T=${T:-20}
USERS=${USERS:-50}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
PORT=${PORT:-18090}
WORK=$(mktemp -d)
SERVICE_PID=""
trap 'if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

say() { printf '== %s\n' "$*" >&2; }
psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt -v ON_ERROR_STOP=1 "$@"; }

say "building release binaries"
cargo build --release --quiet --features load --bins
BIN=target/release/vaultline
LOAD=target/release/vaultline-load

if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
fi

say "pgbench TPC-B: -i -s 10, then -c $C -j 2 -T $T"
psql_admin -c "DROP DATABASE IF EXISTS vaultline_pgbench" -c "CREATE DATABASE vaultline_pgbench"
pgbench -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -i -s 10 -q vaultline_pgbench > "$WORK/pgbench-init.log" 2>&1
pgbench -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -c "$C" -j 2 -T "$T" -r vaultline_pgbench > "$WORK/pgbench.log" 2>&1
PGBENCH_TPS=$(grep -Eo 'tps = [0-9.]+' "$WORK/pgbench.log" | head -n1 | awk '{print $3}')
PGBENCH_LAT=$(grep -Eo 'latency average = [0-9.]+' "$WORK/pgbench.log" | awk '{print $4}')
say "pgbench: $PGBENCH_TPS tps (latency average $PGBENCH_LAT ms)"

# The SQL of one transfer replayed by pgbench beside TPC-B: the 12 round trips the service
# sent before the one-round-trip money path, the same rows as one data-modifying CTE, and
# the function call the service sends now (scripts/perf/).
say "SQL floor of a transfer (scripts/perf), -c $C -j 2 -T $T each"
psql_admin -c "DROP DATABASE IF EXISTS vaultline_floor" -c "CREATE DATABASE vaultline_floor"
"$BIN" --database-url "postgres://$PG_USER@$PG_HOST:$PG_PORT/vaultline_floor" migrate > /dev/null
psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d vaultline_floor -qAt -v ON_ERROR_STOP=1 > /dev/null <<'SQL'
INSERT INTO users (id, username, display_name, password_hash, role, created_at)
  SELECT 'u' || lpad(g::text, 35, '0'), 'user_' || g, 'u', 'x', 'user', now() FROM generate_series(1, 200) g;
INSERT INTO money_accounts (user_id, opened_at, wallet_minor) SELECT id, now(), 90000000 FROM users;
INSERT INTO ledger_accounts (id, user_id, kind) SELECT id || ':wallet', id, 'wallet' FROM users;
SQL
declare -a FLOOR
for script in transfer-12-round-trips transfer-one-cte transfer-function; do
  # The service sends its function call as a prepared statement (parsed once per connection).
  mode=extended; [ "$script" = transfer-function ] && mode=prepared
  tps=$(pgbench -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -n -M "$mode" -c "$C" -j 2 -T "$T" --max-tries=20 \
          -f "scripts/perf/$script.sql" vaultline_floor 2>&1 | grep -Eo '^tps = [0-9.]+' | awk '{print $3}')
  say "  $script: ${tps:-?} tps"
  FLOOR+=("$(printf '%-24s %10s tps %8s x pgbench' "$script" "${tps:-?}" \
    "$(awk -v a="${tps:-0}" -v b="$PGBENCH_TPS" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')")")
done
# Group commit at the SQL floor: the batches a lane sends (8 transfers a call), from as many
# clients as the service has lanes, with no HTTP and no service in the way.
LANES=2
tps=$(pgbench -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -n -M prepared -c "$LANES" -j "$LANES" -T "$T" --max-tries=20 \
        -f scripts/perf/transfer-batch.sql vaultline_floor 2>&1 | grep -Eo '^tps = [0-9.]+' | awk '{print $3 * 8}')
say "  transfer-batch (8 a call, $LANES clients): ${tps:-?} transfers/s"
FLOOR+=("$(printf '%-24s %10s tps %8s x pgbench  (transfers/s: 8 a call, %s clients)' "transfer-batch" "${tps:-?}" \
  "$(awk -v a="${tps:-0}" -v b="$PGBENCH_TPS" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" "$LANES")")
psql_admin -c "DROP DATABASE IF EXISTS vaultline_floor"

peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# One load client, one address, many users: the registration, login-queue and request
# limits are raised out of the way, and the outflow and unlock caps set high enough never to
# refuse, so each request still pays for every check it would make in production.
start_service() { # $1 = database URL, $2 = database.group_commit (auto | on | off)
  VAULTLINE__DATABASE__GROUP_COMMIT="${2:-auto}" \
  VAULTLINE__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret-00 \
  VAULTLINE__SERVER__DATA_DIR="$WORK/data" \
  VAULTLINE__LOG__LEVEL=warn \
  VAULTLINE__CREDIT__BILLING_JOB_ENABLED=false \
  VAULTLINE__AUTH__REGISTRATIONS_PER_ADDRESS_PER_HOUR=1000000 \
  VAULTLINE__AUTH__REGISTRATIONS_PER_MINUTE=1000000 \
  VAULTLINE__AUTH__REGISTRATIONS_PER_NETWORK_PER_HOUR=1000000 \
  VAULTLINE__LIMITS__MONEY_REQUESTS_PER_WINDOW=1000000 \
  VAULTLINE__LIMITS__OUTFLOW_24H_MAX=9000000000.00 \
  VAULTLINE__LIMITS__VAULT_UNLOCKS_PER_DAY=10000 \
    "$BIN" --database-url "$1" serve --bind "127.0.0.1:$PORT" > "$WORK/service.log" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the service did not start:"; cat "$WORK/service.log"; exit 1
}

stop_service() {
  RSS_KIB=$(peak_rss_kib "$SERVICE_PID")
  kill "$SERVICE_PID" 2>/dev/null || true
  wait "$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=""
}

declare -a ROWS
row() { ROWS+=("$(printf '%-9s %-16s %10s %10s %8s  %s' "$@")"); }

# Runs one scenario; $1 backend, $2 scenario, $3 label, then extra load-generator flags.
# Sets RPS and P99.
scenario() {
  local backend=$1 name=$2 label=$3; shift 3
  say "  $label: C=$C T=${T}s $*"
  "$LOAD" --base-url "http://127.0.0.1:$PORT" --scenario "$name" -c "$C" -t "$T" --users "$USERS" \
    --prefix "${label//-/_}" --admin-password 'bench admin password' --label "$label" "$@" \
    > "$WORK/$backend-$label.log" 2>&1 || { cat "$WORK/$backend-$label.log"; exit 1; }
  sed 's/^/    /' "$WORK/$backend-$label.log" | grep -v '^    RESULT' >&2
  local line
  line=$(grep "^RESULT label=$label " "$WORK/$backend-$label.log" | head -n1)
  RPS=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<< "$line")
  P99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<< "$line")
  CHECK=$(grep -Eo 'balances_match=[a-z]+' "$WORK/$backend-$label.log" || true)
}

# The ledger check after a backend's runs: every invariant recomputed from the journal.
ledger_check() { # $1 = backend, $2 = database URL
  local verdict=clean
  "$BIN" --database-url "$2" ledger check > "$WORK/$1-ledger.json" 2>&1 || { verdict="VIOLATIONS"; cat "$WORK/$1-ledger.json"; }
  ROWS+=("$(printf '%-9s %-16s ledger check after every run above: %s (%s entries)' "$1" "ledger" "$verdict" \
    "$(grep -Eo '"entries": [0-9]+' "$WORK/$1-ledger.json" | grep -Eo '[0-9]+')")")
}

ratio() { awk -v a="$1" -v b="$PGBENCH_TPS" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

run_backend() { # $1 = label, $2 = database URL
  local backend=$1 url=$2 gc
  say "service on $backend (group commit: auto)"
  start_service "$url" auto
  VAULTLINE_ADMIN_PASSWORD='bench admin password' "$BIN" --database-url "$url" admin create --username bench_admin \
    > /dev/null 2>&1 || true
  for name in transfers hot mixed login-flood; do
    scenario "$backend" "$name" "${name//-/}"
    row "$backend" "$name" "$RPS" "$P99" "$(ratio "$RPS")" "$CHECK"
    if [ "$name" = transfers ]; then
      scenario "$backend" transfers transfers-half --rate "$(awk -v r="$RPS" 'BEGIN { printf "%.0f", r / 2 }')"
      row "$backend" "transfers@50%" "$RPS" "$P99" "" "paced"
    fi
  done
  stop_service
  ROWS+=("$(printf '%-9s %-16s peak RSS %s MiB' "$backend" "service" "$(( RSS_KIB / 1024 ))")")
  # The same money scenarios with group commit switched off, side by side.
  gc=off
  say "service on $backend (group commit: $gc)"
  start_service "$url" "$gc"
  for name in transfers hot; do
    scenario "$backend" "$name" "$name-gc$gc"
    row "$backend" "$name gc=$gc" "$RPS" "$P99" "$(ratio "$RPS")" "$CHECK"
    if [ "$name" = transfers ]; then
      scenario "$backend" transfers "transfers-half-gc$gc" --rate "$(awk -v r="$RPS" 'BEGIN { printf "%.0f", r / 2 }')"
      row "$backend" "transfers@50% gc=$gc" "$RPS" "$P99" "" "paced"
    fi
  done
  stop_service
  ledger_check "$backend" "$url"
}

psql_admin -c "DROP DATABASE IF EXISTS vaultline_bench" -c "CREATE DATABASE vaultline_bench"
run_backend postgres "postgres://$PG_USER@$PG_HOST:$PG_PORT/vaultline_bench"
# PostgreSQL's background work on the rows just written (checkpoint, autovacuum) would share
# the two cores with the SQLite runs: done now, and the finished databases dropped.
psql_admin -c "CHECKPOINT" -c "DROP DATABASE IF EXISTS vaultline_bench" -c "DROP DATABASE IF EXISTS vaultline_pgbench"
run_backend sqlite "sqlite://$WORK/bench.db"

echo
echo "Vaultline benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  C=$C  T=${T}s  users=$USERS"
echo "pgbench TPC-B (scale 10): $PGBENCH_TPS tps, latency average $PGBENCH_LAT ms"
echo "SQL replays of one transfer (pgbench -M extended; the function calls -M prepared, as the service sends them; same C and T but the batch):"
for row in "${FLOOR[@]}"; do echo "  $row"; done
echo "Rows without gc= ran with database.group_commit = auto (on for both backends)."
printf '%-9s %-16s %10s %10s %8s  %s\n' backend scenario "req/s" "p99 ms" "x pgbench" "check"
for row in "${ROWS[@]}"; do echo "$row"; done
