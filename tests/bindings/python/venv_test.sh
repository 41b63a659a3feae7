#!/bin/sh
# Copyright (c) Canopy authors.
#
# `pip install bindings/python` into a fresh virtual environment, offline,
# as a user would, then a tiny program with the built libcanopy: open,
# create, query. Registered with CTest as python_venv_install.
#
# PYTHON is Debian's python3: its venv module comes from python3-venv and,
# with --system-site-packages, the build backend (setuptools, wheel) from
# python3-setuptools and python3-wheel, so pip needs no network
# (--no-index, --no-build-isolation). The package is built from a copy of
# bindings/python (setuptools writes build/ and *.egg-info beside it).
#
# Usage: venv_test.sh PYTHON PACKAGE_DIR LIBCANOPY EXPECTED_VERSION

set -eu

if [ $# -ne 4 ]; then
  echo "usage: $0 PYTHON PACKAGE_DIR LIBCANOPY EXPECTED_VERSION" >&2
  exit 2
fi
python=$1
package=$2
library=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")  # absolute: the test cds
expected=$4

tmp=$(mktemp -d /tmp/canopy-venv-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
  echo "venv_test: FAILED: $*" >&2
  exit 1
}

step() {
  echo "venv_test: $*"
}

step "$python -m venv --system-site-packages $tmp/venv"
"$python" -m venv --system-site-packages "$tmp/venv" >"$tmp/venv.log" 2>&1 ||
  { cat "$tmp/venv.log" >&2; fail "cannot create a venv with $python (is python3-venv installed?)"; }

mkdir "$tmp/src"
cp "$package/pyproject.toml" "$tmp/src/"
mkdir "$tmp/src/canopy"
cp "$package"/canopy/*.py "$tmp/src/canopy/"

step "pip install --no-index --no-build-isolation bindings/python"
# Only the command line counts: no user or site pip configuration.
PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$tmp/venv/bin/python" -m pip install --no-index --no-build-isolation --no-deps \
  "$tmp/src" >"$tmp/pip.log" 2>&1 ||
  { cat "$tmp/pip.log" >&2; fail "pip install failed (are python3-setuptools and python3-wheel installed?)"; }

step "import canopy from the venv and use it"
cd "$tmp"
env -u PYTHONPATH CANOPY_LIBRARY="$library" PYTHONDONTWRITEBYTECODE=1 \
  "$tmp/venv/bin/python" - "$tmp" "$expected" <<'PY' || fail "the installed package does not work"
import importlib.metadata
import os
import sys

import canopy

venv, expected = sys.argv[1], sys.argv[2]
# The package imported is the one pip installed, not a source tree's.
assert os.path.realpath(canopy.__file__).startswith(os.path.realpath(venv) + os.sep), canopy.__file__
assert importlib.metadata.version("canopy") == expected, importlib.metadata.version("canopy")
assert canopy.version() == expected, canopy.version()

system = canopy.SYSTEM_ACTOR
with canopy.open(os.path.join(venv, "db"), sync=False) as db:
    acme = db.create_account(system, "acme", "ACME Corp", sub_account_management=True)
    a = db.create_account(system, "acme-a", "Customer A", acme)
    db.create_entity(system, "device", "dev-1", "Van 1", a, unit_id="U-1")
    user = db.create_user(system, "a@acme.example", "User A", a)
    db.invite(system, user, a, db.find_role(a, "viewer").id)
    keys = [item.key for item in db.visible(user)]
    assert keys == ["dev-1"], keys
    page = db.visible_page(user, limit=10)
    assert page.next_cursor == "", page.next_cursor
print("venv_test: canopy %s from %s sees %s" % (canopy.version(), canopy.__file__, keys))
PY
step "passed"
