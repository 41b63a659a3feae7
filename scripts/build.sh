#!/usr/bin/env bash
# Configures and builds Canopy (installing missing Debian packages first).
# usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# The default build is Release in ./build. CANOPY_BUILD_TARGETS (space
# separated) limits the build to those targets; by default everything.
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
# shellcheck disable=SC2086  # the targets are a word list on purpose
ninja -C "$build" -j "$jobs" ${CANOPY_BUILD_TARGETS:-} >&2
