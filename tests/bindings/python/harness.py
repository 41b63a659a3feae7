# Copyright (c) Canopy authors.
"""Shared harness of the Python binding's tests.

CTest runs each test module with CANOPY_LIBRARY set to the libcanopy just
built and PYTHONPATH pointing at bindings/python. Every test gets a fresh
database in its own temporary folder; `World` seeds the small tenant tree
the tests share:

    acme (root; sub-account management on; home_dashboard=fleet)
      acme-a (management on, access default_on)
        acme-a1
      acme-b
    globex (root)

Users: admin (account_admin on acme, branch), a (account_admin on acme-a,
branch by default), b (viewer on acme-b). Devices: dev-c1 (acme), dev-a1
and dev-a2 (acme-a), dev-a11 (acme-a1), dev-b1 (acme-b); asset site-7
(acme-a).
"""

import os
import shutil
import tempfile
import unittest

import canopy

SYSTEM = canopy.SYSTEM_ACTOR


class DbTestCase(unittest.TestCase):
    """A fresh temporary folder per test; `self.db` is open in it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="canopy-py-test-")
        self.db = canopy.open(self.path("db"), sync=False)

    def tearDown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)


class World:
    """The seeded tree; attributes are ids."""

    def __init__(self, db):
        self.db = db
        self.acme = db.create_account(SYSTEM, "acme", "ACME Corp", sub_account_management=True,
                                      attributes={"home_dashboard": "fleet"})
        self.acme_a = db.create_account(SYSTEM, "acme-a", "Nested customer A", self.acme,
                                        sub_account_management=True,
                                        sub_account_access="default_on")
        self.acme_a1 = db.create_account(SYSTEM, "acme-a1", "Sub-account A1", self.acme_a)
        self.acme_b = db.create_account(SYSTEM, "acme-b", "Nested customer B", self.acme)
        self.globex = db.create_account(SYSTEM, "globex", "Globex")
        self.account_admin = db.find_role(self.acme, "account_admin").id
        self.viewer = db.find_role(self.acme, "viewer").id
        self.admin = db.create_user(SYSTEM, "admin@acme.example", "Admin", self.acme)
        self.a = db.create_user(SYSTEM, "a@acme.example", "User A", self.acme_a)
        self.b = db.create_user(SYSTEM, "b@acme.example", "User B", self.acme_b)
        db.invite(SYSTEM, self.admin, self.acme, self.account_admin, branch=True)
        db.invite(SYSTEM, self.a, self.acme_a, self.account_admin)
        db.invite(SYSTEM, self.b, self.acme_b, self.viewer, branch=False)
        self.dev_c1 = db.create_entity(SYSTEM, "device", "dev-c1", "Van 1", self.acme,
                                       unit_id="U-0001", type="tracker")
        self.dev_a1 = db.create_entity(SYSTEM, "device", "dev-a1", "Truck A1", self.acme_a,
                                       unit_id="U-0101", type="tracker", attributes={"vin": "V1"})
        self.dev_a2 = db.create_entity(SYSTEM, "device", "dev-a2", "Camera A2", self.acme_a,
                                       unit_id="U-0102", type="camera")
        self.dev_a11 = db.create_entity(SYSTEM, "device", "dev-a11", "Truck A11", self.acme_a1,
                                        unit_id="U-1101", type="tracker")
        self.dev_b1 = db.create_entity(SYSTEM, "device", "dev-b1", "Bus B1", self.acme_b,
                                       unit_id="U-0201", type="tracker")
        self.site_7 = db.create_entity(SYSTEM, canopy.EntityKind.ASSET, "site-7", "Depot",
                                       self.acme_a)


class WorldTestCase(DbTestCase):
    """DbTestCase with the World seeded as `self.w`."""

    def setUp(self):
        super().setUp()
        self.w = World(self.db)
