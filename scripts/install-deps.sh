#!/usr/bin/env bash
# Installs the Debian packages Canopy needs to build, test and benchmark,
# but only those that are missing. Safe to run again; needs root (or sudo)
# only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  librocksdb-dev libflatbuffers-dev flatbuffers-compiler libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev libsimdjson-dev
  libcurl4-openssl-dev libcli11-dev etcd-server etcd-client libcpp-httplib-dev
  chromium chromium-driver python3-selenium
  python3 python3-venv python3-setuptools python3-wheel
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
