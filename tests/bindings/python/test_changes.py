# Copyright (c) Canopy authors.
"""The change log: revisions, reading pages (filters, the audit view),
watching and following, retention, replication, and the consistency
tokens (min_revision) of the other reads."""

import threading
import time
import unittest

import canopy
from canopy import _lib

from harness import SYSTEM, DbTestCase, WorldTestCase


def mentions(page_or_entries, key):
    """Does any record side of the entries carry "key": key?"""
    entries = getattr(page_or_entries, "entries", page_or_entries)
    for e in entries:
        for c in e.changes:
            for side in (c.before, c.after):
                if side is not None and side.get("key") == key:
                    return True
    return False


class RevisionTest(DbTestCase):

    def test_every_mutation_commits_the_next_revision(self):
        self.assertEqual(self.db.revision, 0)
        self.assertEqual(self.db.last_committed_revision, 0)
        acme = self.db.create_account(SYSTEM, "acme", "ACME", sub_account_management=True)
        self.assertEqual(self.db.revision, 1)
        self.assertEqual(self.db.last_committed_revision, 1)
        self.db.create_account(SYSTEM, "acme-a", "A", acme)
        self.assertEqual(self.db.revision, 2)
        self.assertEqual(self.db.last_committed_revision, 2)
        # A refusal, or a call that changes nothing, commits none.
        with self.assertRaises(canopy.AlreadyExists):
            self.db.create_account(SYSTEM, "acme", "Again")
        self.db.set_sub_account_management(SYSTEM, acme, True)
        self.assertEqual(self.db.revision, 2)

    def test_last_committed_revision_is_per_thread(self):
        self.db.create_account(SYSTEM, "acme", "ACME")
        seen = []

        def other():
            seen.append(self.db.last_committed_revision)
            self.db.create_account(SYSTEM, "globex", "Globex")
            seen.append(self.db.last_committed_revision)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        self.assertEqual(seen, [0, 2])
        self.assertEqual(self.db.last_committed_revision, 1)

    def test_log_id(self):
        log_id = self.db.log_id
        self.assertIsInstance(log_id, str)
        self.assertGreater(len(log_id), 0)
        self.assertEqual(self.db.log_id, log_id)
        with canopy.open(self.path("other"), sync=False) as other:
            self.assertNotEqual(other.log_id, log_id)

    def test_closed_database(self):
        self.db.close()
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.revision
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.changes()

    def test_compacted_code_name(self):
        self.assertEqual(_lib.lib.canopy_code_name(canopy.Compacted.code).decode(), "compacted")


