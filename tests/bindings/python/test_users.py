# Copyright (c) Canopy authors.
"""Users, memberships and roles, with the no-escalation and top-down
rules seen from Python."""

import unittest

import canopy

from harness import SYSTEM, WorldTestCase


class UserTest(WorldTestCase):

    def test_users(self):
        w = self.w
        u = self.db.get_user(w.a)
        self.assertIsInstance(u, canopy.User)
        self.assertEqual((u.id, u.login, u.name, u.account, u.disabled),
                         (w.a, "a@acme.example", "User A", w.acme_a, False))
        self.assertEqual(self.db.find_user("a@acme.example"), u)
        self.assertEqual([x.login for x in self.db.users_of(w.acme)], ["admin@acme.example"])
        self.db.update_user(w.admin, w.b, name="User Bee")
        self.assertEqual(self.db.get_user(w.b).name, "User Bee")
        with self.assertRaises(canopy.AlreadyExists):
            self.db.create_user(SYSTEM, "a@acme.example", "Again", w.acme)
        with self.assertRaises(canopy.NotFound):
            self.db.create_user(SYSTEM, "c@acme.example", "C", 4242)
        with self.assertRaises(canopy.NotFound):
            self.db.find_user("nobody@acme.example")
        with self.assertRaises(canopy.NotFound):
            self.db.users_of(4242)
        # acme is out of a's sight: it looks missing.
        with self.assertRaisesRegex(canopy.NotFound, "no account with id"):
            self.db.create_user(w.a, "c@acme.example", "C", w.acme)
        with self.assertRaisesRegex(canopy.PermissionDenied, "user.invite"):
            self.db.create_user(w.b, "c@acme.example", "C", w.acme_b)
        with self.assertRaises(TypeError):
            self.db.create_user(SYSTEM, "c@acme.example", "C", None)
        with self.assertRaises(TypeError):
            self.db.update_user(SYSTEM, w.b, name=b"bytes")

    def test_disable_and_remove(self):
        w = self.w
        self.db.set_user_disabled(w.admin, w.b, True)
        self.assertTrue(self.db.get_user(w.b).disabled)
        self.assertFalse(self.db.check(w.b, "device.read", "dev-b1"))  # holds nothing now
        with self.assertRaisesRegex(canopy.PermissionDenied, "disabled"):
            self.db.update_user(w.b, w.b, name="Self")
        self.db.set_user_disabled(w.admin, w.b, False)
        self.assertTrue(self.db.check(w.b, "device.read", "dev-b1"))
        with self.assertRaises(TypeError):
            self.db.set_user_disabled(w.admin, w.b, 1)
        self.db.remove_user(w.admin, w.b)
        with self.assertRaises(canopy.NotFound):
            self.db.get_user(w.b)
        self.assertEqual(self.db.members_of(w.acme_b), [])
        with self.assertRaises(canopy.NotFound):
            self.db.remove_user(w.admin, w.b)


