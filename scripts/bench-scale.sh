#!/usr/bin/env bash
# Scale benchmark (issue 31): how each operation's cost grows with the data. For each backend,
# the same measures on an EMPTY database and on databases seeded with N customers
# (`vaultline-load seed`), printed side by side with their ratio. Prints figures; asserts nothing.
#   scripts/bench-scale.sh                                 SIZES="10000 100000" BACKENDS="postgres sqlite"
#   SIZES=10000 BACKENDS=postgres T=10 scripts/bench-scale.sh
#   KEEP=1 ...   keeps the seeded databases (PostgreSQL vaultline_scale_N; SQLite files in DATA_DIR)
#   BILLING=0 ... skips the billing day and the statement run
#
# Who does what: `transfers` runs between 50 fresh users the load generator prepares (the same
# on both databases). The reads run for READERS fresh users given DEPTH + 20 movements each
# (`deepen`, deposits of 0.01) on both databases, so a page costs the same work for the same
# user and only the rest of the database differs: the seeded customers' histories are at most
# about 60 movements deep, too shallow for a page 1,000 items down. The admin search looks for
# the readers' prefix (it matches the 16 readers, none of the seeded customers), the customer
# view opens each reader. The billing day is the seed's next due date, the statement run the
# statement day of the due date after it (`credit.allow_future_billing` on).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10000 100000"}
BACKENDS=${BACKENDS:-"postgres sqlite"}
C=${C:-16}
T=${T:-10}
READERS=${READERS:-16}
DEPTH=${DEPTH:-1000}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
PORT=${PORT:-18091}
KEEP=${KEEP:-0}
# BILLING=0 skips the billing day and the statement run (a billing day of 100,000 customers
# takes about a quarter of an hour at 10,000's rate).
BILLING=${BILLING:-1}
# The ledger check at the configured statement timeout first; if PostgreSQL cancels it, again
# with this one (milliseconds), and both outcomes are printed.
LEDGER_TIMEOUT_MS=${LEDGER_TIMEOUT_MS:-1800000}
WORK=$(mktemp -d)
DATA_DIR=${DATA_DIR:-$WORK}
SERVICE_PID=""
trap 'if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

say() { printf '== %s\n' "$*" >&2; }
psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt -v ON_ERROR_STOP=1 "$@"; }
pg_url() { echo "postgres://$PG_USER@$PG_HOST:$PG_PORT/$1"; }

say "building release binaries"
cargo build --release --quiet --features load --bins
BIN=target/release/vaultline
LOAD=target/release/vaultline-load
ADMIN_PASSWORD='bench admin password'

# The seed bills month by month from the 10th of next month for 14 months (src/seed/lives.rs);
# its last run is the statement day of the due date after those, the next due date.
FIRST_DUE=$(date -u -d "$(date -u +%Y-%m-01) +1 month" +%Y-%m-10)
DUE=$(date -u -d "$FIRST_DUE +14 months" +%Y-%m-%d)
STATEMENT=$(date -u -d "$DUE +1 month -10 days" +%Y-%m-%d)

peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_service() { # $1 = database URL
  VAULTLINE__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret-00 \
  VAULTLINE__SERVER__DATA_DIR="$WORK/data" \
  VAULTLINE__LOG__LEVEL=warn \
  VAULTLINE__CREDIT__BILLING_JOB_ENABLED=false \
  VAULTLINE__CREDIT__ALLOW_FUTURE_BILLING=true \
  VAULTLINE__AUTH__REGISTRATIONS_PER_ADDRESS_PER_HOUR=1000000 \
  VAULTLINE__AUTH__REGISTRATIONS_PER_MINUTE=1000000 \
  VAULTLINE__AUTH__REGISTRATIONS_PER_NETWORK_PER_HOUR=1000000 \
  VAULTLINE__LIMITS__MONEY_REQUESTS_PER_WINDOW=1000000 \
  VAULTLINE__LIMITS__OUTFLOW_24H_MAX=9000000000.00 \
    "$BIN" --database-url "$1" serve --bind "127.0.0.1:$PORT" > "$WORK/service.log" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the service did not start:"; cat "$WORK/service.log"; exit 1
}

stop_service() {
  kill "$SERVICE_PID" 2>/dev/null || true
  wait "$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=""
}

