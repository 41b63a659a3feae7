# Copyright (c) Canopy authors.
"""The command line as a whole: help texts, global flags, exit statuses."""

import json
import os
import re
import signal
import subprocess
import time
import unittest

from cli_harness import CANOPY, CliTestCase, jsonl

# Every command and the flags its --help must describe.
FLAGS = {
    "account": ["--name", "--parent", "--attribute", "--remove-attribute",
                "--sub-account-management", "--sub-account-access", "--receiver", "--depth",
                "create", "show", "update", "move", "delete", "list"],
    "user": ["--name", "--account", "--role", "--branch", "--no-branch", "--members",
             "create", "invite", "grant", "revoke", "set-role", "uninvite", "update",
             "disable", "enable", "remove", "show", "list"],
    "role": ["--tenant", "--permissions", "create", "update", "delete", "list"],
    "device": ["--kind", "--account", "--name", "--unit-id", "--type", "--attribute",
               "--remove-attribute", "--to", "--keys", "--unit-ids", "--from-file", "--by",
               "create", "show", "update", "delete", "reassign"],
    "visible": ["--user", "--kind", "--permission", "--type", "--name-prefix", "--attribute",
                "--within", "--direct", "--limit", "--cursor", "--count", "--json"],
    "check": ["--user", "--permission", "--entity", "--explain", "--fail-if-denied"],
    "who-can": ["--permission", "--entity"],
    "import": ["FILE"],
    "export": ["FILE"],
    "tree": ["--account", "--depth", "--format", "--sort", "--desc"],
    "check-db": [],
    "demo": [],
}


class HelpTest(CliTestCase):
    def test_global_help_lists_every_command_and_global_flag(self):
        out = self.ok("--help", db=False)
        for flag in ["--db DIR", "--json", "--actor LOGIN", "--version", "./canopy-data"]:
            self.assertIn(flag, out)
        for command in FLAGS:
            self.assertRegex(out, r"\n  " + re.escape(command) + r" ")

    def test_each_command_help_describes_every_flag(self):
        for command, flags in FLAGS.items():
            with self.subTest(command=command):
                out = self.ok(command, "--help", db=False)
                self.assertIn("usage: canopy", out)
                for flag in flags:
                    self.assertIn(flag, out)

    def test_subcommand_help_prints_the_group_help(self):
        out = self.ok("account", "create", "--help", db=False)
        self.assertIn("account move KEY --parent PARENT_KEY", out)
        out = self.ok("device", "reassign", "-h", db=False)
        self.assertIn("--from-file", out)

    def test_visible_help_says_where_the_cursor_goes(self):
        out = self.ok("visible", "--help", db=False)
        self.assertIn("cursor is printed on stderr", out)
        self.assertIn("stdout holds the entities only", out)
        self.assertNotIn('{"cursor":"C"}', out)

    def test_version(self):
        out = self.ok("--version", db=False)
        self.assertRegex(out, r"^canopy \d+\.\d+\.\d+ \(storage format \d+\)")
        # With --json one JSON object; an argument after it is a usage error.
        got = json.loads(self.ok("--json", "--version", db=False))
        self.assertEqual(got["version"], out.split()[1])
        self.assertIsInstance(got["storage_format"], int)
        self.usage_error("--version", "tree", db=False)
        self.usage_error("--csv", "--version", db=False)

    def test_no_command_is_a_usage_error(self):
        p = self.expect(2)
        self.assertIn("commands:", p.stderr)


