# Copyright (c) Canopy authors.
"""canopy log: the change log, filtered, paged, audited and followed."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

from cli_harness import CANOPY, CliTestCase, binding_env

LINE = re.compile(r"^(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\S+) (\S+)$")


_TRIM_SCRIPT = """
import sys
import canopy
with canopy.open(sys.argv[1], sync=False, log_retention_count=2) as db:
    for i in range(8):
        db.create_account(canopy.SYSTEM_ACTOR, "t%d" % i, "T%d" % i)
"""


def _make_trimmed_database(path):
    """Makes a database whose log retention trimmed old revisions (which the
    command line itself cannot do) in a child Python (binding_env).
    Returns False when the library is not there."""
    env = binding_env()
    if env is None:
        return False
    subprocess.run([sys.executable, "-c", _TRIM_SCRIPT, path], env=env, check=True, timeout=120)
    return True


class LogTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()  # revision 1: the import
        self.ok("account", "create", "globex", "--name", "Globex")  # 2
        self.ok("device", "create", "dev-g1", "--account", "globex", "--name", "G1")  # 3
        self.ok("device", "create", "dev-a3", "--account", "acme-a", "--name", "A3")  # 4
        self.ok("account", "update", "acme-a1", "--name", "A1 renamed")  # 5
        self.ok("device", "delete", "dev-b1")  # 6

    def entries(self, *flags):
        return [e for e in self.json_lines("log", *flags) if "revision" in e]

    def revisions(self, *flags):
        return [e["revision"] for e in self.entries(*flags)]

    def entries_as(self, login, *flags):
        """`canopy --actor LOGIN log FLAGS` as JSON entries."""
        return [e for e in self.json_lines("--actor", login, "log", *flags) if "revision" in e]

    def test_text_lines_after_mutations(self):
        out = self.ok("log")
        heads = [l for l in out.splitlines() if not l.startswith("  ")]
        parsed = [LINE.match(l) for l in heads]
        self.assertTrue(all(parsed), out)
        self.assertEqual([int(m.group(1)) for m in parsed], [1, 2, 3, 4, 5, 6])
        self.assertEqual([m.group(4) for m in parsed],
                         ["import", "account.create", "entity.create", "entity.create",
                          "account.update", "entity.delete"])
        self.assertEqual({m.group(3) for m in parsed}, {"system"})
        self.assertRegex(out, r"\n  created account \d+ \(globex\)\n")
        self.assertRegex(out, r"\n  created entity \d+ \(dev-g1\)\n")
        self.assertRegex(out, r"\n  changed account \d+ \(acme-a1\)\n")
        self.assertRegex(out, r"\n  deleted entity \d+ \(dev-b1\)\n")

    def test_actor_is_the_acting_user(self):
        self.ok("--actor", "a@acme.example", "device", "create", "dev-a4", "--account", "acme-a",
                "--name", "A4")
        out = self.ok("log", "--since", "7")
        self.assertRegex(out.splitlines()[0], r"^7 \S+ a@acme\.example entity\.create$")

    def test_json_lines(self):
        entries = self.entries()
        self.assertEqual([e["revision"] for e in entries], [1, 2, 3, 4, 5, 6])
        for e in entries:
            self.assertEqual(list(e), ["revision", "time_us", "actor", "operation", "arguments",
                                       "changes"])
            self.assertGreater(e["time_us"], 0)
        self.assertEqual(entries[0]["operation"], "import")
        create = entries[1]
        self.assertEqual(create["actor"], "system")
        self.assertEqual(create["arguments"]["key"], "globex")
        account = [c for c in create["changes"] if c["type"] == "account"][0]
        self.assertEqual(account["action"], "created")
        self.assertIsNone(account["before"])
        self.assertEqual(account["after"]["key"], "globex")
        self.assertEqual(account["id"], str(account["after"]["id"]))
        rename = [c for c in entries[4]["changes"] if c["type"] == "account"][0]
        self.assertEqual((rename["before"]["name"], rename["after"]["name"]),
                         ("Sub-account A1", "A1 renamed"))
        deleted = [c for c in entries[5]["changes"] if c["type"] == "entity"][0]
        self.assertEqual(deleted["action"], "deleted")
        self.assertEqual(deleted["before"]["key"], "dev-b1")
        self.assertIsNone(deleted["after"])
        # --json may follow the command name too.
        out = self.ok("log", "--json", "--since", "6")
        self.assertEqual(json.loads(out)["revision"], 6)
        # --keys-only: the same changes without the records.
        keys = [json.loads(line) for line in
                self.ok("log", "--json", "--keys-only").splitlines()]
        self.assertEqual([e["revision"] for e in keys], [1, 2, 3, 4, 5, 6])
        for full, bare in zip(entries, keys):
            self.assertEqual([(c["type"], c["action"], c["id"]) for c in full["changes"]],
                             [(c["type"], c["action"], c["id"]) for c in bare["changes"]])
            for c in bare["changes"]:
                self.assertIsNone(c["before"])
                self.assertIsNone(c["after"])

    def test_since_and_limit_page_through_the_log(self):
        self.assertEqual(self.revisions("--since", "4"), [4, 5, 6])
        self.assertEqual(self.revisions("--since", "6"), [6])
        self.assertEqual(self.ok("log", "--since", "7"), "")
        # Past the head + 1 is no revision of this database (a cursor of
        # another one, or of this one before a restore): refused, not an
        # empty answer that would skip what is committed up to it.
        for since in ("8", "1000", str(2**64 - 1)):
            with self.subTest(since=since):
                err = self.refused("log", "--since", since)
                self.assertIn("failed_precondition: revision %s is past this database's head "
                              "(revision 6; a reader resumes at 7 at most)" % since, err)
                err = self.refused("--json", "log", "--since", since, "--keys-only")
                self.assertIn("past this database's head", err)
        # With --json, stdout holds the entries only; where to go on is on
        # stderr, as in text output.
        p = self.expect(0, "--json", "log", "--limit", "2")
        lines = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual([l["revision"] for l in lines], [1, 2])
        self.assertEqual(p.stderr, "next revision: 3\n")
        seen, since, pages = [], 1, 0
        while True:
            p = self.expect(0, "--json", "log", "--since", since, "--limit", "4")
            pages += 1
            seen += [json.loads(l)["revision"] for l in p.stdout.splitlines()]
            m = re.fullmatch(r"next revision: (\d+)\n", p.stderr)
            if not m:
                self.assertEqual(p.stderr, "")
                break
            since = m.group(1)
        self.assertEqual(seen, [1, 2, 3, 4, 5, 6])
        self.assertEqual(pages, 2)
        # Text: the next revision goes to stderr; none on the last page.
        p = self.expect(0, "log", "--limit", "3")
        self.assertEqual([LINE.match(l).group(1) for l in p.stdout.splitlines()
                          if not l.startswith("  ")], ["1", "2", "3"])
        self.assertEqual(p.stderr, "next revision: 4\n")
        p = self.expect(0, "log", "--since", "5", "--limit", "2")
        self.assertEqual(p.stderr, "")

    def test_account_filter(self):
        # Revision 1 is the seed's import: it lists no record changes, so
        # every filter keeps it (with its counts, no changes).
        entries = self.entries("--account", "globex")
        self.assertEqual([e["revision"] for e in entries], [1, 2, 3])
        self.assertEqual((entries[0]["operation"], entries[0]["changes"]), ("import", []))
        self.assertIn('"entities": 6', json.dumps(entries[0]))
        text = json.dumps(entries[1:])
        self.assertIn("dev-g1", text)
        self.assertNotIn("acme", text)
        self.assertEqual(self.revisions("--account", "acme-a"), [1, 4, 5])
        self.assertEqual(self.revisions("--account", "acme-a1"), [1, 5])
        err = self.refused("log", "--account", "nope")
        self.assertIn("nope", err)

    def test_type_filter(self):
        entries = self.entries("--type", "entity")
        self.assertEqual([e["revision"] for e in entries], [1, 3, 4, 6])  # 1: the import
        self.assertEqual({c["type"] for e in entries for c in e["changes"]}, {"entity"})
        self.assertEqual(self.revisions("--type", "account"), [1, 2, 5])
        both = self.entries("--type", "entity", "--type", "account")
        self.assertEqual({c["type"] for e in both for c in e["changes"]}, {"entity", "account"})
        self.assertEqual(self.entries("--type", "entity,account"), both)
        # A value the log does not know is a usage error (exit 2), as a bad
        # --since or --limit is, also among known ones and with --follow.
        for args in (["--type", "bogus"], ["--type", "entity,bogus"],
                     ["--type", "bogus", "--follow"]):
            err = self.usage_error("log", *args)
            self.assertIn("unknown change type 'bogus'", err)
            self.assertIn("usage: canopy", err)

    def test_user_audit_view(self):
        # a@acme.example: account_admin (audit.read) on acme-a's branch only.
        entries = self.entries("--user", "a@acme.example")
        self.assertEqual([e["revision"] for e in entries], [4, 5])
        text = json.dumps(entries)
        self.assertIn("dev-a3", text)
        self.assertNotIn("globex", text)
        self.assertNotIn("dev-g1", text)
        self.assertNotIn("dev-b1", text)
        out = self.ok("log", "--user", "a@acme.example")
        self.assertNotIn("globex", out)
        # The admin of acme sees the whole of acme, still not the other tenant.
        self.assertEqual(self.revisions("--user", "admin@acme.example"), [4, 5, 6])
        # Run as a user, the log is that user's own audit view; another
        # user's view needs the system actor.
        self.assertEqual([e["revision"] for e in self.entries_as("a@acme.example")], [4, 5])
        err = self.refused("--actor", "a@acme.example", "log", "--user", "admin@acme.example")
        self.assertIn("only the system actor", err)
        self.assertEqual([e["revision"] for e in self.entries_as("a@acme.example", "--user",
                                                                 "a@acme.example")], [4, 5])
        err = self.refused("--actor", "b@acme.example", "log")
        self.assertIn("audit.read", err)
        # A plain viewer holds audit.read nowhere: refused, naming it.
        err = self.refused("log", "--user", "b@acme.example")
        self.assertIn("audit.read", err)
        # An account out of the user's sight is worded as a missing one.
        err = self.refused("log", "--user", "a@acme.example", "--account", "globex")
        self.assertRegex(err, r"not_found: no account with id \d+\n")
        self.assertNotIn("globex", err)
        self.refused("log", "--user", "nobody@acme.example")

    def test_bad_arguments(self):
        for flags in (["--since", "0"], ["--since", "abc"], ["--since", "-1"],
                      ["--limit", "0"], ["--limit", "x"], ["--follow", "--limit", "3"],
                      ["--bogus"], ["extra"], ["--type", ""], ["--type", ","],
                      ["--type", "account,,entity"], ["--type", "entity,"]):
            with self.subTest(flags=flags):
                err = self.usage_error("log", *flags)
                self.assertIn("canopy log", err)

    def test_missing_database(self):
        self.refused("log", db=False, cwd=self.path("."))
        self.assertFalse(os.path.exists(self.path("canopy-data")))

    def test_compacted_since(self):
        small = self.path("small")
        if not _make_trimmed_database(small):
            self.skipTest("libcanopy is not next to the canopy binary")
        p = self.run_cli("--db", small, "log", "--since", "1", db=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("compacted", p.stderr)
        self.assertIn("oldest revision kept", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.run_cli("--db", small, "--json", "log", "--since", "8", db=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["revision"], 8)

    def test_help(self):
        out = self.ok("log", "--help", db=False)
        for flag in ["--since", "--account", "--type", "--limit", "--follow", "--user",
                     "--json", "audit.read", "SIGTERM"]:
            self.assertIn(flag, out)
        self.assertNotIn("SPEC", out)
        self.assertNotIn("DESIGN", out)
        self.assertRegex(self.ok("--help", db=False), r"\n  log +\S")


class LogFollowTest(CliTestCase):
    """--follow in a process of its own. It opens as a follower, so it
    never locks the folder: other processes write while it follows, and it
    prints their writes; it ends cleanly on SIGTERM / SIGINT."""

    def setUp(self):
        super().setUp()
        self.seed()
        self.ok("account", "create", "globex", "--name", "Globex")

    def start(self, *flags):
        argv = [CANOPY, "--db", self.db, "log", "--follow"] + list(flags)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=self.dir)
        lines = queue.Queue()

        def pump():
            for line in p.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p, lines

    def read(self, lines, n, timeout=20):
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            self.assertIsNotNone(line, "the follower ended early: %r" % got)
            got.append(line)
        return got

    def stop(self, p, sig):
        self.assertTrue(self.wait_until_caught(p, sig), "the follower ended before it was stopped")
        p.send_signal(sig)
        try:
            code = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("canopy log --follow did not end within 30 s of the signal")
        err = p.stderr.read()
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")

    def test_prints_the_log_then_waits_and_ends_on_sigterm(self):
        p, lines = self.start("--json")
        entries = [json.loads(l) for l in self.read(lines, 2)]
        self.assertEqual([e["revision"] for e in entries], [1, 2])
        # Still running: it waits for more.
        time.sleep(0.5)
        self.assertIsNone(p.poll())
        self.assertTrue(lines.empty())
        # While it follows, another process writes, and it prints that.
        self.ok("account", "create", "initech", "--name", "Initech")
        entries = [json.loads(l) for l in self.read(lines, 1)]
        self.assertEqual((entries[0]["revision"], entries[0]["operation"]), (3, "account.create"))
        self.stop(p, signal.SIGTERM)

    def test_follows_a_writer_in_another_process(self):
        # A process of the Python binding holds the database open for
        # writing; `log --follow` opens as a follower and prints what the
        # writer commits.
        env = binding_env()
        if env is None:
            self.skipTest("libcanopy.so is not built next to the binary under test")
        writer = subprocess.Popen(
            [sys.executable, "-c",
             "import sys, canopy\n"
             "db = canopy.open(sys.argv[1])\n"
             "print('ready', flush=True)\n"
             "sys.stdin.readline()\n"
             "for i in range(3):\n"
             "    db.create_account(canopy.SYSTEM_ACTOR, 'late-%d' % i, 'Late')\n"
             "print('wrote', flush=True)\n"
             "sys.stdin.readline()\n"
             "db.close()\n", self.db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: writer.poll() is None and writer.kill())
        self.assertEqual(writer.stdout.readline(), "ready\n")
        p, lines = self.start("--json", "--keys-only")
        entries = [json.loads(l) for l in self.read(lines, 2)]
        self.assertEqual([e["revision"] for e in entries], [1, 2])
        writer.stdin.write("go\n")
        writer.stdin.flush()
        self.assertEqual(writer.stdout.readline(), "wrote\n")
        entries = [json.loads(l) for l in self.read(lines, 3)]
        self.assertEqual([e["revision"] for e in entries], [3, 4, 5])
        self.assertEqual([e["operation"] for e in entries], ["account.create"] * 3)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertEqual(p.stderr.read(), "")
        writer.stdin.write("close\n")
        writer.stdin.flush()
        self.assertEqual(writer.wait(timeout=30), 0)
        writer.stdin.close()
        writer.stdout.close()

    def test_ends_on_sigint(self):
        p, lines = self.start("--since", "2")
        head = self.read(lines, 1)[0]
        self.assertRegex(head, r"^2 \S+ system account\.create\n$")
        self.stop(p, signal.SIGINT)

    def test_from_the_head_prints_nothing_until_stopped(self):
        head = int(self.ok("--json", "log", "--keys-only").splitlines()[-1].split(",")[0]
                   .split(":")[1])
        p, lines = self.start("--since", str(head + 1), "--user", "admin@acme.example")
        time.sleep(0.5)
        self.assertIsNone(p.poll())
        self.assertTrue(lines.empty())
        self.stop(p, signal.SIGTERM)

    def test_from_past_the_head_fails_at_once(self):
        p = self.run_cli("log", "--follow", "--since", "50")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("revision 50 is past this database's head", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_a_follow_of_an_account_ends_with_its_deletion(self):
        p, lines = self.start("--json", "--account", "globex")
        # The seed's import (listed under every filter), then globex.
        entries = [json.loads(l) for l in self.read(lines, 2)]
        self.assertEqual([e["operation"] for e in entries], ["import", "account.create"])
        created_at = entries[1]["revision"]
        # The deletion is the head: nothing after it wakes the follow.
        self.ok("account", "delete", "globex")
        entries = [json.loads(l) for l in self.read(lines, 1)]
        self.assertEqual((entries[0]["revision"], entries[0]["operation"]),
                         (created_at + 1, "account.delete"))
        self.assertEqual([(c["type"], c["action"]) for c in entries[0]["changes"]],
                         [("account", "deleted")])
        try:
            code = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("the follow went on after its account was deleted")
        self.assertEqual(code, 1)
        self.assertIn("was deleted at revision %d" % (created_at + 1), p.stderr.read())
        self.assertIsNone(lines.get(timeout=5), "nothing after the deletion")

    def test_a_bad_follow_fails_at_once(self):
        p = self.run_cli("log", "--follow", "--account", "nope")
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope", p.stderr)


if __name__ == "__main__":
    unittest.main()
