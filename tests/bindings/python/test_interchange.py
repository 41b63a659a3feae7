# Copyright (c) Canopy authors.
"""Export and import (with progress callbacks and cancellation) and the
integrity check."""

import os
import signal
import threading
import unittest

import canopy

from harness import SYSTEM, WorldTestCase


class InterchangeTest(WorldTestCase):

    def test_round_trip(self):
        calls = []
        counts = self.db.export_file(self.path("out.jsonl"),
                                     progress=lambda done, total: calls.append((done, total)))
        self.assertIsInstance(counts, canopy.ImportReport)
        self.assertEqual((counts.accounts, counts.users, counts.memberships, counts.entities),
                         (5, 3, 3, 6))
        self.assertTrue(calls)
        self.assertEqual(calls[-1][0], calls[-1][1])
        with canopy.open(self.path("copy"), sync=False) as copy:
            report = copy.import_file(SYSTEM, self.path("out.jsonl"))
            self.assertEqual(report, counts)
            self.assertEqual([a.key for a in copy.descendants(copy.find_account("acme").id)],
                             ["acme-a", "acme-a1", "acme-b"])
            copy.check_integrity()
            # The same records again clash with what is there; nothing changes.
            with self.assertRaises(canopy.InvalidArgument):
                copy.import_file(SYSTEM, self.path("out.jsonl"))

    def test_import_refusals(self):
        w = self.w
        with open(self.path("bad.jsonl"), "w") as f:
            f.write('{"type":"account","key":"initech","name":"Initech"}\n')
            f.write('{"type":"account","key":\n')
        with self.assertRaisesRegex(canopy.InvalidArgument, "line 2"):
            self.db.import_file(SYSTEM, self.path("bad.jsonl"))
        with self.assertRaises(canopy.NotFound):
            self.db.find_account("initech")  # nothing was written
        with self.assertRaises(canopy.NotFound):
            self.db.import_file(SYSTEM, self.path("missing.jsonl"))
        with self.assertRaisesRegex(canopy.PermissionDenied, "system"):
            self.db.import_file(w.admin, self.path("bad.jsonl"))
        with self.assertRaises(TypeError):
            self.db.import_file(SYSTEM, self.path("bad.jsonl"), progress="yes")
        with self.assertRaises(canopy.IoError):
            self.db.export_file("/nonexistent-canopy-dir/out.jsonl")

    def big_file(self):
        path = self.path("big.jsonl")
        with open(path, "w") as f:
            for i in range(20000):  # progress is asked every 16k lines
                f.write('{"type":"account","key":"bulk-%d","name":"Bulk %d"}\n' % (i, i))
        return path

    def test_cancel_from_progress(self):
        path = self.big_file()
        with self.assertRaisesRegex(canopy.Aborted, "cancelled"):
            self.db.import_file(SYSTEM, path, progress=lambda done, total: False)
        with self.assertRaises(canopy.NotFound):
            self.db.find_account("bulk-0")

    def test_exception_in_progress_cancels_and_propagates(self):
        path = self.big_file()

        def progress(done, total):
            raise KeyError("from the callback")

        with self.assertRaisesRegex(KeyError, "from the callback"):
            self.db.import_file(SYSTEM, path, progress=progress)
        with self.assertRaises(canopy.NotFound):
            self.db.find_account("bulk-0")
        # A callback that returns None goes on.
        report = self.db.import_file(SYSTEM, path, progress=lambda done, total: None)
        self.assertEqual(report.accounts, 20000)
        self.assertEqual(self.db.find_account("bulk-19999").name, "Bulk 19999")

    def test_ctrl_c_cancels_an_import(self):
        """Ctrl-C during an import cancels it (nothing imported) and raises
        KeyboardInterrupt, with a progress callback or without one; it was
        lost in ctypes (raised on entering the callback) and the import
        committed."""
        path = self.big_file()
        head = self.db.revision
        calls = []

        def progress(done, total):
            if not calls:
                os.kill(os.getpid(), signal.SIGINT)  # handled before the next step
            calls.append(done)

        with self.assertRaises(KeyboardInterrupt):
            self.db.import_file(SYSTEM, path, progress=progress)
        self.assertEqual(len(calls), 1)  # cancelled at the next step
        self.assertEqual(self.db.revision, head)
        with self.assertRaises(canopy.NotFound):
            self.db.find_account("bulk-0")
        # The handler is Python's own again.
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

        # Without a callback: a signal from another thread while it runs.
        devices = self.path("devices.jsonl")
        with open(devices, "w") as f:
            f.write('{"type":"account","key":"fleet","name":"Fleet"}\n')
            for i in range(300000):
                f.write('{"type":"device","key":"d%d","name":"D","account":"fleet"}\n' % i)
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                self.db.import_file(SYSTEM, devices)
        finally:
            timer.join()
        # Cancelled (nothing imported), or, on a machine that finished first,
        # done whole: never half.
        if self.db.revision == head:
            with self.assertRaises(canopy.NotFound):
                self.db.find_account("fleet")
        else:
            self.assertEqual(self.db.count(SYSTEM), 300000)

    def test_ctrl_c_never_strands_a_stream_or_a_snapshot(self):
        """A KeyboardInterrupt just after the C call that made a stream or a
        snapshot returned (Python raises a pending one at the next step of
        Python code) left a handle that no object owned, and close() refused
        for ever ("1 visible iterator(s) ... still alive"). The handle now
        lands in an object registered before the call."""
        from canopy import _convert, db as dbmodule
        real_call = _convert.call
        makers = {"canopy_visible_iterator_create", "canopy_db_open_snapshot"}

        def interrupted_after(fn, *args):
            real_call(fn, *args)
            if getattr(fn, "__name__", "") in makers:
                raise KeyboardInterrupt
        with canopy.open(self.path("strand"), sync=False) as db:
            db.create_account(SYSTEM, "a", "A")
            dbmodule.cv.call = interrupted_after
            try:
                with self.assertRaises(KeyboardInterrupt):
                    db.stream(SYSTEM)
                with self.assertRaises(KeyboardInterrupt):
                    db.snapshot()
            finally:
                dbmodule.cv.call = real_call
            db.close()  # refused before: the handles were no one's
            self.assertTrue(db.closed)

    def test_a_small_import_is_cancelled_before_its_commit(self):
        """A file too small to reach a progress step is asked once, just
        before its commit: False, or an exception, imports nothing."""
        path = self.path("small.jsonl")
        with open(path, "w") as f:
            f.write('{"type":"account","key":"tiny","name":"Tiny"}\n')
        head = self.db.revision

        def progress(done, total):
            raise KeyError("from the callback")

        with self.assertRaisesRegex(canopy.Aborted, "nothing was imported"):
            self.db.import_file(SYSTEM, path, progress=lambda done, total: False)
        with self.assertRaisesRegex(KeyError, "from the callback"):
            self.db.import_file(SYSTEM, path, progress=progress)
        self.assertEqual(self.db.revision, head)
        with self.assertRaises(canopy.NotFound):
            self.db.find_account("tiny")

    def test_check_integrity(self):
        self.assertIsNone(self.db.check_integrity())
        self.assertIsNone(self.db.check_integrity(progress=lambda done, total: True))
        # Its last call (all done) may cancel too: on a small database it
        # is the only one.
        with self.assertRaisesRegex(canopy.Aborted, "integrity check cancelled"):
            self.db.check_integrity(progress=lambda done, total: False)

    def test_a_write_from_an_import_callback_is_refused_not_a_hang(self):
        """An import holds off writes while its callback runs: a write from
        inside it would wait for itself, so it is refused; reads go on."""
        path = self.path("one.jsonl")
        with open(path, "w") as f:
            f.write('{"type":"account","key":"one","name":"One"}\n')
        seen = []

        def progress(done, total):
            with self.assertRaisesRegex(canopy.FailedPrecondition,
                                        "progress callback of import"):
                self.db.create_account(SYSTEM, "inner", "Inner")
            seen.append(self.db.find_account("acme").key)
            return True

        self.db.import_file(SYSTEM, path, progress=progress)
        self.assertEqual(seen, ["acme"])
        self.assertEqual(self.db.find_account("one").key, "one")
        with self.assertRaises(canopy.NotFound):
            self.db.find_account("inner")


if __name__ == "__main__":
    unittest.main()
