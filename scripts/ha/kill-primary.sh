#!/usr/bin/env bash
# SIGKILL of the current primary's postmaster (found through Patroni and its pid file).
# Its backends exit when they see the postmaster gone; Patroni (primary_start_timeout: 0)
# then hands the leader lock to the synchronous standby, which promotes.
set -euo pipefail
source "$(dirname "$0")/env.sh"
leader=$(curl -fs "http://127.0.0.1:${REST_PORTS[0]}/cluster" | python3 -c \
  'import json,sys; print(next(m["name"] for m in json.load(sys.stdin)["members"] if m["role"] in ("leader","master","primary")))')
pid=$(head -n1 "$HA_DIR/$leader/data/postmaster.pid")
echo "$(date +%T.%3N) killing the primary $leader (postmaster $pid)" >&2
kill -9 "$pid"