class UsageErrorTest(CliTestCase):
    def test_unknown_command(self):
        err = self.usage_error("frobnicate")
        self.assertIn("unknown command 'frobnicate'", err)

    def test_unknown_global_flag(self):
        err = self.usage_error("--verbose", "tree")
        self.assertIn("unknown flag --verbose", err)

    def test_global_flag_without_value(self):
        err = self.usage_error("--db", db=False)
        self.assertIn("--db needs a value", err)

    def test_empty_or_repeated_global_flags_are_usage_errors(self):
        # An empty --actor (a wrapper passing an empty variable) must never
        # run as the system actor, and a repeated one must not pick one.
        self.seed()
        before = self.ok("--json", "log", "--keys-only")
        for argv in (["--actor", "", "account", "create", "x", "--name", "X"],
                     ["--actor=", "account", "create", "x", "--name", "X"],
                     ["account", "create", "x", "--name", "X", "--actor", ""],
                     ["account", "create", "x", "--name", "X", "--actor="],
                     ["--actor", "a@acme.example", "--actor", "admin@acme.example",
                      "account", "create", "x", "--name", "X", "--parent", "acme"],
                     ["--actor", "a@acme.example", "account", "create", "x", "--name", "X",
                      "--parent", "acme-a", "--actor", ""],
                     ["--db", "", "tree"]):
            with self.subTest(argv=argv):
                err = self.usage_error(*argv)
                self.assertTrue("--actor" in err or "--db" in err, err)
        err = self.usage_error("--db", self.db, "--db", self.db, "tree", db=False)
        self.assertIn("--db is given more than once", err)
        self.assertEqual(self.ok("--json", "log", "--keys-only"), before)  # nothing changed

    def test_repeated_single_valued_flags_are_usage_errors(self):
        self.seed()
        err = self.usage_error("account", "create", "x", "--name", "X", "--parent", "acme",
                               "--parent", "acme-a")
        self.assertIn("--parent is given more than once", err)
        self.refused("account", "show", "x")  # not created

    def test_unknown_flag_of_every_command_is_exit_2(self):
        self.seed()
        for argv in (["account", "show", "acme", "--bogus"], ["user", "list", "--bogus"],
                     ["role", "list", "--bogus"], ["device", "show", "dev-a1", "--bogus"],
                     ["visible", "--user", "a@acme.example", "--bogus"],
                     ["check", "--bogus"], ["who-can", "--bogus"], ["import", "--bogus"],
                     ["export", "--bogus"], ["tree", "--bogus"], ["check-db", "--bogus"]):
            with self.subTest(argv=argv):
                err = self.usage_error(*argv)
                self.assertIn("unknown flag --bogus", err)
                self.assertIn("usage: canopy", err)

    def test_single_dash_flag_is_unknown(self):
        self.seed()
        err = self.usage_error("account", "list", "-x")
        self.assertIn("unknown flag -x", err)

    def test_flag_missing_its_value(self):
        self.seed()
        err = self.usage_error("visible", "--user")
        self.assertIn("--user needs a value", err)

    def test_boolean_flag_given_a_value(self):
        self.seed()
        err = self.usage_error("visible", "--user", "a@acme.example", "--count=yes")
        self.assertIn("--count takes no value", err)

    def test_missing_subcommand(self):
        for group in ("account", "user", "role", "device"):
            with self.subTest(group=group):
                err = self.usage_error(group)
                self.assertIn("missing subcommand", err)
                err = self.usage_error(group, "explode")
                self.assertIn("unknown subcommand 'explode'", err)

    def test_extra_positional(self):
        self.seed()
        err = self.usage_error("account", "show", "acme", "acme-a")
        self.assertIn("unexpected argument 'acme-a'", err)


