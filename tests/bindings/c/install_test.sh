#!/bin/sh
# Copyright (c) Canopy authors.
#
# Installs a built Canopy into a temporary prefix, checks what landed (the
# headers, the library, bin/canopy on libcanopy alone and its `canopy bench`),
# then builds the consumer programs of consumer/ against that prefix both
# ways a user would, and runs them:
#   1. CMake: find_package(Canopy) + canopy::canopy (a C and C++ project, and
#      a C-only one);
#   2. pkg-config: `pkg-config --cflags --libs canopy` on the compiler line.
# Then the Python package installed into the prefix's site-packages
# (PYTHON_DIR, relative to the prefix) must import with PYTHONPATH alone and
# load the prefix's libcanopy by itself (skipped when PYTHON is "", as in
# sanitizer builds, whose library python3 cannot load).
# Needs no network. Registered with CTest as install_consumer.
#
# Usage: install_test.sh BUILD_DIR CONSUMER_DIR CMAKE CC CXX PKG_CONFIG
#                        [SANITIZE_FLAGS [PYTHON PYTHON_DIR]]

set -eu

if [ $# -lt 6 ]; then
  echo "usage: $0 BUILD_DIR CONSUMER_DIR CMAKE CC CXX PKG_CONFIG [SANITIZE_FLAGS [PYTHON PYTHON_DIR]]" >&2
  exit 2
fi
build=$1
src=$2
cmake=$3
cc=$4
cxx=$5
pkgconfig=$6
san=${7:-}
python=${8:-}
pythondir=${9:-}

tmp=$(mktemp -d /tmp/canopy-install-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

fail() {
  echo "install_test: FAILED: $*" >&2
  exit 1
}

step() {
  echo "install_test: $*"
}

# ---- Install ----------------------------------------------------------------
step "cmake --install $build --prefix $prefix"
if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  fail "cmake --install failed (is the whole tree built? the install needs every target)"
fi

pc=$(find "$prefix" -name canopy.pc | head -n 1)
[ -n "$pc" ] || fail "no canopy.pc installed"
pcdir=$(dirname "$pc")
lib=$(find "$prefix" -name libcanopy.so | head -n 1)
[ -n "$lib" ] || fail "no libcanopy.so installed"
libdir=$(dirname "$lib")
soname=$(objdump -p "$lib" 2>/dev/null | awk '/SONAME/ {print $2}')
[ -n "$soname" ] || fail "libcanopy.so has no SONAME"
[ -f "$libdir/$soname" ] || fail "no $soname (the SONAME link) in $libdir"
for header in c.h db.h query.h types.h status.h options.h version.h changes.h json.h; do
  [ -f "$prefix/include/canopy/$header" ] || fail "header canopy/$header not installed"
done
for file in CanopyConfig.cmake CanopyConfigVersion.cmake CanopyTargets.cmake; do
  [ -f "$libdir/cmake/Canopy/$file" ] || fail "$file not installed in $libdir/cmake/Canopy"
done
# Internal headers stay private.
if find "$prefix/include" -name '*.h' | grep -v "/include/canopy/" | grep -q .; then
  fail "headers outside include/canopy were installed"
fi

# ---- The canopy command line ---------------------------------------------------
# bin/canopy finds libcanopy relative to itself, links neither SQLite nor the
# harness, and `canopy bench` runs the canopy-bench installed beside it.
step "installed bin/canopy"
bin=$prefix/bin
[ -x "$bin/canopy" ] || fail "no bin/canopy installed"
"$bin/canopy" --version >"$tmp/version.txt" 2>&1 ||
  { cat "$tmp/version.txt" >&2; fail "installed bin/canopy does not run"; }
if command -v readelf >/dev/null 2>&1; then
  needed=$(readelf -d "$bin/canopy" | awk '/NEEDED/ {print $5}')
  echo "$needed" | grep -q 'libcanopy\.so' || fail "bin/canopy does not link libcanopy: $needed"
  if echo "$needed" | grep -q 'sqlite'; then fail "bin/canopy links SQLite: $needed"; fi
fi
if [ -x "$bin/canopy-bench" ]; then
  "$bin/canopy" bench --help >"$tmp/bench-help.txt" 2>&1 ||
    { cat "$tmp/bench-help.txt" >&2; fail "installed 'canopy bench --help' failed"; }
  grep -q 'usage: canopy bench' "$tmp/bench-help.txt" ||
    fail "installed 'canopy bench --help' does not call itself canopy bench"
fi

# ---- 1. CMake: find_package(Canopy) --------------------------------------------
configure() {
  # $1: build folder; $2: WITH_CXX
  "$cmake" -S "$src" -B "$1" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DEXPECTED_PREFIX="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DWITH_CXX="$2" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="$san" >"$1.log" 2>&1 ||
    { cat "$1.log" >&2; fail "configuring the consumer ($1) failed"; }
  "$cmake" --build "$1" >>"$1.log" 2>&1 ||
    { cat "$1.log" >&2; fail "building the consumer ($1) failed"; }
}

step "CMake consumer (C and C++)"
configure "$tmp/cmake-build" ON
"$tmp/cmake-build/consumer_c" "$tmp/db-cmake-c" || fail "CMake-built consumer_c failed"
"$tmp/cmake-build/consumer_cxx" "$tmp/db-cmake-cxx" || fail "CMake-built consumer_cxx failed"

step "CMake consumer (a C-only project)"
configure "$tmp/cmake-build-c" OFF
"$tmp/cmake-build-c/consumer_c" "$tmp/db-cmake-c-only" || fail "C-only consumer_c failed"

# ---- 2. pkg-config ------------------------------------------------------------
step "pkg-config consumer"
# Only the installed canopy.pc is visible, so nothing else can answer.
PKG_CONFIG_LIBDIR=$pcdir
PKG_CONFIG_PATH=
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
"$pkgconfig" --exists --print-errors canopy || fail "pkg-config cannot find canopy"
version=$("$pkgconfig" --modversion canopy)
[ -n "$version" ] || fail "canopy.pc has no version"
# canopy.pc finds its prefix from its own place: it must point into $prefix.
includedir=$("$pkgconfig" --variable=includedir canopy)
[ -f "$includedir/canopy/c.h" ] || fail "canopy.pc includedir '$includedir' lacks canopy/c.h"
case $(cd "$includedir" && pwd -P) in
  "$(cd "$prefix" && pwd -P)"/*) ;;
  *) fail "canopy.pc includedir '$includedir' is outside the install prefix" ;;
esac
flags=$("$pkgconfig" --cflags --libs canopy)
# shellcheck disable=SC2086  # flags and sanitizer options are word lists
"$cc" -std=c11 -Wall -Wextra -Werror $san "$src/consumer.c" $flags -o "$tmp/pc_consumer_c" ||
  fail "compiling consumer.c with pkg-config flags ($flags) failed"
# shellcheck disable=SC2086
"$cxx" -std=c++17 -Wall -Wextra -Werror -Wno-missing-field-initializers $san "$src/consumer.cc" \
  $flags -o "$tmp/pc_consumer_cxx" ||
  fail "compiling consumer.cc with pkg-config flags ($flags) failed"
LD_LIBRARY_PATH=$libdir "$tmp/pc_consumer_c" "$tmp/db-pc-c" || fail "pkg-config consumer_c failed"
LD_LIBRARY_PATH=$libdir "$tmp/pc_consumer_cxx" "$tmp/db-pc-cxx" ||
  fail "pkg-config consumer_cxx failed"

# ---- 3. The Python package ---------------------------------------------------
if [ -n "$pythondir" ]; then
  step "Python package in $prefix/$pythondir"
  [ -f "$prefix/$pythondir/canopy/__init__.py" ] || fail "canopy/__init__.py not installed in $pythondir"
  [ -f "$prefix/$pythondir/canopy/_installed.py" ] || fail "canopy/_installed.py not installed"
  if find "$prefix/$pythondir" -name __pycache__ | grep -q .; then
    fail "__pycache__ folders were installed"
  fi
  if [ -n "$python" ]; then
    # No CANOPY_LIBRARY, no LD_LIBRARY_PATH: the package must find the
    # prefix's library through _installed.py.
    out=$(cd "$tmp" && env -u CANOPY_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$prefix/$pythondir" \
          PYTHONDONTWRITEBYTECODE=1 "$python" -c '
import sys, canopy, canopy._lib as l
with canopy.open(sys.argv[1], sync=False) as db:
    db.create_account(canopy.SYSTEM_ACTOR, "acme", "ACME")
    assert [a for a in db.roots()], "no root"
print(l.lib._name)' "$tmp/db-python" 2>&1) || fail "the installed Python package failed: $out"
    case $(cd "$(dirname "$out")" && pwd -P) in
      "$(cd "$prefix" && pwd -P)"/*) ;;
      *) fail "the installed Python package loaded $out, not the prefix's library" ;;
    esac
  fi
fi

step "all consumers built and ran against the installed canopy $version"
