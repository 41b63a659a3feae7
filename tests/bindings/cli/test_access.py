# Copyright (c) Canopy authors.
"""canopy check and canopy who-can."""

import unittest

from cli_harness import CliTestCase


class CheckTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def check(self, login, permission, entity, *flags):
        return self.ok("check", "--user", login, "--permission", permission, "--entity", entity,
                       *flags)

    def test_allowed_and_denied_both_exit_0(self):
        self.assertEqual(self.check("a@acme.example", "device.read", "dev-a1"), "allowed\n")
        self.assertEqual(self.check("a@acme.example", "device.read", "dev-a11"), "allowed\n")
        self.assertEqual(self.check("a@acme.example", "device.read", "dev-c1"), "denied\n")
        self.assertEqual(self.check("a@acme.example", "device.read", "dev-b1"), "denied\n")
        self.assertEqual(self.check("b@acme.example", "device.write", "dev-b1"), "denied\n")
        self.assertEqual(self.check("a@acme.example", "asset.read", "site-7"), "allowed\n")

    def test_explain_allowed(self):
        out = self.check("a@acme.example", "device.read", "dev-a11", "--explain")
        lines = dict(l.split(":", 1) for l in out.splitlines()[1:])
        self.assertEqual(out.splitlines()[0], "allowed")
        self.assertIn("account_admin", lines["reason"])
        self.assertEqual(lines["owner"].strip(), "acme-a1")
        self.assertEqual(lines["account"].strip(), "acme-a (the membership)")
        self.assertEqual(lines["role"].strip(), "account_admin")
        self.assertEqual(lines["branch"].strip(), "yes")
        self.assertEqual(lines["path"].strip(), "acme-a > acme-a1")

    def test_explain_denied(self):
        out = self.check("a@acme.example", "device.read", "dev-c1", "--explain")
        self.assertEqual(out.splitlines()[0], "denied")
        self.assertIn("top-down", out)
        self.assertNotIn("role:", out)

    def test_json(self):
        r = self.json_one("check", "--user", "a@acme.example", "--permission", "device.read",
                          "--entity", "dev-a11")
        self.assertEqual(r, {"allowed": True, "entity": "dev-a11", "owner": "acme-a1"})
        r = self.json_one("check", "--user", "aud@acme.example", "--permission", "device.read",
                          "--entity", "dev-b1", "--explain")
        self.assertEqual((r["allowed"], r["account"], r["role"], r["branch"], r["path"]),
                         (True, "acme-b", "auditor", False, ["acme-b"]))
        self.assertIn("reason", r)
        r = self.json_one("check", "--user", "b@acme.example", "--permission", "device.read",
                          "--entity", "dev-a1", "--explain")
        self.assertEqual((r["allowed"], r["owner"]), (False, "acme-a"))
        self.assertNotIn("role", r)

    def test_disabled_user_is_denied(self):
        self.ok("user", "disable", "a@acme.example")
        self.assertEqual(self.check("a@acme.example", "device.read", "dev-a1"), "denied\n")

    def test_errors(self):
        base = ["check", "--user", "a@acme.example", "--permission", "device.read"]
        self.assertIn("no device with key 'ghost'", self.refused(*base, "--entity", "ghost"))
        self.assertIn("no user with login 'nobody'",
                      self.refused("check", "--user", "nobody", "--permission", "device.read",
                                "--entity", "dev-a1"))
        self.assertIn("unknown permission",
                      self.refused("check", "--user", "a@acme.example", "--permission", "device.x",
                                "--entity", "dev-a1"))
        self.assertIn("not a permission on entities",
                      self.refused("check", "--user", "a@acme.example", "--permission",
                                "account.read", "--entity", "dev-a1"))

    def test_usage_errors(self):
        self.assertIn("--user is required",
                      self.usage_error("check", "--permission", "device.read", "--entity", "x"))
        self.assertIn("--permission is required",
                      self.usage_error("check", "--user", "a@acme.example", "--entity", "x"))
        self.assertIn("--entity is required",
                      self.usage_error("check", "--user", "a@acme.example", "--permission",
                                       "device.read"))


class WhoCanTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_json(self):
        rows = self.json_lines("who-can", "--permission", "device.read", "--entity", "dev-b1")
        self.assertEqual(
            [(r["login"], r["account"], r["role"], r["branch"]) for r in rows],
            [("admin@acme.example", "acme", "account_admin", True),
             ("b@acme.example", "acme-b", "viewer", False),
             ("aud@acme.example", "acme-b", "auditor", False)])
        self.assertTrue(all(isinstance(r["user"], int) for r in rows))

    def test_permission_matters(self):
        rows = self.json_lines("who-can", "--permission", "device.assign", "--entity", "dev-a11")
        self.assertEqual([r["login"] for r in rows], ["admin@acme.example", "a@acme.example"])

    def test_table(self):
        out = self.ok("who-can", "--permission", "device.read", "--entity", "dev-a1")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["LOGIN", "ACCOUNT", "ROLE", "BRANCH"])
        self.assertEqual([l.split() for l in lines[1:]],
                         [["admin@acme.example", "acme", "account_admin", "yes"],
                          ["a@acme.example", "acme-a", "account_admin", "yes"]])

    def test_other_kinds(self):
        rows = self.json_lines("who-can", "--permission", "asset.read", "--entity", "site-7")
        self.assertEqual([r["login"] for r in rows], ["admin@acme.example", "a@acme.example"])

    def test_errors(self):
        self.assertIn("no device with key 'ghost'",
                      self.refused("who-can", "--permission", "device.read", "--entity", "ghost"))
        self.assertIn("unknown permission",
                      self.refused("who-can", "--permission", "nope", "--entity", "dev-a1"))
        self.assertIn("--entity is required",
                      self.usage_error("who-can", "--permission", "device.read"))
        self.assertIn("--permission is required", self.usage_error("who-can", "--entity", "x"))


if __name__ == "__main__":
    unittest.main()
