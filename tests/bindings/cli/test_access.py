# Copyright (c) Canopy authors.
"""canopy check and canopy who-can."""

import os
import unittest

from cli_harness import FLAT_ADMIN, CliTestCase


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

    def test_fail_if_denied_exits_3(self):
        args = ["check", "--user", "a@acme.example", "--permission", "device.read", "--fail-if-denied"]
        self.assertEqual(self.expect(0, *args, "--entity", "dev-a1").stdout, "allowed\n")
        self.assertEqual(self.expect(3, *args, "--entity", "dev-c1").stdout, "denied\n")
        self.expect(3, "--json", *args, "--entity", "dev-c1")
        self.expect(1, *args, "--entity", "nope")  # errors stay 1

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
        # The parent's device is out of the user's sight: the operator is
        # told so; the user itself (--actor) would be told it is unknown.
        self.assertIn("cannot see device 'dev-c1'", out)
        self.assertNotIn("role:", out)
        err = self.refused("--actor", "a@acme.example", "check", "--user", "a@acme.example",
                           "--permission", "device.read", "--entity", "dev-c1")
        self.assertIn("no device with key 'dev-c1'", err)

    def test_account_level_permissions(self):
        # May the user create sub-accounts here, invite users there?
        base = ["check", "--user", "a@acme.example", "--permission"]
        self.assertEqual(self.ok(*base, "account.create", "--account", "acme-a1").strip(),
                         "allowed")
        out = self.ok(*base, "user.invite", "--account", "acme", "--explain")
        self.assertEqual(out.splitlines()[0], "denied")
        self.assertIn("cannot see account 'acme'", out)
        r = self.json_one(*base, "account.create", "--account", "acme-a1")
        self.assertEqual((r["allowed"], r["account"]), (True, "acme-a1"))
        rows = self.json_lines("who-can", "--permission", "user.invite", "--account", "acme-a1")
        self.assertIn("a@acme.example", [r["login"] for r in rows])
        self.assertIn("no account with key 'ghost'",
                      self.refused(*base, "account.create", "--account", "ghost"))

    def test_json(self):
        r = self.json_one("check", "--user", "a@acme.example", "--permission", "device.read",
                          "--entity", "dev-a11")
        self.assertEqual(r, {"allowed": True, "entity": "dev-a11", "owner": "acme-a1"})
        r = self.json_one("check", "--user", "aud@acme.example", "--permission", "device.read",
                          "--entity", "dev-b1", "--explain")
        self.assertEqual((r["allowed"], r["via_account"], r["role"], r["branch"], r["path"]),
                         (True, "acme-b", "auditor", False, ["acme-b"]))
        # An account's check: the target is "account", the membership's
        # account "via_account" (never one key twice: json_lines checks).
        r = self.json_one("check", "--user", "a@acme.example", "--permission", "account.create",
                          "--account", "acme-a1", "--explain")
        self.assertEqual((r["allowed"], r["account"], r["via_account"], r["path"]),
                         (True, "acme-a1", "acme-a", ["acme-a", "acme-a1"]))
        self.assertIn("reason", r)
        r = self.json_one("check", "--user", "b@acme.example", "--permission", "device.read",
                          "--entity", "dev-a1", "--explain")
        self.assertEqual((r["allowed"], r["owner"]), (False, "acme-a"))
        self.assertNotIn("role", r)

    def test_disabled_user_is_denied(self):
        self.ok("user", "disable", "a@acme.example")
        self.assertEqual(self.check("a@acme.example", "device.read", "dev-a1"), "denied\n")
        # Denied every key, known or not, naming no owner (no "#0").
        for key in ("dev-a1", "no-such"):
            out = self.check("a@acme.example", "device.read", key, "--explain")
            self.assertEqual(out.splitlines()[:2],
                             ["denied", "reason:   user 'a@acme.example' is disabled and holds "
                              "no permissions"])
            self.assertNotIn("owner:", out)
            self.assertNotIn("owner", self.json_one("check", "--user", "a@acme.example",
                                                    "--permission", "device.read", "--entity",
                                                    key, "--explain"))

    def test_a_key_with_a_control_character_is_refused(self):
        # (It could paint the terminal of whoever lists it; a name may hold
        # one, and is shown escaped: test_general.)
        err = self.refused("account", "create", "k\x1b[31m", "--name", "K", "--parent", "acme-a")
        self.assertIn("account key contains a control character (U+001B)", err)
        self.assertNotIn("\x1b", err)
        out = self.ok("check", "--user", "a@acme.example", "--permission", "account.read",
                      "--account", "acme-a1", "--explain")
        self.assertIn("path:     acme-a > acme-a1", out)

    def test_errors(self):
        base = ["check", "--user", "a@acme.example", "--permission", "device.read"]
        self.assertIn("no device with key 'ghost'", self.refused(*base, "--entity", "ghost"))
        self.assertIn("no user with login 'nobody'",
                      self.refused("check", "--user", "nobody", "--permission", "device.read",
                                "--entity", "dev-a1"))
        # A permission name the engine does not know is a bad flag value:
        # a usage error (exit 2), as check, who-can, visible and log say.
        self.assertIn("unknown permission",
                      self.usage_error("check", "--user", "a@acme.example", "--permission",
                                       "device.x", "--entity", "dev-a1"))
        self.assertIn("name an account with --account",
                      self.usage_error("check", "--user", "a@acme.example", "--permission",
                                       "account.read", "--entity", "dev-a1"))
        self.assertIn("name one with --entity",
                      self.usage_error("check", "--user", "a@acme.example", "--permission",
                                       "device.read", "--account", "acme"))
        self.assertIn("not both",
                      self.usage_error("check", "--user", "a@acme.example", "--permission",
                                       "device.read", "--account", "acme", "--entity", "x"))

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
        self.assertEqual({r["via"] for r in rows}, {"membership"})

    def test_permission_matters(self):
        rows = self.json_lines("who-can", "--permission", "device.assign", "--entity", "dev-a11")
        self.assertEqual([r["login"] for r in rows], ["admin@acme.example", "a@acme.example"])

    def test_table(self):
        out = self.ok("who-can", "--permission", "device.read", "--entity", "dev-a1")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["LOGIN", "ACCOUNT", "ROLE", "BRANCH", "VIA"])
        self.assertEqual([l.split() for l in lines[1:]],
                         [["admin@acme.example", "acme", "account_admin", "yes", "membership"],
                          ["a@acme.example", "acme-a", "account_admin", "yes", "membership"]])

    def test_other_kinds(self):
        rows = self.json_lines("who-can", "--permission", "asset.read", "--entity", "site-7")
        self.assertEqual([r["login"] for r in rows], ["admin@acme.example", "a@acme.example"])

    def test_errors(self):
        self.assertIn("no device with key 'ghost'",
                      self.refused("who-can", "--permission", "device.read", "--entity", "ghost"))
        self.assertIn("unknown permission",
                      self.usage_error("who-can", "--permission", "nope", "--entity", "dev-a1"))
        self.assertIn("--entity is required",
                      self.usage_error("who-can", "--permission", "device.read"))
        self.assertIn("--permission is required", self.usage_error("who-can", "--entity", "x"))


