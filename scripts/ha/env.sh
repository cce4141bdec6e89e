# Shared settings of scripts/ha/*.sh (sourced, not run). Every port is on 127.0.0.1 and
# clear of the machine's own services (PostgreSQL 5432, MariaDB 3306, Redis 6379, RabbitMQ
# 5672 and 25672, NATS 4222, Mosquitto 1883); every file lives under $HA_DIR.
HA_DIR=${HA_DIR:-${TMPDIR:-/tmp}/vaultline-ha}
case "$HA_DIR" in /*/*) ;; *) echo "HA_DIR must be an absolute path below a folder: $HA_DIR"; exit 2 ;; esac
ETCD_PORT=32379            # etcd clients (Patroni); peers on 32380
PG_PORTS=(35432 35433)     # PostgreSQL of Patroni nodes pg1, pg2
REST_PORTS=(38008 38009)   # their Patroni REST APIs (HAProxy's health check)
DB_PORT=35000              # HAProxy: always the current primary
BOUNCER_PORT=36432         # PgBouncer (in front of $DB_PORT) when PGBOUNCER=1
APP_PORTS=(38081 38082 38083)  # the three service instances
FRONT_PORT=38080           # HAProxy in front of the instances: what clients call
PG_BIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/vaultline}
# The service's database URL: through HAProxy (or PgBouncer), and libpq refuses a server
# that is not writable (a node Patroni just demoted) instead of using it.
db_url() {
  local port=$DB_PORT
  [ "${PGBOUNCER:-0}" = 1 ] && port=$BOUNCER_PORT
  echo "postgres://vaultline@127.0.0.1:$port/vaultline?target_session_attrs=read-write&connect_timeout=2"
}
say() { printf '== %s\n' "$*" >&2; }
# Prefix that runs a command as the postgres user (PostgreSQL and PgBouncer refuse root).
# setpriv and env exec the command, so `"${AS_PG[@]}" cmd &` records cmd's own pid in $!.
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/var/lib/postgresql); fi
