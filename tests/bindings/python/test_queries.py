# Copyright (c) Canopy authors.
"""Visibility queries (transparent paging, explicit pages and cursors,
streams, counts), access checks, and the account views."""

import json
import threading
import unittest

import canopy

from harness import SYSTEM, WorldTestCase


def keys(items):
    return [i.key for i in items]


class VisibleTest(WorldTestCase):

    def test_iterator_pages_transparently(self):
        w = self.w
        self.assertEqual(keys(self.db.visible(w.a)), ["dev-a1", "dev-a2", "dev-a11"])
        # One item per page: the iterator follows the cursors by itself.
        self.assertEqual(keys(self.db.visible(w.a, page_size=1)), ["dev-a1", "dev-a2", "dev-a11"])
        self.assertEqual(keys(self.db.visible(SYSTEM, "device", page_size=2)),
                         ["dev-c1", "dev-a1", "dev-a2", "dev-a11", "dev-b1"])
        self.assertEqual(keys(self.db.visible(w.b)), ["dev-b1"])
        self.assertEqual(keys(self.db.visible(w.a, canopy.EntityKind.ASSET)), ["site-7"])
        item = next(iter(self.db.visible(w.a)))
        self.assertEqual(item, canopy.VisibleItem(w.dev_a1, "dev-a1", "Truck A1", "tracker",
                                                  w.acme_a))

    def test_filters(self):
        w = self.w
        self.assertEqual(keys(self.db.visible(w.a, type="camera")), ["dev-a2"])
        self.assertEqual(keys(self.db.visible(w.a, name_prefix="Truck")), ["dev-a1", "dev-a11"])
        self.assertEqual(keys(self.db.visible(w.a, attribute=("vin", "V1"))), ["dev-a1"])
        self.assertEqual(keys(self.db.visible(w.a, within=w.acme_a1)), ["dev-a11"])
        self.assertEqual(keys(self.db.visible(w.a, within=w.acme_a, direct_only=True)),
                         ["dev-a1", "dev-a2"])
        self.assertEqual(keys(self.db.visible(w.a, permission="device.assign")),
                         ["dev-a1", "dev-a2", "dev-a11"])
        self.assertEqual(keys(self.db.visible(w.b, permission="device.assign")), [])

    def test_pages_and_cursors(self):
        w = self.w
        page = self.db.visible_page(w.a, limit=2)
        self.assertIsInstance(page, canopy.VisiblePage)
        self.assertEqual(keys(page.items), ["dev-a1", "dev-a2"])
        self.assertIsInstance(page.next_cursor, str)
        self.assertNotEqual(page.next_cursor, "")
        last = self.db.visible_page(w.a, limit=2, cursor=page.next_cursor)
        self.assertEqual(keys(last.items), ["dev-a11"])
        # The last page's cursor is "", as in C and C++ (not None).
        self.assertEqual(last.next_cursor, "")
        # "" and None both start at the beginning.
        self.assertEqual(keys(self.db.visible_page(w.a, limit=2, cursor="").items),
                         ["dev-a1", "dev-a2"])
        forged = page.next_cursor[:-3] + ("AAA" if not page.next_cursor.endswith("AAA") else "BBB")
        with self.assertRaisesRegex(canopy.InvalidArgument, "cursor"):
            self.db.visible_page(w.a, limit=2, cursor=forged)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.visible_page(w.a, limit=2, cursor="not a cursor")
        with self.assertRaisesRegex(canopy.InvalidArgument, "another request"):
            self.db.visible_page(w.a, limit=2, cursor=page.next_cursor, name_prefix="T")
        with self.assertRaisesRegex(canopy.InvalidArgument, "limit"):
            self.db.visible_page(w.a, limit=0)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.visible_page(w.a, limit=10001)

    def test_bad_requests(self):
        w = self.w
        with self.assertRaises(canopy.InvalidArgument):
            list(self.db.visible(w.a, permission="account.read"))
        with self.assertRaises(canopy.InvalidArgument):
            list(self.db.visible(w.a, permission="device.fly"))
        with self.assertRaises(canopy.InvalidArgument):
            list(self.db.visible(w.a, "gadget"))
        with self.assertRaisesRegex(canopy.InvalidArgument, "UTF-8"):
            list(self.db.visible(w.a, name_prefix="\udc80"))
        with self.assertRaises(canopy.NotFound):
            list(self.db.visible(4242))
        with self.assertRaises(canopy.NotFound):
            list(self.db.visible(w.a, within=4242))
        with self.assertRaises(TypeError):
            list(self.db.visible("a@acme.example"))
        with self.assertRaises(TypeError):
            list(self.db.visible(w.a, attribute="vin=V1"))
        with self.assertRaises(TypeError):
            list(self.db.visible(w.a, direct_only=None))
        with self.assertRaises(TypeError):
            list(self.db.visible(w.a, page_size="10"))

    def test_stream(self):
        w = self.w
        with self.db.stream(SYSTEM) as stream:
            self.assertIsInstance(stream, canopy.VisibleStream)
            self.assertEqual(keys(stream), ["dev-c1", "dev-a1", "dev-a2", "dev-a11", "dev-b1"])
        self.assertTrue(stream.closed)
        self.assertEqual(list(stream), [])  # closed streams are empty
        # A stream closes itself once exhausted.
        stream = self.db.stream(w.a, type="tracker")
        self.assertEqual(keys(stream), ["dev-a1", "dev-a11"])
        self.assertTrue(stream.closed)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.stream(w.a, permission="device.fly")
        # Closing the database closes streams left open.
        stream = self.db.stream(SYSTEM)
        self.assertEqual(next(stream).key, "dev-c1")
        self.db.close()
        self.assertTrue(stream.closed)

    def test_count(self):
        w = self.w
        self.assertEqual(self.db.count(SYSTEM), 5)
        self.assertEqual(self.db.count(w.a), 3)
        self.assertEqual(self.db.count(w.a, type="tracker"), 2)
        self.assertEqual(self.db.count(w.a, "asset"), 1)
        self.assertEqual(self.db.count(w.b, within=w.acme_b, direct_only=True), 1)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.count(w.a, permission="asset.read")
        with self.assertRaises(TypeError):
            self.db.count(w.a, type=1)