class HiddenTest(CliTestCase):
    """What the actor cannot see is refused exactly like something missing."""

    def setUp(self):
        super().setUp()
        self.seed(FLAT_ADMIN)

    def same_refusal(self, actor, hidden, missing, name_hidden, name_missing):
        """Both refused alike: same exit status, same message but for the name."""
        p1 = self.expect(1, "--actor", actor, *hidden)
        p2 = self.expect(1, "--actor", actor, *missing)
        self.assertEqual(p1.stderr.replace(name_hidden, "X"), p2.stderr.replace(name_missing, "X"))
        self.assertIn("not_found", p1.stderr)
        return p1.stderr

    def test_objects_of_another_branch_look_missing(self):
        a = "a@acme.example"
        err = self.same_refusal(a, ["device", "update", "dev-b1", "--name", "X"],
                                ["device", "update", "nope", "--name", "X"], "dev-b1", "nope")
        self.assertNotIn("acme-b", err)
        self.same_refusal(a, ["device", "delete", "dev-b1"], ["device", "delete", "nope"],
                          "dev-b1", "nope")
        self.same_refusal(a, ["device", "show", "dev-b1"], ["device", "show", "nope"],
                          "dev-b1", "nope")
        err = self.same_refusal(
            a, ["user", "invite", "b@acme.example", "--account", "acme-a", "--role", "viewer"],
            ["user", "invite", "nobody@x", "--account", "acme-a", "--role", "viewer"],
            "b@acme.example", "nobody@x")
        self.assertNotIn("acme-b", err)
        self.same_refusal(a, ["user", "uninvite", "b@acme.example", "--account", "acme-b"],
                          ["user", "uninvite", "nobody@x", "--account", "acme-b"],
                          "b@acme.example", "nobody@x")
        self.same_refusal(a, ["tree", "--account", "acme-b"], ["tree", "--account", "nope"],
                          "acme-b", "nope")
        self.same_refusal(a, ["account", "show", "acme"], ["account", "show", "nope"],
                          "acme", "nope")
        # What it can see but not change names the permission.
        err = self.refused("--actor", "b@acme.example", "device", "update", "dev-b1",
                           "--name", "X")
        self.assertIn("permission device.write missing on account 'acme-b'", err)

    def test_rows_total_only_what_is_readable(self):
        rows = {r["key"]: r for r in self.json_lines("--actor", "flat@acme.example", "tree")}
        self.assertEqual(list(rows), ["acme-a"])
        # acme-a1 (and its device) lies below its reach: not counted.
        self.assertEqual((rows["acme-a"]["sub_accounts"], rows["acme-a"]["devices_subtree"]),
                         (0, rows["acme-a"]["devices"]))
        graph = self.json_one("--actor", "flat@acme.example", "tree", "--format", "json")
        top = graph["accounts"][0]
        self.assertEqual((top["key"], top["sub_accounts"], top["devices_subtree"]),
                         ("acme-a", 0, top["devices_direct"]))
        # A branch-wide admin sees the whole subtree's totals.
        rows = {r["key"]: r for r in self.json_lines("--actor", "a@acme.example", "tree")}
        self.assertEqual(rows["acme-a"]["sub_accounts"], 1)


