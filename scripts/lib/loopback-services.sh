# Shared by the scripts that run real OpenStack services on loopback for the tests (sourced).

# The first free TCP port on 127.0.0.1 from $1 up.
free_port() {
  local port=${1:?}
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

# Kills the uwsgi process group recorded in the state file's directory and removes both.
stop_from_state() {
  local state_file=${1:?} dir
  [ -f "$state_file" ] || return 0
  dir=$(sed -n 's/^DIR=//p' "$state_file")
  if [ -n "$dir" ] && [ -f "$dir/uwsgi.pid" ]; then
    kill -KILL -- "-$(cat "$dir/uwsgi.pid")" 2>/dev/null || kill -KILL "$(cat "$dir/uwsgi.pid")" 2>/dev/null || true
  fi
  rm -rf "$dir" "$state_file"
}

# A project-scoped token of Keystone's bootstrap admin (password `secret`).
keystone_admin_token() {
  local keystone=${1:?}
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d \
    '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"secret"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' \
    "$keystone/auth/tokens" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}

# Registers a service and its public, internal and admin endpoints in Keystone's catalog, in
# RegionOne; a sixth argument adds the same endpoints for a second region, RegionTwo (two image
# services of one cloud, for glance-download).
register_service() {
  local keystone=${1:?} token=${2:?} name=${3:?} type=${4:?} url=${5:?} second=${6:-} service iface
  service=$(curl -sf -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -X POST \
    -d "{\"service\":{\"name\":\"$name\",\"type\":\"$type\"}}" "$keystone/services" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["service"]["id"])')
  for iface in public internal admin; do
    curl -sf -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -X POST \
      -d "{\"endpoint\":{\"service_id\":\"$service\",\"interface\":\"$iface\",\"region_id\":\"RegionOne\",\"url\":\"$url\"}}" \
      "$keystone/endpoints" >/dev/null
  done
  [ -n "$second" ] || return 0
  curl -sf -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -X POST \
    -d '{"region":{"id":"RegionTwo"}}' "$keystone/regions" >/dev/null || true
  for iface in public internal admin; do
    curl -sf -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -X POST \
      -d "{\"endpoint\":{\"service_id\":\"$service\",\"interface\":\"$iface\",\"region_id\":\"RegionTwo\",\"url\":\"$second\"}}" \
      "$keystone/endpoints" >/dev/null
  done
}
