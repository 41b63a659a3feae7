# Copyright (c) Canopy authors.
"""Running out of room: a full disk or a read-only folder. Writes are
refused naming the reason (never a crash: RocksDB's own LOG writer aborts
the process at a failed write, so Canopy writes that file itself), reads go
on read-only with a note, and a copy cut short leaves nothing behind.

Needs a small file system of its own: a tmpfs mounted for the test (root).
Skipped where mounting is not allowed."""

import os
import subprocess
import unittest

from cli_harness import CliTestCase, jsonl


class FullDiskTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.mnt = self.path("mnt")
        os.mkdir(self.mnt)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", self.mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + p.stdout.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])

    def fill(self):
        """Fills the tmpfs; returns the filler's path."""
        filler = os.path.join(self.mnt, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        return filler

    def cli(self, db, *args):
        return subprocess.run([os.environ["CANOPY_CLI"], "--db", db] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=120)

    def test_writes_are_refused_naming_the_reason_and_reads_go_on(self):
        db = os.path.join(self.mnt, "db")
        self.assertEqual(self.cli(db, "demo").returncode, 0)
        before = self.path("before.jsonl")
        self.assertEqual(self.cli(db, "export", before).returncode, 0)
        filler = self.fill()
        p = self.cli(db, "account", "create", "zz", "--name", "Z")
        self.assertEqual(p.returncode, 1, p.stderr)  # not 134, an abort
        self.assertIn("No space left on device", p.stderr)
        self.assertNotIn("Assertion", p.stderr)
        p = self.cli(db, "stats", "canopy.devices")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("canopy.devices  7", p.stdout)
        self.assertIn("the database folder cannot be written (No space left on device); "
                      "opened read-only", p.stderr)
        # An export onto the full disk names the reason and leaves nothing.
        p = self.cli(db, "--read-only", "export", os.path.join(self.mnt, "out.jsonl"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("No space left on device", p.stderr)
        self.assertEqual(sorted(os.listdir(self.mnt)), ["db", "filler"])
        os.remove(filler)
        p = self.cli(db, "check-db")
        self.assertEqual(p.returncode, 0, p.stderr)
        after = self.path("after.jsonl")
        self.assertEqual(self.cli(db, "export", after).returncode, 0)
        with open(before) as b, open(after) as a:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(self.cli(db, "account", "create", "zz", "--name", "Z").returncode, 0)

    def test_a_read_only_folder_is_read_with_a_note(self):
        db = os.path.join(self.mnt, "db")
        self.assertEqual(self.cli(db, "demo").returncode, 0)
        subprocess.run(["mount", "-o", "remount,ro", self.mnt], check=True)
        p = self.cli(db, "tree")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("customer-a", p.stdout)
        self.assertIn("cannot be written (Read-only file system); opened read-only", p.stderr)
        p = self.cli(db, "account", "create", "zz", "--name", "Z")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("open read-only (Options::read_only) (opened so because the database "
                      "folder cannot be written (Read-only file system))", p.stderr)

    def test_a_checkpoint_cut_short_leaves_nothing_under_its_name(self):
        # A database beside a writer is copied key by key (read-only):
        # onto a full disk that copy fails, and nothing stands at DIR.
        records = [{"type": "account", "key": "t", "name": "T"}]
        records += [{"type": "device", "key": "d%d" % i, "name": "device %d" % i,
                     "account": "t", "attributes": {"pad": "x" * 40}} for i in range(30000)]
        self.ok("import", self.write("big.jsonl", jsonl(records)))
        cp = os.path.join(self.mnt, "cp")
        p = self.cli(self.db, "--read-only", "checkpoint", cp)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("No space left on device", p.stderr)
        self.assertEqual(os.listdir(self.mnt), [])
        subprocess.run(["mount", "-o", "remount,size=64m", self.mnt], check=True)
        p = self.cli(self.db, "--read-only", "checkpoint", cp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.cli(cp, "stats", "canopy.devices").stdout.split()[-1], "30000")


if __name__ == "__main__":
    unittest.main()