class ScopedReadsTest(CliTestCase):
    """Every read run as --actor shows only what the actor may see; commands
    over the whole database refuse an --actor."""

    def setUp(self):
        super().setUp()
        self.seed(FLAT_ADMIN)

    def as_(self, actor, *args):
        return self.json_lines("--actor", actor, *args)

    def test_account_list_and_show(self):
        flat = "flat@acme.example"
        rows = self.as_(flat, "account", "list", "--depth", "0")
        self.assertEqual([r["key"] for r in rows], ["acme-a"])
        self.assertEqual(rows[0]["parent"], "(hidden)")
        rows = self.as_("a@acme.example", "account", "list", "--depth", "0")
        self.assertEqual([r["key"] for r in rows], ["acme-a", "acme-a1"])
        self.assertEqual([r["key"] for r in self.json_lines("account", "list", "--depth", "0")],
                         ["acme", "acme-a", "acme-a1", "acme-b"])
        table = self.ok("--actor", flat, "account", "list", "--depth", "0")
        self.assertNotIn("acme-b", table)
        # Totals and path count only what it sees.
        show = self.json_one("--actor", flat, "account", "show", "acme-a")
        self.assertEqual((show["sub_accounts"], show["devices_subtree"], show["parent"]),
                         (0, show["devices"], "(hidden)"))
        self.assertEqual((show["path"], show["path_names"]), (["acme-a"], ["Nested customer A"]))
        self.assertEqual(show["other_entities"]["asset"], {"direct": 1, "subtree": 1})
        show = self.json_one("--actor", "a@acme.example", "account", "show", "acme-a")
        self.assertEqual((show["sub_accounts"], show["devices_subtree"]), (1, 3))
        full = self.json_one("account", "show", "acme-a")
        self.assertEqual((full["parent"], full["path"], full["path_names"]),
                         ("acme", ["acme", "acme-a"], ["ACME Corp", "Nested customer A"]))

    def test_users_and_memberships(self):
        flat = "flat@acme.example"
        logins = sorted(u["login"] for u in self.as_(flat, "user", "list"))
        self.assertEqual(logins, ["a@acme.example", "flat@acme.example"])
        self.assertEqual(len(self.json_lines("user", "list")), 5)
        p1 = self.expect(1, "--actor", flat, "user", "show", "admin@acme.example")
        p2 = self.expect(1, "--actor", flat, "user", "show", "nobody@x")
        self.assertEqual(p1.stderr.replace("admin@acme.example", "X"),
                         p2.stderr.replace("nobody@x", "X"))
        self.refused("--actor", flat, "user", "list", "--account", "acme")
        members = self.as_(flat, "user", "list", "--account", "acme-a", "--members")
        self.assertEqual(sorted(m["login"] for m in members),
                         ["a@acme.example", "flat@acme.example"])
        # A user sees itself, but only its memberships the actor sees.
        me = self.json_one("--actor", "b@acme.example", "user", "show", "b@acme.example")
        self.assertEqual([m["account"] for m in me["memberships"]], ["acme-b"])

    def test_roles_of_another_tenant_look_missing(self):
        err = self.refused("--actor", "flat@acme.example", "role", "list", "--tenant", "acme")
        self.assertIn("not_found", err)
        self.ok("role", "list", "--tenant", "acme")

    def test_whole_database_commands_refuse_an_actor(self):
        for args in (["export", self.path("x.jsonl")], ["check-db"], ["demo"],
                     ["checkpoint", self.path("cp")]):
            err = self.refused("--actor", "admin@acme.example", *args)
            self.assertIn("permission_denied", err)
            self.assertIn("system actor only", err)
        self.assertFalse(os.path.exists(self.path("x.jsonl")))
        self.assertFalse(os.path.exists(self.path("cp")))

    def test_an_actor_never_creates_a_database(self):
        fresh = self.path("fresh")
        err = self.refused("--db", fresh, "--actor", "someone", "account", "create", "t",
                           "--name", "T", db=False)
        self.assertIn("no database", err)
        self.assertFalse(os.path.exists(fresh))

    def test_questions_answer_for_the_actor(self):
        a = "a@acme.example"
        self.assertEqual(sorted(self.visible_as(a)), ["dev-a1", "dev-a11", "dev-a2"])
        self.assertIn("answers for the actor itself",
                      self.usage_error("--actor", a, "visible", "--user", "b@acme.example"))
        self.assertIn("answers for the actor itself",
                      self.usage_error("--actor", a, "check", "--user", "b@acme.example",
                                       "--permission", "device.read", "--entity", "dev-b1"))
        out = self.json_one("--actor", a, "check", "--permission", "device.read",
                            "--entity", "dev-a1")
        self.assertTrue(out["allowed"])
        p1 = self.expect(1, "--actor", a, "check", "--permission", "device.read",
                         "--entity", "dev-b1")
        p2 = self.expect(1, "--actor", a, "check", "--permission", "device.read",
                         "--entity", "nope")
        self.assertEqual(p1.stderr.replace("dev-b1", "X"), p2.stderr.replace("nope", "X"))
        # who-can: the entity must be seen; users only through memberships it sees.
        p1 = self.expect(1, "--actor", a, "who-can", "--permission", "device.read",
                         "--entity", "dev-b1")
        p2 = self.expect(1, "--actor", a, "who-can", "--permission", "device.read",
                         "--entity", "nope")
        self.assertEqual(p1.stderr.replace("dev-b1", "X"), p2.stderr.replace("nope", "X"))
        logins = sorted(r["login"] for r in self.as_(a, "who-can", "--permission", "device.read",
                                                     "--entity", "dev-a1"))
        self.assertEqual(logins, ["a@acme.example", "flat@acme.example"])
        everyone = sorted(r["login"] for r in self.json_lines(
            "who-can", "--permission", "device.read", "--entity", "dev-a1"))
        self.assertIn("admin@acme.example", everyone)

    def visible_as(self, actor):
        return [r["key"] for r in self.json_lines("--actor", actor, "visible")]

    def test_a_disabled_actor_reads_nothing(self):
        self.ok("user", "disable", "flat@acme.example")
        for args in (["account", "show", "acme-a"], ["account", "list"], ["user", "list"],
                     ["visible"], ["device", "show", "dev-a1"], ["tree"],
                     ["tree", "--format", "json"], ["tree", "--format", "dot"]):
            err = self.refused("--actor", "flat@acme.example", *args)
            self.assertIn("is disabled", err)

    def test_empty_permission_is_a_usage_error(self):
        self.assertIn("--permission needs a value",
                      self.usage_error("visible", "--user", "a@acme.example", "--permission", ""))


if __name__ == "__main__":
    unittest.main()
