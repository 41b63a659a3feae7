# Copyright (c) Canopy authors.
"""canopy user ...: users and their memberships."""

import unittest

from cli_harness import FLAT_ADMIN, CliTestCase


class UserTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def memberships(self, login):
        return {m["account"]: (m["role"], m["branch"])
                for m in self.json_one("user", "show", login)["memberships"]}

    def test_create(self):
        out = self.ok("user", "create", "c@acme.example", "--name", "User C", "--account",
                      "acme-b")
        self.assertRegex(out, r"^created user 'c@acme.example' \(id \d+\) in account 'acme-b'\n$")
        u = self.json_one("user", "show", "c@acme.example")
        self.assertEqual((u["name"], u["account"], u["disabled"], u["memberships"]),
                         ("User C", "acme-b", False, []))
        # A new user holds no role: it sees nothing.
        self.assertEqual(self.visible_keys("c@acme.example"), [])

    def test_create_json_and_duplicate(self):
        u = self.json_one("user", "create", "c@acme.example", "--name", "C", "--account", "acme")
        self.assertEqual((u["login"], u["account"]), ("c@acme.example", "acme"))
        self.assertIn("already_exists",
                      self.refused("user", "create", "c@acme.example", "--name", "C",
                                   "--account", "acme"))

    def test_invite_and_branch_defaults(self):
        self.ok("user", "create", "c@acme.example", "--name", "C", "--account", "acme")
        out = self.ok("user", "invite", "c@acme.example", "--account", "acme-b", "--role",
                      "viewer")
        self.assertEqual(out, "invited 'c@acme.example' to account 'acme-b' as viewer\n")
        # acme-a has sub_account_access default_on: branch unless told otherwise.
        self.ok("user", "invite", "c@acme.example", "--account", "acme-a", "--role",
                "device_manager")
        self.assertEqual(self.memberships("c@acme.example"),
                         {"acme-b": ("viewer", False), "acme-a": ("device_manager", True)})
        self.assertEqual(self.visible_keys("c@acme.example"),
                         ["dev-a1", "dev-a2", "dev-a11", "dev-b1"])

    def test_invite_branch_flags(self):
        self.ok("user", "create", "c@acme.example", "--name", "C", "--account", "acme")
        rows = self.json_lines("user", "invite", "c@acme.example", "--account", "acme-a",
                               "--role", "viewer", "--no-branch")
        self.assertEqual(rows, [{"login": "c@acme.example", "account": "acme-a",
                                 "role": "viewer", "branch": False}])
        self.ok("user", "invite", "c@acme.example", "--account", "acme", "--role", "viewer",
                "--branch")
        self.assertEqual(self.memberships("c@acme.example")["acme"], ("viewer", True))

    def test_invite_custom_role(self):
        self.ok("user", "create", "c@acme.example", "--name", "C", "--account", "acme")
        self.ok("user", "invite", "c@acme.example", "--account", "acme-a1", "--role", "auditor")
        self.assertEqual(self.memberships("c@acme.example"), {"acme-a1": ("auditor", False)})

    def test_invite_errors(self):
        self.assertIn("no role 'wizard'",
                      self.refused("user", "invite", "b@acme.example", "--account", "acme-a",
                                   "--role", "wizard"))
        self.assertIn("already_exists",
                      self.refused("user", "invite", "b@acme.example", "--account", "acme-b",
                                   "--role", "viewer"))
        self.assertIn("no user with login 'ghost'",
                      self.refused("user", "invite", "ghost", "--account", "acme-b",
                                   "--role", "viewer"))
        self.assertIn("no account with key 'ghost'",
                      self.refused("user", "invite", "b@acme.example", "--account", "ghost",
                                   "--role", "viewer"))
        self.assertIn("exclude each other",
                      self.usage_error("user", "invite", "b@acme.example", "--account", "acme",
                                       "--role", "viewer", "--branch", "--no-branch"))
        self.assertIn("--role is required",
                      self.usage_error("user", "invite", "b@acme.example", "--account", "acme"))
        self.assertIn("--account is required",
                      self.usage_error("user", "invite", "b@acme.example", "--role", "viewer"))
        self.assertIn("missing LOGIN",
                      self.usage_error("user", "invite", "--account", "acme", "--role", "viewer"))

    def test_invite_refused_via_actor(self):
        # a administers acme-a only: it cannot invite anyone to acme-b.
        err = self.refused("--actor", "a@acme.example", "user", "invite", "a@acme.example",
                           "--account", "acme-b", "--role", "viewer")
        self.assertIn("no account with key 'acme-b'", err)  # out of its sight
        # A viewer cannot hand on a role it does not hold.
        self.ok("user", "create", "c@acme.example", "--name", "C", "--account", "acme-b")
        err = self.refused("--actor", "b@acme.example", "user", "invite", "c@acme.example",
                           "--account", "acme-b", "--role", "account_admin")
        self.assertIn("permission_denied", err)

    def test_grant_and_revoke(self):
        out = self.ok("user", "grant", "b@acme.example", "--account", "acme-b")
        self.assertEqual(out, "granted sub-account access for 'b@acme.example' on account "
                              "'acme-b'\n")
        self.assertEqual(self.memberships("b@acme.example")["acme-b"], ("viewer", True))
        rows = self.json_lines("user", "revoke", "b@acme.example", "--account", "acme-b")
        self.assertEqual(rows[0]["branch"], False)
        self.assertEqual(self.memberships("b@acme.example")["acme-b"], ("viewer", False))
        self.assertEqual(self.ok("user", "revoke", "a@acme.example", "--account", "acme-a"),
                         "revoked sub-account access for 'a@acme.example' on account 'acme-a'\n")
        self.assertEqual(self.visible_keys("a@acme.example"), ["dev-a1", "dev-a2"])

    def test_changes_that_change_nothing_say_so(self):
        """A mutation whose target already is as asked commits nothing and
        says so, instead of claiming it granted, disabled or updated."""
        def revision():
            return len(self.json_lines("log", "--keys-only"))

        before = revision()
        for args, said in (
                (["user", "revoke", "b@acme.example", "--account", "acme-b"],
                 "'b@acme.example' already has no sub-account access on account 'acme-b'"),
                (["user", "set-role", "b@acme.example", "--account", "acme-b", "--role", "viewer"],
                 "'b@acme.example' already is viewer on account 'acme-b'"),
                (["user", "enable", "b@acme.example"], "user 'b@acme.example' already is enabled"),
                (["user", "update", "b@acme.example", "--name", self.json_one(
                    "user", "show", "b@acme.example")["name"]],
                 "user 'b@acme.example' already has that name"),
                (["device", "update", "dev-b1", "--name", self.json_one(
                    "device", "show", "dev-b1")["name"]], "device 'dev-b1' already is so")):
            self.assertEqual(self.ok(*args), said + " (nothing changed)\n", args)
        self.assertEqual(revision(), before)
        # The same calls that change something say what they did.
        self.assertEqual(self.ok("user", "disable", "b@acme.example"),
                         "disabled user 'b@acme.example'\n")
        self.assertEqual(self.ok("user", "disable", "b@acme.example"),
                         "user 'b@acme.example' already is disabled (nothing changed)\n")

    def test_grant_revoke_errors(self):
        err = self.refused("--actor", "b@acme.example", "user", "grant", "b@acme.example",
                           "--account", "acme-b")
        self.assertIn("permission access.grant missing on account 'acme-b'", err)
        self.ok("account", "update", "acme-b", "--sub-account-access", "always_on")
        err = self.refused("user", "revoke", "b@acme.example", "--account", "acme-b")
        self.assertIn("failed_precondition", err)
        self.assertIn("--account is required", self.usage_error("user", "grant", "b@acme.example"))
        self.assertIn("missing LOGIN", self.usage_error("user", "revoke", "--account", "acme"))
        self.refused("user", "grant", "b@acme.example", "--account", "acme-a")

    def test_set_role_and_uninvite(self):
        self.assertEqual(self.ok("user", "set-role", "b@acme.example", "--account", "acme-b",
                                 "--role", "device_manager"),
                         "'b@acme.example' is now device_manager on account 'acme-b'\n")
        self.assertEqual(self.memberships("b@acme.example")["acme-b"], ("device_manager", False))
        self.assertEqual(self.ok("user", "uninvite", "b@acme.example", "--account", "acme-b"),
                         "removed 'b@acme.example' from account 'acme-b'\n")
        self.assertEqual(self.memberships("b@acme.example"), {})
        self.assertIn("--role is required",
                      self.usage_error("user", "set-role", "b@acme.example", "--account", "acme"))
        self.assertIn("--account is required", self.usage_error("user", "uninvite", "x"))

    def test_update_disable_enable_remove(self):
        u = self.json_one("user", "update", "b@acme.example", "--name", "Bea")
        self.assertEqual(u["name"], "Bea")
        self.assertEqual(self.ok("user", "disable", "b@acme.example"),
                         "disabled user 'b@acme.example'\n")
        self.assertTrue(self.json_one("user", "show", "b@acme.example")["disabled"])
        self.assertEqual(self.visible_keys("b@acme.example"), [])
        self.assertFalse(self.json_one("user", "enable", "b@acme.example")["disabled"])
        self.assertEqual(self.visible_keys("b@acme.example"), ["dev-b1"])
        self.assertEqual(self.ok("user", "remove", "b@acme.example"),
                         "removed user 'b@acme.example'\n")
        self.assertIn("no user with login 'b@acme.example'",
                      self.refused("user", "show", "b@acme.example"))
        self.assertIn("--name is required", self.usage_error("user", "update", "a@acme.example"))

    def test_a_disabled_actor_is_refused_and_asked_about_sees_nothing(self):
        self.ok("user", "disable", "a@acme.example")
        before = self.export_text("before.jsonl")
        for argv in (["visible"], ["visible", "--count"],
                     ["check", "--permission", "device.read", "--entity", "dev-a1"],
                     ["account", "show", "acme-a"],
                     ["account", "create", "a9", "--name", "A9", "--parent", "acme-a"]):
            with self.subTest(argv=argv):
                err = self.refused("--actor", "a@acme.example", *argv)
                self.assertIn("user 'a@acme.example' is disabled and holds no permissions", err)
        self.assertEqual(self.export_text("after.jsonl"), before)
        # Asked about by the system actor: nothing visible, everything denied.
        self.assertEqual(self.visible_keys("a@acme.example"), [])
        self.assertEqual(self.ok("visible", "--user", "a@acme.example", "--count"), "0\n")
        self.assertEqual(self.ok("check", "--user", "a@acme.example", "--permission",
                                 "device.read", "--entity", "dev-a1"), "denied\n")

    def test_user_mutations_refused_via_actor(self):
        for argv, perm in ((["user", "disable", "b@acme.example"], "user.update"),
                           (["user", "update", "b@acme.example", "--name", "X"], "user.update"),
                           (["user", "remove", "b@acme.example"], "user.remove"),
                           (["user", "create", "x@y", "--name", "X", "--account", "acme-b"],
                            "user.invite")):
            with self.subTest(argv=argv):
                err = self.refused("--actor", "a@acme.example", *argv)
                # b and acme-b are out of a's sight: they look missing.
                self.assertTrue("no user with login 'b@acme.example'" in err or
                                "no account with key 'acme-b'" in err, err)
                # b itself sees its account and itself but holds no user.* there.
                err = self.refused("--actor", "b@acme.example", *argv)
                self.assertIn(f"permission {perm} missing on account 'acme-b'", err)
        self.assertFalse(self.json_one("user", "show", "b@acme.example")["disabled"])

    def test_show_text(self):
        out = self.ok("user", "show", "aud@acme.example")
        self.assertIn("user:      aud@acme.example", out)
        self.assertIn("account:   acme", out)
        self.assertEqual(out.splitlines()[-1].split(), ["acme-b", "auditor", "no"])

    def test_list(self):
        rows = self.json_lines("user", "list")
        self.assertEqual([r["login"] for r in rows], ["admin@acme.example", "aud@acme.example",
                                                       "a@acme.example", "b@acme.example"])
        rows = self.json_lines("user", "list", "--account", "acme-a")
        self.assertEqual([r["login"] for r in rows], ["a@acme.example"])
        rows = self.json_lines("user", "list", "--account", "acme-b", "--members")
        self.assertEqual([(r["login"], r["role"]) for r in rows],
                         [("b@acme.example", "viewer"), ("aud@acme.example", "auditor")])
        out = self.ok("user", "list", "--account", "acme-b")
        self.assertEqual([l.split()[0] for l in out.splitlines()], ["LOGIN", "b@acme.example"])
        self.assertIn("--members needs --account", self.usage_error("user", "list", "--members"))
        self.assertIn("no account", self.refused("user", "list", "--account", "ghost"))

    def test_list_as_a_user_shows_users_it_sees_only_through_a_membership(self):
        """aud@ is created in acme, which an admin of acme-b does not see, and
        is a member of acme-b: 'user show' shows it there, so 'user list'
        (every user) lists it too, its account hidden."""
        self.ok("user", "create", "badmin@acme.example", "--name", "B admin", "--account", "acme-b")
        self.ok("user", "invite", "badmin@acme.example", "--account", "acme-b", "--role",
                "account_admin")
        rows = self.json_lines("--actor", "badmin@acme.example", "user", "list")
        self.assertEqual([(r["login"], r["account"]) for r in rows],
                         [("b@acme.example", "acme-b"), ("badmin@acme.example", "acme-b"),
                          ("aud@acme.example", "(hidden)")])
        out = self.ok("--actor", "badmin@acme.example", "user", "list")
        self.assertEqual([(l.split()[0], l.split()[-2]) for l in out.splitlines()[1:]],
                         [("b@acme.example", "acme-b"), ("badmin@acme.example", "acme-b"),
                          ("aud@acme.example", "(hidden)")])
        # A user of acme-a sees none of acme-b's users.
        rows = self.json_lines("--actor", "a@acme.example", "user", "list")
        self.assertNotIn("aud@acme.example", [r["login"] for r in rows])


