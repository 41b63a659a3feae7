# Copyright (c) Canopy authors.
"""Output formats of the listings: CSV (--csv, RFC 4180) beside JSON Lines,
and check-db's progress on stderr."""

import csv
import io
import json
import os
import pty
import re
import select
import subprocess
import unittest

from cli_harness import CANOPY, CliTestCase

# Each listing with --csv: (arguments, the CSV columns, the JSON fields they
# come from when the names differ or are joined).
LISTINGS = [
    (["tree"], ["key", "name", "depth", "path", "users", "sub_accounts", "devices",
                "devices_subtree", "groups", "created"]),
    (["account", "list", "--depth", "0"],
     ["id", "key", "name", "parent", "depth", "sub_account_management",
      "sub_account_access", "created", "updated"]),
    (["user", "list"], ["id", "login", "name", "account", "disabled", "created"]),
    (["user", "list", "--account", "acme-b", "--members"], ["login", "account", "role", "branch"]),
    (["role", "list", "--tenant", "acme"], ["name", "tenant", "builtin", "permissions", "id"]),
    (["visible", "--user", "admin@acme.example"], ["key", "name", "account", "type", "kind", "id"]),
    (["who-can", "--permission", "device.read", "--entity", "dev-a1"],
     ["login", "account", "role", "branch", "user", "via"]),
]


