# Copyright (c) Canopy authors.
"""Entities: create, read, update, delete, and the all-or-nothing reassign
with its per-item report."""

import unittest

import canopy

from harness import SYSTEM, WorldTestCase


class EntityTest(WorldTestCase):

    def test_read_back(self):
        w = self.w
        e = self.db.get_entity(w.dev_a1)
        self.assertIsInstance(e, canopy.Entity)
        self.assertEqual((e.id, e.kind, e.key, e.unit_id, e.name, e.type, e.owner),
                         (w.dev_a1, canopy.EntityKind.DEVICE, "dev-a1", "U-0101", "Truck A1",
                          "tracker", w.acme_a))
        self.assertEqual(e.attributes, {"vin": "V1"})
        self.assertGreater(e.created_us, 0)
        self.assertEqual(self.db.find_entity("device", "dev-a1"), e)
        self.assertEqual(self.db.find_device_by_unit_id("U-0101"), e)
        asset = self.db.find_entity(canopy.EntityKind.ASSET, "site-7")
        self.assertEqual((asset.unit_id, asset.type), ("", ""))
        with self.assertRaises(canopy.NotFound):
            self.db.find_entity("asset", "dev-a1")  # keys are per kind
        with self.assertRaises(canopy.NotFound):
            self.db.get_entity(4242)
        with self.assertRaisesRegex(canopy.NotFound, "U-404"):
            self.db.find_device_by_unit_id("U-404")
        with self.assertRaises(canopy.InvalidArgument):
            self.db.find_entity("gizmo", "dev-a1")
        with self.assertRaises(TypeError):
            self.db.find_entity("device", None)

    def test_create_refusals(self):
        w = self.w
        with self.assertRaisesRegex(canopy.InvalidArgument, "unit id"):
            self.db.create_entity(SYSTEM, "asset", "site-8", "Yard", w.acme, unit_id="U-9")
        with self.assertRaises(canopy.AlreadyExists):
            self.db.create_entity(SYSTEM, "device", "dev-a1", "Dup", w.acme)
        with self.assertRaisesRegex(canopy.AlreadyExists, "U-0101"):
            self.db.create_entity(SYSTEM, "device", "dev-x", "X", w.acme, unit_id="U-0101")
        with self.assertRaises(canopy.NotFound):
            self.db.create_entity(SYSTEM, "device", "dev-x", "X", 4242)
        with self.assertRaisesRegex(canopy.InvalidArgument, "UTF-8"):
            self.db.create_entity(SYSTEM, "device", "dev-x", "\udcff", w.acme)
        with self.assertRaisesRegex(canopy.PermissionDenied, "device.write"):
            self.db.create_entity(w.b, "device", "dev-x", "X", w.acme_b)
        with self.assertRaises(TypeError):
            self.db.create_entity(SYSTEM, 1, "dev-x", "X", w.acme)
        with self.assertRaises(TypeError):
            self.db.create_entity(SYSTEM, "device", "dev-x", "X", w.acme, type=3)
        with self.assertRaises(TypeError):
            self.db.create_entity(SYSTEM, "device", "dev-x", "X", "acme")

    def test_update_and_delete(self):
        w = self.w
        self.db.update_entity(w.a, w.dev_a1, name="Truck", type="truck", unit_id="U-0109",
                              attributes={"vin": "V2", "color": "red"})
        e = self.db.get_entity(w.dev_a1)
        self.assertEqual((e.name, e.type, e.unit_id), ("Truck", "truck", "U-0109"))
        self.assertEqual(e.attributes, {"vin": "V2", "color": "red"})
        self.db.update_entity(w.a, w.dev_a1)  # nothing given: nothing changes
        self.assertEqual(self.db.get_entity(w.dev_a1).name, "Truck")
        self.db.update_entity(w.a, w.dev_a1, type="", unit_id="")
        e = self.db.get_entity(w.dev_a1)
        self.assertEqual((e.type, e.unit_id), ("", ""))
        with self.assertRaises(canopy.NotFound):
            self.db.find_device_by_unit_id("U-0109")
        with self.assertRaises(canopy.AlreadyExists):
            self.db.update_entity(w.a, w.dev_a1, unit_id="U-0102")
        with self.assertRaises(canopy.NotFound):  # out of b's sight: looks missing
            self.db.update_entity(w.b, w.dev_a1, name="Mine")
        with self.assertRaises(canopy.PermissionDenied):
            self.db.update_entity(w.b, w.dev_b1, name="Mine")
        with self.assertRaises(canopy.NotFound):
            self.db.update_entity(SYSTEM, 4242, name="X")

        with self.assertRaisesRegex(canopy.PermissionDenied, "device.delete"):
            self.db.delete_entity(w.b, w.dev_b1)
        self.db.delete_entity(w.admin, w.dev_b1)
        with self.assertRaises(canopy.NotFound):
            self.db.delete_entity(w.admin, w.dev_b1)
        self.assertEqual(self.db.count_owned(w.acme_b).direct, 0)


