#!/usr/bin/env bash
# A private, throwaway PostgreSQL for the tests, on 127.0.0.1 (reference: shared/reference/
# test-infrastructure.md). PostgreSQL refuses to run as root, so the server runs as `postgres`;
# clients connect over TCP with a password.
#   start        start a cluster; print its URL (superuser-free role `glimpse` with CREATEDB)
#   url          print the URL of the running cluster
#   stop         stop it and remove its files
# State (dir, port, url) lives in $GLIMPSE_PG_STATE (default /tmp/glimpse-pg.state).
set -euo pipefail

STATE=${GLIMPSE_PG_STATE:-/tmp/glimpse-pg.state}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  local port=${1:-55432}
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

start() {
  [ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (run scripts/install-test-deps.sh)" >&2; exit 1; }
  if [ -f "$STATE" ]; then stop; fi
  local base port password url
  base=$(mktemp -d /tmp/gpg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$base"
  port=$(free_port "${GLIMPSE_PG_PORT:-55432}")
  password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  as_postgres "$PGBIN/initdb" -D "$base/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >"$base/initdb.log" 2>&1 \
    || { cat "$base/initdb.log" >&2; exit 1; }
  as_postgres "$PGBIN/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 30 -s start \
    -o "-p $port -k $base -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    || { cat "$base/server.log" >&2; exit 1; }
  as_postgres "$PGBIN/psql" -h "$base" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE glimpse LOGIN CREATEDB PASSWORD '$password'" -c "CREATE DATABASE glimpse OWNER glimpse" >/dev/null
  url="postgresql://glimpse:$password@127.0.0.1:$port/glimpse"
  printf 'BASE=%s\nPORT=%s\nURL=%s\n' "$base" "$port" "$url" >"$STATE"
  echo "$url"
}

stop() {
  [ -f "$STATE" ] || return 0
  local base
  base=$(sed -n 's/^BASE=//p' "$STATE")
  if [ -n "$base" ] && [ -d "$base/data" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$base/data" -m immediate -w -s stop >/dev/null 2>&1 || true
  fi
  rm -rf "$base" "$STATE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) sed -n 's/^URL=//p' "$STATE" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