class FlagSyntaxTest(CliTestCase):
    """The flag syntax every command shares (parsed with CLI11)."""

    def setUp(self):
        super().setUp()
        self.seed()

    def test_value_forms(self):
        self.ok("account", "create", "x", "--name=X, the first", "--parent=acme",
                "--attribute=k=v=w")
        shown = self.json_one("account", "show", "x")
        self.assertEqual((shown["name"], shown["parent"], shown["attributes"]),
                         ("X, the first", "acme", {"k": "v=w"}))
        # A value may start with a dash when it follows its flag.
        self.ok("account", "update", "x", "--name", "-dash")
        self.assertEqual(self.json_one("account", "show", "x")["name"], "-dash")

    def test_an_empty_value_is_a_value(self):
        # --unit-id= and --unit-id '' both remove a unit id (the next
        # argument is never taken for the value).
        for form in (["--unit-id="], ["--unit-id", ""]):
            with self.subTest(form=form):
                self.ok("device", "update", "dev-a1", "--unit-id", "U-9")
                self.ok("device", "update", "dev-a1", *form)
                self.assertEqual(self.json_one("device", "show", "dev-a1")["unit_id"], "")
        err = self.usage_error("visible", "--user", "a@acme.example", "--permission=")
        self.assertIn("--permission needs a value", err)

    def test_double_dash_ends_the_flags(self):
        err = self.refused("account", "show", "--", "--weird")
        self.assertIn("no account with key '--weird'", err)
        self.assertIn("unexpected argument '--bogus'",
                      self.usage_error("account", "show", "acme", "--", "--bogus"))

    def test_a_flag_is_never_taken_for_the_value_before_it(self):
        # "--name --json" would rename the account "--json": a usage error
        # naming --name instead, and nothing changes; --name=--json is the
        # way to give such a value.
        before = self.export_text()
        for flag, argv in (("--name", ["account", "update", "acme", "--name", "--json"]),
                           ("--parent", ["account", "create", "k5", "--parent", "--name", "X"]),
                           ("--name", ["user", "update", "a@acme.example", "--name", "--csv"]),
                           ("--user", ["visible", "--user", "--count"])):
            with self.subTest(argv=argv):
                err = self.usage_error(*argv)
                self.assertIn("%s needs a value" % flag, err)
                self.assertIn("%s=VALUE" % flag, err)
        err = self.usage_error("--db", "--json", "tree", db=False)
        self.assertIn("--db needs a value", err)
        self.assertEqual(self.export_text(), before)
        self.ok("account", "update", "acme", "--name=--json")
        self.assertEqual(self.json_one("account", "show", "acme")["name"], "--json")

    def test_global_flags_may_come_before_a_subcommand(self):
        keys = [a["key"] for a in self.json_lines("account", "--json", "list")]
        self.assertIn("acme", keys)
        self.assertEqual(keys, [a["key"] for a in self.json_lines("account", "list")])
        self.assertIn("key", self.ok("account", "--csv", "list").splitlines()[0])
        mine = self.ok("account", "--actor", "a@acme.example", "--json", "list")
        self.assertNotIn('"acme-b"', mine)
        self.assertIn("missing subcommand", self.usage_error("account", "--json"))
        self.assertIn("unknown subcommand 'bogus'", self.usage_error("account", "--json", "bogus"))

    def test_json_is_refused_where_no_json_is_printed(self):
        for argv in (["demo"], ["ui"], ["tree", "--format", "dot"]):
            for form in (["--json"] + argv, argv + ["--json"]):
                with self.subTest(argv=form):
                    err = self.usage_error(*form)
                    self.assertIn("--json", err)
        self.assertFalse(os.path.exists(self.path("canopy-data")))
        self.assertIn("digraph", self.ok("tree", "--format", "dot"))
        self.json_lines("tree", "--format", "json")

    def test_help_names_a_command(self):
        self.assertEqual(self.ok("help", "visible", db=False),
                         self.ok("visible", "--help", db=False))
        self.assertIn("unknown command 'bogus'", self.usage_error("help", "bogus", db=False))

    def test_repeated_single_valued_flags_of_several_commands(self):
        for argv in (["visible", "--user", "a@acme.example", "--limit", "1", "--limit=2"],
                     ["log", "--since", "1", "--since", "2"],
                     ["tree", "--depth", "1", "--depth", "1"],
                     ["user", "list", "--account", "acme", "--account", "acme-a"],
                     ["--etcd", "http://127.0.0.1:1", "--etcd", "http://127.0.0.1:2", "tree"],
                     ["--prefix", "a", "--prefix", "b", "tree"]):
            with self.subTest(argv=argv):
                self.assertIn("is given more than once", self.usage_error(*argv))
        # Repeatable flags stay repeatable.
        self.ok("account", "update", "acme-b", "--attribute", "a=1", "--attribute", "b=2")
        self.assertEqual(self.json_one("account", "show", "acme-b")["attributes"],
                         {"a": "1", "b": "2"})

    def test_unknown_flags_are_named(self):
        self.assertIn("unknown flag --bogus", self.usage_error("tree", "--bogus=1"))
        self.assertIn("unknown flag --dept", self.usage_error("tree", "--dept", "1"))  # no prefixes
        self.assertIn("unknown flag -d", self.usage_error("-d", self.db, "tree", db=False))
        self.assertIn("--json takes no value", self.usage_error("--json=yes", "tree"))
        self.assertIn("--json takes no value", self.usage_error("tree", "--json=1"))
        # =true too (CLI11 took a flag's own value for the flag itself).
        for args, flag in ((["--json=true", "tree"], "--json"), (["tree", "--desc=true"], "--desc"),
                           (["visible", "--user", "admin@acme.example", "--count=true"], "--count"),
                           (["check-db", "--progress=true"], "--progress")):
            self.assertIn(flag + " takes no value", self.usage_error(*args))

    def test_flags_of_replica_sync(self):
        # --timeout-ms used to be declared under a wrong name and refused.
        err = self.usage_error("replica", "sync", "--timeout-ms", "5")
        self.assertIn("needs --etcd", err)
        self.assertIn("--timeout-ms needs a number",
                      self.usage_error("replica", "sync", "--timeout-ms", "soon"))