# Figures by "backend|size|measure"; size is "empty" for the empty database.
declare -A FIG

# Runs one load scenario; $1 key prefix, $2 scenario, then extra flags. Sets RPS P50 P99.
load() {
  local key=$1 name=$2; shift 2
  "$LOAD" --base-url "http://127.0.0.1:$PORT" --scenario "$name" -c "$C" -t "$T" \
    --admin-password "$ADMIN_PASSWORD" --label "$name" "$@" > "$WORK/load.log" 2>&1 \
    || { cat "$WORK/load.log"; exit 1; }
  grep -v '^RESULT' "$WORK/load.log" | sed 's/^/    /' >&2
  local line
  line=$(grep "^RESULT label=$name " "$WORK/load.log" | head -n1)
  RPS=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<< "$line")
  P50=$(sed -nE 's/.* p50_ms=([0-9.]+).*/\1/p' <<< "$line")
  P99=$(sed -nE 's/.* p99_ms=([0-9.]+).*/\1/p' <<< "$line")
  FIG["$key|$name"]="$RPS ${P50:--} ${P99:--}"
}

readers() { echo --users "$READERS" --prefix scale_reader --query scale_reader --depth "${1:-$DEPTH}"; }

# The billing day with `transfers` beside it (5-second runs back to back while billing
# answers), then the statement run alone. $1 key prefix, $2 customers.
billing() {
  local key=$1 customers=$2 admin secs rss requests=0 seconds=0
  admin=$(curl -fsS "http://127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"bench_admin\",\"password\":\"$ADMIN_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -fsS --max-time 7200 "http://127.0.0.1:$PORT/v1/admin/billing/run" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d "{\"as_of\":\"$DUE\"}" -o "$WORK/billing.json" -w '%{time_total}' \
    > "$WORK/billing.time" &
  local curl_pid=$!
  while kill -0 "$curl_pid" 2>/dev/null; do
    "$LOAD" --base-url "http://127.0.0.1:$PORT" --scenario transfers -c "$C" -t 5 --users 16 \
      --prefix scale_beside --label beside > "$WORK/beside.log" 2>&1 || break
    local line n r
    line=$(grep '^RESULT label=beside ' "$WORK/beside.log")
    n=$(sed -E 's/.* requests=([0-9]+).*/\1/' <<< "$line"); r=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<< "$line")
    requests=$((requests + n)); seconds=$(awk -v s="$seconds" -v n="$n" -v r="$r" 'BEGIN { print s + (r > 0 ? n / r : 0) }')
  done
  wait "$curl_pid" || { echo "billing failed"; cat "$WORK/service.log"; exit 1; }
  secs=$(awk '{ printf "%.1f", $1 }' "$WORK/billing.time")
  rss=$(( $(peak_rss_kib "$SERVICE_PID") / 1024 ))
  say "  billing day $DUE: ${secs}s, peak RSS ${rss} MiB, $(cat "$WORK/billing.json")"
  FIG["$key|billing"]="$secs $(awk -v c="$customers" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? c / s : 0) }') $rss \
$(awk -v n="$requests" -v s="$seconds" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')"
  secs=$(curl -fsS --max-time 7200 "http://127.0.0.1:$PORT/v1/admin/billing/run" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d "{\"as_of\":\"$STATEMENT\"}" -o "$WORK/statement.json" -w '%{time_total}')
  secs=$(awk -v s="$secs" 'BEGIN { printf "%.1f", s }')
  say "  statement run $STATEMENT: ${secs}s, $(cat "$WORK/statement.json")"
  FIG["$key|statement"]="$secs $(awk -v c="$customers" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? c / s : 0) }')"
}

