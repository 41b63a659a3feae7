# Copyright (c) Canopy authors.
"""Checkpoints and replicas from Python. The replicated part runs against
the etcd test cluster that ctest starts (CANOPY_ETCD_ENDPOINTS) and is
skipped without it."""

import base64
import json
import os
import random
import unittest
import urllib.request

import canopy

from harness import SYSTEM, DbTestCase

ENDPOINTS = os.environ.get("CANOPY_ETCD_ENDPOINTS", "")


class CheckpointTest(DbTestCase):

    def test_checkpoint_is_a_database_of_its_own(self):
        self.db.create_account(SYSTEM, "acme", "ACME")
        rev = self.db.checkpoint(self.path("copy"))
        self.assertEqual(rev, self.db.revision)
        with self.assertRaisesRegex(canopy.AlreadyExists, "already exists"):
            self.db.checkpoint(self.path("copy"))
        with canopy.open(self.path("copy"), sync=False) as copy:
            self.assertEqual(copy.find_account("acme").name, "ACME")
            self.assertEqual(copy.log_id, self.db.log_id)

    def test_replica_calls_on_a_plain_database(self):
        self.db.create_account(SYSTEM, "acme", "ACME")
        status = self.db.replica_status()
        self.assertFalse(status["replicated"])
        self.assertEqual(status["applied"], 1)
        self.assertEqual(status["members"], [])
        for field in ("head", "lag", "checkpoint", "log_first"):  # no etcd to tell them
            self.assertIsNone(status[field], field)
        self.assertEqual(self.db.sync_with_log(10), 1)

    def test_bad_replication_options(self):
        with self.assertRaisesRegex(canopy.InvalidArgument, "must be a URL"):
            canopy.open(self.path("x"), etcd=["127.0.0.1:2379"])
        with self.assertRaisesRegex(canopy.InvalidArgument, "prefix"):
            canopy.open(self.path("x"), etcd="http://127.0.0.1:1", prefix="a b")
        self.assertFalse(os.path.exists(self.path("x")))

    def test_unavailable_is_an_error_class(self):
        self.assertTrue(issubclass(canopy.Unavailable, canopy.CanopyError))
        self.assertIsInstance(canopy.error_for(12, "etcd: down"), canopy.Unavailable)


@unittest.skipUnless(ENDPOINTS, "CANOPY_ETCD_ENDPOINTS is not set (run under ctest)")
class ReplicaClusterTest(DbTestCase):

    def test_writes_reach_the_other_replica(self):
        prefix = "py/%d" % random.getrandbits(48)
        urls = ENDPOINTS.split(",")
        with canopy.open(self.path("r1"), sync=False, etcd=urls, prefix=prefix) as r1, \
                canopy.open(self.path("r2"), sync=False, etcd=ENDPOINTS, prefix=prefix) as r2:
            acme = r1.create_account(SYSTEM, "acme", "ACME")
            token = r1.last_committed_revision
            self.assertEqual(r2.sync_with_log(10000), token)
            self.assertEqual(r2.find_account("acme").id, acme)
            status = r2.replica_status()
            self.assertTrue(status["replicated"])
            self.assertEqual(status["applied"], token)
            self.assertEqual(len(status["members"]), len(urls))
            # A replica applies only its own log.
            with self.assertRaises(canopy.FailedPrecondition):
                r2.apply_changes(r1.log_entries(1))

    def test_watch_ends_when_another_database_replaces_the_log(self):
        prefix = "py/%d" % random.getrandbits(48)
        with canopy.open(self.path("r1"), sync=False, etcd=ENDPOINTS, prefix=prefix) as r1:
            r1.create_account(SYSTEM, "acme", "ACME")
            at = r1.revision
            # The log's keys deleted (through etcd's JSON gateway), and a
            # new database started on the prefix.
            key = (prefix + "/").encode()
            body = json.dumps({"key": base64.b64encode(key).decode(),
                               "range_end": base64.b64encode(key[:-1] + b"0").decode()})
            url = ENDPOINTS.split(",")[0] + "/v3/kv/deleterange"
            with urllib.request.urlopen(url, data=body.encode(), timeout=30) as r:
                self.assertGreater(int(json.load(r)["deleted"]), 0)
            with canopy.open(self.path("r2"), sync=False, etcd=ENDPOINTS, prefix=prefix) as r2:
                r2.create_account(SYSTEM, "other", "Other")
                watch = r1.watch(at + 1, follow=True, timeout=60)
                with self.assertRaisesRegex(canopy.FailedPrecondition,
                                            r"this replica stopped following the log in etcd "
                                            r"\(%s\) at revision %d" % (prefix, at)):
                    next(watch)
            self.assertEqual(r1.revision, at)


if __name__ == "__main__":
    unittest.main()
