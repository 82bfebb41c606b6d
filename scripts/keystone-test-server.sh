#!/usr/bin/env bash
# A real Keystone (Debian's, Zed) on loopback for the keystone-flavor tests, following
# shared/reference/test-infrastructure.md: SQLite in WAL mode, fernet tokens, in-process cache,
# cheap password hashing, served by uwsgi with one process and one thread.
#   start   bootstrap and serve; provision service user glance (admin and service roles on project
#           service), projects demo and alt_demo with same-named users (member+reader), user
#           domain_member (member+reader on domain Default only), user system_reader (reader on
#           the system; the bootstrap admin is system admin too), all with password `secret`, and
#           an image endpoint at $GLIMPSE_IMAGE_URL; print the Keystone v3 URL
#   down    stop serving, keeping the state (tokens stay valid across `up`)
#   up      serve again on the same port with the same state
#   freeze  SIGSTOP the server: connections are accepted by the kernel and never answered
#   thaw    SIGCONT it
#   stop    stop it and remove its state
#   url     print the v3 URL
# Environment: KEYSTONE_PORT (first port tried), KEYSTONE_PATH_PREFIX (serve under a path such
# as /identity, as devstack does), KEYSTONE_TOKEN_EXPIRATION (seconds, default 7200).
# The catalog's identity endpoints are unversioned (http://host:port[/prefix]), as deployment
# tools register them. State lives in $GLIMPSE_KEYSTONE_STATE (default /tmp/glimpse-keystone.state).
set -euo pipefail

STATE_FILE=${GLIMPSE_KEYSTONE_STATE:-/tmp/glimpse-keystone.state}
export PATH="/usr/bin:/bin:/usr/sbin:/sbin"
unset PYTHONPATH VIRTUAL_ENV
export no_proxy=127.0.0.1,localhost

# shellcheck source=scripts/lib/loopback-services.sh
source "$(dirname "$0")/lib/loopback-services.sh"

# Serves Keystone from the state's directory on its port (and path prefix).
serve() {
  local dir port prefix url app
  dir=$(sed -n 's/^DIR=//p' "$STATE_FILE")
  port=$(sed -n 's/^PORT=//p' "$STATE_FILE")
  prefix=$(sed -n 's/^PREFIX=//p' "$STATE_FILE")
  url=$(sed -n 's/^URL=//p' "$STATE_FILE")
  if [ -n "$prefix" ]; then
    # uwsgi loads a mounted app as a file only when its name ends in .py or .wsgi.
    ln -sf /usr/bin/keystone-wsgi-public "$dir/keystone-public.wsgi"
    app=(--mount "$prefix=$dir/keystone-public.wsgi" --manage-script-name)
  else
    app=(--wsgi-file /usr/bin/keystone-wsgi-public)
  fi
  # A plain background command: setsid then execs uwsgi in place, so $! is the uwsgi master and
  # the leader of its own process group, which `stop` kills as a whole. (Wrapping it in a
  # subshell made $! the subshell and leaked uwsgi.)
  OS_KEYSTONE_CONFIG_FILES="$dir/keystone.conf" setsid uwsgi --plugins python3 \
    --http-socket "127.0.0.1:$port" "${app[@]}" \
    --master --processes 1 --threads 1 --enable-threads --lazy-apps --die-on-term --no-orphans \
    --add-header "Connection: close" --buffer-size 65535 --chdir "$dir" \
    --env "OS_KEYSTONE_CONFIG_FILES=$dir/keystone.conf" >>"$dir/log/uwsgi.log" 2>&1 </dev/null &
  echo $! >"$dir/uwsgi.pid"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] && break
    sleep 0.2
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] || { tail -20 "$dir/log/uwsgi.log" >&2; exit 1; }
}

# Signals the uwsgi process group.
signal_server() {
  local dir
  dir=$(sed -n 's/^DIR=//p' "$STATE_FILE")
  kill "-$1" -- "-$(cat "$dir/uwsgi.pid")" 2>/dev/null || true
}

down() {
  local dir pid
  dir=$(sed -n 's/^DIR=//p' "$STATE_FILE")
  pid=$(cat "$dir/uwsgi.pid")
  kill -KILL -- "-$pid" 2>/dev/null || true
  # Wait until the port is free again, so `up` can take it.
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$(sed -n 's/^URL=//p' "$STATE_FILE")")" = 000 ] && return 0
    sleep 0.05
  done
}

