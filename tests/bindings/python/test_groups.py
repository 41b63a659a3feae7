# Copyright (c) Canopy authors.
"""Groups: create, rename, delete, member batches with their report, the
members page, grants and the viewer forms, with their refusals (each of
which changes nothing)."""

import unittest

import canopy

from harness import SYSTEM, WorldTestCase


class GroupTest(WorldTestCase):

    def setUp(self):
        super().setUp()
        w = self.w
        self.fleet = self.db.create_group(w.a, "device", "fleet", w.acme_a)
        self.ops = self.db.create_group(w.a, canopy.GroupKind.USER, "ops", w.acme_a)

    def test_create_and_read(self):
        w = self.w
        g = self.db.get_group(self.fleet)
        self.assertIsInstance(g, canopy.Group)
        self.assertEqual((g.id, g.kind, g.name, g.owner, g.size),
                         (self.fleet, canopy.GroupKind.DEVICE, "fleet", w.acme_a, 0))
        self.assertGreater(g.created_us, 0)
        self.assertEqual(self.db.get_group(self.fleet, viewer=w.a), g)
        self.assertEqual([x.id for x in self.db.groups_of(w.acme_a)], [self.fleet, self.ops])
        self.assertEqual(self.db.groups_of(w.acme_b), [])

    def test_create_refusals(self):
        w = self.w
        revision = self.db.revision
        with self.assertRaisesRegex(canopy.AlreadyExists, "fleet"):
            self.db.create_group(w.a, "device", "fleet", w.acme_a)
        with self.assertRaisesRegex(canopy.PermissionDenied, "group.write"):
            self.db.create_group(w.b, "device", "mine", w.acme_b)
        with self.assertRaises(canopy.NotFound):
            self.db.create_group(w.a, "device", "x", 4242)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.create_group(w.a, "device", "", w.acme_a)
        with self.assertRaisesRegex(canopy.InvalidArgument, "unknown kind 'gizmo'"):
            self.db.create_group(w.a, "gizmo", "x", w.acme_a)
        # Kind names are lower-case everywhere (the CLI refuses "DEVICE" too).
        with self.assertRaisesRegex(canopy.InvalidArgument, "unknown kind 'DEVICE'"):
            self.db.create_group(w.a, "DEVICE", "x", w.acme_a)
        with self.assertRaisesRegex(canopy.InvalidArgument, "unknown kind 'Device'"):
            self.db.create_group(w.a, "Device", "x", w.acme_a)
        # Nor a look-alike that str.upper() maps onto a name (a dotless i,
        # a long s), for any of the enums.
        with self.assertRaisesRegex(canopy.InvalidArgument, "unknown kind 'dev\u0131ce'"):
            self.db.create_group(w.a, "dev\u0131ce", "x", w.acme_a)
        with self.assertRaisesRegex(canopy.InvalidArgument, "unknown kind 'u\u017fer'"):
            self.db.create_group(w.a, "u\u017fer", "x", w.acme_a)
        with self.assertRaisesRegex(canopy.InvalidArgument, "a\u017f\u017fet"):
            self.db.create_entity(SYSTEM, "a\u017f\u017fet", "x-asset", "X", w.acme_a)
        with self.assertRaisesRegex(canopy.InvalidArgument, "\u017fub_accounts"):
            list(self.db.accounts_table(SYSTEM, sort="\u017fub_accounts"))
        with self.assertRaises(TypeError):
            self.db.create_group(w.a, "device", None, w.acme_a)
        with self.assertRaises(TypeError):
            self.db.create_group(w.a, "device", "x", "acme-a")
        self.assertEqual(self.db.revision, revision)

    def test_members_batch_and_report(self):
        w = self.w
        with self.assertRaises(canopy.NotFound) as cm:
            self.db.add_group_members(w.a, self.fleet, [w.dev_a1, 4242, w.dev_a1])
        report = cm.exception.report
        self.assertIsInstance(report, canopy.GroupMembersReport)
        self.assertEqual([i.outcome for i in report.items],
                         [canopy.MemberOutcome.DONE, canopy.MemberOutcome.UNKNOWN,
                          canopy.MemberOutcome.DUPLICATE])
        self.assertIn("4242", report.items[1].message)
        self.assertEqual((report.done, report.unknown, report.duplicate), (1, 1, 1))
        self.assertEqual(self.db.get_group(self.fleet).size, 0)  # nothing changed
        # dev-a11 is acme-a1's, not the owner's own: denied, naming it.
        with self.assertRaisesRegex(canopy.PermissionDenied, "dev-a11") as cm:
            self.db.add_group_members(w.a, self.fleet, [w.dev_a11])
        self.assertEqual(cm.exception.report.items[0].outcome, canopy.MemberOutcome.DENIED)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.add_group_members(w.a, self.fleet, [])
        with self.assertRaises(TypeError):
            self.db.add_group_members(w.a, self.fleet, "dev-a1")
        report = self.db.add_group_members(w.a, self.fleet, [w.dev_a1, w.dev_a2])
        self.assertEqual(report.done, 2)
        again = self.db.add_group_members(w.a, self.fleet, [w.dev_a1])
        self.assertEqual(again.items[0].outcome, canopy.MemberOutcome.UNCHANGED)
        self.assertEqual(list(self.db.group_members(self.fleet, page_size=1)),
                         sorted([w.dev_a1, w.dev_a2]))
        page = self.db.group_members_page(self.fleet, limit=1)
        self.assertEqual(page.members, [min(w.dev_a1, w.dev_a2)])
        self.assertEqual(page.next, page.members[0])
        last = self.db.group_members_page(self.fleet, after=page.next)
        self.assertEqual((last.members, last.next), ([max(w.dev_a1, w.dev_a2)], None))
        with self.assertRaisesRegex(canopy.InvalidArgument, "limit"):
            self.db.group_members_page(self.fleet, limit=0)
        self.assertEqual([g.id for g in self.db.groups_of_member("device", w.dev_a1)],
                         [self.fleet])
        self.db.add_group_members(w.a, self.ops, [w.a])
        self.assertEqual([g.id for g in self.db.groups_of_member("user", w.a)], [self.ops])
        with self.assertRaises(canopy.NotFound):
            self.db.groups_of_member("user", 4242)
        report = self.db.remove_group_members(w.a, self.fleet, [w.dev_a2])
        self.assertEqual(report.done, 1)
        self.assertEqual(self.db.get_group(self.fleet).size, 1)

    def test_overlap_and_reassign_into_groups(self):
        w = self.w
        trucks = self.db.create_group(w.a, "device", "trucks", w.acme_a)
        self.db.add_group_members(w.a, self.fleet, [w.dev_a1, w.dev_a2])
        self.db.add_group_members(w.a, trucks, [w.dev_a1])
        self.assertEqual((self.db.get_group(self.fleet).overlap,
                          self.db.get_group(trucks).overlap), (1, 1))
        self.assertEqual(self.db.find_group(w.acme_a, "device", "trucks").id, trucks)
        self.assertEqual(self.db.find_group(w.acme_a, canopy.GroupKind.DEVICE, "trucks",
                                            viewer=w.a).overlap, 1)
        with self.assertRaisesRegex(canopy.NotFound, "no user group named 'trucks'"):
            self.db.find_group(w.acme_a, "user", "trucks")
        with self.assertRaises(TypeError):
            self.db.find_group(w.acme_a, "device", 7)
        sub_fleet = self.db.create_group(w.a, "device", "sub-fleet", w.acme_a1)
        revision = self.db.revision
        # A group the new owner does not own refuses the call, before any item.
        with self.assertRaisesRegex(canopy.InvalidArgument, "not owned by account") as cm:
            self.db.reassign_entities(w.a, "device", ["dev-a1"], w.acme_a1, groups=[trucks])
        self.assertIsNone(cm.exception.report)
        with self.assertRaisesRegex(canopy.NotFound, "no group with id 4242"):
            self.db.reassign_entities(w.a, "device", ["dev-a1"], w.acme_a1, groups=[4242])
        with self.assertRaises(TypeError):
            self.db.reassign_entities(w.a, "device", ["dev-a1"], w.acme_a1, groups="trucks")
        self.assertEqual(self.db.revision, revision)
        report = self.db.reassign_entities(w.a, "device", ["dev-a1"], w.acme_a1,
                                           groups=[sub_fleet])
        self.assertEqual(report.moved, 1)
        self.assertEqual(list(self.db.group_members(sub_fleet)), [w.dev_a1])
        self.assertEqual([g.id for g in self.db.groups_of_member("device", w.dev_a1)],
                         [sub_fleet])
        self.assertEqual((self.db.get_group(self.fleet).size, self.db.get_group(self.fleet).overlap,
                          self.db.get_group(trucks).size), (1, 0, 0))

    def test_grants(self):
        w = self.w
        viewer = w.viewer
        self.db.grant_group(w.a, self.ops, viewer, self.fleet)
        with self.assertRaises(canopy.AlreadyExists):
            self.db.grant_group(w.a, self.ops, viewer, self.fleet)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.grant_group(w.a, self.ops, viewer, self.fleet, branch=True)
        # Sharing acme's group down needs the tenant's group_sharing.
        shared = self.db.create_group(SYSTEM, "device", "shared", w.acme)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "group sharing is off"):
            self.db.grant_group(SYSTEM, self.ops, viewer, shared)
        self.assertFalse(self.db.get_account(w.acme).group_sharing)
        self.db.update_account(SYSTEM, w.acme, group_sharing=True)
        self.assertTrue(self.db.get_account(w.acme).group_sharing)
        self.db.grant_group(SYSTEM, self.ops, viewer, shared)
        # Reached through the grant on `shared`: explain and who-can name
        # the user group and the group (a membership names neither).
        hq = self.db.create_entity(SYSTEM, "device", "hq", "HQ", w.acme)
        self.db.add_group_members(SYSTEM, shared, [hq])
        self.db.add_group_members(SYSTEM, self.ops, [w.a])
        why = self.db.explain(w.a, "device.read", "hq")
        self.assertTrue(why.allowed)
        self.assertEqual((why.via_user_group, why.via_group), (self.ops, shared))
        items = [i for i in self.db.who_can("device.read", "hq") if i.user == w.a]
        self.assertEqual([(i.via_user_group, i.via_group) for i in items], [(self.ops, shared)])
        own = self.db.explain(w.a, "device.read", self.db.get_entity(w.dev_a1).key)
        self.assertEqual((own.via_user_group, own.via_group), (None, None))
        self.db.grant_group(w.a, self.ops, viewer)  # generic
        grants = self.db.group_grants(self.ops)
        self.assertEqual(len(grants), 3)
        self.assertIsInstance(grants[0], canopy.GroupGrant)
        self.assertEqual(sorted(g.target or 0 for g in grants), sorted([0, self.fleet, shared]))
        self.assertEqual([g.user_group for g in self.db.group_grants(self.fleet)], [self.ops])
        self.db.revoke_group(w.a, self.ops, viewer)
        with self.assertRaises(canopy.NotFound):
            self.db.revoke_group(w.a, self.ops, viewer)
        self.db.delete_group(SYSTEM, shared)
        self.assertEqual([g.target for g in self.db.group_grants(self.ops)], [self.fleet])

    def test_viewer_and_changes(self):
        w = self.w
        # b sees nothing of acme-a: its groups are NotFound, as missing ones.
        with self.assertRaises(canopy.NotFound):
            self.db.get_group(self.fleet, viewer=w.b)
        with self.assertRaises(canopy.NotFound):
            self.db.groups_of(w.acme_a, viewer=w.b)
        with self.assertRaises(canopy.NotFound):
            self.db.group_grants(self.ops, viewer=w.b)
        with self.assertRaises(canopy.NotFound):
            self.db.group_members_page(self.fleet, viewer=w.b)
        with self.assertRaises(canopy.NotFound):
            self.db.rename_group(w.b, self.fleet, "x")
        self.db.rename_group(w.a, self.fleet, "trucks")
        self.assertEqual(self.db.get_group(self.fleet).name, "trucks")
        spare = self.db.create_group(w.a, "device", "spare", w.acme_a)
        with self.assertRaisesRegex(canopy.AlreadyExists, "trucks"):
            self.db.rename_group(w.a, spare, "trucks")
        self.db.delete_group(w.a, self.fleet)
        with self.assertRaises(canopy.NotFound):
            self.db.get_group(self.fleet)
        with self.assertRaises(canopy.NotFound):
            self.db.delete_group(w.a, self.fleet)

    def test_export_import_round_trip(self):
        w = self.w
        self.db.add_group_members(w.a, self.fleet, [w.dev_a1])
        self.db.add_group_members(w.a, self.ops, [w.a])
        self.db.grant_group(w.a, self.ops, w.viewer, self.fleet)
        counts = self.db.export_file(self.path("groups.jsonl"))
        self.assertEqual((counts.groups, counts.group_members, counts.group_grants), (2, 2, 1))
        with canopy.open(self.path("copy"), sync=False) as copy:
            report = copy.import_file(SYSTEM, self.path("groups.jsonl"))
            self.assertEqual((report.groups, report.group_members, report.group_grants),
                             (2, 2, 1))
            self.assertEqual(copy.get_group(self.fleet), self.db.get_group(self.fleet))
            self.assertEqual(list(copy.group_members(self.fleet)), [w.dev_a1])
            self.assertEqual(copy.group_grants(self.ops), self.db.group_grants(self.ops))


if __name__ == "__main__":
    unittest.main()
