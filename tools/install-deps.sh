#!/bin/sh
# Installs the Debian packages xapi-gitdb needs to build, test and run.
# Safe to run more than once; does nothing when everything is there already.
set -eu
PACKAGES="g++ cmake make pkg-config git ca-certificates openssl
  libgit2-dev libboost-dev libssl-dev zlib1g-dev
  libpugixml-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev curl ccache
  libraft-dev libuv1-dev libsystemd-dev systemd prometheus-cpp-dev"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
