#!/usr/bin/env bash
# A real Barbican (Debian's, Zed) on loopback for the key-manager tests, following
# shared/reference/test-infrastructure.md ("Barbican for tests"): SQLite, simple_crypto with a
# random KEK, keystonemiddleware against the Keystone of scripts/keystone-test-server.sh, one
# uwsgi process and thread.
#   start KEYSTONE_URL   configure, migrate and serve; register the key-manager service and
#                        endpoint in that Keystone's catalog; print the Barbican URL
#   stop                 stop it and remove its state
# State lives in $GLIMPSE_BARBICAN_STATE (default /tmp/glimpse-barbican.state).
set -euo pipefail

STATE_FILE=${GLIMPSE_BARBICAN_STATE:-/tmp/glimpse-barbican.state}
export PATH="/usr/bin:/bin:/usr/sbin:/sbin"
unset PYTHONPATH VIRTUAL_ENV
export no_proxy=127.0.0.1,localhost

free_port() {
  local port=${1:-9311}
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

start() {
  local keystone=${1:?usage: $0 start KEYSTONE_URL}
  command -v barbican-manage >/dev/null || { echo "barbican-api is not installed (run scripts/install-test-deps.sh)" >&2; exit 1; }
  [ -f "$STATE_FILE" ] && stop
  local dir port url
  dir=$(mktemp -d /tmp/gbb.XXXXXX)
  port=$(free_port "${BARBICAN_PORT:-9311}")
  url="http://127.0.0.1:$port"
  mkdir -p "$dir/home/.barbican" "$dir/policy.d"
  printf 'DIR=%s\nURL=%s\n' "$dir" "$url" >"$STATE_FILE"
  # Barbican reads only ~/.barbican/barbican.conf (it ignores --config-file), hence HOME below.
  # enforce_new_defaults lets role member store and read secrets in its own project.
  cat >"$dir/home/.barbican/barbican.conf" <<CONF
[DEFAULT]
sql_connection = sqlite:///$dir/barbican.sqlite
host_href = $url
log_file = $dir/barbican-api.log
[secretstore]
enabled_secretstore_plugins = store_crypto
[crypto]
enabled_crypto_plugins = simple_crypto
[simple_crypto_plugin]
kek = $(head -c 32 /dev/urandom | base64)
[oslo_policy]
policy_dirs = $dir/policy.d
enforce_scope = false
enforce_new_defaults = true
[keystone_authtoken]
www_authenticate_uri = $keystone
auth_url = $keystone
auth_type = password
username = glance
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
CONF
  # The packaged paste file already routes /v1 through keystonemiddleware; a private copy keeps /etc untouched.
  sed 's|^/v1: .*|/v1: barbican-api-keystone|' /usr/share/barbican-common/barbican-api-paste.ini >"$dir/barbican-api-paste.ini"
  HOME="$dir/home" barbican-manage db upgrade >"$dir/manage.log" 2>&1
  # A plain background command, so $! is the uwsgi master, leader of its own process group.
  HOME="$dir/home" setsid uwsgi --plugins python3 --http-socket "127.0.0.1:$port" \
    --paste "config:$dir/barbican-api-paste.ini" \
    --master --processes 1 --threads 1 --lazy-apps --die-on-term --no-orphans \
    --add-header "Connection: close" --buffer-size 65535 --chdir "$dir" \
    >"$dir/uwsgi.log" 2>&1 </dev/null &
  echo $! >"$dir/uwsgi.pid"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/")" = 300 ] && break
    sleep 0.2
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/")" = 300 ] || { tail -20 "$dir/uwsgi.log" >&2; exit 1; }

  # The catalog entry `openstack secret …` and a caller's token catalog find Barbican through.
  local token service
  token=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d \
    '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"secret"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' \
    "$keystone/auth/tokens" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
  api() { curl -sf -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$@"; }
  service=$(api -X POST -d '{"service":{"name":"barbican","type":"key-manager"}}' "$keystone/services" | python3 -c 'import json,sys; print(json.load(sys.stdin)["service"]["id"])')
  for iface in public internal admin; do
    api -X POST -d "{\"endpoint\":{\"service_id\":\"$service\",\"interface\":\"$iface\",\"region_id\":\"RegionOne\",\"url\":\"$url\"}}" "$keystone/endpoints" >/dev/null
  done
  echo "$url"
}

stop() {
  [ -f "$STATE_FILE" ] || return 0
  local dir
  dir=$(sed -n 's/^DIR=//p' "$STATE_FILE")
  if [ -n "$dir" ] && [ -f "$dir/uwsgi.pid" ]; then
    kill -KILL -- "-$(cat "$dir/uwsgi.pid")" 2>/dev/null || kill -KILL "$(cat "$dir/uwsgi.pid")" 2>/dev/null || true
  fi
  rm -rf "$dir" "$STATE_FILE"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  url) sed -n 's/^URL=//p' "$STATE_FILE" ;;
  *) echo "usage: $0 start KEYSTONE_URL|stop|url" >&2; exit 2 ;;
esac
