# Copyright (c) Canopy authors.
"""Accounts: create, read, update, settings, move, delete, counts, tree
walks; refusals with their exception classes."""

import unittest

import canopy

from harness import SYSTEM, DbTestCase, WorldTestCase


class CreateTest(DbTestCase):

    def test_create_and_read_back(self):
        root = self.db.create_account(SYSTEM, "acme", "ACME Corp", attributes={"k": "v"},
                                      sub_account_management=True,
                                      sub_account_access=canopy.SubAccountAccess.DEFAULT_ON)
        acc = self.db.get_account(root)
        self.assertIsInstance(acc, canopy.Account)
        self.assertEqual((acc.id, acc.key, acc.name), (root, "acme", "ACME Corp"))
        self.assertIsNone(acc.parent)
        self.assertEqual(acc.depth, 1)
        self.assertGreater(acc.created_us, 0)
        self.assertGreaterEqual(acc.updated_us, acc.created_us)
        self.assertEqual(acc.attributes, {"k": "v"})
        self.assertTrue(acc.sub_account_management)
        self.assertIs(acc.sub_account_access, canopy.SubAccountAccess.DEFAULT_ON)
        self.assertEqual(self.db.find_account("acme"), acc)
        child = self.db.create_account(SYSTEM, "acme-a", "A", root)
        self.assertEqual(self.db.get_account(child).parent, root)
        self.assertEqual(self.db.get_account(child).depth, 2)

    def test_unicode_round_trips(self):
        root = self.db.create_account(SYSTEM, "café-ü", "Zürich ✓ 東京")
        self.assertEqual(self.db.get_account(root).name, "Zürich ✓ 東京")
        self.assertEqual(self.db.find_account("café-ü").id, root)

    def test_refusals(self):
        self.db.create_account(SYSTEM, "acme", "ACME")
        with self.assertRaisesRegex(canopy.AlreadyExists, "acme"):
            self.db.create_account(SYSTEM, "acme", "Again")
        with self.assertRaises(canopy.NotFound):
            self.db.create_account(SYSTEM, "orphan", "Orphan", 4242)
        with self.assertRaisesRegex(canopy.InvalidArgument, "UTF-8"):
            self.db.create_account(SYSTEM, "bad", "lone \udc80 surrogate")
        with self.assertRaisesRegex(canopy.InvalidArgument, "NUL"):
            self.db.create_account(SYSTEM, "bad", "nul\0inside")
        with self.assertRaisesRegex(canopy.InvalidArgument, "empty"):
            self.db.create_account(SYSTEM, "", "Empty key")
        with self.assertRaises(canopy.InvalidArgument):
            self.db.create_account(SYSTEM, "long", "n" * 300)
        with self.assertRaisesRegex(canopy.InvalidArgument, "sub_account_access"):
            self.db.create_account(SYSTEM, "x", "X", sub_account_access="sometimes")
        with self.assertRaises(canopy.InvalidArgument):
            self.db.create_account(SYSTEM, "x", "X", attributes={"": "empty name"})
        with self.assertRaisesRegex(canopy.NotFound, "actor"):
            self.db.create_account(4242, "x", "X")
        self.assertEqual(self.db.roots(), [self.db.find_account("acme").id])

    def test_type_errors(self):
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, 42, "X")
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", None)
        with self.assertRaises(TypeError):
            self.db.create_account("system", "x", "X")
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", "X", parent="acme")
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", "X", parent=True)
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", "X", attributes=[("k", "v")])
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", "X", attributes={"k": 1})
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", "X", sub_account_management=1)
        with self.assertRaises(TypeError):
            self.db.create_account(SYSTEM, "x", "X", sub_account_access=2)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.get_account(-1)
        with self.assertRaises(TypeError):
            self.db.get_account("1")
        with self.assertRaises(TypeError):
            self.db.find_account(1)
        self.assertEqual(self.db.roots(), [])