class AccessTest(WorldTestCase):

    def test_check(self):
        w = self.w
        self.assertIs(self.db.check(w.a, "device.read", "dev-a11"), True)
        # Out of the user's sight: "no such device", as for a missing key.
        with self.assertRaisesRegex(canopy.NotFound, "no device with key 'dev-a11'"):
            self.db.check(w.b, "device.read", "dev-a11")
        with self.assertRaisesRegex(canopy.NotFound, "no device with key 'dev-c1'"):
            self.db.check(w.a, "device.read", "dev-c1")  # the parent's
        self.assertTrue(self.db.check(w.a, "asset.delete", "site-7"))
        with self.assertRaises(canopy.NotFound):
            self.db.check(w.a, "device.read", "dev-zz")
        with self.assertRaises(canopy.NotFound):
            self.db.check(4242, "device.read", "dev-a1")
        # An account-level permission names an account.
        self.assertIs(self.db.check(w.a, "account.read", "acme-a1"), True)
        with self.assertRaisesRegex(canopy.NotFound, "no account with key 'dev-a1'"):
            self.db.check(w.a, "account.read", "dev-a1")
        with self.assertRaises(TypeError):
            self.db.check(w.a, "device.read", w.dev_a1)

    def test_explain(self):
        w = self.w
        why = self.db.explain(w.a, "device.read", "dev-a11")
        self.assertIsInstance(why, canopy.Explanation)
        self.assertTrue(why.allowed)
        self.assertTrue(why.reason)
        self.assertEqual((why.entity, why.owner), (w.dev_a11, w.acme_a1))
        self.assertEqual((why.via_account, why.via_role, why.via_role_name, why.via_branch),
                         (w.acme_a, w.account_admin, "account_admin", True))
        self.assertEqual(why.path, ["acme-a", "acme-a1"])
        with self.assertRaisesRegex(canopy.NotFound, "no device with key 'dev-a11'"):
            self.db.explain(w.b, "device.read", "dev-a11")
        with self.assertRaises(canopy.NotFound):
            self.db.explain(w.a, "device.read", "dev-zz")

    def test_explain_as_an_asker(self):
        w = self.w
        # The operator learns that dev-a11 exists out of b's sight.
        told = self.db.explain(w.b, "device.read", "dev-a11", asker=canopy.SYSTEM_ACTOR)
        self.assertFalse(told.allowed)
        self.assertIn("cannot see device 'dev-a11'", told.reason)
        self.assertEqual(told.owner, w.acme_a1)
        # a does not see user b: as missing.
        with self.assertRaisesRegex(canopy.NotFound, "no user with id %d" % w.b):
            self.db.explain(w.b, "device.read", "dev-b1", asker=w.a)
        # Asked by the user itself: explain's own answer.
        self.assertEqual(self.db.explain(w.a, "device.read", "dev-a11", asker=w.a),
                         self.db.explain(w.a, "device.read", "dev-a11"))
        with self.assertRaisesRegex(TypeError, "asker"):
            self.db.explain(w.a, "device.read", "dev-a11", asker="a")

    def test_who_can(self):
        w = self.w
        everyone = list(self.db.who_can("device.read", "dev-a11", page_size=1))
        self.assertEqual([i.user for i in everyone], [w.admin, w.a])
        first = everyone[0]
        self.assertIsInstance(first, canopy.WhoCanItem)
        self.assertEqual((first.login, first.via_account, first.role, first.branch),
                         ("admin@acme.example", w.acme, w.account_admin, True))
        page = self.db.who_can_page("device.read", "dev-a11", limit=1)
        self.assertNotEqual(page.next_cursor, "")
        last = self.db.who_can_page("device.read", "dev-a11", limit=1, cursor=page.next_cursor)
        self.assertEqual(([i.user for i in last.items], last.next_cursor), ([w.a], ""))
        with self.assertRaisesRegex(canopy.InvalidArgument, "cursor"):
            self.db.who_can_page("device.read", "dev-a1", limit=1, cursor=page.next_cursor)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.who_can_page("device.read", "dev-a11", limit=0)
        with self.assertRaises(canopy.NotFound):
            list(self.db.who_can("device.read", "dev-zz"))
        with self.assertRaisesRegex(canopy.NotFound, "no account with key 'dev-a11'"):
            list(self.db.who_can("user.read", "dev-a11"))
        self.assertIn(w.a, [i.user for i in self.db.who_can("user.read", "acme-a1")])


