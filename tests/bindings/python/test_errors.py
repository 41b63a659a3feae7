# Copyright (c) Canopy authors.
"""The exception hierarchy: one class per code, built-in bases, and what
each carries."""

import unittest

import canopy
from canopy import errors


class HierarchyTest(unittest.TestCase):

    def test_one_class_per_code(self):
        expected = {
            1: canopy.NotFound, 2: canopy.InvalidArgument, 3: canopy.AlreadyExists,
            4: canopy.FailedPrecondition, 5: canopy.PermissionDenied, 6: canopy.Corruption,
            7: canopy.IoError, 8: canopy.NotSupported, 9: canopy.Internal, 10: canopy.Aborted,
        }
        for code, cls in expected.items():
            err = canopy.error_for(code, "message %d" % code)
            self.assertIs(type(err), cls)
            self.assertIsInstance(err, canopy.CanopyError)
            self.assertEqual(err.code, code)
            self.assertEqual(str(err), "message %d" % code)
            self.assertEqual(err.message, "message %d" % code)

    def test_code_names_match_the_library(self):
        for cls in (canopy.NotFound, canopy.InvalidArgument, canopy.AlreadyExists,
                    canopy.FailedPrecondition, canopy.PermissionDenied, canopy.Corruption,
                    canopy.IoError, canopy.NotSupported, canopy.Internal, canopy.Aborted):
            name = canopy._lib.lib.canopy_code_name(cls.code).decode()
            self.assertEqual(cls.code_name, name)

    def test_builtin_bases(self):
        self.assertTrue(issubclass(canopy.NotFound, LookupError))
        self.assertTrue(issubclass(canopy.InvalidArgument, ValueError))
        self.assertFalse(issubclass(canopy.PermissionDenied, ValueError))

    def test_unknown_code(self):
        err = canopy.error_for(99, "from the future")
        self.assertIs(type(err), canopy.CanopyError)
        self.assertEqual(err.code, 99)
        self.assertEqual(err.code_name, "unknown")

    def test_empty_message_shows_the_code(self):
        self.assertEqual(str(canopy.NotFound()), "not_found")

    def test_corruption_carries_problems(self):
        self.assertEqual(canopy.Corruption("x", ["a", "b"]).problems, ["a", "b"])
        self.assertEqual(canopy.Corruption("x").problems, [])
        self.assertEqual(errors.CORRUPTION, canopy.Corruption.code)


if __name__ == "__main__":
    unittest.main()