class GlobalFlagTest(CliTestCase):
    def test_default_database_folder_is_canopy_data(self):
        self.ok("account", "create", "root", "--name", "Root", db=False)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "canopy-data", "CURRENT")))
        out = self.ok("account", "show", "root", db=False)
        self.assertIn("Root", out)

    def test_db_flag_with_equals(self):
        self.ok("--db=" + self.db, "account", "create", "root", "--name", "Root", db=False)
        self.assertTrue(os.path.isfile(os.path.join(self.db, "CURRENT")))

    def test_reading_a_missing_database_fails_without_creating_it(self):
        err = self.refused("account", "show", "x")
        self.assertIn("no database in", err)
        self.assertFalse(os.path.exists(self.db))

    def test_a_folder_of_other_files_gets_no_hint_to_create_there(self):
        # Commands that would create a database refuse such a folder: the
        # hint says so instead of naming them.
        os.makedirs(self.db)
        with open(os.path.join(self.db, "notes.txt"), "w") as f:
            f.write("not a database\n")
        err = self.refused("account", "show", "x")
        self.assertIn("no database in", err)
        self.assertIn("holds other files; give --db a new or empty folder", err)
        self.assertNotIn("account create KEY", err)
        err = self.refused("account", "create", "root", "--name", "Root")
        self.assertIn("folder with other files", err)
        self.assertEqual(os.listdir(self.db), ["notes.txt"])

    def test_a_refused_command_leaves_no_new_database(self):
        # A root tenant refused (an empty key) in a folder that did not
        # exist, or was empty: nothing is left, as after a refused import.
        err = self.refused("account", "create", "", "--name", "X")
        self.assertIn("empty", err)
        self.assertFalse(os.path.exists(self.db))
        os.mkdir(self.db)
        self.refused("account", "create", "", "--name", "X")
        self.assertEqual(os.listdir(self.db), [])
        # One that commits keeps it; a refusal after that changes nothing.
        self.ok("account", "create", "acme", "--name", "Acme")
        self.refused("account", "create", "", "--name", "X")
        self.assertIn("acme", self.ok("tree"))

    def test_a_file_in_place_of_the_database_folder_is_named(self):
        self.write("db", "notes\n")
        for args in (["account", "show", "x"], ["--read-only", "stats"], ["check-db"],
                     ["account", "create", "x", "--name", "X"]):
            err = self.refused(*args)
            self.assertIn("exists and is not a folder", err)
            self.assertNotIn("no database", err)
        self.assertEqual(self.read("db"), "notes\n")

    def test_json_and_actor_after_the_command_name(self):
        self.seed()
        before = self.json_lines("visible", "--user", "a@acme.example")
        out = self.ok("visible", "--user", "a@acme.example", "--json")
        self.assertEqual([json.loads(line) for line in out.splitlines()], before)
        err = self.refused("account", "create", "x", "--name", "X", "--parent", "acme-b",
                        "--actor", "b@acme.example")
        self.assertIn("permission account.create missing", err)
        err = self.refused("account", "create", "x", "--name", "X", "--parent", "acme-b",
                        "--actor=b@acme.example")
        self.assertIn("permission account.create missing", err)

    def test_unknown_actor(self):
        self.seed()
        err = self.refused("--actor", "ghost@nowhere", "account", "create", "x", "--name", "X",
                        "--parent", "acme")
        self.assertIn("no user with login 'ghost@nowhere'", err)