class ChangesTest(WorldTestCase):

    def test_the_whole_log_in_revision_order(self):
        page = self.db.changes()
        head = self.db.revision
        self.assertGreater(head, 15)
        self.assertEqual(page.revision, head)
        self.assertEqual(page.next, head + 1)
        self.assertTrue(page.at_head)
        self.assertEqual([e.revision for e in page.entries], list(range(1, head + 1)))
        first = page.entries[0]
        self.assertIsInstance(first, canopy.ChangeEntry)
        self.assertEqual(first.operation, "account.create")
        self.assertEqual(first.actor, "system")
        self.assertGreater(first.time_us, 0)
        self.assertIsInstance(first.arguments, dict)
        account = [c for c in first.changes if c.type == "account"]
        self.assertEqual(len(account), 1)
        self.assertIsInstance(account[0], canopy.RecordChange)
        self.assertEqual(account[0].action, "created")
        self.assertEqual(account[0].id, str(self.w.acme))
        self.assertIsNone(account[0].before)
        self.assertEqual(account[0].after["key"], "acme")
        self.assertEqual(account[0].after["attributes"], {"home_dashboard": "fleet"})

    def test_an_update_has_before_and_after(self):
        self.db.update_account(SYSTEM, self.w.acme_b, name="Customer B")
        entry = self.db.changes(self.db.revision).entries[0]
        self.assertEqual(entry.operation, "account.update")
        change = [c for c in entry.changes if c.type == "account"][0]
        self.assertEqual(change.action, "changed")
        self.assertEqual(change.before["name"], "Nested customer B")
        self.assertEqual(change.after["name"], "Customer B")

    def test_keys_only(self):
        self.db.update_account(SYSTEM, self.w.acme_b, name="Customer B")
        entry = self.db.changes(self.db.revision, values=False).entries[0]
        change = [c for c in entry.changes if c.type == "account"][0]
        self.assertEqual((change.action, change.id), ("changed", str(self.w.acme_b)))
        self.assertIsNone(change.before)
        self.assertIsNone(change.after)
        with self.assertRaises(TypeError):
            self.db.changes(values="no")

    def test_an_update_with_the_same_values_commits_nothing(self):
        self.db.update_account(SYSTEM, self.w.acme_b, name="Customer B")
        rev = self.db.revision
        self.db.update_account(SYSTEM, self.w.acme_b, name="Customer B")
        self.assertEqual(self.db.revision, rev)

    def test_a_deletion_has_no_after(self):
        self.db.delete_entity(SYSTEM, self.w.dev_b1)
        entry = self.db.changes(self.db.revision).entries[0]
        change = [c for c in entry.changes if c.type == "entity"][0]
        self.assertEqual(change.action, "deleted")
        self.assertEqual(change.before["key"], "dev-b1")
        self.assertIsNone(change.after)

    def test_paging(self):
        page = self.db.changes(2, 3)
        self.assertEqual([e.revision for e in page.entries], [2, 3, 4])
        self.assertEqual(page.next, 5)
        self.assertFalse(page.at_head)
        seen, since = [], 1
        while True:
            page = self.db.changes(since, 4)
            seen += [e.revision for e in page.entries]
            since = page.next
            if page.at_head:
                break
        self.assertEqual(seen, list(range(1, self.db.revision + 1)))
        caught_up = self.db.changes(self.db.revision + 1)
        self.assertEqual(caught_up.entries, [])
        self.assertTrue(caught_up.at_head)
        self.assertEqual(self.db.log_entries(self.db.revision + 1), [])
        # Past the head + 1: no revision of this database (a cursor of
        # another one, or of this one before a restore), refused.
        head = self.db.revision
        with self.assertRaisesRegex(canopy.FailedPrecondition,
                                    "revision %d is past this database's head "
                                    r"\(revision %d;" % (head + 5, head)):
            self.db.changes(head + 5)
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.log_entries(head + 2)
        with self.assertRaises(canopy.FailedPrecondition):
            next(self.db.watch(head + 2, follow=True, timeout=0))
        self.assertEqual(self.db.revision, head)

    def test_account_and_type_filters(self):
        page = self.db.changes(account=self.w.globex)
        self.assertTrue(mentions(page, "globex"))
        self.assertFalse(mentions(page, "acme"))
        page = self.db.changes(types=["user"])
        self.assertEqual({c.type for e in page.entries for c in e.changes}, {"user"})
        self.assertEqual({c.after["login"] for e in page.entries for c in e.changes},
                         {"admin@acme.example", "a@acme.example", "b@acme.example"})
        page = self.db.changes(account=self.w.acme_a, types=["entity"])
        self.assertEqual([c.after["key"] for e in page.entries for c in e.changes],
                         ["dev-a1", "dev-a2", "dev-a11", "site-7"])

    def test_audit_view(self):
        everything = self.db.changes()
        # a holds audit.read (account_admin) on acme-a's branch only.
        page = self.db.changes(viewer=self.w.a)
        self.assertGreater(len(page.entries), 0)
        self.assertLess(len(page.entries), len(everything.entries))
        self.assertTrue(mentions(page, "acme-a1"))
        self.assertTrue(mentions(page, "dev-a11"))
        self.assertFalse(mentions(page, "globex"))
        self.assertFalse(mentions(page, "dev-b1"))
        self.assertFalse(mentions(page, "dev-c1"))
        # The admin of acme sees all of acme but not globex.
        page = self.db.changes(viewer=self.w.admin)
        self.assertTrue(mentions(page, "dev-b1"))
        self.assertFalse(mentions(page, "globex"))
        # b is a viewer: no audit.read anywhere.
        with self.assertRaisesRegex(canopy.PermissionDenied, "audit.read"):
            self.db.changes(viewer=self.w.b)
        # An account out of a's sight is worded as a missing one.
        with self.assertRaisesRegex(canopy.NotFound,
                                    "^no account with id %d$" % self.w.globex):
            self.db.changes(viewer=self.w.a, account=self.w.globex)
        with self.assertRaises(canopy.NotFound):
            self.db.changes(viewer=4242)

    def test_refusals(self):
        with self.assertRaisesRegex(canopy.InvalidArgument, "since"):
            self.db.changes(0)
        with self.assertRaisesRegex(canopy.InvalidArgument, "limit"):
            self.db.changes(1, 0)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.changes(1, 100001)
        with self.assertRaisesRegex(canopy.InvalidArgument, "bogus"):
            self.db.changes(types=["account", "bogus"])
        with self.assertRaises(canopy.NotFound):
            self.db.changes(account=4242)
        with self.assertRaisesRegex(canopy.FailedPrecondition, "revision"):
            self.db.changes(min_revision=self.db.revision + 1)
        self.db.changes(min_revision=self.db.revision)
        with self.assertRaises(TypeError):
            self.db.changes(types="account")
        with self.assertRaises(TypeError):
            self.db.changes("1")
        with self.assertRaises(canopy.InvalidArgument):
            self.db.changes(-1)