class ViewTest(WorldTestCase):

    def test_accounts_table(self):
        w = self.w
        rows = list(self.db.accounts_table(w.admin, page_size=2))
        self.assertEqual([r.key for r in rows], ["acme", "acme-a", "acme-a1", "acme-b"])
        row = rows[1]
        self.assertIsInstance(row, canopy.AccountRow)
        self.assertEqual((row.id, row.parent, row.name, row.depth, row.path),
                         (w.acme_a, w.acme, "Nested customer A", 2, ["acme", "acme-a"]))
        self.assertEqual((row.users, row.sub_accounts, row.devices_direct, row.devices_subtree),
                         (1, 1, 2, 3))
        self.assertIsNone(rows[0].parent)
        page = self.db.accounts_table_page(w.admin, sort="devices_subtree", descending=True,
                                           limit=1)
        self.assertEqual((page.total, page.rows[0].key), (4, "acme"))
        self.assertNotEqual(page.next_cursor, "")
        whole = self.db.accounts_table_page(w.admin, limit=10)
        self.assertEqual((len(whole.rows), whole.next_cursor), (4, ""))
        with self.assertRaises(canopy.InvalidArgument):
            self.db.accounts_table_page(w.admin, sort="name", limit=1, cursor=page.next_cursor)
        self.assertEqual([r.key for r in self.db.accounts_table(w.a, sort=canopy.TableSort.NAME)],
                         ["acme-a", "acme-a1"])
        self.assertEqual([r.key for r in self.db.accounts_table(SYSTEM, root=w.acme_b)],
                         ["acme-b"])
        with self.assertRaises(canopy.InvalidArgument):
            list(self.db.accounts_table(w.admin, sort="size"))
        with self.assertRaises(canopy.NotFound):
            list(self.db.accounts_table(4242))
        with self.assertRaises(canopy.NotFound):
            list(self.db.accounts_table(w.admin, root=4242))
        with self.assertRaises(TypeError):
            list(self.db.accounts_table(w.admin, descending="yes"))

    def test_summary(self):
        w = self.w
        s = self.db.summary(w.acme_a)
        self.assertIsInstance(s, canopy.Summary)
        self.assertEqual(s.account, self.db.get_account(w.acme_a))
        self.assertEqual(s.path, ["acme", "acme-a"])
        self.assertEqual(s.path_names, ["ACME Corp", "Nested customer A"])
        self.assertEqual((s.users, s.sub_accounts, s.devices_direct, s.devices_subtree),
                         (1, 1, 2, 3))
        with self.assertRaises(canopy.NotFound):
            self.db.summary(4242)

    def test_graph(self):
        w = self.w
        graph = json.loads(self.db.graph_json(SYSTEM, w.acme))
        (acme,) = graph["accounts"]
        self.assertEqual(acme["key"], "acme")
        self.assertEqual([c["key"] for c in acme["children"]], ["acme-a", "acme-b"])
        everything = json.loads(self.db.graph_json(SYSTEM))
        self.assertEqual([a["key"] for a in everything["accounts"]], ["acme", "globex"])
        shallow = json.loads(self.db.graph_json(SYSTEM, w.acme, max_levels=1))
        self.assertEqual(shallow["accounts"][0]["children"][0]["children"], [])
        mine = json.loads(self.db.graph_json(w.a))
        self.assertEqual([a["key"] for a in mine["accounts"]], ["acme-a"])
        dot = self.db.graph_dot(SYSTEM, w.acme)
        self.assertTrue(dot.startswith("digraph"))
        self.assertIn('"acme" -> "acme-a"', dot)
        with self.assertRaises(canopy.NotFound):
            self.db.graph_json(SYSTEM, 4242)
        with self.assertRaises(canopy.NotFound):
            self.db.graph_dot(4242)
        with self.assertRaises(TypeError):
            self.db.graph_dot(SYSTEM, "acme")


