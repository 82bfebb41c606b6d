#!/usr/bin/env bash
# A real OpenStack Swift (Debian's 2.30) on loopback for the Swift and S3 store tests, following
# shared/reference/swift-for-tests.md: memcached, the account, container and object servers with
# one device and one replica, and a proxy with tempauth and s3api. With KEYSTONE_URL set, a second
# proxy on the same storage servers authenticates with Keystone (authtoken + keystoneauth) and
# takes service tokens for the GLANCE_ reseller prefix. container_quotas lets tests fill a container.
#   start   write configs and rings, start everything, print the tempauth proxy's URL
#   stop    stop every process and remove the state
#   proxy-down / proxy-up   stop / start the proxies only (a backend outage; state is kept)
#   env     print the state (DIR, PORT, KEYSTONE_PORT, ...)
# tempauth users (swift-for-tests.md §3): test:tester/testing (.admin of AUTH_test),
# test2:tester2/testing2, test:tester3/testing3 (no groups), service:glance/secret (.admin
# .service), admin:admin/admin (.reseller_admin). GLANCE_<account> needs a .service token too.
# State lives in $GLIMPSE_SWIFT_STATE (default /tmp/glimpse-swift.state).
set -euo pipefail

STATE_FILE=${GLIMPSE_SWIFT_STATE:-/tmp/glimpse-swift.state}
export PATH="/usr/bin:/bin:/usr/sbin:/sbin"
unset PYTHONPATH VIRTUAL_ENV
export no_proxy=127.0.0.1,localhost

# shellcheck source=scripts/lib/loopback-services.sh
source "$(dirname "$0")/lib/loopback-services.sh"

state() { sed -n "s/^$1=//p" "$STATE_FILE"; }

storage_conf() {
  local name=$1 port=$2 dir=$3
  cat >"$dir/etc/$name-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $(id -un)
swift_dir = $dir/etc
devices = $dir/node
mount_check = false

[pipeline:main]
pipeline = healthcheck $name-server

[app:$name-server]
use = egg:swift#$name

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
}

# The middleware sections both proxies share.
common_filters() {
  local memcached=$1
  cat <<EOF
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$memcached
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
[filter:symlink]
use = egg:swift#symlink
EOF
}

proxy_app() {
  local port=$1 dir=$2
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $(id -un)
swift_dir = $dir/etc

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# One node only: one 507 or connection error must not black-list it for a minute.
error_suppression_interval = 0
EOF
}

