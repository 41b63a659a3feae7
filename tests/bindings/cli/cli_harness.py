# Copyright (c) Canopy authors.
"""Shared harness of the `canopy` command-line tests.

Every test runs the real binary (CANOPY_CLI, set by CTest to
$<TARGET_FILE:canopy_cli>) against a fresh database folder in its own
temporary directory. SEED is a small tenant tree in the interchange format;
`seed()` imports it so that tests of one command do not depend on the
others' output formats.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

CANOPY = os.environ.get("CANOPY_CLI", "canopy")

# acme (root; sub-account management on)
#   acme-a (management on, access default_on)
#     acme-a1
#   acme-b
# Users: admin@acme.example account_admin on acme (branch),
#        a@acme.example account_admin on acme-a (branch),
#        b@acme.example viewer on acme-b,
#        aud@acme.example auditor (custom) on acme-b, no branch.
SEED = [
    {"type": "account", "key": "acme", "name": "ACME Corp",
     "attributes": {"home_dashboard": "fleet"},
     "settings": {"sub_account_management": True, "sub_account_access": "default_off"}},
    {"type": "account", "key": "acme-a", "name": "Nested customer A", "parent": "acme",
     "settings": {"sub_account_management": True, "sub_account_access": "default_on"}},
    {"type": "account", "key": "acme-a1", "name": "Sub-account A1", "parent": "acme-a"},
    {"type": "account", "key": "acme-b", "name": "Nested customer B", "parent": "acme"},
    {"type": "role", "tenant": "acme", "name": "auditor",
     "permissions": ["device.read", "account.read"]},
    {"type": "user", "login": "admin@acme.example", "name": "Admin", "account": "acme"},
    {"type": "user", "login": "a@acme.example", "name": "User A", "account": "acme-a"},
    {"type": "user", "login": "b@acme.example", "name": "User B", "account": "acme-b"},
    {"type": "user", "login": "aud@acme.example", "name": "Auditor", "account": "acme"},
    {"type": "membership", "login": "admin@acme.example", "account": "acme",
     "role": "account_admin", "branch": True},
    {"type": "membership", "login": "a@acme.example", "account": "acme-a",
     "role": "account_admin", "branch": True},
    {"type": "membership", "login": "b@acme.example", "account": "acme-b", "role": "viewer",
     "branch": False},
    {"type": "membership", "login": "aud@acme.example", "account": "acme-b", "role": "auditor",
     "branch": False},
    {"type": "device", "key": "dev-c1", "unit_id": "U-0001", "name": "Van 1",
     "device_type": "tracker", "account": "acme"},
    {"type": "device", "key": "dev-a1", "unit_id": "U-0101", "name": "Truck A1",
     "device_type": "tracker", "account": "acme-a", "attributes": {"vin": "V1"}},
    {"type": "device", "key": "dev-a2", "unit_id": "U-0102", "name": "Camera A2",
     "device_type": "camera", "account": "acme-a"},
    {"type": "device", "key": "dev-a11", "unit_id": "U-1101", "name": "Truck A11",
     "device_type": "tracker", "account": "acme-a1"},
    {"type": "device", "key": "dev-b1", "unit_id": "U-0201", "name": "Bus B1",
     "device_type": "tracker", "account": "acme-b"},
    {"type": "entity", "kind": "asset", "key": "site-7", "name": "Depot", "account": "acme-a"},
]

# flat@acme.example: account_admin of acme-a without branch access (it does
# not reach acme-a1). Pass to seed() as extra records.
FLAT_ADMIN = [
    {"type": "user", "login": "flat@acme.example", "name": "Flat", "account": "acme-a"},
    {"type": "membership", "login": "flat@acme.example", "account": "acme-a",
     "role": "account_admin", "branch": False},
]


def binding_env():
    """The environment for a child Python that uses the Python binding over
    the libcanopy built next to the binary under test (with the sanitizer
    runtime preloaded when that library was built with one), or None when
    the library is not there."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(CANOPY)))
    library = os.path.join(build, "c", "libcanopy.so")
    package = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                           "bindings", "python")
    if not os.path.exists(library) or not os.path.isdir(os.path.join(package, "canopy")):
        return None
    env = dict(os.environ, CANOPY_LIBRARY=library, PYTHONPATH=os.path.abspath(package))
    linked = subprocess.run(["ldd", library], capture_output=True, text=True).stdout
    runtimes = [line.split("=>")[1].split()[0] for line in linked.splitlines()
                if "=>" in line and ("libasan" in line or "libubsan" in line)]
    if runtimes:
        env["LD_PRELOAD"] = ":".join(runtimes)
        env["ASAN_OPTIONS"] = "detect_leaks=0"  # CPython keeps memory at exit
    return env


