#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real: PostgreSQL (second database), the
# `openstack` and `glance` CLIs (compatibility suite) and Keystone served by uwsgi (keystone
# flavor), Barbican, and Swift with memcached (object store tests, scripts/swift-test-server.sh). Skips apt entirely when everything is already installed, so repeated runs are fast.
set -euo pipefail

packages=(
  postgresql
  python3-openstackclient
  python3-glanceclient
  keystone
  python3-keystone
  uwsgi-core
  uwsgi-plugin-python3
  curl
  qemu-utils
  barbican-api
  python3-barbicanclient
  openssl
  swift
  swift-proxy
  swift-account
  swift-container
  swift-object
  python3-swiftclient
  python3-keystonemiddleware
  memcached
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Installing must not start the packaged services (Keystone would take port 5000): a
# policy-rc.d that refuses every start, kept only for the install when we had to add it.
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  added_policy=yes
fi
trap '[ -n "$added_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT

echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