class WatchTest(WorldTestCase):

    def test_watch_reads_every_page_to_the_head(self):
        revisions = [e.revision for e in self.db.watch(page_size=3)]
        self.assertEqual(revisions, list(range(1, self.db.revision + 1)))
        since = self.db.revision - 1
        self.assertEqual([e.revision for e in self.db.watch(since)],
                         [since, since + 1])
        self.assertEqual(list(self.db.watch(self.db.revision + 1)), [])
        # Filters pass through.
        entries = list(self.db.watch(types=["membership"], page_size=2))
        self.assertEqual(len(entries), 3)

    def test_follow_yields_changes_made_meanwhile(self):
        head = self.db.revision

        def writer():
            time.sleep(0.3)
            self.db.create_account(SYSTEM, "initech", "Initech")
            time.sleep(0.1)
            self.db.create_account(SYSTEM, "umbrella", "Umbrella")

        t = threading.Thread(target=writer)
        t.start()
        got = []
        started = time.monotonic()
        try:
            for entry in self.db.watch(head, follow=True, timeout=30):
                got.append(entry)
                if len(got) == 3:
                    break
        finally:
            t.join()
        self.assertLess(time.monotonic() - started, 20)
        self.assertEqual([e.revision for e in got], [head, head + 1, head + 2])
        self.assertTrue(mentions(got[1:2], "initech"))
        self.assertTrue(mentions(got[2:3], "umbrella"))

    def test_a_watch_of_an_account_ends_with_its_deletion(self):
        initech = self.db.create_account(SYSTEM, "initech", "Initech")
        since = self.db.revision + 1

        def writer():  # the deletion is the head: nothing after it wakes the watch
            time.sleep(0.3)
            self.db.delete_account(SYSTEM, initech)

        t = threading.Thread(target=writer)
        t.start()
        got = []
        started = time.monotonic()
        try:
            with self.assertRaisesRegex(canopy.NotFound, "was deleted at revision %d" % since):
                for entry in self.db.watch(since, follow=True, timeout=30, account=initech):
                    got.append(entry)
        finally:
            t.join()
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual([(e.revision, e.operation) for e in got], [(since, "account.delete")])
        self.db.create_account(SYSTEM, "umbrella", "Umbrella")
        # A page says where the account's log ends.
        page = self.db.changes(since, account=initech)
        self.assertTrue(page.ended)
        self.assertFalse(self.db.changes(since).ended)  # unfiltered, nothing ends
        self.assertFalse(self.db.changes(1, 1, account=initech).ended)  # its creation only
        # From before its deletion, after it: its whole life, then the end.
        got = []
        with self.assertRaises(canopy.NotFound):
            for entry in self.db.watch(1, account=initech):
                got.append(entry)
        self.assertEqual([e.operation for e in got], ["account.create", "account.delete"])

    def test_follow_ends_after_the_timeout(self):
        started = time.monotonic()
        entries = list(self.db.watch(self.db.revision, follow=True, timeout=0.3))
        self.assertEqual(len(entries), 1)
        self.assertGreaterEqual(time.monotonic() - started, 0.25)
        with self.assertRaises(TypeError):
            list(self.db.watch(follow=True, timeout="soon"))

    def test_wait_for_changes(self):
        head = self.db.revision
        self.assertEqual(self.db.wait_for_changes(head - 1, timeout=60), head)
        started = time.monotonic()
        self.assertEqual(self.db.wait_for_changes(head, timeout=0.05), head)
        self.assertGreaterEqual(time.monotonic() - started, 0.04)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.wait_for_changes(head, timeout=-1)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.wait_for_changes(head, timeout=float("nan"))
        with self.assertRaises(canopy.InvalidArgument):
            list(self.db.watch(head, follow=True, timeout=float("nan")))
        # No limit: it ends when a change commits (here, on another thread).
        import threading
        threading.Timer(0.1, lambda: self.db.create_account(SYSTEM, "later", "L")).start()
        self.assertEqual(self.db.wait_for_changes(head, timeout=float("inf")), head + 1)
        with self.assertRaises(TypeError):
            self.db.wait_for_changes(head, timeout=None)
        # An int too large for a float is a wait without limit, not an
        # OverflowError.
        self.assertEqual(self.db.wait_for_changes(head - 1, timeout=10**400), head + 1)
        self.assertEqual(len(list(self.db.watch(head + 1, timeout=10**400))), 1)


