# Copyright (c) Canopy authors.
"""canopy account create|show|update|move|delete|list."""

import os
import unittest

from cli_harness import CliTestCase


class CreateTest(CliTestCase):
    def test_root_then_sub_account(self):
        out = self.ok("account", "create", "acme", "--name", "ACME Corp",
                      "--sub-account-management", "on")
        self.assertEqual(out, "created account 'acme' (id 1)\n")
        out = self.ok("account", "create", "acme-a", "--name", "Nested customer A",
                      "--parent", "acme")
        self.assertEqual(out, "created account 'acme-a' (id 2)\n")
        a = self.json_one("account", "show", "acme-a")
        self.assertEqual((a["parent"], a["depth"], a["path"], a["path_names"]),
                         ("acme", 2, ["acme", "acme-a"], ["ACME Corp", "Nested customer A"]))

    def test_json_attributes_and_settings(self):
        a = self.json_one("account", "create", "acme", "--name", "ACME", "--attribute",
                          "home_dashboard=fleet", "--attribute", "address=1 Main St, X=Y",
                          "--sub-account-management", "on", "--sub-account-access", "always_on")
        self.assertEqual(a["key"], "acme")
        self.assertEqual(a["id"], 1)
        self.assertIsNone(a["parent"])
        self.assertEqual(a["attributes"], {"home_dashboard": "fleet", "address": "1 Main St, X=Y"})
        self.assertEqual(a["settings"], {"sub_account_management": True,
                                         "sub_account_access": "always_on",
                                         "group_sharing": False})

    def test_defaults(self):
        a = self.json_one("account", "create", "acme", "--name", "ACME")
        self.assertEqual(a["settings"], {"sub_account_management": False,
                                         "sub_account_access": "default_off",
                                         "group_sharing": False})
        # group_sharing is a root tenant's setting: a sub-account's JSON has none.
        b = self.json_one("account", "create", "b", "--name", "B", "--parent", "acme")
        self.assertEqual(b["settings"], {"sub_account_management": False,
                                         "sub_account_access": "default_off"})
        self.assertEqual(a["attributes"], {})

    def test_duplicate_key(self):
        self.ok("account", "create", "acme", "--name", "ACME")
        err = self.refused("account", "create", "acme", "--name", "Again")
        self.assertIn("already_exists", err)

    def test_unknown_parent_fails_without_creating_a_database(self):
        err = self.refused("account", "create", "x", "--name", "X", "--parent", "nowhere")
        self.assertIn("no database in", err)
        # The hint says how to start one: not the very command refused.
        self.assertIn("with a root tenant", err)
        self.assertIn("(no --parent, no --actor)", err)
        self.assertFalse(os.path.exists(self.db))
        self.ok("account", "create", "acme", "--name", "ACME")
        err = self.refused("account", "create", "x", "--name", "X", "--parent", "nowhere")
        self.assertIn("no account with key 'nowhere'", err)

    def test_invalid_name(self):
        self.ok("account", "create", "acme", "--name", "ACME")
        err = self.refused("account", "create", "x", "--name", "")
        self.assertIn("invalid_argument", err)
        err = self.refused("account", "create", "y", "--name", "n" * 300)
        self.assertIn("invalid_argument", err)

    def test_usage_errors(self):
        self.assertIn("missing KEY", self.usage_error("account", "create", "--name", "X"))
        self.assertIn("--name is required", self.usage_error("account", "create", "x"))
        self.assertIn("--sub-account-management must be on or off",
                      self.usage_error("account", "create", "x", "--name", "X",
                                       "--sub-account-management", "maybe"))
        self.assertIn("--sub-account-access must be",
                      self.usage_error("account", "create", "x", "--name", "X",
                                       "--sub-account-access", "sometimes"))
        self.assertIn("--attribute needs NAME=VALUE",
                      self.usage_error("account", "create", "x", "--name", "X",
                                       "--attribute", "=v"))
        self.assertFalse(os.path.exists(self.db))

    def test_permissions_via_actor(self):
        self.seed()
        # A viewer of acme-b may not create under it.
        err = self.refused("--actor", "b@acme.example", "account", "create", "b1", "--name", "B1",
                        "--parent", "acme-b")
        self.assertIn("permission account.create missing on account 'acme-b'", err)
        # An admin of acme-a may, under its own subtree (management is on)...
        self.ok("--actor", "a@acme.example", "account", "create", "a2", "--name", "A2",
                "--parent", "acme-a")
        # ...but never next to or above it.
        err = self.refused("--actor", "a@acme.example", "account", "create", "x", "--name", "X",
                        "--parent", "acme")
        # (acme is out of its sight: it looks missing.)
        self.assertIn("no account with key 'acme'", err)
        # Where it can read the account but lacks the permission, it is named.
        err = self.refused("--actor", "b@acme.example", "account", "create", "x", "--name", "X",
                           "--parent", "acme-b")
        self.assertIn("permission account.create missing on account 'acme-b'", err)
        # Only the system actor creates root tenants.
        err = self.refused("--actor", "admin@acme.example", "account", "create", "r", "--name", "R")
        self.assertIn("permission_denied", err)
        self.refused("account", "show", "x")


class ShowTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_text(self):
        out = self.ok("account", "show", "acme-a")
        self.assertIn("account:       acme-a (id 2)", out)
        self.assertIn("path:          acme > acme-a (ACME Corp > Nested customer A)", out)
        self.assertIn("parent:        acme", out)
        self.assertIn("users:         1 (members)", out)
        self.assertIn("sub-accounts:  1", out)
        self.assertIn("devices:       2 direct, 3 in subtree", out)
        self.assertIn("assets:        1 direct, 1 in subtree", out)
        self.assertIn("sub-account management: on", out)
        self.assertIn("sub-account access:     default_on", out)
        out = self.ok("account", "show", "acme")
        self.assertIn("parent:        (none: a root tenant)", out)
        self.assertIn("  home_dashboard = fleet", out)

    def test_json(self):
        a = self.json_one("account", "show", "acme")
        self.assertEqual((a["users"], a["sub_accounts"], a["devices"], a["devices_subtree"]),
                         (1, 3, 1, 5))
        self.assertEqual(a["other_entities"]["asset"], {"direct": 0, "subtree": 1})
        self.assertEqual(a["attributes"], {"home_dashboard": "fleet"})

    def test_errors(self):
        self.assertIn("no account with key 'nope'", self.refused("account", "show", "nope"))
        self.assertIn("missing KEY", self.usage_error("account", "show"))


class UpdateTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_name_and_attributes(self):
        self.assertEqual(self.ok("account", "update", "acme", "--name", "ACME Inc",
                                 "--attribute", "region=eu"), "updated account 'acme'\n")
        # The same again commits nothing, and says so.
        revision = self.ok("stats", "canopy.revision")
        self.assertEqual(self.ok("account", "update", "acme", "--name", "ACME Inc",
                                 "--attribute", "region=eu"),
                         "account 'acme' already is so (nothing changed)\n")
        self.assertEqual(self.ok("stats", "canopy.revision"), revision)
        a = self.json_one("account", "show", "acme")
        self.assertEqual(a["name"], "ACME Inc")
        self.assertEqual(a["attributes"], {"home_dashboard": "fleet", "region": "eu"})
        a = self.json_one("account", "update", "acme", "--remove-attribute", "home_dashboard",
                          "--attribute", "region=us")
        self.assertEqual(a["attributes"], {"region": "us"})

    def test_settings(self):
        a = self.json_one("account", "update", "acme-b", "--sub-account-management", "on",
                          "--sub-account-access", "always_on")
        self.assertEqual(a["settings"], {"sub_account_management": True,
                                         "sub_account_access": "always_on"})
        # always_on gives every current member branch access.
        rows = self.json_lines("user", "list", "--account", "acme-b", "--members")
        self.assertTrue(all(r["branch"] for r in rows), rows)

    def test_group_sharing_is_the_system_actors_switch_on_root_tenants(self):
        self.assertIn("group sharing:          off", self.ok("account", "show", "acme"))
        self.assertNotIn("group sharing", self.ok("account", "show", "acme-a"))
        a = self.json_one("account", "update", "acme", "--group-sharing", "on")
        self.assertTrue(a["settings"]["group_sharing"])
        self.assertIn("group sharing:          on", self.ok("account", "show", "acme"))
        r = self.json_one("account", "create", "r", "--name", "R", "--group-sharing", "on")
        self.assertTrue(r["settings"]["group_sharing"])
        before = self.export_text("before.jsonl")
        err = self.refused("account", "update", "acme-a", "--group-sharing", "on")
        self.assertIn("group_sharing is a root tenant's setting; account 'acme-a'", err)
        err = self.refused("account", "create", "z", "--name", "Z", "--parent", "acme",
                           "--group-sharing", "on")
        self.assertIn("group_sharing is a root tenant's setting; account 'z'", err)
        err = self.refused("--actor", "admin@acme.example", "account", "update", "acme",
                           "--group-sharing", "off")
        self.assertIn("only the system actor may switch group sharing of root tenant 'acme'", err)
        self.assertIn("--group-sharing must be",
                      self.usage_error("account", "update", "acme", "--group-sharing", "maybe"))
        self.assertEqual(self.export_text("after.jsonl"), before)

    def test_management_is_switched_by_the_parents_manager_who_need_not_see_the_account(self):
        # chief manages acme's sub-accounts but holds nothing below acme;
        # peek merely sees acme.
        self.ok("account", "create", "hidden", "--name", "H", "--parent", "acme")
        for login, role in (("chief@acme.example", "account_admin"),
                            ("peek@acme.example", "viewer")):
            self.ok("user", "create", login, "--name", login, "--account", "acme")
            self.ok("user", "invite", login, "--account", "acme", "--role", role, "--no-branch")
        self.assertIn("no account with key 'hidden'",
                      self.refused("--actor", "chief@acme.example", "account", "show", "hidden"))
        self.assertEqual(self.ok("--actor", "chief@acme.example", "account", "update", "hidden",
                                 "--sub-account-management", "on"),
                         "updated account 'hidden'\n")
        self.assertTrue(self.json_one("account", "show", "hidden")["settings"]
                        ["sub_account_management"])
        self.assertEqual(self.json_one("--actor", "chief@acme.example", "account", "update",
                                       "hidden", "--sub-account-management", "off"),
                         {"key": "hidden", "settings": {"sub_account_management": False}})
        before = self.export_text("before.jsonl")
        # Anything else about it needs sight of it; and one that merely sees
        # the parent is answered as for a missing key (hidden and ghost alike).
        for actor, key, flags in (
                ("chief@acme.example", "hidden", ("--name", "X")),
                ("chief@acme.example", "hidden", ("--sub-account-management", "on",
                                                  "--name", "X")),
                ("peek@acme.example", "hidden", ("--sub-account-management", "on")),
                ("peek@acme.example", "ghost", ("--sub-account-management", "on")),
                ("peek@acme.example", "hidden", ("--name", "")),
                ("peek@acme.example", "ghost", ("--name", "")),
                ("chief@acme.example", "hidden", ("--sub-account-access", "always_on"))):
            err = self.refused("--actor", actor, "account", "update", key, *flags)
            self.assertIn("not_found: no account with key '%s'" % key, err)
        self.assertEqual(self.export_text("after.jsonl"), before)

    def test_refusal_names_the_permission_and_changes_nothing(self):
        err = self.refused("--actor", "b@acme.example", "account", "update", "acme-b",
                        "--name", "Mine")
        self.assertIn("permission account.update missing on account 'acme-b'", err)
        self.assertEqual(self.json_one("account", "show", "acme-b")["name"], "Nested customer B")

    def test_update_is_all_or_nothing(self):
        # a may rename its own account but not switch its management (that
        # needs account.manage_sub_accounts on the parent): nothing changes.
        err = self.refused("--actor", "a@acme.example", "account", "update", "acme-a",
                        "--name", "Renamed", "--sub-account-management", "off")
        self.assertIn("account.manage_sub_accounts", err)
        self.assertNotEqual(self.json_one("account", "show", "acme-a")["name"], "Renamed")

    def test_errors(self):
        self.assertIn("has no attribute 'nope'",
                      self.refused("account", "update", "acme", "--remove-attribute", "nope"))
        self.assertIn("no account with key 'ghost'",
                      self.refused("account", "update", "ghost", "--name", "G"))
        self.assertIn("nothing to change", self.usage_error("account", "update", "acme"))
        # Attribute flags that contradict each other are usage errors.
        self.assertIn("--attribute names 'k' more than once",
                      self.usage_error("account", "update", "acme", "--attribute", "k=v",
                                       "--attribute", "k=w"))
        self.assertIn("--attribute names 'k' more than once",
                      self.usage_error("account", "create", "z", "--name", "Z", "--parent",
                                       "acme", "--attribute", "k=v", "--attribute", "k=w"))
        self.assertIn("--attribute and --remove-attribute both name 'home_dashboard'",
                      self.usage_error("account", "update", "acme", "--attribute",
                                       "home_dashboard=x", "--remove-attribute",
                                       "home_dashboard"))
        self.assertIn("--remove-attribute names 'home_dashboard' more than once",
                      self.usage_error("account", "update", "acme", "--remove-attribute",
                                       "home_dashboard", "--remove-attribute", "home_dashboard"))
        self.assertEqual(self.json_one("account", "show", "acme")["attributes"],
                         {"home_dashboard": "fleet"})
        self.assertIn("missing KEY", self.usage_error("account", "update", "--name", "X"))
        self.assertIn("--sub-account-access must be",
                      self.usage_error("account", "update", "acme", "--sub-account-access", "x"))


class MoveTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_move_takes_the_subtree_and_changes_visibility(self):
        self.assertEqual(self.ok("account", "move", "acme-a1", "--parent", "acme-b"),
                         "moved account 'acme-a1' under 'acme-b'\n")
        a = self.json_one("account", "show", "acme-a1")
        self.assertEqual(a["parent"], "acme-b")
        self.assertNotIn("dev-a11", self.visible_keys("a@acme.example"))
        self.assertIn("dev-a11", self.visible_keys("admin@acme.example", "--within", "acme-b"))
        # b's viewer membership on acme-b has no branch: the moved account stays out of reach.
        self.assertNotIn("dev-a11", self.visible_keys("b@acme.example"))
        # To the parent it has: nothing is committed, and it says so.
        log = self.ok("log")
        self.assertEqual(self.ok("account", "move", "acme-a1", "--parent", "acme-b"),
                         "account 'acme-a1' is already under 'acme-b' (nothing changed)\n")
        self.assertEqual(self.ok("log"), log)

    def test_json(self):
        a = self.json_one("account", "move", "acme-a1", "--parent", "acme")
        self.assertEqual((a["key"], a["parent"], a["depth"]), ("acme-a1", "acme", 2))

    def test_cycle_is_refused(self):
        err = self.refused("account", "move", "acme-a", "--parent", "acme-a1")
        self.assertIn("failed_precondition", err)
        self.assertEqual(self.json_one("account", "show", "acme-a")["parent"], "acme")

    def test_refusal_via_actor(self):
        err = self.refused("--actor", "a@acme.example", "account", "move", "acme-a1",
                        "--parent", "acme-b")
        self.assertIn("not_found: no account with key 'acme-b'", err)
        err = self.refused("--actor", "b@acme.example", "account", "move", "acme-b",
                           "--parent", "acme-b")
        self.assertIn("permission account.move missing on account 'acme-b'", err)

    def test_errors(self):
        self.assertIn("--parent is required", self.usage_error("account", "move", "acme-a1"))
        self.assertIn("missing KEY", self.usage_error("account", "move", "--parent", "acme"))
        self.assertIn("no account with key 'ghost'",
                      self.refused("account", "move", "acme-a1", "--parent", "ghost"))


class DeleteTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_delete_an_empty_account(self):
        self.ok("account", "create", "tmp", "--name", "Tmp", "--parent", "acme")
        self.assertEqual(self.ok("account", "delete", "tmp"), "deleted account 'tmp'\n")
        self.refused("account", "show", "tmp")

    def test_owned_entities_need_a_receiver(self):
        err = self.refused("account", "delete", "acme-b")
        self.assertIn("failed_precondition", err)
        out = self.ok("account", "delete", "acme-b", "--receiver", "acme")
        self.assertEqual(out, "deleted account 'acme-b' (entities and users went to 'acme')\n")
        self.assertEqual(self.json_one("device", "show", "dev-b1")["account"], "acme")

    def test_sub_accounts_block_a_delete(self):
        err = self.refused("account", "delete", "acme-a", "--receiver", "acme")
        self.assertIn("failed_precondition", err)
        self.assertIn("Nested customer A", self.ok("account", "show", "acme-a"))

    def test_several_accounts_all_or_nothing(self):
        before = self.export_text("before.jsonl")
        # acme-b is not empty and there is no receiver: nothing is deleted.
        self.refused("account", "delete", "acme-a1", "acme-b")
        self.assertEqual(self.export_text("after.jsonl"), before)
        r = self.json_one("account", "delete", "acme-a", "acme-a1", "--receiver", "acme-b")
        self.assertEqual(r, {"deleted": ["acme-a", "acme-a1"], "receiver": "acme-b"})
        self.refused("account", "show", "acme-a")
        self.refused("account", "show", "acme-a1")

    def test_text_for_several(self):
        self.ok("account", "create", "t1", "--name", "T1", "--parent", "acme")
        self.ok("account", "create", "t2", "--name", "T2", "--parent", "acme")
        self.assertEqual(self.ok("account", "delete", "t1", "t2"),
                         "deleted 2 accounts: 't1', 't2'\n")

    def test_refusal_via_actor(self):
        err = self.refused("--actor", "b@acme.example", "account", "delete", "acme-b",
                        "--receiver", "acme")
        self.assertIn("no account with key 'acme'", err)  # out of its sight
        err = self.refused("--actor", "b@acme.example", "account", "delete", "acme-b")
        self.assertIn("permission account.delete missing on account 'acme-b'", err)

    def test_errors(self):
        self.assertIn("missing KEY", self.usage_error("account", "delete"))
        self.assertIn("no account with key 'ghost'", self.refused("account", "delete", "ghost"))
        self.assertIn("no account with key 'ghost'",
                      self.refused("account", "delete", "acme-b", "--receiver", "ghost"))


class ListTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def keys(self, *args):
        return [a["key"] for a in self.json_lines("account", "list", *args)]

    def test_roots_children_and_descendants(self):
        self.ok("account", "create", "other", "--name", "Other")
        self.assertEqual(self.keys(), ["acme", "other"])
        self.assertEqual(self.keys("acme"), ["acme-a", "acme-b"])
        self.assertEqual(self.keys("acme", "--depth", "0"), ["acme-a", "acme-a1", "acme-b"])
        self.assertEqual(self.keys("acme", "--depth", "2"), ["acme-a", "acme-a1", "acme-b"])
        self.assertEqual(self.keys("--depth", "2"), ["acme", "acme-a", "acme-b", "other"])
        self.assertEqual(self.keys("--depth", "0"),
                         ["acme", "acme-a", "acme-a1", "acme-b", "other"])
        self.assertEqual(self.keys("acme-a1"), [])

    def test_table_indents_the_tree(self):
        out = self.ok("account", "list", "--depth", "0")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ACCOUNT", "NAME", "PARENT", "DEPTH", "CREATED"])
        self.assertTrue(lines[1].startswith("acme "))
        self.assertTrue(lines[2].startswith("  acme-a "))
        self.assertTrue(lines[3].startswith("    acme-a1 "))

    def test_errors(self):
        self.assertIn("no account with key 'ghost'", self.refused("account", "list", "ghost"))
        self.assertIn("--depth needs a number", self.usage_error("account", "list", "--depth", "x"))
        self.usage_error("account", "list", "acme", "acme-a")


if __name__ == "__main__":
    unittest.main()
