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

# shellcheck source=scripts/lib/loopback-services.sh
source "$(dirname "$0")/lib/loopback-services.sh"

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
  register_service "$keystone" "$(keystone_admin_token "$keystone")" barbican key-manager "$url"
  echo "$url"
}

stop() {
  stop_from_state "$STATE_FILE"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  url) sed -n 's/^URL=//p' "$STATE_FILE" ;;
  *) echo "usage: $0 start KEYSTONE_URL|stop|url" >&2; exit 2 ;;
esac
