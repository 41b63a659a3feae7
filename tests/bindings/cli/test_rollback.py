# Copyright (c) Canopy authors.
"""A database folder whose files went back to an older state: older files
copied over newer ones, a writer that committed and was killed before its
close and then older files copied back, or another database's files copied
over. Every open is refused before RocksDB opens the files (a writable open
would delete the newer ones it takes for obsolete), the folder is left byte
for byte as it was, and pointing CURRENT back at the newer MANIFEST brings
the newer state back."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys

from cli_harness import CliTestCase, binding_env

# A writer that commits one account, says so, and waits to be killed (a
# process that dies before its close).
_COMMIT_AND_WAIT = """
import sys, time
import canopy
db = canopy.open(sys.argv[1])
db.create_account(canopy.SYSTEM_ACTOR, "committed", "Committed")
print("committed", flush=True)
time.sleep(600)
"""


class RollbackTest(CliTestCase):
    # The older copies keep RocksDB's files only: a copy of the whole
    # folder, Canopy's own files (CANOPY-*) included, is a restore of that
    # folder by hand, and opens as one.
    rocksdb_files_only = staticmethod(shutil.ignore_patterns("CANOPY-*", "LOG*", "LOCK"))

    def folder_sums(self):
        """Every file of the database folder but LOG and LOCK, with a hash of
        its bytes."""
        sums = {}
        for name in sorted(os.listdir(self.db)):
            if name.startswith("LOG") or name == "LOCK":
                continue
            with open(os.path.join(self.db, name), "rb") as f:
                sums[name] = hashlib.sha256(f.read()).hexdigest()
        return sums

    def copy_over(self, older):
        """Copies every file of `older` over the database folder, leaving the
        folder's other (newer) files where they are."""
        for name in os.listdir(older):
            shutil.copy2(os.path.join(older, name), os.path.join(self.db, name))

    def expect_refused_untouched(self):
        before = self.folder_sums()
        for flags in ([], ["--read-only"], ["--follower"]):
            p = self.expect(1, *flags, "stats", "canopy.revision")
            self.assertIn("went back to an older state", p.stderr)
            self.assertIn("Nothing was opened or changed", p.stderr)
        p = self.expect(1, "account", "create", "zz", "--name", "Z")
        self.assertIn("Nothing was opened or changed", p.stderr)
        self.assertEqual(self.folder_sums(), before, "the refused opens changed the folder")
        return p.stderr

    def newest_manifest(self):
        return max((n for n in os.listdir(self.db) if n.startswith("MANIFEST-")),
                   key=lambda n: int(n.split("-")[1]))

    def test_older_files_copied_over_newer_ones_are_refused_and_can_be_undone(self):
        self.ok("demo", stderr=subprocess.DEVNULL)
        older = self.path("older")
        shutil.copytree(self.db, older, ignore=self.rocksdb_files_only)
        for i in range(3):
            self.ok("account", "create", f"late{i}", "--name", f"Late {i}")
        revision = self.ok("--json", "stats", "canopy.revision")
        self.copy_over(older)
        stderr = self.expect_refused_untouched()
        newest = self.newest_manifest()
        self.assertIn(f"{newest} is still in the folder", stderr)
        with open(os.path.join(self.db, "CURRENT"), "w") as f:
            f.write(newest + "\n")
        self.assertEqual(self.ok("--json", "stats", "canopy.revision"), revision)
        self.ok("account", "show", "late2")
        self.assertIn("ok", self.ok("check-db"))

    def test_a_commit_of_a_killed_writer_is_not_lost_to_older_files(self):
        env = binding_env()
        if env is None:
            self.skipTest("the Python binding or its library is not there")
        self.ok("demo", stderr=subprocess.DEVNULL)
        older = self.path("older")
        shutil.copytree(self.db, older, ignore=self.rocksdb_files_only)
        writer = subprocess.Popen([sys.executable, "-c", _COMMIT_AND_WAIT, self.db], env=env,
                                  stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(writer.stdout.readline().strip(), "committed")
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=60)
            writer.stdout.close()
        self.ok("--read-only", "account", "show", "committed")
        self.copy_over(older)
        self.expect_refused_untouched()
        with open(os.path.join(self.db, "CURRENT"), "w") as f:
            f.write(self.newest_manifest() + "\n")
        self.ok("account", "show", "committed")
        self.assertIn("ok", self.ok("check-db"))

    def test_another_databases_files_over_this_one_are_refused(self):
        self.ok("demo", stderr=subprocess.DEVNULL)
        for i in range(3):  # this database's MANIFEST numbers well past the other's
            self.ok("account", "create", f"late{i}", "--name", f"Late {i}")
        other = self.path("other")
        self.expect(0, "--db", other, "account", "create", "stranger", "--name", "S", db=False)
        for name in os.listdir(other):
            if not name.startswith(("CANOPY-", "LOG", "LOCK")):
                shutil.copy2(os.path.join(other, name), os.path.join(self.db, name))
        stderr = self.expect_refused_untouched()
        self.assertIn("of another database", stderr)
        # As the message says: the record removed, the other database opens.
        os.remove(os.path.join(self.db, "CANOPY-FILES"))
        self.ok("account", "show", "stranger")

