#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the differential tests and prints the libpq
# connection string (without dbname) to use as RIFFLE_TEST_PG.
# Usage: eval "$(dev/pg.sh)"   → exports RIFFLE_TEST_PG
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGPORT=${RIFFLE_PG_PORT:-54329}
PGDIR=${RIFFLE_PG_DIR:-/tmp/riffle-pg-$PGPORT}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if ! as_pg "$PGBIN/pg_ctl" -D "$PGDIR" status >/dev/null 2>&1; then
  rm -rf "$PGDIR"
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
  as_pg "$PGBIN/initdb" -D "$PGDIR" -A trust -U postgres --locale=C -E UTF8 >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC" -l "$PGDIR/log" -w start >/dev/null
fi
echo "export RIFFLE_TEST_PG='host=127.0.0.1 port=$PGPORT user=postgres'"