def as_csv_text(value):
    """A JSON value as its CSV field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def csv_bytes(self, *args):
        """Runs with --csv; returns stdout as bytes (line ends exactly as written)."""
        argv = [CANOPY, "--db", self.db, "--csv"] + list(args)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"")
        return p.stdout

    def csv_rows(self, *args):
        data = self.csv_bytes(*args).decode("utf-8")
        return list(csv.reader(io.StringIO(data, newline="")))

    def test_every_listing_matches_its_json(self):
        for args, columns in LISTINGS:
            with self.subTest(args=args):
                rows = self.csv_rows(*args)
                self.assertEqual(rows[0], columns)
                records = self.json_lines(*args)
                self.assertEqual(len(rows) - 1, len(records))
                self.assertGreater(len(records), 0)
                for row, record in zip(rows[1:], records):
                    for column, cell in zip(columns, row):
                        if column == "path":
                            want = " > ".join(record["path"])
                        elif column == "permissions":
                            want = ",".join(record["permissions"])
                        elif column in ("sub_account_management", "sub_account_access"):
                            want = as_csv_text(record["settings"][column])
                        else:
                            want = as_csv_text(record[column])
                        self.assertEqual(cell, want, f"{column} of {record}")

    def test_lines_end_with_crlf_and_the_header_comes_first(self):
        data = self.csv_bytes("visible", "--user", "a@acme.example")
        lines = data.split(b"\r\n")
        self.assertEqual(lines[0], b"key,name,account,type,kind,id")
        self.assertEqual(lines[-1], b"")  # the last line ends with CRLF too
        self.assertEqual(len(lines), 1 + 3 + 1)
        self.assertNotIn(b"\n", data.replace(b"\r\n", b""))

    def test_fields_are_quoted_as_rfc_4180_says(self):
        tricky = 'Depot, "North"\nsecond line'
        self.ok("device", "update", "dev-a1", "--name", tricky)
        self.ok("device", "update", "dev-a2", "--name", "plain\ttab;semicolon")
        data = self.csv_bytes("visible", "--user", "a@acme.example")
        self.assertIn(b'dev-a1,"Depot, ""North""\nsecond line",acme-a,tracker,device,', data)
        self.assertIn(b"dev-a2,plain\ttab;semicolon,acme-a,", data)  # nothing to quote
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        self.assertEqual(rows[1][:2], ["dev-a1", tricky])  # exact, as --json keeps it
        self.assertEqual(rows[2][1], "plain\ttab;semicolon")

    def test_empty_listing_prints_the_header_alone(self):
        data = self.csv_bytes("visible", "--user", "b@acme.example", "--kind", "asset")
        self.assertEqual(data, b"key,name,account,type,kind,id\r\n")

    def test_csv_after_the_command_name_and_with_paging(self):
        self.assertEqual(self.ok("visible", "--user", "a@acme.example", "--csv").encode(),
                         self.csv_bytes("visible", "--user", "a@acme.example").replace(b"\r", b""))
        p = self.expect(0, "--csv", "visible", "--user", "admin@acme.example", "--limit", "2")
        self.assertEqual(len(p.stdout.splitlines()), 3)
        self.assertRegex(p.stderr, r"^next cursor: \S+\n$")
        # --count is CSV too: a header row, then the number, CRLF ended.
        self.assertEqual(self.csv_bytes("visible", "--user", "a@acme.example", "--count"),
                         b"count\r\n3\r\n")

    def test_csv_where_there_is_no_table_is_a_usage_error(self):
        before = self.ok("--json", "log", "--keys-only")
        for argv in (["--csv", "account", "show", "acme"],
                     ["account", "show", "acme", "--csv"],
                     ["--csv", "account", "create", "x", "--name", "X"],
                     ["--csv", "check", "--user", "a@acme.example", "--permission",
                      "device.read", "--entity", "dev-a1"],
                     ["--csv", "log"],
                     ["--csv", "export", self.path("e.jsonl")]):
            with self.subTest(argv=argv):
                err = self.usage_error(*argv)
                self.assertIn("--csv is for listings", err)
        self.assertEqual(self.ok("--json", "log", "--keys-only"), before)  # nothing created
        self.assertFalse(os.path.exists(self.path("e.jsonl")))

    def test_csv_and_json_exclude_each_other(self):
        for argv in (["--csv", "--json", "tree"], ["--json", "tree", "--csv"],
                     ["tree", "--csv", "--json"]):
            with self.subTest(argv=argv):
                self.assertIn("--json and --csv exclude each other", self.usage_error(*argv))
        self.assertIn("not with --format dot", self.usage_error("--csv", "tree", "--format", "dot"))
        for flags in (["--sort", "name"], ["--desc"]):
            self.assertIn("order the table: not with --format json",
                          self.usage_error("tree", "--format", "json", *flags))
        self.assertIn("group list", self.usage_error("--csv", "account", "show", "acme"))
        self.assertIn("--csv takes no value", self.usage_error("--csv=yes", "tree"))


class CheckDbProgressTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_progress_flag_prints_lines_on_stderr(self):
        p = self.expect(0, "check-db", "--progress")
        self.assertEqual(p.stdout, "ok: every invariant holds\n")
        lines = p.stderr.splitlines()
        self.assertGreaterEqual(len(lines), 1, p.stderr)
        self.assertNotIn("\r", p.stderr)
        for line in lines:
            self.assertRegex(line, r"^checking +\d+% \(\d+/\d+ entities\)$")
        self.assertRegex(lines[-1], r"^checking 100% \((\d+)/\1 entities\)$")
        # --json keeps stdout one object; progress stays on stderr.
        p = self.expect(0, "--json", "check-db", "--progress")
        self.assertEqual(json.loads(p.stdout), {"ok": True, "problems": []})
        self.assertIn("checking 100%", p.stderr)

    def test_no_progress_when_stderr_is_not_a_terminal(self):
        self.assertEqual(self.ok("check-db"), "ok: every invariant holds\n")  # stderr empty

    def test_progress_is_drawn_in_place_on_a_terminal(self):
        master, slave = pty.openpty()
        try:
            p = subprocess.run([CANOPY, "--db", self.db, "check-db"], stdout=subprocess.PIPE,
                               stderr=slave, timeout=120)
            os.close(slave)
            slave = None
            err = b""
            while select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, b"ok: every invariant holds\n")
        self.assertRegex(err.decode(), r"\rchecking \[#+\] 100% \((\d+)/\1 entities\)")

    def test_bad_progress_flag(self):
        self.assertIn("--progress takes no value", self.usage_error("check-db", "--progress=1"))
        self.assertIn("unknown flag --progres", self.usage_error("check-db", "--progres"))


if __name__ == "__main__":
    unittest.main()