class OtherCommandsTest(CliTestCase):
    """tree and check-db, which predate this suite, under the same conventions."""

    def test_tree_json_after_the_command(self):
        self.seed()
        rows = self.json_lines("tree")
        self.assertEqual([r["key"] for r in rows], ["acme", "acme-a", "acme-a1", "acme-b"])
        rows = self.json_lines("tree", "--actor", "a@acme.example")
        self.assertEqual([r["key"] for r in rows], ["acme-a", "acme-a1"])

    def test_output_that_cannot_be_written_fails(self):
        # A full disk behind a redirect: exit 1 and a message, not a
        # silent success with the output lost.
        self.seed()
        for args in (["tree"], ["--json", "tree"], ["--csv", "tree"],
                     ["visible", "--user", "a@acme.example"], ["--version"]):
            with self.subTest(args=args), open("/dev/full", "w") as full:
                p = subprocess.run([CANOPY, "--db", self.db, *args], stdout=full,
                                   stderr=subprocess.PIPE, text=True, timeout=60)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("cannot write to standard output", p.stderr)
                self.assertIn("the output is incomplete", p.stderr)

    def test_tree_formats_and_bad_flags(self):
        self.seed()
        self.assertIn("digraph", self.ok("tree", "--format", "dot"))
        graph = json.loads(self.ok("tree", "--format", "json", "--depth", "1"))
        self.assertEqual([c["key"] for c in graph["accounts"][0]["children"]],
                         ["acme-a", "acme-b"])
        self.assertEqual(graph["accounts"][0]["children"][0]["children"], [])
        # The table keeps to --depth too (it used to ignore it).
        rows = [r["key"] for r in self.json_lines("tree", "--depth", "1")]
        self.assertEqual(rows, ["acme", "acme-a", "acme-b"])
        self.assertNotIn("acme-a1", self.ok("tree", "--depth", "1"))
        rows = [r["key"] for r in self.json_lines("tree", "--account", "acme-a", "--depth", "1")]
        self.assertEqual(rows, ["acme-a", "acme-a1"])
        self.assertIn("--depth needs a number", self.usage_error("tree", "--depth", "-1"))
        self.assertIn("--format must be", self.usage_error("tree", "--format", "svg"))
        self.assertIn("unknown --sort", self.usage_error("tree", "--sort", "colour"))

    def test_demo_seeds_and_its_users_work_with_visible(self):
        out = self.ok("demo")
        self.assertIn("Seeded the example", out)
        # A group shared down at work, then taken back.
        self.assertIn("allowed: user 'user-a@customer.example' is in user group 'crew'", out)
        # The demo explains as the operator: every name is shown.
        self.assertIn("on device group 'shared-vans' of account 'customer'", out)
        self.assertNotIn("(hidden)", out)
        self.assertIn("check user-a dev-c1 (parent's device): denied: ", out)
        self.assertIn("user-a@customer.example (4): dev-c1, dev-a1, dev-a2, dev-a3", out)
        self.assertNotIn("SPEC", out)
        self.assertEqual(self.visible_keys("user-a@customer.example"),
                         ["dev-a1", "dev-a2", "dev-a3"])
        # A second run only shows: what a user set up since (sharing on, a
        # grant of its own) stays, and no revision is made.
        self.ok("account", "update", "customer", "--group-sharing", "on")
        self.ok("grant", "crew", "--owner", "customer-a", "--role", "viewer", "--on",
                "shared-vans", "--on-owner", "customer", "--on-kind", "device")
        revision = self.ok("stats", "canopy.revision")
        again = self.ok("demo")
        self.assertIn("Already seeded", again)
        self.assertNotIn("revoke it", again)
        self.assertEqual(self.ok("stats", "canopy.revision"), revision)
        self.assertEqual(self.visible_keys("user-a@customer.example"),
                         ["dev-c1", "dev-a1", "dev-a2", "dev-a3"])

    def test_demo_on_a_database_holding_part_of_it_is_refused_unchanged(self):
        """The seed is checked before any write: a database holding part of it
        (another account's device under one of its keys, or a seed cut
        short) is refused, naming what it holds, with nothing written; a
        second run says the same, never 'Already seeded'."""
        self.ok("account", "create", "other", "--name", "O")
        self.ok("device", "create", "dev-a1", "--account", "other", "--name", "clash")
        revision = self.ok("stats", "canopy.revision")
        for _ in range(2):
            err = self.refused("demo")
            self.assertIn("already holds device 'dev-a1' but not account 'customer'", err)
            self.assertIn("nothing was changed", err)
            self.assertEqual(self.ok("stats", "canopy.revision"), revision)
        # A seed cut short (here: the whole example but one device).
        partial = self.path("partial")
        self.ok("--db", partial, "demo", db=False)
        self.ok("--db", partial, "device", "delete", "dev-c2", db=False)
        err = self.refused("--db", partial, "demo", db=False)
        self.assertIn("but not device 'dev-c2'", err)

    def test_demo_stopped_by_a_signal_leaves_a_whole_seed(self):
        """SIGTERM or Ctrl-C while the demo seeds: the seed runs whole and
        the demo stops after it, so that the next demo shows it (a seed cut
        short would be refused for good)."""
        for i, sig in enumerate([signal.SIGTERM, signal.SIGINT] * 3):
            db = self.path("stopped-%d" % i)
            p = subprocess.Popen([CANOPY, "--db", db, "demo"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=self.dir)
            if self.wait_until_caught(p, sig):
                time.sleep(0.01 * i)  # at several moments of the seed
                p.send_signal(sig)
            out, err = p.communicate(timeout=120)
            if p.returncode != 0:
                self.assertEqual(p.returncode, 1, err)
                self.assertIn("demo: stopped", err)
            again = self.expect(0, "--db", db, "demo", db=False).stdout
            self.assertTrue("Already seeded" in again or "Seeded the example" in again, again)
            self.assertIn("every invariant holds", self.ok("--db", db, "check-db", db=False))

    def test_check_db(self):
        self.seed()
        self.assertIn("every invariant holds", self.ok("check-db"))
        self.assertEqual(self.json_one("check-db"), {"ok": True, "problems": []})

    def test_check_db_that_cannot_read_a_block_says_why(self):
        """A damaged data block stops the check before any problem is listed:
        the JSON object says why it is not ok, and the text names the file."""
        records = [{"type": "account", "key": "t", "name": "T"}]
        records += [{"type": "device", "key": "dev-%05d" % i, "name": "Device %d" % i,
                     "account": "t"} for i in range(20000)]
        self.ok("import", self.write("many.jsonl", jsonl(records)))
        tables = sorted((f for f in os.listdir(self.db) if f.endswith(".sst")),
                        key=lambda f: os.path.getsize(os.path.join(self.db, f)))
        biggest = os.path.join(self.db, tables[-1])
        with open(biggest, "r+b") as f:  # one byte in the middle of its data blocks
            f.seek(os.path.getsize(biggest) // 3)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
        p = self.expect(1, "--json", "check-db")
        report = json.loads(p.stdout)
        self.assertFalse(report["ok"])
        self.assertIn("error", report)
        self.assertTrue(report["problems"] or "checksum" in report["error"], report)
        self.assertIn(tables[-1], p.stderr)
        self.assertIn(tables[-1], self.refused("check-db"))
        # A table file gone: the database does not open, and --json still
        # prints its object, saying why.
        os.remove(biggest)
        p = self.expect(1, "--json", "check-db")
        report = json.loads(p.stdout)
        self.assertEqual((report["ok"], report["problems"]), (False, []))
        self.assertIn(tables[-1][:-4], report["error"])


if __name__ == "__main__":
    unittest.main()


class TerminalTest(CliTestCase):
    """Stored names with control characters cannot forge rows or move the
    cursor in human-readable output: they are printed escaped."""

    FORGED = "Van\ndev-secret  Stolen\x1b[31m red\x1b[0m\r\u009b2J"

    def test_control_characters_are_escaped_everywhere(self):
        self.seed()
        self.ok("account", "update", "acme-b", "--name", "B\nacme-x  Fake  0  0\u009b\x7f")
        self.ok("device", "update", "dev-a1", "--name", self.FORGED)
        outputs = {
            "visible": self.ok("visible", "--user", "admin@acme.example"),
            "tree": self.ok("tree"),
            "tree dot": self.ok("tree", "--format", "dot"),
            "device show": self.ok("device", "show", "dev-a1"),
            "account show": self.ok("account", "show", "acme-b"),
            "log": self.ok("log"),
            "account list": self.ok("account", "list"),
        }
        for what, out in outputs.items():
            for bad in ("\x1b", "\r", "\u009b", "\x7f"):
                self.assertNotIn(bad, out, f"{what} printed a raw control character")
        self.assertIn("\\u009b\\u007f", outputs["tree dot"])
        self.assertIn("Van\\ndev-secret  Stolen\\x1b[31m red\\x1b[0m\\r\\u009b2J",
                      outputs["device show"])
        # One row per device and per account: no forged lines.
        visible_rows = [l for l in outputs["visible"].splitlines() if l.strip()]
        self.assertEqual(len(visible_rows), 1 + 5, outputs["visible"])
        self.assertFalse(any(l.startswith("dev-secret") for l in visible_rows))
        tree_rows = [l for l in outputs["tree"].splitlines() if l.strip()]
        self.assertEqual(len(tree_rows), 1 + 4, outputs["tree"])
        self.assertFalse(any(l.lstrip().startswith("acme-x") for l in tree_rows))
        # JSON keeps the exact text (escaped the JSON way).
        shown = self.json_one("device", "show", "dev-a1")
        self.assertEqual(shown["name"], self.FORGED)

    def test_bidirectional_controls_are_escaped(self):
        """A right-to-left override (or any bidirectional control, or a
        line separator) in a name could reorder a row on the terminal
        ("Trojan Source"): text output escapes them, JSON keeps them."""
        self.seed()
        name = "Truck \u202eevil\u202c \u2066x\u2069\u2028row\u200f"
        self.ok("device", "update", "dev-a1", "--name", name)
        self.ok("account", "update", "acme-b", "--name", "B\u202e")
        for what, out in {"visible": self.ok("visible", "--user", "admin@acme.example"),
                          "tree": self.ok("tree"),
                          "tree dot": self.ok("tree", "--format", "dot"),
                          "device show": self.ok("device", "show", "dev-a1"),
                          "account list": self.ok("account", "list")}.items():
            for bad in ("\u202e", "\u202c", "\u2066", "\u2069", "\u2028", "\u200f"):
                self.assertNotIn(bad, out, f"{what} printed {bad!r} raw")
        self.assertIn("Truck \\u202eevil\\u202c \\u2066x\\u2069\\u2028row\\u200f",
                      self.ok("device", "show", "dev-a1"))
        self.assertEqual(self.json_one("device", "show", "dev-a1")["name"], name)
        self.assertIn('"B\\u202e', self.ok("tree", "--format", "dot"))
        self.assertIn("B\u202e", self.ok("tree", "--format", "json"))  # JSON keeps it

    def test_errors_are_escaped_too(self):
        self.seed()
        err = self.refused("device", "show", "no\x1b[2Jsuch")
        self.assertNotIn("\x1b", err)
        self.assertIn("no\\x1b[2Jsuch", err)
        err = self.usage_error("--nonsense\x1b[2J")
        self.assertNotIn("\x1b", err)
        # A byte that is not UTF-8 (a lone 0x9b is a terminal's CSI) is
        # escaped as such; the test would fail to decode it otherwise.
        err = self.refused("device", "show", "no\udc9b[2Jsuch")
        self.assertIn("no\\x9b[2Jsuch", err)

class LongReadersTest(CliTestCase):
    """The commands that read the whole database keep no writer out."""

    def test_check_db_and_export_keep_no_writer_out(self):
        """check-db and export read a view as of their start, opened
        read-only: another process writes meanwhile, and they see none of
        it (they used to hold the folder for their whole run, so that
        every mutation meanwhile was refused as read-only)."""
        import signal
        import subprocess
        from cli_harness import CANOPY, SEED
        extra = [{"type": "device", "key": "bulk-%d" % i, "name": "D", "account": "acme-b"}
                 for i in range(70000)]  # check-db reports progress every 65,536
        self.seed(extra)
        # An export to a pipe nobody reads yet: it stops once the pipe is full.
        export = subprocess.Popen([CANOPY, "--db", self.db, "export", "-"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = export.stdout.read(1024)  # it has opened the database
            self.assertIn(b'"type":"begin"', first)
            p = self.expect(0, "account", "create", "during-export", "--name", "X")
            self.assertNotIn("note", p.stderr)
            rest = export.stdout.read()
            self.assertEqual(export.wait(timeout=60), 0)
        finally:
            if export.poll() is None:
                export.kill()
                export.wait()
        self.assertNotIn(b"during-export", first + rest)
        self.assertEqual(first.count(b"\n") + rest.count(b"\n"), len(SEED) + 70002)
        # A check-db stopped while it checks.
        check = subprocess.Popen([CANOPY, "--db", self.db, "check-db", "--progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("checking", check.stderr.readline())  # mid-check
            check.send_signal(signal.SIGSTOP)
            p = self.expect(0, "account", "create", "during-check", "--name", "X")
            self.assertNotIn("note", p.stderr)
            check.send_signal(signal.SIGCONT)
            out, _ = check.communicate(timeout=60)
            self.assertEqual(check.returncode, 0)
            self.assertIn("every invariant holds", out)
        finally:
            if check.poll() is None:
                check.kill()
                check.wait()
        self.assertIn("during-check", self.ok("account", "show", "during-check"))

class ReadOnlyTest(CliTestCase):
    """Beside a process that holds the database open for writing, commands
    read it read-only (saying so) and mutations are refused as such."""

    def setUp(self):
        super().setUp()
        self.seed()

    def test_a_busy_database_is_read_read_only(self):
        import subprocess
        import time
        from cli_harness import CANOPY
        # `ui` holds the database open (and its lock) until stopped (`log
        # --follow` would not: it follows as a follower, never locking).
        holder = subprocess.Popen([CANOPY, "--db", self.db, "ui"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("127.0.0.1", holder.stdout.readline())  # it has opened the database
            p = self.expect(0, "tree")
            self.assertIn("acme-a", p.stdout)
            self.assertIn("opened read-only", p.stderr)
            p = self.expect(1, "account", "create", "x", "--name", "X")
            self.assertIn("opened read-only", p.stderr)
            self.assertIn("failed_precondition", p.stderr)
            self.assertIn("read-only", p.stderr.splitlines()[-1])
            p = self.expect(0, "--read-only", "account", "show", "acme")
            self.assertNotIn("note", p.stderr)
            # A follower beside it, chosen by flag: no note; writes refused.
            p = self.expect(0, "--follower", "account", "show", "acme")
            self.assertNotIn("note", p.stderr)
            p = self.expect(1, "--follower", "account", "create", "x", "--name", "X")
            self.assertIn("follower", p.stderr.splitlines()[-1])
            # A backup beside it: a copy of the read-only view, verified.
            p = self.expect(0, "backup", self.path("bk"))
            self.assertIn("opened read-only", p.stderr)
            self.assertRegex(p.stdout, r"^backup of revision \d+ written to ")
            p = self.expect(0, "--follower", "backup", self.path("bk2"))
            self.assertRegex(p.stdout, r"^backup of revision \d+ written to ")
        finally:
            holder.terminate()
            holder.wait(timeout=30)
        # Nothing was written meanwhile; afterwards the writer's way is free.
        self.refused("account", "show", "x")
        for backup in ("bk", "bk2"):
            self.assertIn("acme-a", self.ok("--db", self.path(backup), "tree", db=False))
        self.ok("account", "create", "x", "--name", "X")

    def test_follower_flag(self):
        self.assertIn("acme", self.ok("--follower", "account", "list"))
        err = self.refused("--follower", "account", "create", "y", "--name", "Y")
        self.assertIn("follower", err)
        err = self.refused("--follower", "--db", self.path("none"), "tree", db=False)
        self.assertIn("no database", err)
        self.assertFalse(os.path.exists(self.path("none")))
        self.assertIn("more than once", self.usage_error("--follower", "--follower", "tree"))
        self.assertIn("exclude each other", self.usage_error("--follower", "--read-only", "tree"))
        self.assertIn("does not go with --etcd",
                      self.usage_error("--follower", "--etcd", "http://127.0.0.1:1", "tree"))

    def test_read_only_flag(self):
        self.assertIn("acme", self.ok("--read-only", "account", "list"))
        err = self.refused("--read-only", "account", "create", "y", "--name", "Y")
        self.assertIn("read-only", err)
        err = self.refused("--read-only", "--db", self.path("none"), "tree", db=False)
        self.assertIn("no database", err)
        self.assertFalse(os.path.exists(self.path("none")))
        self.assertIn("more than once", self.usage_error("--read-only", "--read-only", "tree"))
        self.assertIn("does not go with --etcd",
                      self.usage_error("--read-only", "--etcd", "http://127.0.0.1:1", "tree"))
