#!/usr/bin/env bash
# Verifies the database after a drill against the client's files in $1 (acked.csv,
# expected.csv): scripts/ha/verify.sql, then `vaultline ledger check`. Exit 1 on any violation.
set -uo pipefail
source "$(dirname "$0")/env.sh"
out=$1
fail=0
# psql does not expand variables in \copy, so the loading lines are written here.
result=$(psql -h 127.0.0.1 -p "$DB_PORT" -U vaultline -d vaultline -qAt -v ON_ERROR_STOP=1 -f <(
  echo "CREATE TEMP TABLE acked (username TEXT, idem_key TEXT, kind TEXT, amount BIGINT);"
  echo "CREATE TEMP TABLE expected (username TEXT, wallet BIGINT, vault BIGINT, held BIGINT, principal BIGINT);"
  echo "\\copy acked FROM '$out/acked.csv' WITH (FORMAT csv)"
  echo "\\copy expected FROM '$out/expected.csv' WITH (FORMAT csv)"
  cat "$(dirname "$0")/verify.sql")) || { echo "verification queries failed"; exit 1; }
while IFS='|' read -r name count; do
  [ "$count" = 0 ] && mark=ok || { mark=VIOLATION; fail=1; }
  printf '  %-32s %8s  %s\n' "$name" "$count" "$mark"
done <<< "$result"
printf '  %-32s %8s\n' "operations acknowledged" "$(wc -l < "$out/acked.csv")"
if "$BIN" --database-url "$(db_url)" ledger check > "$out/ledger.json" 2>&1; then
  printf '  %-32s %8s  ok (%s entries)\n' "vaultline ledger check" clean "$(grep -Eo '"entries": *[0-9]+' "$out/ledger.json" | grep -Eo '[0-9]+$')"
else
  printf '  %-32s %8s  VIOLATION\n' "vaultline ledger check" dirty; cat "$out/ledger.json"; fail=1
fi
[ $fail = 0 ] && echo "VERIFY PASS" || echo "VERIFY FAIL"
exit $fail
