# Copyright (c) Canopy authors.
"""canopy group ... and canopy grant: groups, members and group grants."""

import json
import unittest

from cli_harness import CliTestCase, jsonl


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
        log = self.ok("log")
        self.assertEqual(self.ok("group", "rename", "trucks", "--owner", "acme-a", "--kind",
                                 "device", "--to", "trucks"),
                         "device group 'trucks' already has that name (nothing changed)\n")
        self.assertFalse(self.json_one("group", "rename", "trucks", "--owner", "acme-a",
                                       "--kind", "device", "--to", "trucks")["renamed"])
        self.assertEqual(self.ok("log"), log)
        self.assertEqual(self.ok("group", "delete", "trucks", "--owner", "acme-a", "--kind",
                                 "device"), "deleted device group 'trucks'\n")
        self.assertEqual(self.json_lines("group", "list", "--owner", "acme-a"), [])

    def test_members_from_a_file(self):
        """Batches larger than a command line holds come from a file: one
        member per line, blanks and comments skipped; all or nothing."""
        self.ok("group", "create", "fleet", "--owner", "acme-a", "--kind", "device")
        path = self.write("members.txt", "\ufeff# the fleet\ndev-a1\n\n  dev-a2  \r\n")
        out = self.ok("group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                      "--from-file", path)
        self.assertEqual(out, "added 2 of 2 to device group 'fleet' (0 unchanged)\n")
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "dev-a1\ndev-a2\n")
        # An unknown member refuses the whole file.
        bad = self.write("bad.txt", "dev-a1\nno-such-device\n")
        p = self.expect(1, "group", "remove", "fleet", "--owner", "acme-a", "--kind", "device",
                        "--from-file", bad)
        self.assertIn("no-such-device", p.stdout + p.stderr)
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "dev-a1\ndev-a2\n")
        self.ok("group", "remove", "fleet", "--owner", "acme-a", "--kind", "device",
                "--from-file", path)
        self.assertEqual(self.ok("group", "members", "fleet", "--owner", "acme-a", "--kind",
                                 "device"), "")
        # A file that cannot be opened, or names nobody, is an error; members
        # both on the line and in a file are a usage error.
        p = self.expect(1, "group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                        "--from-file", self.path("missing.txt"))
        self.assertIn("cannot open", p.stderr)
        empty = self.write("empty.txt", "# nobody\n\n")
        p = self.expect(1, "group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                        "--from-file", empty)
        self.assertIn("names no members", p.stderr)
        err = self.usage_error("group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                               "dev-a1", "--from-file", path)
        self.assertIn("not both", err)

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
        # Explained as a grant, not as a membership; and the change it
        # allows is allowed (update, as Check says).
        out = self.ok("check", "--user", "b@acme.example", "--permission", "device.write",
                      "--entity", "dev-b1", "--explain")
        self.assertIn("is in user group 'ops'", out)
        self.assertIn("account:  acme-b (through a user group's grant)", out)
        j = self.json_one("check", "--user", "b@acme.example", "--permission", "device.write",
                          "--entity", "dev-b1", "--explain")
        self.assertEqual(j["via"], "group_grant")
        rows = self.json_lines("who-can", "--permission", "device.write", "--entity", "dev-b1")
        self.assertIn(("b@acme.example", "acme-b", "device_manager", "group_grant"),
                      [(r["login"], r["account"], r["role"], r["via"]) for r in rows])
        self.assertIn("updated device 'dev-b1'",
                      self.ok("--actor", "b@acme.example", "device", "update", "dev-b1",
                              "--name", "Bus 1"))
        # --branch names no grant: with --revoke it is a usage error, not
        # ignored (the grant stays).
        err = self.usage_error("grant", "ops", "--owner", "acme-b", "--role", "device_manager",
                               "--on", "buses", "--on-owner", "acme-b", "--on-kind", "device",
                               "--revoke", "--branch")
        self.assertIn("--branch goes with a grant, not with --revoke", err)
        self.assertIn("allowed", self.ok("check", "--user", "b@acme.example", "--permission",
                                         "device.write", "--entity", "dev-b1"))
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
        self.ok("group", "create", "subs", "--owner", "acme", "--kind", "account")
        self.assertIn("already has an account group named 'subs'",
                      self.refused("group", "create", "subs", "--owner", "acme", "--kind",
                                   "account"))
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

    def test_a_refused_batch_reports_each_refused_member(self):
        self.ok("group", "create", "fleet", "--owner", "acme-a", "--kind", "device")
        self.ok("group", "create", "ops", "--owner", "acme-b", "--kind", "user")
        log = self.ok("log")
        before = self.export_text("before.jsonl")
        # Unknown names: each is listed, the batch is not sent.
        p = self.expect(1, "group", "add", "fleet", "--owner", "acme-a", "--kind", "device",
                        "dev-a1", "nope", "dev-b1", "nope2")
        self.assertIn("nope    unknown  no device with key 'nope'", p.stdout)
        self.assertIn("nope2   unknown  no device with key 'nope2'", p.stdout)
        self.assertIn("refused, nothing added: 2 unknown", p.stdout)
        self.assertIn("not_found: 2 of 4 unknown (first: no device with key 'nope')", p.stderr)
        # Known but refused: the database's per-item verdict, by the names given.
        p = self.expect(1, "--json", "group", "add", "fleet", "--owner", "acme-a", "--kind",
                        "device", "dev-a1", "dev-b1", "dev-a1")
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        self.assertEqual([(x.get("member"), x.get("outcome")) for x in lines[:-1]],
                         [("dev-b1", "denied"), ("dev-a1", "duplicate")])
        self.assertIn("is not owned by account 'acme-a'", lines[0]["message"])
        self.assertEqual((lines[-1]["ok"], lines[-1]["unknown"], lines[-1]["denied"],
                          lines[-1]["duplicate"]), (False, 0, 1, 1))
        self.assertIn("permission_denied", p.stderr)
        # Users and removals alike.
        p = self.expect(1, "group", "remove", "ops", "--owner", "acme-b", "--kind", "user",
                        "b@acme.example", "ghost@acme.example")
        self.assertIn("ghost@acme.example  unknown  no user", p.stdout)
        self.assertIn("refused, nothing removed: 1 unknown", p.stdout)
        # Nothing changed.
        self.assertEqual(self.ok("log"), log)
        self.assertEqual(self.export_text("after.jsonl"), before)
        # A refusal that is no item's (the group is unknown) lists none.
        p = self.expect(1, "group", "add", "nofleet", "--owner", "acme-a", "--kind", "device",
                        "dev-a1")
        self.assertEqual(p.stdout, "")

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


# acme (group_sharing on) > a > a1, and the tenant other (sharing off).
# av: viewer on acme only (no branch), so it sees neither a nor its users;
# gw: group.read on acme only; aadm: account_admin of a (branch).
# a-users (u-a) and a1-users (u-a1) are granted viewer on acme's device
# group acme-devs (shared down); a1-users also on a's group a-devs.
SHARED = [
    {"type": "account", "key": "acme", "name": "ACME",
     "settings": {"sub_account_management": True, "group_sharing": True}},
    {"type": "account", "key": "a", "name": "A", "parent": "acme",
     "settings": {"sub_account_management": True}},
    {"type": "account", "key": "a1", "name": "A1", "parent": "a"},
    {"type": "account", "key": "other", "name": "Other"},
    {"type": "role", "tenant": "acme", "name": "gw", "permissions": ["group.read", "account.read"]},
    {"type": "user", "login": "root", "name": "R", "account": "acme"},
    {"type": "membership", "login": "root", "account": "acme", "role": "account_admin",
     "branch": True},
    {"type": "user", "login": "av", "name": "AV", "account": "acme"},
    {"type": "membership", "login": "av", "account": "acme", "role": "viewer", "branch": False},
    {"type": "user", "login": "gw", "name": "GW", "account": "acme"},
    {"type": "membership", "login": "gw", "account": "acme", "role": "gw", "branch": False},
    {"type": "user", "login": "aadm", "name": "AA", "account": "a"},
    {"type": "membership", "login": "aadm", "account": "a", "role": "account_admin",
     "branch": True},
    {"type": "user", "login": "u-a", "name": "UA", "account": "a"},
    {"type": "user", "login": "u-a1", "name": "UA1", "account": "a1"},
    {"type": "device", "key": "d-acme", "name": "D", "account": "acme"},
    {"type": "device", "key": "d-a", "name": "D", "account": "a"},
    {"type": "group", "kind": "device", "name": "acme-devs", "account": "acme"},
    {"type": "group_member", "account": "acme", "kind": "device", "group": "acme-devs",
     "member": "d-acme"},
    {"type": "group", "kind": "device", "name": "a-devs", "account": "a"},
    {"type": "group_member", "account": "a", "kind": "device", "group": "a-devs", "member": "d-a"},
    {"type": "group", "kind": "user", "name": "a-users", "account": "a"},
    {"type": "group_member", "account": "a", "kind": "user", "group": "a-users", "member": "u-a"},
    {"type": "group", "kind": "user", "name": "a1-users", "account": "a1"},
    {"type": "group_member", "account": "a1", "kind": "user", "group": "a1-users",
     "member": "u-a1"},
    {"type": "group_grant", "account": "a", "group": "a-users", "role": "viewer",
     "target_account": "acme", "target_kind": "device", "target": "acme-devs"},
    {"type": "group_grant", "account": "a1", "group": "a1-users", "role": "viewer",
     "target_account": "acme", "target_kind": "device", "target": "acme-devs"},
    {"type": "group_grant", "account": "a1", "group": "a1-users", "role": "viewer",
     "target_account": "a", "target_kind": "device", "target": "a-devs"},
]


class SharedGroupsTest(CliTestCase):
    """What a group grant shows, and who may take it away."""

    def setUp(self):
        super().setUp()
        self.ok("import", self.write("shared.jsonl", jsonl(SHARED)))
        self.before = self.export_text("before.jsonl")

    def unchanged(self):
        self.assertEqual(self.export_text("after.jsonl"), self.before)

    def test_who_can_lists_only_users_the_viewer_sees(self):
        rows = self.json_lines("who-can", "--permission", "device.read", "--entity", "d-acme")
        self.assertEqual(sorted(r["login"] for r in rows), ["av", "root", "u-a", "u-a1"])
        # av sees neither u-a nor u-a1 (homed in a and a1): not listed.
        rows = self.json_lines("--actor", "av", "who-can", "--permission", "device.read",
                               "--entity", "d-acme")
        self.assertEqual(sorted(r["login"] for r in rows), ["av", "root"])
        self.assertIn("no user with login 'u-a'", self.refused("--actor", "av", "user", "show",
                                                                "u-a"))
        # aadm sees u-a1 and the groups of a1 (not root's membership on acme).
        rows = self.json_lines("--actor", "aadm", "who-can", "--permission", "device.read",
                               "--entity", "d-a")
        self.assertEqual(sorted(r["login"] for r in rows), ["aadm", "u-a1"])

    def test_who_can_lists_a_user_by_the_closest_route_the_viewer_sees(self):
        # both: a member of a1 (viewer) and of a's user group a-team, whose
        # generic grant (viewer, branch) reaches a1 too. vg sees users and
        # groups on a, but no user on a1: it is told of both through the
        # group grant. vg2 sees users on a but not a's groups: not at all.
        more = [
            {"type": "role", "tenant": "acme", "name": "ug-reader",
             "permissions": ["account.read", "user.read", "group.read"]},
            {"type": "role", "tenant": "acme", "name": "u-reader",
             "permissions": ["account.read", "user.read"]},
            {"type": "role", "tenant": "acme", "name": "dev-reader",
             "permissions": ["account.read", "device.read"]},
            {"type": "device", "key": "d-a1", "name": "D", "account": "a1"},
            {"type": "user", "login": "both", "name": "B", "account": "a"},
            {"type": "membership", "login": "both", "account": "a1", "role": "viewer",
             "branch": False},
            {"type": "group", "kind": "user", "name": "a-team", "account": "a"},
            {"type": "group_member", "account": "a", "kind": "user", "group": "a-team",
             "member": "both"},
            {"type": "group_grant", "account": "a", "group": "a-team", "role": "viewer",
             "branch": True},
        ]
        for login, role in (("vg", "ug-reader"), ("vg2", "u-reader")):
            more += [
                {"type": "user", "login": login, "name": login, "account": "a"},
                {"type": "membership", "login": login, "account": "a", "role": role,
                 "branch": False},
                {"type": "membership", "login": login, "account": "a1", "role": "dev-reader",
                 "branch": False},
            ]
        self.ok("import", self.write("more.jsonl", jsonl(more)))

        def who(actor):
            rows = self.json_lines("--actor", actor, "who-can", "--permission", "device.read",
                                   "--entity", "d-a1")
            return sorted(r["login"] for r in rows)

        self.assertEqual(who("vg"), ["aadm", "both", "vg"])
        self.assertEqual(who("vg2"), ["aadm", "vg2"])

    def test_group_members_hides_entities_the_actor_does_not_see(self):
        out = self.ok("--actor", "gw", "group", "members", "acme-devs", "--owner", "acme",
                      "--kind", "device")
        self.assertEqual(out, "(hidden)\n")
        self.assertEqual(self.ok("group", "members", "acme-devs", "--owner", "acme", "--kind",
                                 "device"), "d-acme\n")

    def test_deleting_or_moving_an_account_takes_grants_only_as_a_revoke_would(self):
        # aadm may not revoke a1-users' grant on acme's group (it holds
        # nothing on acme), so neither may it delete the group...
        err = self.refused("--actor", "aadm", "group", "delete", "a1-users", "--owner", "a1",
                           "--kind", "user")
        self.assertIn("outside the actor's reach", err)
        # ...nor the account that owns it, nor take the grant by a move.
        err = self.refused("--actor", "aadm", "account", "delete", "a1", "--receiver", "a")
        self.assertIn("cannot delete account 'a1' and with it the grant of role viewer of user "
                      "group 'a1-users'", err)
        self.unchanged()
        # A mover (account.move and group.write on a, branch-wide, but no
        # device permission) may not move x out from under m: x's user
        # group would lose its grant on m's device group.
        more = [
            {"type": "account", "key": "m", "name": "M", "parent": "a",
             "settings": {"sub_account_management": True}},
            {"type": "account", "key": "x", "name": "X", "parent": "m"},
            {"type": "role", "tenant": "acme", "name": "mover",
             "permissions": ["account.read", "account.move", "group.read", "group.write",
                             "user.read", "user.invite"]},
            {"type": "user", "login": "mv", "name": "MV", "account": "a"},
            {"type": "membership", "login": "mv", "account": "a", "role": "mover",
             "branch": True},
            {"type": "group", "kind": "device", "name": "md", "account": "m"},
            {"type": "group", "kind": "user", "name": "xu", "account": "x"},
            {"type": "group_grant", "account": "x", "group": "xu", "role": "viewer",
             "target_account": "m", "target_kind": "device", "target": "md"},
        ]
        self.ok("import", self.write("more.jsonl", jsonl(more)))
        self.before = self.export_text("before.jsonl")
        err = self.refused("--actor", "mv", "account", "move", "x", "--parent", "a")
        self.assertIn("cannot move account 'x' under 'a' and with it revoke role viewer of user "
                      "group 'xu' on device group 'md'", err)
        self.unchanged()
        self.ok("--actor", "aadm", "account", "move", "x", "--parent", "a")  # it holds viewer
        # The system may delete a1 with its grants.
        self.ok("account", "delete", "a1", "--receiver", "a")
        self.assertEqual(self.ok("check-db").splitlines()[0][:2], "ok")

    def test_a_move_that_drops_a_grant_needs_what_a_revoke_needs_and_no_more(self):
        """Losing a grant by a move needs what revoking it needs (user.invite
        on the user group's owner, what the grant gives), as RevokeGroup:
        not group.write on the old parent, which owns neither the user
        group nor its target. (It did, and the refusal named the old
        parent's account groups, of which there were none.)"""
        more = [
            {"type": "account", "key": "p1", "name": "P1", "parent": "a",
             "settings": {"sub_account_management": True}},
            {"type": "account", "key": "p1x", "name": "P1X", "parent": "p1"},
            {"type": "account", "key": "q", "name": "Q", "parent": "acme",
             "settings": {"sub_account_management": True}},
            {"type": "user", "login": "x1", "name": "X1", "account": "p1x"},
            {"type": "group", "kind": "user", "name": "xug", "account": "p1x"},
            {"type": "group_member", "account": "p1x", "kind": "user", "group": "xug",
             "member": "x1"},
            {"type": "group_grant", "account": "p1x", "group": "xug", "role": "viewer",
             "target_account": "a", "target_kind": "device", "target": "a-devs"},
            {"type": "role", "tenant": "acme", "name": "mv",
             "permissions": ["account.read", "account.move", "user.invite", "device.read"]},
            {"type": "role", "tenant": "acme", "name": "mvgw",
             "permissions": ["account.read", "account.move", "user.invite", "device.read",
                             "group.write"]},
            {"type": "user", "login": "z", "name": "Z", "account": "acme"},
        ] + [{"type": "membership", "login": "z", "account": k, "role": "mv", "branch": False}
             for k in ("p1x", "p1", "q")] + [
            {"type": "membership", "login": "z", "account": "a", "role": "mvgw", "branch": False},
        ]
        self.ok("import", self.write("more.jsonl", jsonl(more)))
        self.assertEqual(self.json_lines("group", "list", "--owner", "p1"), [])
        before = self.export_text("with-grant.jsonl")
        self.assertIn('"group":"xug","role":"viewer"', before)
        self.ok("--actor", "z", "account", "move", "p1x", "--parent", "q")
        self.assertNotIn('"group":"xug","role":"viewer"', self.export_text("moved.jsonl"))
        self.assertEqual(self.ok("check-db").splitlines()[0][:2], "ok")

    def test_a_grant_suspended_by_a_move_to_another_tenant_exports_and_imports(self):
        self.ok("account", "create", "c", "--name", "C", "--parent", "acme")
        self.ok("account", "create", "c1", "--name", "C1", "--parent", "c")
        self.ok("group", "create", "cd", "--owner", "c", "--kind", "device")
        self.ok("group", "create", "c1u", "--owner", "c1", "--kind", "user")
        self.ok("grant", "c1u", "--owner", "c1", "--role", "viewer", "--on", "cd", "--on-owner",
                "c", "--on-kind", "device")
        self.ok("account", "move", "c", "--parent", "other")  # sharing is off in other
        text = self.export_text("moved.jsonl")
        self.assertIn('"group":"c1u","role":"viewer","target_account":"c"', text)
        self.db = self.path("db2")
        self.ok("import", self.path("moved.jsonl"))
        self.assertEqual(self.export_text("again.jsonl"), text)


if __name__ == "__main__":
    unittest.main()