# The full ledger check through the CLI, timed; at PostgreSQL's configured statement timeout,
# then (only if cancelled) at LEDGER_TIMEOUT_MS.
ledger_check() { # $1 key prefix, $2 URL
  local started verdict note=""
  started=$(date +%s.%N)
  if "$BIN" --database-url "$2" ledger check > "$WORK/ledger.json" 2>&1; then verdict=clean
  elif grep -q 'statement timeout' "$WORK/ledger.json"; then
    note="cancelled by statement_timeout after $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s; "
    note+="again at ${LEDGER_TIMEOUT_MS} ms: "
    started=$(date +%s.%N)
    if VAULTLINE__DATABASE__STATEMENT_TIMEOUT_MS=$LEDGER_TIMEOUT_MS "$BIN" --database-url "$2" ledger check \
      > "$WORK/ledger.json" 2>&1; then verdict=clean; else verdict=VIOLATIONS; fi
  else verdict=VIOLATIONS; fi
  [ "$verdict" = clean ] || tail -n 20 "$WORK/ledger.json" >&2
  FIG["$1|ledger"]="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') $verdict ${note// /_}"
}

db_size_mb() { # $1 backend, $2 database name or file
  if [ "$1" = postgres ]; then
    psql_admin -c "SELECT round(pg_database_size('$2') / 1048576.0)"
  else
    local wal=0; [ -f "$2-wal" ] && wal=$(stat -c %s "$2-wal")
    awk -v a="$(stat -c %s "$2")" -v w="$wal" 'BEGIN { printf "%.0f", (a + w) / 1048576 }'
  fi
}

# Every measure on one database. $1 backend, $2 size label, $3 URL, $4 db name or file, $5 customers.
measure() {
  local backend=$1 size=$2 url=$3 db=$4 customers=$5 key="$1|$2"
  say "$backend, $size: service on $url"
  VAULTLINE_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" --database-url "$url" admin create --username bench_admin \
    > /dev/null 2>&1 || true
  start_service "$url"
  load "$key" deepen $(readers $((DEPTH + 20)))
  load "$key" transfers --users 50 --prefix scale_xfer
  for name in account history history-deep events admin-search customer-view; do
    load "$key" "$name" $(readers)
  done
  stop_service
  if [ "$BILLING" = 1 ]; then
    start_service "$url"
    billing "$key" "$customers"
    stop_service
  fi
  ledger_check "$key" "$url"
  FIG["$key|size"]="$(db_size_mb "$backend" "$db") $customers"
}