def jsonl(records):
    return "".join(json.dumps(r) + "\n" for r in records)


class CliTestCase(unittest.TestCase):
    """A fresh temporary folder per test; `self.db` is the database in it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="canopy-cli-test-")
        self.db = os.path.join(self.dir, "db")
        # A cleanup, not tearDown: cleanups run last-in first-out after
        # tearDown, so what a test registers later (unmounting a file
        # system inside the folder) runs before the folder is removed.
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def read(self, name):
        with open(self.path(name), encoding="utf-8") as f:
            return f.read()

    def run_cli(self, *args, db=True, cwd=None, stderr=subprocess.PIPE):
        """Runs canopy [--db self.db] ARGS; returns the CompletedProcess."""
        argv = [CANOPY] + (["--db", self.db] if db else []) + [str(a) for a in args]
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                              cwd=cwd or self.dir, timeout=120)

    def expect(self, code, *args, **kw):
        """Runs and asserts the exit status; returns the CompletedProcess."""
        p = self.run_cli(*args, **kw)
        self.assertEqual(
            p.returncode, code,
            f"canopy {' '.join(map(str, args))}\nexit {p.returncode}\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def ok(self, *args, **kw):
        """Runs, asserts success and an empty stderr; returns stdout."""
        p = self.expect(0, *args, **kw)
        self.assertEqual(p.stderr or "", "", f"unexpected stderr of canopy {args}")
        return p.stdout

    def wait_until_caught(self, p, sig, timeout=30):
        """Waits until process `p` has its handler for `sig` (the SigCgt
        mask in /proc): a signal sent before then, while the binary is still
        starting (slow under a sanitizer), would kill it instead. False when
        the process ended first."""
        bit, deadline = 1 << (sig - 1), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.poll() is not None:
                return False
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    caught = [l for l in f if l.startswith("SigCgt:")]
            except FileNotFoundError:
                return False
            if caught and int(caught[0].split()[1], 16) & bit:
                return True
            time.sleep(0.02)
        self.fail("canopy did not catch signal %d within %d s" % (sig, timeout))

    def refused(self, *args, code=1, **kw):
        """Runs, asserts failure with `code` and a 'canopy' message; returns stderr."""
        p = self.expect(code, *args, **kw)
        self.assertIn("canopy", p.stderr)
        return p.stderr

    def usage_error(self, *args, **kw):
        return self.refused(*args, code=2, **kw)

    def json_lines(self, *args, **kw):
        """Runs with --json; returns each stdout line parsed as JSON (an
        object that names a key twice fails the test: parsers differ in
        which copy they keep)."""
        out = self.ok("--json", *args, **kw)
        return [json.loads(line, object_pairs_hook=self._unique_keys)
                for line in out.splitlines() if line.strip()]

    def _unique_keys(self, pairs):
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        self.assertEqual(twice, [], "a JSON object names these keys twice: %r" % pairs)
        return dict(pairs)

    def json_one(self, *args, **kw):
        lines = self.json_lines(*args, **kw)
        self.assertEqual(len(lines), 1, lines)
        return lines[0]

    def seed(self, extra=()):
        """Imports SEED (plus `extra` records) into self.db."""
        f = self.write("seed.jsonl", jsonl(list(SEED) + list(extra)))
        self.ok("import", f)

    def export_text(self, name="export.jsonl"):
        self.ok("export", self.path(name))
        return self.read(name)

    def visible_keys(self, login, *flags):
        return [r["key"] for r in self.json_lines("visible", "--user", login, *flags)]
