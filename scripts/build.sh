#!/usr/bin/env bash
# Configures and builds Canopy (installing missing Debian packages first).
# usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# The default build is Release in ./build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
build="${1:-$root/build}"
shift || true
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja "$@" >/dev/null
else
  cmake -S "$root" -B "$build" "$@" >/dev/null
fi
jobs="${CANOPY_BUILD_JOBS:-$(nproc)}"
ninja -C "$build" -j "$jobs" >&2
