# Copyright (c) Canopy authors.
"""canopy group ... and canopy grant: groups, members and group grants."""

import json
import unittest

from cli_harness import CliTestCase


class GroupTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_create_add_list_members_delete(self):
        out = self.ok("group", "create", "fleet", "--owner", "acme-a", "--kind", "device")
        self.assertRegex(out, r"^created device group 'fleet' \(id \d+\) in account 'acme-a'\n$")
        out = self.ok("group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                      "dev-a1", "dev-a2")
        self.assertEqual(out, "added 2 of 2 to device group 'fleet' (0 unchanged)\n")
        rows = self.json_lines("group", "list", "--owner", "acme-a")
        self.assertEqual([(r["name"], r["kind"], r["size"]) for r in rows],
                         [("fleet", "device", 2)])
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "dev-a1\ndev-a2\n")
        self.ok("group", "remove", "fleet", "--owner", "acme-a", "--kind", "device", "dev-a2")
        self.ok("group", "rename", "fleet", "--owner", "acme-a", "--kind", "device", "--to",
                "trucks")
        self.assertEqual(self.ok("group", "members", "trucks", "--owner", "acme-a", "--kind",
                                 "device"), "dev-a1\n")
        self.assertEqual(self.ok("group", "delete", "trucks", "--owner", "acme-a", "--kind",
                                 "device"), "deleted device group 'trucks'\n")
        self.assertEqual(self.json_lines("group", "list", "--owner", "acme-a"), [])

    def test_grant_reaches_the_user_group(self):
        self.ok("group", "create", "ops", "--owner", "acme-b", "--kind", "user")
        self.ok("group", "create", "buses", "--owner", "acme-b", "--kind", "device")
        self.ok("group", "add", "ops", "--owner", "acme-b", "--kind", "user", "b@acme.example")
        self.ok("group", "add", "buses", "--owner", "acme-b", "--kind", "device", "dev-b1")
        out = self.ok("grant", "ops", "--owner", "acme-b", "--role", "device_manager", "--on",
                      "buses", "--on-owner", "acme-b", "--on-kind", "device")
        self.assertEqual(out, "granted role device_manager to user group 'ops' on device group "
                              "'buses' of account 'acme-b'\n")
        out = self.ok("check", "--user", "b@acme.example", "--permission", "device.write", "--entity", "dev-b1")
        self.assertIn("allowed", out)
        self.ok("grant", "ops", "--owner", "acme-b", "--role", "device_manager", "--on", "buses",
                "--on-owner", "acme-b", "--on-kind", "device", "--revoke")
        self.assertIn("denied", self.ok("check", "--user", "b@acme.example", "--permission",
                                        "device.write", "--entity", "dev-b1"))

    def test_reassign_into_groups_of_the_new_owner(self):
        self.ok("group", "create", "fleet", "--owner", "acme-a", "--kind", "device")
        self.ok("group", "add", "fleet", "--owner", "acme-a", "--kind", "device", "dev-a1")
        self.ok("group", "create", "buses", "--owner", "acme-b", "--kind", "device")
        self.ok("group", "create", "ops", "--owner", "acme-b", "--kind", "user")
        # An unknown group or one of another kind: refused, nothing moved.
        err = self.refused("device", "reassign", "--to", "acme-b", "--keys", "dev-a1",
                           "--group", "nope")
        self.assertIn("no device group named 'nope' in account 'acme-b'", err)
        err = self.refused("device", "reassign", "--to", "acme-b", "--keys", "dev-a1",
                           "--group", "ops")
        self.assertIn("no device group named 'ops'", err)
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "dev-a1\n")
        out = self.ok("device", "reassign", "--to", "acme-b", "--keys", "dev-a1,dev-b1",
                      "--group", "buses")
        self.assertIn("1 moved to 'acme-b', 1 unchanged", out)
        # It left acme-a's group and joined acme-b's (dev-b1 was unchanged).
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "")
        self.assertEqual(self.ok("group", "members", "buses", "--owner", "acme-b", "--kind",
                                 "device"), "dev-a1\n")

    def test_tree_and_graph_count_the_groups_the_actor_sees(self):
        self.ok("group", "create", "fleet", "--owner", "acme-b", "--kind", "device")
        self.ok("group", "create", "crew", "--owner", "acme-b", "--kind", "user")
        rows = {r["key"]: r for r in self.json_lines("tree")}
        self.assertEqual((rows["acme-b"]["groups"], rows["acme-a"]["groups"]), (2, 0))
        csv = self.ok("--csv", "tree").splitlines()
        groups = csv[0].split(",").index("groups")
        self.assertEqual([line.split(",")[groups] for line in csv[1:]
                          if line.startswith("acme-b,")], ["2"])
        # The admin of acme holds group.read there; b, a viewer, does not.
        admin = {r["key"]: r for r in self.json_lines("--actor", "admin@acme.example", "tree")}
        self.assertEqual(admin["acme-b"]["groups"], 2)
        viewer = {r["key"]: r for r in self.json_lines("--actor", "b@acme.example", "tree")}
        self.assertEqual(viewer["acme-b"]["groups"], 0)
        graph = json.loads(self.ok("tree", "--format", "json"))

        def find(nodes, key):
            for n in nodes:
                if n["key"] == key:
                    return n
                found = find(n["children"], key)
                if found:
                    return found
            return None
        self.assertEqual(find(graph["accounts"], "acme-b")["groups"], 2)
        dot = self.ok("tree", "--format", "dot")
        self.assertIn("2 groups", dot)
        self.assertNotIn("2 groups", self.ok("--actor", "b@acme.example", "tree", "--format",
                                             "dot"))

    def test_refusals(self):
        self.ok("group", "create", "fleet", "--owner", "acme-a", "--kind", "device")
        self.assertIn("already has a device group named 'fleet'",
                      self.refused("group", "create", "fleet", "--owner", "acme-a", "--kind",
                                   "device"))
        # A device of another owner: all or nothing.
        err = self.refused("group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                           "dev-a1", "dev-b1")
        self.assertIn("is not owned by account 'acme-a'", err)
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "")
        self.assertIn("no user group named 'x'",
                      self.refused("grant", "x", "--owner", "acme-a", "--role", "viewer"))
        self.ok("group", "create", "ops", "--owner", "acme-a1", "--kind", "user")
        # Sharing down is off by default.
        self.assertIn("group sharing is off",
                      self.refused("grant", "ops", "--owner", "acme-a1", "--role", "viewer",
                                   "--on", "fleet", "--on-owner", "acme-a", "--on-kind",
                                   "device"))

    def test_usage_errors(self):
        self.assertIn("--kind must be",
                      self.usage_error("group", "create", "x", "--owner", "acme", "--kind",
                                       "car"))
        self.assertIn("--owner is required",
                      self.usage_error("group", "create", "x", "--kind", "device"))
        self.assertIn("missing MEMBER",
                      self.usage_error("group", "add", "x", "--owner", "acme", "--kind",
                                       "device"))
        self.assertIn("go with --on",
                      self.usage_error("grant", "x", "--owner", "acme", "--role", "viewer",
                                       "--on-kind", "device"))


if __name__ == "__main__":
    unittest.main()