class ViewerReadsTest(WorldTestCase):
    """Reads as a viewer: out of its sight is NotFound, as missing, and left
    out of lists; a disabled viewer is PermissionDenied."""

    def test_point_reads(self):
        w, db = self.w, self.db
        self.assertEqual(db.find_account("acme-a", viewer=w.a).id, w.acme_a)
        for hidden, missing in (("acme-b", "nope"), ("acme", "nope")):
            with self.assertRaises(canopy.NotFound) as h:
                db.find_account(hidden, viewer=w.a)
            with self.assertRaises(canopy.NotFound) as m:
                db.find_account(missing, viewer=w.a)
            self.assertEqual(str(h.exception).replace(hidden, "X"),
                             str(m.exception).replace(missing, "X"))
        self.assertEqual(db.find_account("acme-b", viewer=SYSTEM).id, w.acme_b)
        self.assertEqual(db.find_entity("device", "dev-a1", viewer=w.a).id, w.dev_a1)
        with self.assertRaises(canopy.NotFound):
            db.find_entity("device", "dev-c1", viewer=w.a)
        with self.assertRaises(canopy.NotFound):
            db.find_device_by_unit_id("U-0001", viewer=w.a)
        self.assertEqual(db.find_device_by_unit_id("U-0101", viewer=w.a).id, w.dev_a1)
        with self.assertRaises(canopy.NotFound):
            db.find_user("admin@acme.example", viewer=w.a)
        self.assertEqual(db.find_user("a@acme.example", viewer=w.a).id, w.a)
        with self.assertRaises(TypeError):
            db.find_account("acme-a", viewer="a@acme.example")

    def test_lists_and_summary(self):
        w, db = self.w, self.db
        self.assertEqual(db.roots(viewer=w.a), [w.acme_a])
        self.assertEqual(db.roots(), [w.acme, w.globex])
        self.assertEqual([a.key for a in db.descendants(w.acme_a, viewer=w.a)], ["acme-a1"])
        with self.assertRaises(canopy.NotFound):
            db.descendants(w.acme, viewer=w.a)
        self.assertEqual([u.login for u in db.users_of(w.acme_a, viewer=w.a)],
                         ["a@acme.example"])
        with self.assertRaises(canopy.NotFound):
            db.users_of(w.acme, viewer=w.a)
        self.assertEqual([m.user for m in db.members_of(w.acme_a, viewer=w.a)], [w.a])
        with self.assertRaises(canopy.NotFound):
            db.memberships_of(w.admin, viewer=w.a)
        self.assertEqual(db.get_account(w.acme_a, viewer=w.a).key, "acme-a")
        with self.assertRaises(canopy.NotFound):
            db.get_account(w.acme_b, viewer=w.a)
        self.assertEqual(db.ancestors(w.acme_a, viewer=w.a), [])
        self.assertEqual([a.key for a in db.ancestors(w.acme_a)], ["acme"])
        self.assertEqual(db.get_user(w.a, viewer=w.a).id, w.a)
        with self.assertRaises(canopy.NotFound):
            db.get_user(w.admin, viewer=w.a)
        self.assertEqual(db.get_role(w.viewer, viewer=w.a).name, "viewer")
        self.assertEqual(len(db.list_roles(viewer=w.a)), len(db.list_roles()))
        with self.assertRaises(canopy.NotFound):
            db.list_roles(w.acme_b, viewer=w.a)
        s = db.summary(w.acme_a, viewer=w.a)
        self.assertEqual((s.path, s.path_names), (["acme-a"], ["Nested customer A"]))
        self.assertEqual(db.summary(w.acme_a).path, ["acme", "acme-a"])
        who = {i.user for i in db.who_can("device.read", "dev-a1", viewer=w.a)}
        self.assertNotIn(w.admin, who)
        self.assertIn(w.admin, {i.user for i in db.who_can("device.read", "dev-a1")})
        with self.assertRaises(canopy.NotFound):
            list(db.who_can("device.read", "dev-c1", viewer=w.a))

    def test_a_disabled_viewer_sees_nothing(self):
        w, db = self.w, self.db
        db.set_user_disabled(SYSTEM, w.b, True)
        with self.assertRaises(canopy.PermissionDenied):
            db.find_account("acme-b", viewer=w.b)
        with self.assertRaises(canopy.PermissionDenied):
            db.roots(viewer=w.b)


class ThreadTest(WorldTestCase):
    """One Db shared by threads: readers page and count while a writer
    adds devices (ctypes releases the GIL inside libcanopy)."""

    def test_readers_and_a_writer(self):
        w = self.w
        problems = []

        def reader():
            try:
                for _ in range(30):
                    n = self.db.count(w.a)
                    seen = [i.key for i in self.db.visible(w.a, page_size=2)]
                    if n < 3 or len(seen) < 3 or len(set(seen)) != len(seen):
                        problems.append((n, seen))
            except Exception as e:  # noqa: BLE001 - reported below
                problems.append(e)

        def writer():
            try:
                for i in range(60):
                    self.db.create_entity(SYSTEM, "device", "dev-t%d" % i, "T %d" % i, w.acme_a)
            except Exception as e:  # noqa: BLE001
                problems.append(e)

        threads = [threading.Thread(target=reader) for _ in range(3)]
        threads.append(threading.Thread(target=writer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        self.assertEqual(problems, [])
        self.assertEqual(self.db.count(w.a), 63)


if __name__ == "__main__":
    unittest.main()