class RetentionTest(DbTestCase):

    def test_trimmed_revisions_are_compacted(self):
        with canopy.open(self.path("small"), sync=False, log_retention_count=2) as db:
            for i in range(8):
                db.create_account(SYSTEM, "t%d" % i, "T%d" % i)
            self.assertEqual(db.revision, 8)
            with self.assertRaisesRegex(canopy.Compacted, "oldest") as cm:
                db.changes(1)
            self.assertEqual(cm.exception.code_name, "compacted")
            with self.assertRaises(canopy.Compacted):
                db.log_entries(1)
            with self.assertRaises(canopy.Compacted):
                list(db.watch())
            self.assertEqual([e.revision for e in db.changes(8).entries], [8])

    def test_retention_options_are_checked(self):
        with self.assertRaises(canopy.InvalidArgument):
            canopy.open(self.path("x"), log_retention_count=-1)
        with self.assertRaises(TypeError):
            canopy.open(self.path("x"), log_retention_seconds="1h")
        with canopy.open(self.path("unlimited"), log_retention_count=0,
                         log_retention_seconds=3600) as db:
            db.create_account(SYSTEM, "acme", "ACME")
            self.assertEqual(len(db.changes().entries), 1)


class ReplicationTest(WorldTestCase):

    def setUp(self):
        super().setUp()
        self.others = []

    def tearDown(self):
        for db in self.others:  # before the folder goes
            db.close()
        super().tearDown()

    def follower(self, name="follower"):
        db = canopy.open(self.path(name), sync=False)
        self.others.append(db)
        return db

    def test_an_empty_database_follows(self):
        follower = self.follower()
        self.assertEqual(follower.revision, 0)
        since = 1
        while True:
            entries = self.db.log_entries(since, 5)
            if not entries:
                break
            self.assertTrue(all(isinstance(e, bytes) for e in entries))
            report = follower.apply_changes(entries)
            self.assertIsInstance(report, canopy.ApplyReport)
            self.assertEqual((report.applied, report.skipped), (len(entries), 0))
            since += len(entries)
        self.assertEqual(follower.revision, self.db.revision)
        self.assertEqual(follower.log_id, self.db.log_id)
        self.assertEqual([r.key for r in follower.accounts_table(SYSTEM)],
                         [r.key for r in self.db.accounts_table(SYSTEM)])
        self.assertEqual([i.key for i in follower.visible(self.w.a)],
                         [i.key for i in self.db.visible(self.w.a)])
        self.assertEqual(follower.changes().entries, self.db.changes().entries)
        # Applying again skips; new revisions follow on.
        report = follower.apply_changes(self.db.log_entries(1, 3))
        self.assertEqual((report.applied, report.skipped), (0, 3))
        self.db.create_account(SYSTEM, "initech", "Initech")
        report = follower.apply_changes(self.db.log_entries(follower.revision + 1))
        self.assertEqual(report.applied, 1)
        self.assertEqual(report.revision, self.db.revision)
        self.assertEqual(follower.find_account("initech").id,
                         self.db.find_account("initech").id)

    def test_imports_replay(self):
        source = self.follower("source")
        exported = self.path("export.jsonl")
        self.db.export_file(exported)
        source.import_file(SYSTEM, exported)
        self.assertEqual(source.revision, 1)
        self.assertEqual(source.changes().entries[0].operation, "import")
        follower = self.follower()
        follower.apply_changes(source.log_entries())
        self.assertEqual(follower.revision, 1)
        self.assertEqual(follower.count(SYSTEM), self.db.count(SYSTEM))

    def test_refusals(self):
        entries = self.db.log_entries(1, 10)
        follower = self.follower()
        with self.assertRaisesRegex(canopy.FailedPrecondition, "gap") as cm:
            follower.apply_changes(entries[:2] + entries[3:4])
        self.assertEqual((cm.exception.report.applied, cm.exception.report.revision), (2, 2))
        self.assertEqual(follower.revision, 2)
        damaged = bytearray(entries[2])
        damaged[-1] ^= 0x5A
        with self.assertRaises(canopy.Corruption):
            follower.apply_changes([bytes(damaged)])
        with self.assertRaisesRegex(canopy.Corruption, "truncated"):
            follower.apply_changes([b"\0\0"])
        with self.assertRaises(canopy.Corruption):
            follower.apply_changes([b""])
        # Another database's entries are another lineage.
        other = self.follower("other")
        other.create_account(SYSTEM, "x", "X")
        with self.assertRaisesRegex(canopy.FailedPrecondition, "lineage"):
            follower.apply_changes(other.log_entries(1))
        self.assertEqual(follower.apply_changes([]).applied, 0)
        with self.assertRaises(TypeError):
            follower.apply_changes(b"bytes")
        with self.assertRaises(TypeError):
            follower.apply_changes(["text"])
        with self.assertRaisesRegex(canopy.InvalidArgument, "since"):
            self.db.log_entries(0)
        with self.assertRaisesRegex(canopy.InvalidArgument, "limit"):
            self.db.log_entries(1, 0)
        self.assertEqual(self.db.log_entries(self.db.revision + 1), [])


