#!/usr/bin/env bash
# Brings up, on 127.0.0.1 and under $HA_DIR: a single-node etcd, a Patroni cluster of two
# PostgreSQL 15 nodes (synchronous_mode: one synchronous standby), an HAProxy that routes to
# the current primary, three service instances on it and an HAProxy in front of them.
#   scripts/ha/up.sh              (PGBOUNCER=1: the instances go through PgBouncer)
#   scripts/ha/down.sh            stops everything and removes $HA_DIR
# Needs root (to install Debian's packages when missing; PostgreSQL runs as user postgres).
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [ -e "$HA_DIR/up" ]; then echo "already up under $HA_DIR (scripts/ha/down.sh first)"; exit 1; fi
rm -rf "$HA_DIR"   # logs a failed or KEEP=1 run left behind: every start is a fresh cluster
# A failed start stops whatever it had started, keeping the logs in $HA_DIR/log.
trap 'if [ "${started:-0}" != 1 ]; then echo "up failed; logs in $HA_DIR/log"; KEEP=1 "$(dirname "$0")/down.sh"; fi' EXIT

# Debian's packages only. The packages' own services are not started (no systemd here,
# and ours run on other ports with their own files).
need=()
for pkg in patroni etcd-server haproxy pgbouncer postgresql-15; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
if [ ! -x "$BIN" ]; then
  say "building the service"
  (cd "$ROOT" && nice -n 10 cargo build --release --quiet --bin vaultline)
fi

mkdir -p "$HA_DIR"/{etcd,run,log}
chmod 755 "$HA_DIR"
touch "$HA_DIR/up"

# etcd 3.4: Patroni speaks its v3 API (the `etcd3:` section); the v2 API (`etcd:`, which
# Debian's python3-etcd would use) is off by default since etcd 3.4.
say "etcd on $ETCD_PORT"
etcd --name ha --data-dir "$HA_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "ha=http://127.0.0.1:$((ETCD_PORT + 1))" > "$HA_DIR/log/etcd.log" 2>&1 &
echo $! > "$HA_DIR/run/etcd.pid"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$ETCD_PORT/health" | grep -q true && break; sleep 0.2; done

# Patroni, one per node. ttl/loop_wait/retry_timeout are short so a failover takes seconds
# (loop_wait + 2 * retry_timeout <= ttl). primary_start_timeout: 0 makes Patroni fail over
# to the synchronous standby when the primary's postmaster dies, instead of restarting it
# in place (the default waits 300 s for that). synchronous_mode: a commit is acknowledged
# only once the standby has flushed it, and Patroni promotes only that standby, so nothing
# acknowledged is lost. Trust authentication on 127.0.0.1: a local drill, not a deployment.
for i in 0 1; do
  n=pg$((i + 1)); d="$HA_DIR/$n"
  mkdir -p "$d"; chown postgres:postgres "$d"; chmod 700 "$d"
  cat > "$d/patroni.yml" <<YAML
scope: vaultline-ha
name: $n
restapi:
  listen: 127.0.0.1:${REST_PORTS[$i]}
  connect_address: 127.0.0.1:${REST_PORTS[$i]}
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    primary_start_timeout: 0
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 200
        wal_log_hints: "on"
        synchronous_commit: "on"
  initdb: [{encoding: UTF8}, {locale: C.UTF-8}]
postgresql:
  listen: 127.0.0.1:${PG_PORTS[$i]}
  connect_address: 127.0.0.1:${PG_PORTS[$i]}
  data_dir: $d/data
  bin_dir: $PG_BIN
  pgpass: $d/pgpass
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: replicator, password: replicator}
  parameters:
    unix_socket_directories: $d
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
YAML
  chown postgres:postgres "$d/patroni.yml"
  say "patroni $n: PostgreSQL on ${PG_PORTS[$i]}, REST on ${REST_PORTS[$i]}"
  "${AS_PG[@]}" patroni "$d/patroni.yml" > "$HA_DIR/log/patroni-$n.log" 2>&1 &
  echo $! > "$HA_DIR/run/patroni-$n.pid"
  # The first node bootstraps the cluster; the second clones it once it has a leader.
  if [ $i = 0 ]; then
    for _ in $(seq 120); do curl -fs "http://127.0.0.1:${REST_PORTS[0]}/primary" >/dev/null && break; sleep 0.5; done
  fi
done
say "waiting for the synchronous standby"
for _ in $(seq 240); do
  curl -fs "http://127.0.0.1:${REST_PORTS[0]}/cluster" | grep -q '"sync_standby"' && break; sleep 0.5
done
curl -fs "http://127.0.0.1:${REST_PORTS[0]}/cluster" | grep -q '"sync_standby"' \
  || { echo "no synchronous standby; see $HA_DIR/log"; exit 1; }

# HAProxy to the primary: Patroni's REST answers 200 on /primary only on the leader.
# shutdown-sessions closes connections to a node marked down, so nothing lingers on it.
cat > "$HA_DIR/haproxy-db.cfg" <<CFG
global
  maxconn 1000
