# Copyright (c) Canopy authors.
"""canopy stats: the database's statistics, as text and as JSON."""

import json
import os
import unittest

from cli_harness import CliTestCase


class StatsTest(CliTestCase):
    def test_stats_lists_the_watched_names(self):
        self.seed()
        out = self.ok("stats")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "VALUE"])
        values = dict(line.split(None, 1) for line in lines[1:])
        self.assertEqual(values["canopy.accounts"].strip(), "4")
        self.assertEqual(values["canopy.users"].strip(), "4")
        self.assertEqual(values["canopy.revision"].strip(), "1")
        self.assertIn("rocksdb.estimate-num-keys", values)

    def test_stats_json_gives_numbers(self):
        self.seed()
        got = self.json_one("stats")
        self.assertEqual(got["canopy.accounts"], 4)
        self.assertEqual(got["canopy.devices"] + got["canopy.assets"] +
                         got["canopy.dashboards"] + got["canopy.entity-views"], 6)
        got = self.json_one("stats", "canopy.revision", "rocksdb.estimate-num-keys@entities")
        self.assertEqual(list(got), ["canopy.revision", "rocksdb.estimate-num-keys@entities"])
        self.assertEqual(got["canopy.revision"], 1)
        # A value of several lines is a string, and printed after the table.
        got = self.json_one("stats", "rocksdb.stats@entities")
        self.assertIsInstance(got["rocksdb.stats@entities"], str)
        out = self.ok("stats", "canopy.users", "rocksdb.stats@entities")
        self.assertIn("rocksdb.stats@entities:\n", out)
        self.assertIn("Compaction Stats", out)

    def test_help_names_every_canopy_name_stats_prints(self):
        self.seed()
        shown = [line.split(None, 1)[0] for line in self.ok("stats").splitlines()[1:]]
        helped = self.ok("stats", "--help")
        for name in shown:
            if name.startswith("canopy."):
                self.assertRegex(helped, r"(?<![\w.-])" + name.replace(".", r"\.") + r"(?![\w-])",
                                 name)

    def test_a_name_given_twice_is_printed_once(self):
        self.seed()
        out = self.ok("--json", "stats", "canopy.revision", "canopy.users", "canopy.revision")
        self.assertEqual(out.count("canopy.revision"), 1, out)
        self.assertEqual(list(json.loads(out)), ["canopy.revision", "canopy.users"])
        out = self.ok("stats", "canopy.users", "canopy.users")
        self.assertEqual(out.count("canopy.users"), 1, out)

    def test_bad_names_and_actors_are_refused(self):
        self.seed()
        self.assertIn("no property 'canopy.nope'", self.refused("stats", "canopy.nope"))
        self.assertIn("no property", self.refused("stats", "canopy.users", "bogus"))
        self.assertIn("system actor", self.refused("--actor", "admin@acme.example", "stats"))
        self.usage_error("stats", "--verbose")

    def test_stats_of_a_missing_database_creates_nothing(self):
        self.refused("stats")
        self.assertFalse(os.path.exists(self.db))


if __name__ == "__main__":
    unittest.main()