class ReachTest(CliTestCase):
    """Acting on a user needs reaching and holding what the user holds."""

    def setUp(self):
        super().setUp()
        self.seed(FLAT_ADMIN + [
            {"type": "user", "login": "low@acme.example", "name": "Low", "account": "acme-a"},
            {"type": "membership", "login": "low@acme.example", "account": "acme-a1",
             "role": "viewer", "branch": False},
        ])
        self.before = self.export_text("before.jsonl")

    def as_flat(self, *args):
        return self.refused("--actor", "flat@acme.example", "user", *args)

    def test_user_out_of_reach(self):
        for args in (["disable", "low@acme.example"],
                     ["update", "low@acme.example", "--name", "X"],
                     ["remove", "low@acme.example"]):
            err = self.as_flat(*args)
            self.assertIn("permission_denied", err, args)
            self.assertNotIn("acme-a1", err)
        # acme-a1 is out of its sight altogether.
        self.assertIn("no account with key 'acme-a1'",
                      self.as_flat("uninvite", "low@acme.example", "--account", "acme-a1"))
        self.assertEqual(self.export_text("after.jsonl"), self.before)

    def test_branch_wide_admin_holds_more(self):
        for args in (["revoke", "a@acme.example", "--account", "acme-a"],
                     ["set-role", "a@acme.example", "--account", "acme-a", "--role", "viewer"],
                     ["disable", "a@acme.example"],
                     ["remove", "a@acme.example"]):
            err = self.as_flat(*args)
            self.assertIn("permission_denied", err, args)
        self.assertEqual(self.export_text("after.jsonl"), self.before)
        # Who holds it all may.
        self.ok("--actor", "admin@acme.example", "user", "revoke", "a@acme.example",
                "--account", "acme-a")
        self.ok("--actor", "admin@acme.example", "user", "disable", "low@acme.example")


if __name__ == "__main__":
    unittest.main()