defaults
  mode tcp
  timeout connect 1s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen pg_primary
  bind 127.0.0.1:$DB_PORT
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
  server pg1 127.0.0.1:${PG_PORTS[0]} check port ${REST_PORTS[0]}
  server pg2 127.0.0.1:${PG_PORTS[1]} check port ${REST_PORTS[1]}
CFG
haproxy -D -p "$HA_DIR/run/haproxy-db.pid" -f "$HA_DIR/haproxy-db.cfg"
# HAProxy counts every server up until its first checks, so the first connections may
# reach the standby: wait until a read-write session comes through (as the service's URL
# with target_session_attrs=read-write would).
primary_url="postgres://postgres@127.0.0.1:$DB_PORT/postgres?target_session_attrs=read-write"
for _ in $(seq 50); do psql "$primary_url" -qAtc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
sleep 1
psql "$primary_url" -qAt -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE vaultline LOGIN" -c "CREATE DATABASE vaultline OWNER vaultline" >/dev/null

# PgBouncer in session mode (docs/SCALING.md says why not transaction mode on 1.18).
if [ "${PGBOUNCER:-0}" = 1 ]; then
  mkdir -p "$HA_DIR/pgbouncer"; chown postgres:postgres "$HA_DIR/pgbouncer"
  cat > "$HA_DIR/pgbouncer/pgbouncer.ini" <<INI
[databases]
vaultline = host=127.0.0.1 port=$DB_PORT dbname=vaultline
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $HA_DIR/pgbouncer/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 40
server_connect_timeout = 2
server_login_retry = 1
logfile = $HA_DIR/pgbouncer/pgbouncer.log
pidfile = $HA_DIR/pgbouncer/pgbouncer.pid
INI
  echo '"vaultline" ""' > "$HA_DIR/pgbouncer/userlist.txt"
  chown postgres:postgres "$HA_DIR/pgbouncer"/*
  say "pgbouncer $(pgbouncer --version | head -n1) on $BOUNCER_PORT (session mode)"
  "${AS_PG[@]}" pgbouncer -d "$HA_DIR/pgbouncer/pgbouncer.ini"
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p "$BOUNCER_PORT" && break; sleep 0.2; done
fi

# The service: migrations once, then three instances that skip them (so they never race).
# One secret for all (a token from one instance is valid on the others); the throttles are
# raised out of the way of one load client on one address, as in scripts/bench.sh.
export VAULTLINE__DATABASE__URL
VAULTLINE__DATABASE__URL=$(db_url)
"$BIN" migrate > "$HA_DIR/log/migrate.log" 2>&1
export VAULTLINE__AUTH__JWT_SECRET=ha-drill-secret-ha-drill-secret-ha-drill-00 \
  VAULTLINE__LOG__LEVEL=${LOG_LEVEL:-warn} \
  VAULTLINE__SERVER__TRUSTED_PROXIES=127.0.0.1 \
  VAULTLINE__CREDIT__BILLING_JOB_ENABLED=false \
  VAULTLINE__AUTH__REGISTRATIONS_PER_ADDRESS_PER_HOUR=1000000 \
  VAULTLINE__AUTH__REGISTRATIONS_PER_MINUTE=1000000 \
  VAULTLINE__AUTH__REGISTRATIONS_PER_NETWORK_PER_HOUR=1000000 \
  VAULTLINE__LIMITS__MONEY_REQUESTS_PER_WINDOW=1000000 \
  VAULTLINE__LIMITS__OUTFLOW_24H_MAX=9000000000.00 \
  VAULTLINE__LIMITS__VAULT_UNLOCKS_PER_DAY=10000
for i in 0 1 2; do
  VAULTLINE__SERVER__DATA_DIR="$HA_DIR/app$((i + 1))" \
    "$BIN" serve --no-migrate --bind "127.0.0.1:${APP_PORTS[$i]}" > "$HA_DIR/log/app$((i + 1)).log" 2>&1 &
  echo $! > "$HA_DIR/run/app$((i + 1)).pid"
done
for p in "${APP_PORTS[@]}"; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.1; done
done

# HAProxy in front: round robin, an instance out after two failed /healthz (liveness, not
# /readyz: during a database failover every instance answers 503 itself, with Retry-After).
# A request is re-sent to another instance only when the connection to the first could not
# be made (retry-on conn-failure, the default), never after it may have reached the service.
cat > "$HA_DIR/haproxy-front.cfg" <<CFG
global
  maxconn 2000
defaults
  mode http
  option forwardfor
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
  retries 2
  option redispatch
frontend api
  bind 127.0.0.1:$FRONT_PORT
  default_backend vaultline
backend vaultline
  balance roundrobin
  option httpchk GET /healthz
  default-server inter 500ms fall 2 rise 2
  server app1 127.0.0.1:${APP_PORTS[0]} check
  server app2 127.0.0.1:${APP_PORTS[1]} check
  server app3 127.0.0.1:${APP_PORTS[2]} check
CFG
haproxy -D -p "$HA_DIR/run/haproxy-front.pid" -f "$HA_DIR/haproxy-front.cfg"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$FRONT_PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$FRONT_PORT/readyz" >/dev/null || { echo "the front does not answer"; exit 1; }
started=1
say "up: http://127.0.0.1:$FRONT_PORT  (database $(db_url))"
