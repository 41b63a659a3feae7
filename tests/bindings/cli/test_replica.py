# Copyright (c) Canopy authors.
"""canopy --etcd ...: replicas from the command line, and canopy checkpoint.

ReplicaFlagsTest needs no etcd. ReplicaClusterTest runs against the test
cluster that ctest starts (CANOPY_ETCD_ENDPOINTS); it is skipped without it.
"""

import base64
import json
import os
import re
import random
import subprocess
import unittest
import urllib.request

from cli_harness import CANOPY, CliTestCase, SEED, jsonl

ENDPOINTS = os.environ.get("CANOPY_ETCD_ENDPOINTS", "")


class ReplicaFlagsTest(CliTestCase):
    def test_replication_flags_are_checked(self):
        self.assertIn("--etcd", self.usage_error("--etcd", "", "tree", db=True))
        self.assertIn("more than once",
                      self.usage_error("--etcd", "http://a:1", "--etcd", "http://b:1", "tree"))
        self.assertIn("need --etcd", self.usage_error("--prefix", "p", "tree"))
        self.assertIn("need --etcd", self.usage_error("--checkpoints", "/tmp/x", "tree"))
        self.assertIn("empty", self.usage_error("--etcd", "http://a:1,,http://b:1", "tree"))
        # A malformed URL or prefix is refused before any folder is made.
        err = self.refused("--etcd", "127.0.0.1:2379", "tree")
        self.assertIn("must be a URL", err)
        err = self.refused("--etcd", "http://127.0.0.1:1", "--prefix", "/x", "tree")
        self.assertIn("prefix", err)
        self.assertFalse(os.path.exists(self.db))

    def test_status_without_etcd_says_what_it_cannot_know(self):
        # A new folder cannot start a replica while etcd does not answer: it
        # would answer every read, empty, as if it were the database. The
        # open is refused and the folder it made removed.
        err = self.refused("--etcd", "http://127.0.0.1:1", "account", "list")
        self.assertIn("cannot start a new replica of the log in etcd under prefix 'canopy'", err)
        self.assertIn("nothing was created", err)
        self.assertFalse(os.path.exists(self.db))
        # A folder that holds a database opens on what it has. Nothing
        # listens on port 1: what only etcd can tell is unknown, not the
        # local revision passed off as etcd's head.
        self.ok("account", "create", "t", "--name", "T")
        p = self.expect(1, "--etcd", "http://127.0.0.1:1", "replica", "status")
        self.assertIn("etcd head    unknown (etcd not reached)", p.stdout)
        self.assertIn("lag          unknown (etcd not reached)", p.stdout)
        self.assertIn("etcd keeps   unknown (etcd not reached)", p.stdout)
        self.assertIn("last contact never", p.stdout)
        self.assertIn("unreachable", p.stdout)
        # The JSON says the same with nulls.
        p = self.expect(1, "--etcd", "http://127.0.0.1:1", "--json", "replica", "status")
        status = json.loads(p.stdout)
        for field in ("head", "lag", "checkpoint", "log_first"):
            self.assertIsNone(status[field], field)
        self.assertEqual(status["last_contact_us"], 0)
        self.assertIsInstance(status["applied"], int)

    def test_replica_commands_need_etcd(self):
        self.assertIn("needs --etcd", self.usage_error("replica", "status"))
        self.assertIn("needs --etcd", self.usage_error("replica", "sync"))
        self.usage_error("replica", "nonsense")

    def test_checkpoint_copies_a_database(self):
        self.seed()
        out = self.ok("checkpoint", self.path("copy"))
        self.assertIn("checkpoint of revision 1", out)
        copy = os.path.join(self.dir, "copy")
        tree = self.ok("--db", copy, "tree", db=False)
        self.assertIn("acme-a1", tree)
        # The copy is a database of its own: writing it leaves the source alone.
        self.ok("--db", copy, "account", "create", "only-in-copy", "--name", "X", db=False)
        self.assertNotIn("only-in-copy", self.ok("tree"))
        self.assertIn("already exists", self.refused("checkpoint", self.path("copy")))
        self.usage_error("checkpoint")
        self.assertIn("checkpoint folder DEST is empty", self.usage_error("checkpoint", ""))
        got = self.json_one("checkpoint", self.path("copy2"))
        self.assertEqual(got["revision"], 1)

    def test_backup_and_restore(self):
        self.seed()
        out = self.ok("backup", self.path("b1"))
        self.assertIn("backup of revision 1 written to", out)
        self.assertIn("integrity check passed", out)
        self.assertEqual(sorted(os.listdir(self.dir)), ["b1", "db", "seed.jsonl"])
        self.assertIn("already exists", self.refused("backup", self.path("b1")))
        self.usage_error("backup")
        self.usage_error("backup", "x", "y")
        self.assertIn("backup folder DEST is empty", self.usage_error("backup", ""))
        self.assertIn("system actor", self.refused("--actor", "admin@acme.example", "backup",
                                                   self.path("b2")))
        self.assertFalse(os.path.exists(self.path("b2")))
        # The database changes after the backup; the restore has it as it was.
        before = self.export_text("before.jsonl")
        self.ok("account", "create", "after-backup", "--name", "X")
        out = self.ok("restore", self.path("b1"), self.path("r1"), db=False)
        self.assertIn("restored", out)
        tree = self.ok("--db", self.path("r1"), "tree", db=False)
        self.assertIn("acme-a1", tree)
        self.assertNotIn("after-backup", tree)
        self.ok("--db", self.path("r1"), "export", self.path("restored.jsonl"), db=False)
        self.assertEqual(self.read("restored.jsonl"), before)
        got = self.json_one("restore", self.path("b1"), self.path("r2"), db=False)
        self.assertEqual(got, {"backup": self.path("b1"), "folder": self.path("r2")})

    def test_backup_and_restore_progress(self):
        # Off when stderr is no terminal; with --progress, one line per
        # update: the backup's check, the restore's copy then its check.
        self.seed()
        self.assertEqual(self.expect(0, "backup", self.path("quiet")).stderr, "")
        p = self.expect(0, "backup", self.path("b"), "--progress")
        lines = p.stderr.splitlines()
        self.assertTrue(lines, p.stderr)
        self.assertTrue(all(re.fullmatch(r"checking +\d+% \(\d+/\d+ entities\)", l) for l in lines),
                        p.stderr)
        self.assertRegex(lines[-1], r"100% \((\d+)/\1 entities\)")
        p = self.expect(0, "restore", self.path("b"), self.path("r"), "--progress", db=False)
        lines = p.stderr.splitlines()
        copying = [l for l in lines if l.startswith("copying")]
        self.assertTrue(copying, p.stderr)
        self.assertEqual(lines[:len(copying)], copying)  # the copy first
        self.assertRegex(copying[0], r"^copying +0% \(0/\d+ bytes\)$")
        self.assertRegex(copying[-1], r"^copying 100% \((\d+)/\1 bytes\)$")
        self.assertRegex(lines[-1], r"^checking 100% \((\d+)/\1 entities\)$")
        self.assertIn("integrity check passed", p.stdout)
        self.assertIn("--progress", self.ok("restore", "--help", db=False))
        self.assertIn("--progress", self.ok("backup", "--help"))

    def test_restore_refuses_bad_inputs(self):
        self.seed()
        self.ok("backup", self.path("b"))
        os.mkdir(self.path("full"))
        self.write("full/mine.txt", "keep")
        self.assertIn("is not empty", self.refused("restore", self.path("b"), self.path("full")))
        self.assertEqual(os.listdir(self.path("full")), ["mine.txt"])
        self.assertIn("is not empty", self.refused("restore", self.path("b"), self.db))
        self.assertIn("does not exist", self.refused("restore", self.path("nope"), self.path("t")))
        os.mkdir(self.path("junk"))
        self.write("junk/data.txt", "not a database")
        self.assertIn("does not open as a Canopy database",
                      self.refused("restore", self.path("junk"), self.path("t")))
        self.usage_error("restore", self.path("b"))
        self.assertIn("database folder DIR is empty", self.usage_error("restore", self.path("b"), ""))
        self.assertIn("backup folder BACKUP is empty",
                      self.usage_error("restore", "", self.path("t")))
        self.assertFalse(os.path.exists(self.path("t")))
        # Into the backup itself: it would copy into itself.
        files = sorted(os.listdir(self.path("b")))
        for inner in ("b/inner", "b/x/y"):
            self.assertIn("is inside backup", self.refused("restore", self.path("b"),
                                                           self.path(inner)))
        self.assertEqual(sorted(os.listdir(self.path("b"))), files)
        # A database folder that is not in use restores (without its catalog
        # image, which belongs to the folder that wrote it); one another
        # process has open (here `canopy ui`) is refused: it changes under
        # the copy.
        self.ok("tree")  # writes the database's catalog image at its close
        self.assertTrue(os.path.exists(os.path.join(self.db, "CANOPY-CATALOG")))
        self.ok("restore", self.db, self.path("from-db"), db=False)
        self.assertFalse(os.path.exists(self.path("from-db/CANOPY-CATALOG")))
        self.assertIn("acme-a1", self.ok("--db", self.path("from-db"), "tree", db=False))
        ui = subprocess.Popen([CANOPY, "--db", self.db, "ui"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: ui.poll() is None and ui.kill())
        self.assertIn("127.0.0.1", ui.stdout.readline())
        err = self.refused("restore", self.db, self.path("t"), db=False)
        self.assertIn("is a database that is open, not a backup", err)
        self.assertFalse(os.path.exists(self.path("t")))
        ui.terminate()
        ui.communicate(timeout=30)
        self.assertEqual(sorted(n for n in os.listdir(self.dir) if "partial" in n), [])

    def test_checkpoint_of_a_missing_database(self):
        self.refused("checkpoint", self.path("copy"))
        self.assertFalse(os.path.exists(self.path("copy")))


@unittest.skipUnless(ENDPOINTS, "CANOPY_ETCD_ENDPOINTS is not set (run under ctest)")
class ReplicaClusterTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.prefix = "cli/%d" % random.getrandbits(48)

    def replica(self, name, *args, **kw):
        return ["--db", self.path(name), "--etcd", ENDPOINTS, "--prefix", self.prefix] + list(args)

    def test_two_replicas_share_one_database(self):
        seed = self.write("seed.jsonl", jsonl(SEED))
        self.ok(*self.replica("r1", "import", seed), db=False)
        # A new folder joins the log and replays it.
        tree = self.ok(*self.replica("r2", "tree"), db=False)
        self.assertIn("acme-a1", tree)
        self.ok(*self.replica("r2", "device", "create", "dev-new", "--account", "acme-b",
                              "--name", "New"), db=False)
        self.ok(*self.replica("r1", "replica", "sync"), db=False)
        shown = self.ok(*self.replica("r1", "device", "show", "dev-new"), db=False)
        self.assertIn("New", shown)
        status = self.json_one(*self.replica("r1", "replica", "status"), db=False)
        self.assertTrue(status["replicated"])
        self.assertEqual(status["applied"], 2)
        self.assertEqual(status["head"], 2)
        self.assertEqual(status["lag"], 0)
        self.assertEqual(len(status["members"]), 3)
        self.assertTrue(all(m["reachable"] for m in status["members"]), status)
        text = self.ok(*self.replica("r1", "replica", "status"), db=False)
        self.assertIn("lag          0 revision(s)", text)
        self.assertIn("healthy", text)
        # Both replicas log the same history.
        log1 = self.ok(*self.replica("r1", "log", "--keys-only"), db=False)
        log2 = self.ok(*self.replica("r2", "log", "--keys-only"), db=False)
        self.assertEqual(log1, log2)
        # Refusals are the engine's, through etcd too.
        err = self.refused(*self.replica("r1", "--actor", "b@acme.example", "device", "create",
                                         "x", "--account", "acme-b", "--name", "X"), db=False)
        self.assertIn("permission", err)

    def test_a_replica_folder_held_by_another_process_says_what_to_do(self):
        seed = self.write("seed.jsonl", jsonl(SEED))
        self.ok(*self.replica("r1", "import", seed), db=False)
        holder = subprocess.Popen([CANOPY] + self.replica("r1", "ui"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("127.0.0.1", holder.stdout.readline())  # it has opened the folder
            err = self.refused(*self.replica("r1", "tree"), db=False)
            self.assertIn("in use by another process", err)
            self.assertIn("one process per replica folder", err)
            self.assertIn("--read-only", err)
            # As it says: the folder read as it is, beside the replica.
            out = self.ok("--db", self.path("r1"), "--read-only", "tree", db=False)
            self.assertIn("acme-a1", out)
        finally:
            holder.terminate()
            holder.wait(timeout=30)
            holder.stdout.close()
            holder.stderr.close()

    def test_import_from_a_pipe_through_a_replica(self):
        p = subprocess.run([CANOPY] + self.replica("r1", "import", "/dev/stdin"),
                           input=jsonl(SEED), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("acme-a1", self.ok(*self.replica("r2", "tree"), db=False))
        err = self.refused(*self.replica("r1", "import", self.dir), db=False)
        self.assertIn("is a folder", err)

    def test_new_replica_starts_from_a_registered_checkpoint(self):
        seed = self.write("seed.jsonl", jsonl(SEED))
        cps = self.path("checkpoints")
        self.ok(*self.replica("r1", "import", seed), db=False)
        out = self.ok("--db", self.path("r1"), "--etcd", ENDPOINTS, "--prefix", self.prefix,
                      "--checkpoints", cps, "checkpoint", os.path.join(cps, "manual"), db=False)
        self.assertIn("revision 1", out)
        status = self.json_one("--db", self.path("r1"), "--etcd", ENDPOINTS, "--prefix",
                               self.prefix, "--checkpoints", cps, "replica", "status", db=False)
        self.assertEqual(status["error"], "")
        # A new replica's empty folder is filled from the checkpoint.
        tree = self.ok("--db", self.path("r3"), "--etcd", ENDPOINTS, "--prefix", self.prefix,
                       "--checkpoints", cps, "tree", db=False)
        self.assertIn("acme-a1", tree)
        self.assertTrue(os.path.exists(os.path.join(self.path("r3"), "CURRENT")))

    def test_log_follow_ends_when_the_log_is_deleted(self):
        # A follower whose log in etcd is gone can never go on: canopy log
        # --follow says so and exits, rather than waiting for good.
        seed = self.write("seed.jsonl", jsonl(SEED))
        self.ok(*self.replica("r1", "import", seed), db=False)
        follow = subprocess.Popen([CANOPY] + self.replica("r1", "log", "--follow", "--keys-only"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("import", follow.stdout.readline())  # it reads, then waits
            # Delete the log's keys through etcd's JSON gateway.
            prefix = (self.prefix + "/").encode()
            end = prefix[:-1] + bytes([prefix[-1] + 1])
            body = json.dumps({"key": base64.b64encode(prefix).decode(),
                               "range_end": base64.b64encode(end).decode()}).encode()
            url = ENDPOINTS.split(",")[0] + "/v3/kv/deleterange"
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
                self.assertGreater(int(json.load(r).get("deleted", 0)), 0)
            out, err = follow.communicate(timeout=60)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.communicate()
        self.assertEqual(follow.returncode, 1, err)
        self.assertIn("this replica stopped following the log in etcd (%s)" % self.prefix, err)
        self.assertIn("is gone", err)


if __name__ == "__main__":
    unittest.main()