class MinRevisionTest(WorldTestCase):

    def test_reads_report_and_require_a_revision(self):
        self.db.create_entity(SYSTEM, "device", "dev-new", "New", self.w.acme_a)
        token = self.db.last_committed_revision
        self.assertEqual(token, self.db.revision)
        page = self.db.visible_page(self.w.a, min_revision=token)
        self.assertIn("dev-new", [i.key for i in page.items])
        self.assertEqual(page.revision, token)
        self.assertEqual(self.db.count(self.w.a, min_revision=token), 4)
        with self.db.stream(self.w.a, min_revision=token) as stream:
            self.assertEqual(len(list(stream)), 4)
        self.assertEqual(len(list(self.db.visible(self.w.a, min_revision=token))), 4)
        who = self.db.who_can_page("device.read", "dev-new", min_revision=token)
        self.assertEqual(who.revision, token)
        self.assertGreaterEqual(len(list(self.db.who_can("device.read", "dev-new",
                                                         min_revision=token))), 2)
        table = self.db.accounts_table_page(SYSTEM, min_revision=token)
        self.assertEqual(table.revision, token)
        self.assertEqual(len(list(self.db.accounts_table(SYSTEM, min_revision=token))), 5)

        ahead = token + 1
        with self.assertRaisesRegex(canopy.FailedPrecondition, "revision"):
            self.db.visible_page(self.w.a, min_revision=ahead)
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.count(self.w.a, min_revision=ahead)
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.stream(self.w.a, min_revision=ahead)
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.who_can_page("device.read", "dev-new", min_revision=ahead)
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.accounts_table_page(SYSTEM, min_revision=ahead)
        with self.assertRaises(TypeError):
            self.db.visible_page(self.w.a, min_revision="1")


if __name__ == "__main__":
    unittest.main()