start() {
  command -v keystone-manage >/dev/null || { echo "keystone is not installed (run scripts/install-test-deps.sh)" >&2; exit 1; }
  [ -f "$STATE_FILE" ] && stop
  local dir port root url prefix=${KEYSTONE_PATH_PREFIX:-}
  dir=$(mktemp -d /tmp/gks.XXXXXX)
  port=$(free_port "${KEYSTONE_PORT:-5000}")
  root="http://127.0.0.1:$port$prefix"
  url="$root/v3"
  mkdir -p "$dir/log" "$dir/fernet-keys" "$dir/credential-keys" "$dir/policy.d"
  chmod 700 "$dir/fernet-keys" "$dir/credential-keys"
  cat >"$dir/keystone.conf" <<CONF
[DEFAULT]
log_file = $dir/log/keystone.log
use_stderr = false
[database]
connection = sqlite:///$dir/keystone.db
[token]
provider = fernet
expiration = ${KEYSTONE_TOKEN_EXPIRATION:-7200}
[fernet_tokens]
key_repository = $dir/fernet-keys/
[fernet_receipts]
key_repository = $dir/fernet-keys/
[credential]
key_repository = $dir/credential-keys/
[cache]
enabled = true
backend = dogpile.cache.memory
[identity]
password_hash_rounds = 4
[catalog]
driver = sql
[oslo_policy]
policy_dirs = $dir/policy.d
enforce_scope = false
enforce_new_defaults = false
CONF
  printf 'DIR=%s\nURL=%s\nPORT=%s\nPREFIX=%s\n' "$dir" "$url" "$port" "$prefix" >"$STATE_FILE"
  local km=(keystone-manage --config-file "$dir/keystone.conf")
  "${km[@]}" db_sync >"$dir/log/manage.log" 2>&1
  python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')" "$dir/keystone.db"
  "${km[@]}" fernet_setup --keystone-user root --keystone-group root >>"$dir/log/manage.log" 2>&1
  "${km[@]}" credential_setup --keystone-user root --keystone-group root >>"$dir/log/manage.log" 2>&1
  "${km[@]}" bootstrap --bootstrap-username admin --bootstrap-password secret --bootstrap-project-name admin \
    --bootstrap-role-name admin --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$root" --bootstrap-internal-url "$root" --bootstrap-public-url "$root" >>"$dir/log/manage.log" 2>&1
  serve

  # Provision through the REST API with an admin token: one HTTP call each, no CLI start-up cost.
  local token
  token=$(keystone_admin_token "$url")
  api() { curl -sf -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$@"; }
  id_of() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]]["id"])' "$1"; }
  role_id() { api "$url/roles?name=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["roles"][0]["id"])'; }
  local member reader admin_role service_role
  member=$(api "$url/roles?name=member" | python3 -c 'import json,sys; r=json.load(sys.stdin)["roles"]; print(r[0]["id"] if r else "")')
  [ -n "$member" ] || member=$(api -X POST -d '{"role":{"name":"member"}}' "$url/roles" | id_of role)
  reader=$(api "$url/roles?name=reader" | python3 -c 'import json,sys; r=json.load(sys.stdin)["roles"]; print(r[0]["id"] if r else "")')
  [ -n "$reader" ] || reader=$(api -X POST -d '{"role":{"name":"reader"}}' "$url/roles" | id_of role)
  admin_role=$(role_id admin)
  service_role=$(api "$url/roles?name=service" | python3 -c 'import json,sys; r=json.load(sys.stdin)["roles"]; print(r[0]["id"] if r else "")')
  [ -n "$service_role" ] || service_role=$(api -X POST -d '{"role":{"name":"service"}}' "$url/roles" | id_of role)
  for name in service demo alt_demo; do
    local project user
    project=$(api -X POST -d "{\"project\":{\"name\":\"$name\",\"domain_id\":\"default\"}}" "$url/projects" | id_of project)
    local username=$name
    [ "$name" = service ] && username=glance
    user=$(api -X POST -d "{\"user\":{\"name\":\"$username\",\"password\":\"secret\",\"domain_id\":\"default\",\"default_project_id\":\"$project\"}}" "$url/users" | id_of user)
    if [ "$name" = service ]; then
      api -X PUT "$url/projects/$project/users/$user/roles/$admin_role" >/dev/null
      api -X PUT "$url/projects/$project/users/$user/roles/$service_role" >/dev/null
    else
      api -X PUT "$url/projects/$project/users/$user/roles/$member" >/dev/null
      api -X PUT "$url/projects/$project/users/$user/roles/$reader" >/dev/null
    fi
  done
  local domain_member system_reader
  domain_member=$(api -X POST -d '{"user":{"name":"domain_member","password":"secret","domain_id":"default"}}' "$url/users" | id_of user)
  api -X PUT "$url/domains/default/users/$domain_member/roles/$member" >/dev/null
  api -X PUT "$url/domains/default/users/$domain_member/roles/$reader" >/dev/null
  system_reader=$(api -X POST -d '{"user":{"name":"system_reader","password":"secret","domain_id":"default"}}' "$url/users" | id_of user)
  api -X PUT "$url/system/users/$system_reader/roles/$reader" >/dev/null
  register_service "$url" "$token" glance image "${GLIMPSE_IMAGE_URL:-http://127.0.0.1:9292}" "${GLIMPSE_IMAGE_URL_REGION_TWO:-}"
  echo "$url"
}

stop() {
  stop_from_state "$STATE_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  down) down ;;
  up) serve ;;
  freeze) signal_server STOP ;;
  thaw) signal_server CONT ;;
  url) sed -n 's/^URL=//p' "$STATE_FILE" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