class ReassignTest(WorldTestCase):

    def test_moves_and_reports(self):
        w = self.w
        report = self.db.reassign_entities(w.admin, "device", ["dev-a1", "dev-a2"], w.acme_b)
        self.assertIsInstance(report, canopy.ReassignReport)
        self.assertEqual((report.moved, report.unchanged, report.unknown, report.denied,
                          report.duplicate), (2, 0, 0, 0, 0))
        item = report.items[0]
        self.assertEqual((item.ref, item.outcome, item.entity, item.previous_owner, item.message),
                         ("dev-a1", canopy.Outcome.MOVED, w.dev_a1, w.acme_a, ""))
        self.assertEqual(self.db.get_entity(w.dev_a2).owner, w.acme_b)
        report = self.db.reassign_entities(w.admin, canopy.EntityKind.DEVICE,
                                           ["U-0101", "U-0102"], w.acme_a,
                                           by=canopy.EntityRef.UNIT_ID)
        self.assertEqual(report.moved, 2)
        report = self.db.reassign_entities(w.a, "device", ["dev-a1"], w.acme_a)
        self.assertEqual(report.items[0].outcome, canopy.Outcome.UNCHANGED)

    def test_refusals_carry_the_report(self):
        w = self.w
        with self.assertRaisesRegex(canopy.NotFound, "dev-nope") as ctx:
            self.db.reassign_entities(w.admin, "device", ["dev-a1", "dev-nope"], w.acme_b)
        report = ctx.exception.report
        self.assertEqual([i.outcome for i in report.items],
                         [canopy.Outcome.MOVED, canopy.Outcome.UNKNOWN])
        self.assertIsNone(report.items[1].entity)
        self.assertTrue(report.items[1].message)
        self.assertEqual(self.db.get_entity(w.dev_a1).owner, w.acme_a)  # all or nothing

        with self.assertRaises(canopy.InvalidArgument) as ctx:
            self.db.reassign_entities(w.admin, "device", ["dev-a1", "dev-a1"], w.acme_b)
        self.assertEqual(ctx.exception.report.duplicate, 1)

        # b (viewer on acme-b) reads dev-b1 but may not assign it.
        b1 = self.db.create_account(SYSTEM, "acme-b1", "B1", w.acme_b)
        self.db.invite(SYSTEM, w.b, b1, w.viewer)
        with self.assertRaisesRegex(canopy.PermissionDenied, "device.assign") as ctx:
            self.db.reassign_entities(w.b, "device", ["dev-b1"], b1)
        self.assertEqual(ctx.exception.report.items[0].outcome, canopy.Outcome.DENIED)
        self.assertEqual(ctx.exception.report.denied, 1)
        # a cannot even read dev-b1: it is reported unknown, not revealed.
        with self.assertRaises(canopy.NotFound) as ctx:
            self.db.reassign_entities(w.a, "device", ["dev-a2", "dev-b1"], w.acme_a1)
        self.assertEqual([i.outcome for i in ctx.exception.report.items],
                         [canopy.Outcome.MOVED, canopy.Outcome.UNKNOWN])

        with self.assertRaises(canopy.NotFound) as ctx:
            self.db.reassign_entities(SYSTEM, "device", ["dev-a1"], 4242)
        self.assertIsNone(ctx.exception.report)  # refused before judging items
        with self.assertRaises(canopy.InvalidArgument):
            self.db.reassign_entities(SYSTEM, "device", [], w.acme)
        with self.assertRaises(canopy.InvalidArgument):
            self.db.reassign_entities(SYSTEM, "asset", ["U-0101"], w.acme, by="unit_id")
        with self.assertRaises(canopy.InvalidArgument):
            self.db.reassign_entities(SYSTEM, "device", ["dev-a1"], w.acme, by="serial")
        with self.assertRaises(TypeError):
            self.db.reassign_entities(SYSTEM, "device", "dev-a1", w.acme)
        with self.assertRaises(TypeError):
            self.db.reassign_entities(SYSTEM, "device", ["dev-a1", 7], w.acme)


if __name__ == "__main__":
    unittest.main()
