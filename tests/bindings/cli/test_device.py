# Copyright (c) Canopy authors.
"""canopy device create|show|update|delete|reassign (and --kind for other kinds)."""

import json
import unittest

from cli_harness import CliTestCase


class DeviceTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_create_with_every_flag(self):
        out = self.ok("device", "create", "dev-n", "--account", "acme-b", "--name", "New",
                      "--unit-id", "U-9", "--type", "tracker", "--attribute", "vin=ABC",
                      "--attribute", "colour=red")
        self.assertRegex(out, r"^created device 'dev-n' \(id \d+\) in account 'acme-b'\n$")
        d = self.json_one("device", "show", "dev-n")
        self.assertEqual((d["kind"], d["key"], d["unit_id"], d["name"], d["type"], d["account"],
                          d["attributes"]),
                         ("device", "dev-n", "U-9", "New", "tracker", "acme-b",
                          {"colour": "red", "vin": "ABC"}))
        self.assertIn("dev-n", self.visible_keys("b@acme.example"))

    def test_create_json_minimal(self):
        d = self.json_one("device", "create", "dev-n", "--account", "acme", "--name", "N")
        self.assertEqual((d["key"], d["unit_id"], d["type"], d["attributes"]),
                         ("dev-n", "", "", {}))

    def test_create_other_kinds(self):
        d = self.json_one("device", "create", "dash-1", "--kind", "dashboard", "--account",
                          "acme-a", "--name", "Fleet")
        self.assertEqual(d["kind"], "dashboard")
        self.assertEqual(self.visible_keys("a@acme.example", "--kind", "dashboard"), ["dash-1"])
        self.assertIn("invalid_argument",
                      self.refused("device", "create", "as-9", "--kind", "asset", "--account",
                                   "acme", "--name", "A", "--unit-id", "U-77"))

    def test_create_refusals(self):
        self.assertIn("already_exists",
                      self.refused("device", "create", "dev-a1", "--account", "acme", "--name",
                                   "Dup"))
        self.assertIn("already_exists",
                      self.refused("device", "create", "dev-q", "--account", "acme", "--name",
                                   "Q", "--unit-id", "U-0101"))
        self.assertIn("no account with key 'ghost'",
                      self.refused("device", "create", "dev-q", "--account", "ghost", "--name",
                                   "Q"))
        err = self.refused("--actor", "b@acme.example", "device", "create", "dev-q",
                           "--account", "acme-b", "--name", "Q")
        self.assertIn("permission device.write missing on account 'acme-b'", err)
        self.assertIn("no device with key 'dev-q'", self.refused("device", "show", "dev-q"))

    def test_create_usage_errors(self):
        self.assertIn("--account is required",
                      self.usage_error("device", "create", "d", "--name", "D"))
        self.assertIn("--name is required",
                      self.usage_error("device", "create", "d", "--account", "acme"))
        self.assertIn("missing KEY",
                      self.usage_error("device", "create", "--account", "acme", "--name", "D"))
        self.assertIn("--kind must be",
                      self.usage_error("device", "create", "d", "--account", "acme", "--name",
                                       "D", "--kind", "robot"))

    def test_show(self):
        out = self.ok("device", "show", "dev-a1")
        self.assertIn("device:   dev-a1", out)
        self.assertIn("unit id:  U-0101", out)
        self.assertIn("account:  acme-a", out)
        self.assertIn("  vin = V1", out)
        self.assertEqual(self.json_one("device", "show", "--unit-id", "U-0201")["key"], "dev-b1")
        a = self.json_one("device", "show", "site-7", "--kind", "asset")
        self.assertEqual((a["kind"], a["name"], a["account"]), ("asset", "Depot", "acme-a"))
        self.assertIn("no device with unit id 'U-404'",
                      self.refused("device", "show", "--unit-id", "U-404"))
        self.assertIn("no asset with key 'dev-a1'",
                      self.refused("device", "show", "dev-a1", "--kind", "asset"))
        self.assertIn("either KEY or --unit-id", self.usage_error("device", "show"))
        self.assertIn("either KEY or --unit-id",
                      self.usage_error("device", "show", "dev-a1", "--unit-id", "U-0101"))
        self.assertIn("only devices have unit ids",
                      self.usage_error("device", "show", "--unit-id", "U-1", "--kind", "asset"))

    def test_update_and_delete(self):
        d = self.json_one("device", "update", "dev-a1", "--name", "Truck One", "--type", "truck",
                          "--unit-id", "U-1111", "--attribute", "plate=XY", "--remove-attribute",
                          "vin")
        self.assertEqual((d["name"], d["type"], d["unit_id"], d["attributes"]),
                         ("Truck One", "truck", "U-1111", {"plate": "XY"}))
        self.assertEqual(self.ok("device", "update", "dev-a1", "--unit-id", ""),
                         "updated device 'dev-a1'\n")
        self.assertEqual(self.json_one("device", "show", "dev-a1")["unit_id"], "")
        self.assertIn("has no attribute 'vin'",
                      self.refused("device", "update", "dev-a1", "--remove-attribute", "vin"))
        self.assertIn("nothing to change", self.usage_error("device", "update", "dev-a1"))
        self.assertIn("--unit-id needs a unit id",
                      self.usage_error("device", "create", "d-new", "--account", "acme",
                                       "--name", "N", "--unit-id", ""))
        err = self.refused("--actor", "b@acme.example", "device", "delete", "dev-b1")
        self.assertIn("permission device.delete missing on account 'acme-b'", err)
        self.assertEqual(self.ok("device", "delete", "dev-b1"), "deleted device 'dev-b1'\n")
        self.assertEqual(self.ok("device", "delete", "site-7", "--kind", "asset"),
                         "deleted asset 'site-7'\n")
        self.assertIn("no device with key 'dev-b1'", self.refused("device", "delete", "dev-b1"))


class ReassignTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def owners(self, *keys):
        return [self.json_one("device", "show", k)["account"] for k in keys]

    def test_by_keys(self):
        out = self.ok("device", "reassign", "--to", "acme-b", "--keys", "dev-a1,dev-a2,dev-b1")
        lines = [l.split() for l in out.splitlines()]
        self.assertEqual(lines[0], ["REF", "OUTCOME", "PREVIOUS_OWNER", "MESSAGE"])
        self.assertEqual(lines[1:4], [["dev-a1", "moved", "acme-a"], ["dev-a2", "moved", "acme-a"],
                                      ["dev-b1", "unchanged", "acme-b"]])
        self.assertEqual(out.splitlines()[-1], "2 moved to 'acme-b', 1 unchanged")
        self.assertEqual(self.owners("dev-a1", "dev-a2", "dev-b1"), ["acme-b"] * 3)

    def test_by_unit_ids_json(self):
        rows = self.json_lines("device", "reassign", "--to", "acme", "--unit-ids", "U-0101,U-1101")
        self.assertEqual(rows[:2],
                         [{"ref": "U-0101", "outcome": "moved", "previous_owner": "acme-a"},
                          {"ref": "U-1101", "outcome": "moved", "previous_owner": "acme-a1"}])
        self.assertEqual(rows[2], {"ok": True, "to": "acme", "moved": 2, "unchanged": 0,
                                   "unknown": 0, "denied": 0, "duplicate": 0})
        self.assertEqual(self.owners("dev-a1", "dev-a11"), ["acme", "acme"])

    def test_from_file(self):
        f = self.write("keys.txt", "# devices for B\ndev-a1\n\n  dev-a2  \r\n")
        self.ok("device", "reassign", "--to", "acme-b", "--from-file", f)
        self.assertEqual(self.owners("dev-a1", "dev-a2"), ["acme-b", "acme-b"])
        f = self.write("units.txt", "U-0101\nU-0102\n")
        self.ok("device", "reassign", "--to", "acme-a1", "--from-file", f, "--by", "unit-id")
        self.assertEqual(self.owners("dev-a1", "dev-a2"), ["acme-a1", "acme-a1"])
        f = self.write("keys2.txt", "dev-a1\n")
        self.ok("device", "reassign", "--to", "acme", "--from-file", f, "--by", "key")
        self.assertEqual(self.owners("dev-a1"), ["acme"])
        # A byte order mark (Notepad's "UTF-8 with BOM") is not part of the first key.
        f = self.write("bom.txt", "\ufeffdev-a1\r\ndev-a2\r\n")
        self.ok("device", "reassign", "--to", "acme-b", "--from-file", f)
        self.assertEqual(self.owners("dev-a1", "dev-a2"), ["acme-b", "acme-b"])

    def test_other_kinds(self):
        self.ok("device", "reassign", "--kind", "asset", "--to", "acme-b", "--keys", "site-7")
        self.assertEqual(self.json_one("device", "show", "site-7", "--kind", "asset")["account"],
                         "acme-b")

    def test_refused_batch_reports_every_item_and_moves_nothing(self):
        before = self.export_text("before.jsonl")
        p = self.expect(1, "--json", "device", "reassign", "--to", "acme-b", "--keys",
                        "dev-a1,ghost,dev-a1,dev-b1")
        rows = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual([(r["ref"], r["outcome"]) for r in rows[:4]],
                         [("dev-a1", "moved"), ("ghost", "unknown"), ("dev-a1", "duplicate"),
                          ("dev-b1", "unchanged")])
        self.assertIn("no device with key 'ghost'", rows[1]["message"])
        self.assertEqual((rows[4]["ok"], rows[4]["unknown"], rows[4]["duplicate"]),
                         (False, 1, 1))
        self.assertIn("nothing was reassigned", p.stderr)
        self.assertEqual(self.export_text("after.jsonl"), before)

    def test_duplicates_alone_refuse_the_batch(self):
        p = self.expect(1, "device", "reassign", "--to", "acme-b", "--unit-ids", "U-0101,U-0101")
        self.assertIn("duplicate", p.stdout)
        self.assertIn("refused, nothing moved", p.stdout)
        self.assertEqual(self.owners("dev-a1"), ["acme-a"])

    def test_denied_via_actor(self):
        # a administers acme-a: it may not take B's device, nor give to B.
        # B's device is invisible to a: it is reported like a missing one.
        p = self.expect(1, "--actor", "a@acme.example", "device", "reassign", "--to", "acme-a",
                        "--keys", "dev-a2,dev-b1")
        self.assertRegex(p.stdout, r"dev-b1\s+unknown\s+no device with key 'dev-b1'")
        self.assertNotIn("acme-b", p.stdout)
        self.assertEqual(self.owners("dev-b1"), ["acme-b"])
        p = self.expect(1, "--actor", "a@acme.example", "device", "reassign", "--to", "acme-b",
                        "--keys", "dev-a1")
        self.assertIn("no account with key 'acme-b'", p.stderr)  # out of its sight
        # Within its own subtree it may.
        self.ok("--actor", "a@acme.example", "device", "reassign", "--to", "acme-a1", "--keys",
                "dev-a1")
        self.assertEqual(self.owners("dev-a1"), ["acme-a1"])

    def test_errors(self):
        self.assertIn("no account with key 'ghost'",
                      self.refused("device", "reassign", "--to", "ghost", "--keys", "dev-a1"))
        self.assertIn("cannot open '" + self.path("missing.txt") + "': No such file or directory",
                      self.refused("device", "reassign", "--to", "acme", "--from-file",
                                   self.path("missing.txt")))
        f = self.write("empty.txt", "# nothing\n\n")
        self.assertIn("names no entities",
                      self.refused("device", "reassign", "--to", "acme", "--from-file", f))

    def test_usage_errors(self):
        r = ["device", "reassign"]
        self.assertIn("--to is required", self.usage_error(*r, "--keys", "dev-a1"))
        self.assertIn("exactly one of", self.usage_error(*r, "--to", "acme"))
        self.assertIn("exactly one of",
                      self.usage_error(*r, "--to", "acme", "--keys", "a", "--unit-ids", "U"))
        self.assertIn("--by goes with --from-file",
                      self.usage_error(*r, "--to", "acme", "--keys", "a", "--by", "key"))
        f = self.write("k.txt", "dev-a1\n")
        self.assertIn("--by must be key or unit-id",
                      self.usage_error(*r, "--to", "acme", "--from-file", f, "--by", "vin"))
        self.assertIn("--keys has an empty item",
                      self.usage_error(*r, "--to", "acme", "--keys", ",,"))
        self.assertIn("--keys has an empty item",
                      self.usage_error(*r, "--to", "acme", "--keys", "dev-a1,,dev-a2"))
        self.assertIn("--unit-ids has an empty item",
                      self.usage_error(*r, "--to", "acme", "--unit-ids", "U-1,"))
        self.assertIn("is empty", self.usage_error(*r, "--to", "acme", "--keys", ""))
        self.assertIn("only devices have unit ids",
                      self.usage_error(*r, "--to", "acme", "--unit-ids", "U-1", "--kind", "asset"))
        self.assertIn("unexpected argument", self.usage_error(*r, "--to", "acme", "dev-a1"))


if __name__ == "__main__":
    unittest.main()