class TreeTest(WorldTestCase):

    def test_reads(self):
        w = self.w
        with self.assertRaisesRegex(canopy.NotFound, "4242"):
            self.db.get_account(4242)
        with self.assertRaises(canopy.NotFound):
            self.db.get_account(0)
        with self.assertRaises(LookupError):  # NotFound is a LookupError
            self.db.find_account("nope")
        self.assertEqual(self.db.roots(), [w.acme, w.globex])
        self.assertEqual([a.key for a in self.db.ancestors(w.acme_a1)], ["acme", "acme-a"])
        self.assertEqual(self.db.ancestors(w.acme), [])
        self.assertEqual([a.key for a in self.db.descendants(w.acme)],
                         ["acme-a", "acme-a1", "acme-b"])
        self.assertEqual([a.key for a in self.db.descendants(w.acme, max_levels=1)],
                         ["acme-a", "acme-b"])
        with self.assertRaises(canopy.NotFound):
            self.db.ancestors(4242)
        with self.assertRaises(canopy.NotFound):
            self.db.descendants(4242)
        with self.assertRaises(TypeError):
            self.db.descendants(w.acme, max_levels=None)

    def test_counts(self):
        w = self.w
        self.assertEqual(self.db.count_owned(w.acme_a), canopy.EntityCounts(2, 3))
        self.assertEqual(self.db.count_owned(w.acme, "device"), canopy.EntityCounts(1, 5))
        self.assertEqual(self.db.count_owned(w.acme, canopy.EntityKind.ASSET).subtree, 1)
        self.assertEqual(self.db.count_owned(w.acme, "dashboard"), canopy.EntityCounts(0, 0))
        with self.assertRaisesRegex(canopy.InvalidArgument, "kind"):
            self.db.count_owned(w.acme, "gadget")
        with self.assertRaises(TypeError):
            self.db.count_owned(w.acme, 1)
        with self.assertRaises(canopy.NotFound):
            self.db.count_owned(4242)

    def test_counts_as_viewer(self):
        w = self.w
        for viewer, account in ((w.a, w.acme_a), (w.b, w.acme_b), (w.admin, w.acme)):
            s = self.db.summary(account, viewer=viewer)
            c = self.db.count_owned(account, viewer=viewer)
            self.assertEqual((c.direct, c.subtree), (s.devices_direct, s.devices_subtree))
        self.assertEqual(self.db.count_owned(w.acme, viewer=w.admin), self.db.count_owned(w.acme))
        with self.assertRaisesRegex(canopy.NotFound, "no account with id"):
            self.db.count_owned(w.acme_a, viewer=w.b)  # out of its sight: looks missing
        with self.assertRaises(canopy.NotFound):
            self.db.count_owned(w.acme, viewer=4242)

    def test_update_and_settings(self):
        w = self.w
        self.db.update_account(SYSTEM, w.acme_b, name="Customer B", attributes={"tier": "gold"})
        self.db.update_account(SYSTEM, w.acme_b)  # nothing to change
        acc = self.db.get_account(w.acme_b)
        self.assertEqual((acc.name, acc.attributes), ("Customer B", {"tier": "gold"}))
        self.db.update_account(SYSTEM, w.acme_b, attributes={})
        self.assertEqual(self.db.get_account(w.acme_b).attributes, {})
        with self.assertRaises(canopy.NotFound):
            self.db.update_account(SYSTEM, 4242, name="X")
        with self.assertRaisesRegex(canopy.NotFound, "no account with id"):  # out of sight
            self.db.update_account(w.a, w.acme, name="Mine now")
        with self.assertRaisesRegex(canopy.PermissionDenied, "account.update"):
            self.db.update_account(w.b, w.acme_b, name="Mine now")
        with self.assertRaises(TypeError):
            self.db.update_account(SYSTEM, w.acme_b, name=7)

    def test_update_settings_in_one_write(self):
        w = self.w
        revision = self.db.revision
        self.db.update_account(SYSTEM, w.acme_b, name="Customer B", sub_account_management=True,
                               sub_account_access="default_on")
        self.assertEqual(self.db.revision, revision + 1)
        acc = self.db.get_account(w.acme_b)
        self.assertEqual((acc.name, acc.sub_account_management, acc.sub_account_access),
                         ("Customer B", True, canopy.SubAccountAccess.DEFAULT_ON))
        # Refused before anything is written: nothing changes.
        with self.assertRaisesRegex(canopy.InvalidArgument, "sub_account_access 'never'"):
            self.db.update_account(SYSTEM, w.acme_b, name="X", sub_account_access="never")
        with self.assertRaises(TypeError):
            self.db.update_account(SYSTEM, w.acme_b, sub_account_management="on")
        with self.assertRaisesRegex(canopy.PermissionDenied, "access.grant"):
            self.db.update_account(w.b, w.acme_b, sub_account_access="always_on")
        self.assertEqual(self.db.revision, revision + 1)
        self.assertEqual(self.db.get_account(w.acme_b), acc)

        self.db.set_sub_account_management(SYSTEM, w.acme_b, True)
        self.assertTrue(self.db.get_account(w.acme_b).sub_account_management)
        with self.assertRaises(canopy.NotFound):  # acme-b is out of a's sight
            self.db.set_sub_account_management(w.a, w.acme_b, False)
        with self.assertRaises(canopy.PermissionDenied):  # decided on its parent acme
            self.db.set_sub_account_management(w.b, w.acme_b, False)
        with self.assertRaises(TypeError):
            self.db.set_sub_account_management(SYSTEM, w.acme_b, "off")
        self.db.set_sub_account_access(SYSTEM, w.acme_b, "always_on")
        self.assertIs(self.db.get_account(w.acme_b).sub_account_access,
                      canopy.SubAccountAccess.ALWAYS_ON)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.set_sub_account_access(SYSTEM, w.acme_b, "never")
        with self.assertRaises(canopy.NotFound):
            self.db.set_sub_account_access(SYSTEM, 4242, "default_on")

    def test_move(self):
        w = self.w
        self.db.move_account(SYSTEM, w.acme_a1, w.acme_b)
        self.assertEqual(self.db.get_account(w.acme_a1).parent, w.acme_b)
        self.assertEqual(self.db.count_owned(w.acme_b).subtree, 2)  # its device went along
        with self.assertRaisesRegex(canopy.FailedPrecondition, "root"):
            self.db.move_account(SYSTEM, w.acme, w.globex)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "cycle"):
            self.db.move_account(SYSTEM, w.acme_b, w.acme_a1)  # a1 is below b now
        with self.assertRaises(canopy.NotFound):  # acme-a1 is out of a's sight now
            self.db.move_account(w.a, w.acme_a1, w.acme_a)
        with self.assertRaises(canopy.NotFound):
            self.db.move_account(SYSTEM, w.acme_a1, 4242)
        with self.assertRaises(TypeError):
            self.db.move_account(SYSTEM, w.acme_a1, None)

    def test_delete(self):
        w = self.w
        with self.assertRaisesRegex(canopy.FailedPrecondition, "sub-account"):
            self.db.delete_account(SYSTEM, w.acme_a)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "receive"):
            self.db.delete_account(SYSTEM, w.acme_a1)
        self.db.delete_account(SYSTEM, w.acme_a1, receiver=w.acme_a)
        self.assertEqual(self.db.get_entity(w.dev_a11).owner, w.acme_a)
        with self.assertRaises(canopy.NotFound):
            self.db.get_account(w.acme_a1)
        x1 = self.db.create_account(SYSTEM, "x1", "X1", w.globex)
        x2 = self.db.create_account(SYSTEM, "x2", "X2", x1)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "x2"):
            self.db.delete_accounts(SYSTEM, [x1])
        with self.assertRaises(canopy.InvalidArgument):
            self.db.delete_accounts(SYSTEM, [])
        with self.assertRaises(canopy.InvalidArgument):
            self.db.delete_accounts(SYSTEM, [x2, x2])
        with self.assertRaises(TypeError):
            self.db.delete_accounts(SYSTEM, x1)
        with self.assertRaises(TypeError):
            self.db.delete_accounts(SYSTEM, ["x1"])
        self.db.delete_accounts(SYSTEM, (x1, x2))
        self.assertEqual(self.db.descendants(w.globex), [])


if __name__ == "__main__":
    unittest.main()