fresh_db() { # $1 backend, $2 name; prints the URL and sets DB to the name or file
  if [ "$1" = postgres ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2"
  else
    rm -f "$DATA_DIR/$2.db" "$DATA_DIR/$2.db-wal" "$DATA_DIR/$2.db-shm"
  fi
}
url_of() { if [ "$1" = postgres ]; then pg_url "$2"; else echo "sqlite://$DATA_DIR/$2.db"; fi; }
file_of() { if [ "$1" = postgres ]; then echo "$2"; else echo "$DATA_DIR/$2.db"; fi; }
drop_db() {
  [ "$KEEP" = 1 ] && return 0
  if [ "$1" = postgres ]; then psql_admin -c "DROP DATABASE IF EXISTS $2"; else rm -f "$DATA_DIR/$2".db*; fi
}

LOADAVG=()
for backend in $BACKENDS; do
  fresh_db "$backend" vaultline_scale_empty
  "$BIN" --database-url "$(url_of "$backend" vaultline_scale_empty)" migrate > /dev/null
  LOADAVG+=("$backend empty: $(uptime | sed 's/.*load average/load average/')")
  measure "$backend" empty "$(url_of "$backend" vaultline_scale_empty)" "$(file_of "$backend" vaultline_scale_empty)" 0
  drop_db "$backend" vaultline_scale_empty
  for n in $SIZES; do
    name="vaultline_scale_$n"
    fresh_db "$backend" "$name"
    say "$backend: seeding $n customers"
    "$LOAD" seed --customers "$n" --seed 1 --database-url "$(url_of "$backend" "$name")" > "$WORK/seed.log"
    customers=$(sed -E 's/.* customers=([0-9]+) .*/\1/' "$WORK/seed.log")
    FIG["$backend|$n|seed"]="$(sed -E 's/.* elapsed=([0-9.]+)s .*/\1/' "$WORK/seed.log") $customers"
    [ "$backend" = postgres ] && psql_admin -d "$name" -c "VACUUM ANALYZE" > /dev/null
    LOADAVG+=("$backend $n: $(uptime | sed 's/.*load average/load average/')")
    measure "$backend" "$n" "$(url_of "$backend" "$name")" "$(file_of "$backend" "$name")" "$customers"
    drop_db "$backend" "$name"
  done
  [ "$backend" = postgres ] && psql_admin -c CHECKPOINT > /dev/null
done

# One line per measure: the seeded figure, the empty database's beside it, and their ratio.
field() { awk -v i="$2" '{ print $i }' <<< "${FIG[$1]:-- - - - -}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }
line() { printf '%-8s %-8s %-36s %-22s %-22s %s\n' "$@"; }

echo
echo "Vaultline scale benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  commit $(git rev-parse --short HEAD)  $(nproc) cores  C=$C  T=${T}s"
echo "readers=$READERS at depth $DEPTH; billing day $DUE, statement run $STATEMENT"
for l in "${LOADAVG[@]}"; do echo "  $l"; done
line backend size measure "seeded" "empty" "ratio (seeded/empty)"
for backend in $BACKENDS; do
  for n in $SIZES; do
    k="$backend|$n"; e="$backend|empty"
    customers=$(field "$k|seed" 2)
    line "$backend" "$n" "customers (seed time s)" "$customers ($(field "$k|seed" 1))" "-" ""
    line "$backend" "$n" "transfers req/s" "$(field "$k|transfers" 1)" "$(field "$e|transfers" 1)" \
      "$(ratio "$(field "$k|transfers" 1)" "$(field "$e|transfers" 1)")"
    line "$backend" "$n" "transfers p99 ms" "$(field "$k|transfers" 3)" "$(field "$e|transfers" 3)" \
      "$(ratio "$(field "$k|transfers" 3)" "$(field "$e|transfers" 3)")"
    for name in account history history-deep events admin-search customer-view; do
      line "$backend" "$n" "$name req/s (x account)" \
        "$(field "$k|$name" 1) ($(ratio "$(field "$k|$name" 1)" "$(field "$k|account" 1)"))" \
        "$(field "$e|$name" 1) ($(ratio "$(field "$e|$name" 1)" "$(field "$e|account" 1)"))" \
        "$(ratio "$(field "$k|$name" 1)" "$(field "$e|$name" 1)")"
      line "$backend" "$n" "$name p50 / p99 ms" "$(field "$k|$name" 2) / $(field "$k|$name" 3)" \
        "$(field "$e|$name" 2) / $(field "$e|$name" 3)" \
        "$(ratio "$(field "$k|$name" 2)" "$(field "$e|$name" 2)") / $(ratio "$(field "$k|$name" 3)" "$(field "$e|$name" 3)")"
    done
    line "$backend" "$n" "billing day s (customers/s)" "$(field "$k|billing" 1) ($(field "$k|billing" 2))" \
      "$(field "$e|billing" 1)" "$(ratio "$(field "$k|billing" 1)" "$(field "$e|billing" 1)")"
    line "$backend" "$n" "billing day: peak RSS MiB" "$(field "$k|billing" 3)" "$(field "$e|billing" 3)" \
      "$(ratio "$(field "$k|billing" 3)" "$(field "$e|billing" 3)")"
    line "$backend" "$n" "transfers req/s beside billing" "$(field "$k|billing" 4)" "$(field "$k|transfers" 1) (alone)" \
      "$(ratio "$(field "$k|billing" 4)" "$(field "$k|transfers" 1)")"
    line "$backend" "$n" "statement run s (customers/s)" "$(field "$k|statement" 1) ($(field "$k|statement" 2))" \
      "$(field "$e|statement" 1)" "$(ratio "$(field "$k|statement" 1)" "$(field "$e|statement" 1)")"
    line "$backend" "$n" "ledger check s" "$(field "$k|ledger" 1) $(field "$k|ledger" 2)" \
      "$(field "$e|ledger" 1) $(field "$e|ledger" 2)" "$(ratio "$(field "$k|ledger" 1)" "$(field "$e|ledger" 1)")"
    [ -z "$(field "$k|ledger" 3)" ] || echo "         ledger check note: $(field "$k|ledger" 3 | tr _ ' ')"
    line "$backend" "$n" "database MB (KB per customer)" \
      "$(field "$k|size" 1) ($(awk -v m="$(field "$k|size" 1)" -v c="$customers" 'BEGIN { printf "%.0f", (c > 0 ? m * 1024 / c : 0) }'))" \
      "$(field "$e|size" 1)" ""
  done
done