write_configs() {
  local dir=$1 memcached=$2 account=$3 container=$4 object=$5 proxy=$6 kproxy=$7 keystone=$8
  mkdir -p "$dir/etc" "$dir/node/d1" "$dir/log"
  storage_conf account "$account" "$dir"
  storage_conf container "$container" "$dir"
  storage_conf object "$object" "$dir"
  {
    proxy_app "$proxy" "$dir"
    cat <<EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl s3api tempauth container-quotas copy slo dlo versioned_writes symlink proxy-logging proxy-server

[filter:s3api]
use = egg:swift#s3api
# Multipart parts of any size (S3's rule is 5 MiB), so tests exercise multipart with small data.
min_segment_size = 1

[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = AUTH_, GLANCE_
GLANCE_require_group = .service
token_life = ${SWIFT_TOKEN_LIFE:-86400}
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3
user_service_glance = secret .admin .service
EOF
    common_filters "$memcached"
  } >"$dir/etc/proxy-server.conf"
  if [ -n "$keystone" ]; then
    {
      proxy_app "$kproxy" "$dir"
      cat <<EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl authtoken keystoneauth container-quotas copy slo dlo versioned_writes symlink proxy-logging proxy-server

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $keystone
auth_url = $keystone
auth_type = password
username = glance
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
delay_auth_decision = true
memcached_servers = 127.0.0.1:$memcached
service_token_roles = service
service_token_roles_required = true

[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = AUTH_, GLANCE_
operator_roles = admin, member
GLANCE_service_roles = service
EOF
      common_filters "$memcached"
    } >"$dir/etc/proxy-server-keystone.conf"
  fi
  # One device, one replica, part power 10; one Python process builds all three rings.
  /usr/bin/python3 - "$dir/etc" "$account" "$container" "$object" <<'EOF'
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for name, port in (("account", int(sys.argv[2])), ("container", int(sys.argv[3])), ("object", int(sys.argv[4]))):
    b = RingBuilder(10, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d1", "weight": 1.0, "meta": ""})
    b.rebalance()
    b.save(f"{d}/{name}.builder")
    b.get_ring().save(f"{d}/{name}.ring.gz")
EOF
}

wait_healthy() {
  local port=$1 log=$2
  for _ in $(seq 1 400); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthcheck" && return 0
    sleep 0.05
  done
  tail -20 "$log" >&2
  echo "swift server on port $port did not become healthy" >&2
  exit 1
}

# Starts one server in the background; run_wsgi calls setsid, so it is stopped by pid.
start_server() {
  local dir=$1 name=$2 conf=$3
  "/usr/bin/swift-${name%%-*}-server" "$dir/etc/$conf" -v >"$dir/log/$name.log" 2>&1 </dev/null &
  echo "$!" >"$dir/$name.pid"
}

start_proxies() {
  local dir port kport
  dir=$(state DIR)
  port=$(state PORT)
  kport=$(state KEYSTONE_PROXY_PORT)
  start_server "$dir" proxy proxy-server.conf
  [ -z "$kport" ] || start_server "$dir" proxy-keystone proxy-server-keystone.conf
  wait_healthy "$port" "$dir/log/proxy.log"
  [ -z "$kport" ] || wait_healthy "$kport" "$dir/log/proxy-keystone.log"
}

alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}

stop_pids() {
  local dir=$1 pid f
  shift
  for name in "$@"; do
    f="$dir/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    rm -f "$f"
  done
}

start() {
  [ -x /usr/bin/swift-proxy-server ] || { echo "swift is not installed (run scripts/install-test-deps.sh)" >&2; exit 1; }
  [ ! -f "$STATE_FILE" ] || { echo "a test Swift is already recorded in $STATE_FILE" >&2; exit 1; }
  local dir memcached account container object proxy kproxy=""
  dir=$(mktemp -d /tmp/glimpse-swift-XXXXXX)
  memcached=$(free_port "${SWIFT_PORT_BASE:-21211}")
  account=$(free_port $((memcached + 1)))
  container=$(free_port $((account + 1)))
  object=$(free_port $((container + 1)))
  proxy=$(free_port $((object + 1)))
  [ -z "${KEYSTONE_URL:-}" ] || kproxy=$(free_port $((proxy + 1)))
  printf 'DIR=%s\nPORT=%s\nKEYSTONE_PROXY_PORT=%s\nMEMCACHED_PORT=%s\n' "$dir" "$proxy" "$kproxy" "$memcached" >"$STATE_FILE"
  write_configs "$dir" "$memcached" "$account" "$container" "$object" "$proxy" "$kproxy" "${KEYSTONE_URL:-}"
  local as_user=()
  [ "$(id -u)" != 0 ] || as_user=(-u memcache)
  memcached "${as_user[@]}" -l 127.0.0.1 -p "$memcached" -U 0 >"$dir/log/memcached.log" 2>&1 </dev/null &
  echo "$!" >"$dir/memcached.pid"
  start_server "$dir" account account-server.conf
  start_server "$dir" container container-server.conf
  start_server "$dir" object object-server.conf
  wait_healthy "$account" "$dir/log/account.log"
  wait_healthy "$container" "$dir/log/container.log"
  wait_healthy "$object" "$dir/log/object.log"
  start_proxies
  # Ready when tempauth answers (it needs memcached).
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "http://127.0.0.1:$proxy/auth/v1.0")" = 200 ] && break
    sleep 0.05
  done
  echo "http://127.0.0.1:$proxy"
}

stop() {
  [ -f "$STATE_FILE" ] || return 0
  local dir
  dir=$(state DIR)
  stop_pids "$dir" proxy proxy-keystone object container account memcached
  rm -rf "$dir" "$STATE_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  proxy-down) stop_pids "$(state DIR)" proxy proxy-keystone ;;
  proxy-up) start_proxies ;;
  env) cat "$STATE_FILE" ;;
  *)
    echo "usage: $0 start|stop|proxy-down|proxy-up|env" >&2
    exit 2
    ;;
esac