class MembershipTest(WorldTestCase):

    def test_memberships(self):
        w = self.w
        (m,) = self.db.memberships_of(w.a)
        self.assertIsInstance(m, canopy.Membership)
        self.assertEqual((m.user, m.account, m.role, m.branch), (w.a, w.acme_a, w.account_admin,
                                                                  True))  # default_on
        self.assertGreater(m.created_us, 0)
        self.assertEqual([x.user for x in self.db.members_of(w.acme_b)], [w.b])
        with self.assertRaises(canopy.AlreadyExists):
            self.db.invite(SYSTEM, w.b, w.acme_b, w.viewer)
        with self.assertRaises(canopy.NotFound):
            self.db.invite(SYSTEM, w.b, w.acme_a, 4242)
        with self.assertRaises(TypeError):
            self.db.invite(SYSTEM, w.b, w.acme_a, w.viewer, branch="yes")
        # No escalation: a viewer invites nobody (it does not even see a).
        with self.assertRaises(canopy.NotFound):
            self.db.invite(w.b, w.a, w.acme_b, w.viewer)
        with self.assertRaises(canopy.PermissionDenied):
            self.db.invite(w.b, w.b, w.acme_b, w.viewer)

        device_manager = self.db.find_role(None, "device_manager").id
        self.db.change_role(w.admin, w.b, w.acme_b, device_manager)
        self.assertEqual(self.db.memberships_of(w.b)[0].role, device_manager)
        self.db.set_branch_access(w.admin, w.b, w.acme_b, True)
        self.assertTrue(self.db.memberships_of(w.b)[0].branch)
        with self.assertRaises(canopy.NotFound):
            self.db.change_role(w.admin, w.b, w.acme, w.viewer)  # not a member there
        with self.assertRaises(canopy.NotFound):  # b is out of a's sight
            self.db.set_branch_access(w.a, w.b, w.acme_b, False)
        self.db.remove_membership(w.admin, w.b, w.acme_b)
        self.assertEqual(self.db.memberships_of(w.b), [])
        with self.assertRaises(canopy.NotFound):
            self.db.remove_membership(w.admin, w.b, w.acme_b)
        with self.assertRaises(canopy.NotFound):
            self.db.memberships_of(4242)
        with self.assertRaises(canopy.NotFound):
            self.db.members_of(4242)

    def test_always_on_cannot_be_revoked(self):
        w = self.w
        self.db.set_sub_account_access(SYSTEM, w.acme_b, "always_on")
        self.assertTrue(self.db.memberships_of(w.b)[0].branch)  # widened
        with self.assertRaisesRegex(canopy.FailedPrecondition, "always_on"):
            self.db.set_branch_access(SYSTEM, w.b, w.acme_b, False)

    def test_top_down_only(self):
        w = self.w
        # A user of a nested customer never gains anything above it.
        with self.assertRaisesRegex(canopy.FailedPrecondition, "top-down"):
            self.db.invite(SYSTEM, w.a, w.acme, w.viewer)
        with self.assertRaisesRegex(canopy.NotFound, "no account with id"):
            self.db.create_account(w.a, "acme-c", "C", w.acme)
        sub = self.db.create_account(w.a, "acme-a2", "A2", w.acme_a)
        self.assertEqual(self.db.get_account(sub).parent, w.acme_a)


class RoleTest(WorldTestCase):

    def test_builtin_and_custom_roles(self):
        w = self.w
        builtins = self.db.list_roles()
        self.assertEqual(sorted(r.name for r in builtins),
                         ["account_admin", "device_manager", "viewer"])
        self.assertTrue(all(r.builtin and r.tenant is None for r in builtins))
        admin = self.db.get_role(w.account_admin)
        self.assertIsInstance(admin, canopy.Role)
        self.assertIn("device.assign", admin.permissions)
        self.assertEqual(admin.permissions, sorted(set(admin.permissions)))  # types.h: sorted

        auditor = self.db.create_role(SYSTEM, w.acme, "auditor",
                                      ["device.read", "fe.account-hierarchy.read.subAccount"])
        role = self.db.find_role(w.acme_a, "auditor")  # any account of the tenant
        self.assertEqual((role.id, role.tenant, role.builtin), (auditor, w.acme, False))
        self.assertEqual(role.permissions, ["account.read", "device.read"])
        self.assertEqual(len(self.db.list_roles(w.acme)), 4)
        self.db.update_role(SYSTEM, auditor, ["device.read"])
        self.assertEqual(self.db.get_role(auditor).permissions, ["device.read"])

        with self.assertRaisesRegex(canopy.InvalidArgument, "device.fly"):
            self.db.create_role(SYSTEM, w.acme, "pilot", ["device.fly"])
        with self.assertRaises(canopy.InvalidArgument):
            self.db.create_role(SYSTEM, w.acme_a, "pilot", ["device.read"])  # not a root
        with self.assertRaises(canopy.AlreadyExists):
            self.db.create_role(SYSTEM, w.acme, "viewer", [])
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.update_role(SYSTEM, w.viewer, ["device.read"])
        with self.assertRaises(canopy.NotFound):
            self.db.find_role(w.globex, "auditor")  # another tenant's
        with self.assertRaises(TypeError):
            self.db.create_role(SYSTEM, w.acme, "pilot", "device.read")
        with self.assertRaises(TypeError):
            self.db.create_role(SYSTEM, w.acme, "pilot", [1])

        self.db.invite(SYSTEM, w.a, w.acme_a1, auditor)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "auditor"):
            self.db.delete_role(SYSTEM, auditor)
        g = self.db.create_user(SYSTEM, "g@globex.example", "G", w.globex)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "tenant"):
            self.db.invite(SYSTEM, g, w.globex, auditor)  # acme's role in globex
        self.db.remove_membership(SYSTEM, w.a, w.acme_a1)
        self.db.delete_role(SYSTEM, auditor)
        with self.assertRaises(canopy.NotFound):
            self.db.get_role(auditor)


if __name__ == "__main__":
    unittest.main()
