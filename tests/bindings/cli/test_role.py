# Copyright (c) Canopy authors.
"""canopy role ...: custom roles of a root tenant."""

import unittest

from cli_harness import CliTestCase, jsonl


class RoleTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_list(self):
        rows = self.json_lines("role", "list")
        self.assertEqual([(r["name"], r["builtin"]) for r in rows],
                         [("account_admin", True), ("device_manager", True), ("viewer", True)])
        rows = self.json_lines("role", "list", "--tenant", "acme-a")
        self.assertEqual(rows[-1]["name"], "auditor")
        self.assertEqual(rows[-1]["tenant"], "acme")
        self.assertEqual(rows[-1]["permissions"], ["account.read", "device.read"])
        out = self.ok("role", "list", "--tenant", "acme")
        self.assertIn("(built-in)", out)
        self.assertIn("auditor", out)

    def test_create_update_delete(self):
        out = self.ok("role", "create", "installer", "--tenant", "acme", "--permissions",
                      "device.read,device.write")
        self.assertRegex(out, r"^created role 'installer' \(id \d+\) in tenant 'acme'\n$")
        r = self.json_one("role", "update", "installer", "--tenant", "acme", "--permissions",
                          "device.read,device.assign,fe.account-hierarchy.read.subAccount")
        self.assertEqual(r["permissions"], ["account.read", "device.assign", "device.read"])
        self.assertEqual(self.ok("role", "delete", "installer", "--tenant", "acme"),
                         "deleted role 'installer'\n")
        self.assertNotIn("installer", self.ok("role", "list", "--tenant", "acme"))

    def test_refusals(self):
        self.assertIn("unknown permission 'device.fly'",
                      self.refused("role", "create", "x", "--tenant", "acme", "--permissions",
                                   "device.fly"))
        self.assertIn("not one", self.refused("role", "create", "x", "--tenant", "acme-a",
                                              "--permissions", "device.read"))
        self.assertIn("used by 1 membership",
                      self.refused("role", "delete", "auditor", "--tenant", "acme"))
        self.assertIn("cannot be deleted",
                      self.refused("role", "delete", "viewer", "--tenant", "acme"))
        err = self.refused("--actor", "b@acme.example", "role", "create", "x", "--tenant",
                           "acme", "--permissions", "device.read")
        self.assertIn("no account with key 'acme'", err)  # out of its sight

    def test_a_custom_role_of_a_hidden_tenant_is_unknown_to_the_actor(self):
        # b@acme.example sees acme-b, not its root tenant acme: acme's custom
        # role is neither listed nor usable, and is named as it was asked for.
        names = [r["name"] for r in self.json_lines("--actor", "b@acme.example", "role", "list",
                                                     "--tenant", "acme-b")]
        self.assertNotIn("auditor", names)
        self.assertIn("viewer", names)
        err = self.refused("--actor", "b@acme.example", "user", "invite", "b@acme.example",
                           "--account", "acme-b", "--role", "auditor")
        self.assertIn("no role 'auditor' in the tenant of account 'acme-b'", err)
        self.assertNotIn("with id", err)

    def test_a_custom_role_of_a_hidden_tenant_is_not_named(self):
        # b@acme.example sees the membership of aud@acme.example on acme-b
        # (it holds user.read there), not the custom role it holds: every
        # listing, answer and refusal shows the role as (hidden).
        b = ("--actor", "b@acme.example")
        rows = self.json_lines(*b, "user", "list", "--account", "acme-b", "--members")
        self.assertEqual([(r["login"], r["role"]) for r in rows],
                         [("b@acme.example", "viewer"), ("aud@acme.example", "(hidden)")])
        shown = self.json_one(*b, "user", "show", "aud@acme.example")
        self.assertEqual([m["role"] for m in shown["memberships"]], ["(hidden)"])
        out = self.ok(*b, "user", "show", "aud@acme.example")
        self.assertNotIn("auditor", out)
        rows = self.json_lines(*b, "who-can", "--permission", "device.read", "--entity", "dev-b1")
        self.assertIn(("aud@acme.example", "(hidden)"), [(r["login"], r["role"]) for r in rows])
        # The auditor does not see acme either, but holds the role itself:
        # its own explanation and listing name it, as its memberships are
        # its own to see.
        why = self.json_one("--actor", "aud@acme.example", "check", "--user", "aud@acme.example",
                            "--permission", "device.read", "--entity", "dev-b1", "--explain")
        self.assertEqual(why["role"], "auditor")
        shown = self.json_one("--actor", "aud@acme.example", "user", "show", "aud@acme.example")
        self.assertEqual([m["role"] for m in shown["memberships"]], ["auditor"])
        # A refusal to act on the membership does not name it either.
        more = self.write("more.jsonl", jsonl([
                   {"type": "role", "tenant": "acme", "name": "remover",
                    "permissions": ["user.read", "user.remove"]},
                   {"type": "user", "login": "rem@acme.example", "name": "Rem",
                    "account": "acme-b"},
                   {"type": "membership", "login": "rem@acme.example", "account": "acme-b",
                    "role": "remover", "branch": False}]))
        self.ok("import", more)
        err = self.refused("--actor", "rem@acme.example", "user", "uninvite", "aud@acme.example",
                           "--account", "acme-b")
        self.assertIn("cannot remove a member with role (hidden)", err)
        self.assertNotIn("auditor", err)

    def test_usage_errors(self):
        self.assertIn("--tenant is required",
                      self.usage_error("role", "create", "x", "--permissions", "device.read"))
        self.assertIn("--permissions is required",
                      self.usage_error("role", "create", "x", "--tenant", "acme"))
        self.assertIn("at least one permission",
                      self.usage_error("role", "update", "x", "--tenant", "acme",
                                       "--permissions", ""))
        for bad in (",", "device.read,,account.read", "device.read,"):
            self.assertIn("--permissions has an empty item",
                          self.usage_error("role", "update", "x", "--tenant", "acme",
                                           "--permissions", bad))
        self.assertIn("missing NAME", self.usage_error("role", "delete", "--tenant", "acme"))


if __name__ == "__main__":
    unittest.main()
