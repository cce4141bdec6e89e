#!/usr/bin/env bash
# Stops everything scripts/ha/up.sh started (by the process ids it recorded, and the
# postmasters by their own pid files), checks that none of it still listens, and removes
# $HA_DIR (KEEP=1 keeps it, logs included).
set -uo pipefail
source "$(dirname "$0")/env.sh"
[ -d "$HA_DIR" ] || exit 0

stop() { # $1 = pid file; TERM, then KILL after 10 s
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# Front first, then the service, the database side, and etcd last (Patroni needs it to
# stop cleanly).
stop "$HA_DIR/run/haproxy-front.pid"
for f in "$HA_DIR"/run/app*.pid; do stop "$f"; done
stop "$HA_DIR/pgbouncer/pgbouncer.pid"
stop "$HA_DIR/run/haproxy-db.pid"
for n in pg1 pg2; do stop "$HA_DIR/run/patroni-$n.pid"; done
# A postmaster that outlived its Patroni (e.g. Patroni killed): stop it by its pid file.
for n in pg1 pg2; do
  [ -f "$HA_DIR/$n/data/postmaster.pid" ] && "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$HA_DIR/$n/data" stop -m immediate >/dev/null 2>&1
done
stop "$HA_DIR/run/etcd.pid"

ports="$ETCD_PORT $((ETCD_PORT + 1)) ${PG_PORTS[*]} ${REST_PORTS[*]} $DB_PORT $BOUNCER_PORT ${APP_PORTS[*]} $FRONT_PORT"
left=""
for p in $ports; do ss -ltnH "sport = :$p" | grep -q . && left="$left $p"; done
if [ -n "$left" ]; then echo "still listening on:$left"; exit 1; fi
[ "${KEEP:-0}" = 1 ] && { rm -f "$HA_DIR/up"; say "stopped; files kept in $HA_DIR"; exit 0; }
rm -rf "$HA_DIR"
say "stopped; nothing listens on $ports"
