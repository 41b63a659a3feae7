# Copyright (c) Canopy authors.
"""Opening and closing, options, versions and loading the library (the
ctypes prototypes are checked against c.h by test_signatures.py)."""

import os
import pathlib
import time
import subprocess
import sys
import tempfile
import shutil
import unittest

import canopy

from harness import SYSTEM, DbTestCase


class OpenCloseTest(DbTestCase):

    def close_while_running(self, db, threads):
        """Starts `threads`, closes `db` 2 ms later, and checks that every
        thread then ends."""
        for t in threads:
            t.start()
        time.sleep(0.002)
        db.close()
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive())

    def test_context_manager_closes(self):
        with canopy.open(self.path("other"), sync=False) as db:
            self.assertFalse(db.closed)
            db.create_account(SYSTEM, "acme", "ACME")
        self.assertTrue(db.closed)
        with self.assertRaises(canopy.FailedPrecondition):
            db.roots()
        db.close()  # idempotent
        # The data is durable across a reopen.
        with canopy.open(self.path("other")) as again:
            self.assertEqual(again.find_account("acme").name, "ACME")

    def test_closed_database_refuses_every_call(self):
        self.db.close()
        with self.assertRaisesRegex(canopy.FailedPrecondition, "closed"):
            self.db.create_account(SYSTEM, "x", "X")
        with self.assertRaises(canopy.FailedPrecondition):
            list(self.db.visible(SYSTEM))
        self.assertIn("closed", repr(self.db))

    def test_close_waits_for_calls_other_threads_are_inside(self):
        """close() on one thread while others read, stream and wait: each
        other call ends with its answer or FailedPrecondition, never a
        crash; a stream cut short says so instead of ending quietly."""
        import threading
        path = self.path("racing")
        db = canopy.open(path, sync=False)
        acme = db.create_account(SYSTEM, "acme", "ACME")
        for i in range(300):
            db.create_entity(SYSTEM, "device", "d%d" % i, "D", acme)
        db.close()
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # interleave the threads as much as possible
        try:
            for _ in range(20):
                db = canopy.open(path, sync=False)
                stream = db.stream(SYSTEM)
                outcomes = []

                def reads():
                    try:
                        while True:
                            db.get_account(acme)
                            db.revision
                    except canopy.FailedPrecondition:
                        outcomes.append("reads refused")

                def streams():
                    try:
                        outcomes.append("streamed %d" % sum(1 for _ in stream))
                    except canopy.FailedPrecondition as e:
                        outcomes.append("stream: " + str(e))

                def waits():
                    try:
                        db.wait_for_changes(db.revision, timeout=float("inf"))
                        outcomes.append("wait ended")
                    except canopy.FailedPrecondition:
                        outcomes.append("wait refused")

                self.close_while_running(db, [threading.Thread(target=f)
                                              for f in (reads, streams, waits)])
                self.assertIn("reads refused", outcomes)
                self.assertEqual(len(outcomes), 3, outcomes)
                for o in outcomes:
                    if o.startswith("stream"):
                        self.assertTrue(o == "streamed 300" or "closed" in o, o)
        finally:
            sys.setswitchinterval(switch)

    def test_two_closes_at_once_both_end_closed(self):
        """A close() while another thread's close() waits for a call ends
        when the database is closed, not before."""
        import threading
        db = canopy.open(self.path("twice"), sync=False)
        acme = db.create_account(SYSTEM, "acme", "ACME")
        for i in range(2000):
            db.create_entity(SYSTEM, "device", "d%d" % i, "D", acme)
        started = threading.Event()

        def slow(done, total):
            started.set()
            time.sleep(0.3)
            return True

        exporter = threading.Thread(target=lambda: db.export_file(self.path("x.jsonl"), progress=slow))
        exporter.start()
        started.wait(30)
        first = threading.Thread(target=db.close)
        first.start()
        time.sleep(0.05)
        db.close()  # returns once the first close has closed it
        self.assertTrue(db.closed)
        with self.assertRaises(canopy.FailedPrecondition):
            db.roots()
        # Closed for real: the folder opens again.
        canopy.open(self.path("twice")).close()
        first.join(30)
        exporter.join(30)

    def test_close_from_inside_its_own_call_is_refused(self):
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        self.db.create_entity(SYSTEM, "device", "d", "D", acme)

        def closes(done, total):
            self.db.close()
            return True

        with self.assertRaisesRegex(canopy.FailedPrecondition, "would wait for that call"):
            self.db.export_file(self.path("out.jsonl"), progress=closes)
        self.assertFalse(os.path.exists(self.path("out.jsonl")))
        self.assertFalse(self.db.closed)
        # Likewise from inside a call of one of its snapshots; both stay usable.
        with self.db.snapshot() as snap:
            with self.assertRaisesRegex(canopy.FailedPrecondition, "would wait for that call"):
                snap.export_file(self.path("snap.jsonl"), progress=closes)
            self.assertEqual(snap.find_account("acme").id, acme)
        self.assertFalse(self.db.closed)
        self.assertEqual(self.db.find_account("acme").id, acme)

    def test_close_refused_inside_a_callback_cancels_even_when_caught(self):
        """The call a refused close() came from is cancelled, whether the
        callback lets the FailedPrecondition out or catches it: an import
        imports nothing, an export writes no file, and the call raises it."""
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        self.db.create_entity(SYSTEM, "device", "d", "D", acme)
        self.db.export_file(self.path("in.jsonl"))
        caught = []

        def closes_quietly(done, total):
            try:
                self.db.close()
            except canopy.FailedPrecondition as e:
                caught.append(e)
            return True

        with self.assertRaisesRegex(canopy.FailedPrecondition, "that call is cancelled"):
            self.db.export_file(self.path("out.jsonl"), progress=closes_quietly)
        self.assertFalse(os.path.exists(self.path("out.jsonl")))
        with canopy.open(self.path("other"), sync=False) as other:
            revision = other.revision

            def closes_other(done, total):
                try:
                    other.close()
                except canopy.FailedPrecondition as e:
                    caught.append(e)

            with self.assertRaisesRegex(canopy.FailedPrecondition, "that call is cancelled"):
                other.import_file(SYSTEM, self.path("in.jsonl"), progress=closes_other)
            self.assertEqual(other.revision, revision)
            with self.assertRaises(canopy.NotFound):
                other.find_account("acme")
            # The next call with a callback that does not close goes on.
            other.import_file(SYSTEM, self.path("in.jsonl"), progress=lambda d, t: True)
            self.assertEqual(other.find_account("acme").name, "ACME")
        self.assertEqual(len(caught), 2)
        self.assertFalse(self.db.closed)

    def run_script(self, script, *args, timeout=120):
        return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                              text=True, timeout=timeout)

    def test_exit_with_callbacks_still_registered_or_running(self):
        """At interpreter exit, a database left open with a log callback, and
        daemon threads inside calls that take a progress callback (an
        integrity check, a restore), end cleanly: exit status 0, not an
        abort."""
        log_left_open = r"""
import sys, canopy
db = canopy.open(sys.argv[1], log=lambda level, message: None, log_level="debug")
db.create_account(canopy.SYSTEM_ACTOR, "acme", "ACME")
print("end", flush=True)
"""
        daemons = r"""
import json, sys, threading, time, canopy
S = canopy.SYSTEM_ACTOR
path, backup = sys.argv[1], sys.argv[2]
with open(path + ".jsonl", "w") as f:
    f.write(json.dumps({"type": "account", "key": "acme", "name": "ACME"}) + "\n")
    for i in range(20000):
        f.write(json.dumps({"type": "device", "key": "d%d" % i, "name": "D",
                            "account": "acme"}) + "\n")
db = canopy.open(path, sync=False)
db.import_file(S, path + ".jsonl")
db.backup(backup)
def checks():
    while True:
        db.check_integrity(progress=lambda done, total: True)
def restores(n=[0]):
    while True:
        n[0] += 1
        try:
            canopy.restore(backup, "%s-restored-%d" % (path, n[0]), progress=lambda d, t: None)
        except canopy.Aborted:
            pass
for target in (checks, restores):
    threading.Thread(target=target, daemon=True).start()
time.sleep(0.5)
print("end", flush=True)
"""
        for name, script in (("log", log_left_open), ("daemons", daemons)):
            for run in range(3):
                out = self.run_script(script, self.path("exit-%s-%d" % (name, run)),
                                      self.path("exit-%s-%d-backup" % (name, run)))
                self.assertEqual(out.returncode, 0, "%s: %s%s" % (name, out.stdout, out.stderr))
                self.assertIn("end", out.stdout)
                self.assertNotIn("FATAL", out.stderr)

    def test_ctrl_c_anywhere_in_a_call_leaves_no_hold(self):
        """KeyboardInterrupts raised between any two steps of the binding's
        own code (a timer firing every 50 us, raising only when it lands in
        the package's code) during short calls: whichever step they cut, no
        hold on the database is left behind, and close() closes it."""
        import signal
        if not hasattr(signal, "setitimer"):
            self.skipTest("no setitimer")
        db = canopy.open(self.path("interrupted"), sync=False)
        acme = db.create_account(SYSTEM, "acme", "ACME")

        package = os.path.dirname(canopy.__file__) + os.sep

        def interrupt(_signum, frame):
            if frame is not None and frame.f_code.co_filename.startswith(package):
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGALRM, interrupt)
        interrupted = 0
        deadline = time.monotonic() + 2
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.00005, 0.00005)
            while time.monotonic() < deadline:
                try:
                    db.revision
                    db.count(SYSTEM)
                    db.get_account(acme)
                except KeyboardInterrupt:
                    interrupted += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, previous)
        import gc
        gc.collect()
        self.assertGreater(interrupted, 0)
        with db._cond:
            self.assertFalse(db._live_holds())
        self.assertEqual(db._holds, {})
        db.close()
        self.assertTrue(db.closed)
        canopy.open(self.path("interrupted")).close()  # closed for real

    def test_stream_closed_by_another_thread_while_iterated(self):
        """A stream's close() on another thread waits for the step in
        progress: the iterating thread ends with a whole prefix of the
        items, never a crash."""
        import threading
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        for i in range(2000):
            self.db.create_entity(SYSTEM, "device", "d%04d" % i, "D", acme)
        everything = [e.key for e in self.db.stream(SYSTEM)]
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            for round_ in range(30):
                stream = self.db.stream(SYSTEM)
                got = []
                reader = threading.Thread(target=lambda: got.extend(e.key for e in stream))
                reader.start()
                time.sleep(0.0002 * round_)
                stream.close()
                reader.join(30)
                self.assertFalse(reader.is_alive())
                self.assertTrue(stream.closed)
                self.assertEqual(got, everything[:len(got)])
        finally:
            sys.setswitchinterval(switch)

    def test_close_racing_snapshot_and_stream_creation(self):
        """A snapshot or stream made on one thread while another closes the
        Db is either refused or closed by that close: the database is
        closed for real afterwards (the folder opens again)."""
        import threading
        path = self.path("race")
        canopy.open(path, sync=False).close()
        made = {"snapshot": 0, "stream": 0, "refused": 0}
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        self.addCleanup(sys.setswitchinterval, switch)
        for _ in range(30):
            db = canopy.open(path, sync=False)
            kept = []  # left open for db.close() to close
            makers = {"snapshot": db.snapshot, "stream": lambda: db.stream(SYSTEM)}

            def makes(what):
                try:
                    while True:
                        kept.append(makers[what]())
                        made[what] += 1
                except canopy.FailedPrecondition:
                    made["refused"] += 1

            self.close_while_running(db, [threading.Thread(target=makes, args=(w,))
                                          for w in ("snapshot", "stream")])
            self.assertTrue(db.closed)
            self.assertTrue(all(k.closed for k in kept))
            canopy.open(path, sync=False).close()  # no snapshot kept it open
        self.assertEqual(made["refused"], 60)
        self.assertGreater(made["snapshot"] + made["stream"], 0)

    # Not under AddressSanitizer (its runtime preloaded): GCC 12's libasan
    # takes no lock around fork(), so the child can deadlock in malloc when
    # one of the parent's threads was inside the allocator at that moment.
    @unittest.skipIf("libasan" in os.environ.get("LD_PRELOAD", ""),
                     "fork() after threads is not fork-safe under AddressSanitizer")
    def test_forked_child_is_refused_and_exits(self):
        """A process forked from one with an open database: every call and
        any open raise FailedPrecondition naming the fork, close() lets go
        of the handle, and the child's normal exit returns (the storage
        engine's threads stayed in the parent). The parent goes on."""
        script = r"""
import os, sys, canopy
db = canopy.open(sys.argv[1], sync=False)
acme = db.create_account(canopy.SYSTEM_ACTOR, "acme", "ACME")
stream = db.stream(canopy.SYSTEM_ACTOR)
pid = os.fork()
if pid == 0:
    problems = []
    def refused(call):
        try:
            call()
            problems.append("not refused")
        except canopy.FailedPrecondition as e:
            if "forked" not in str(e):
                problems.append(str(e))
    refused(lambda: db.get_account(acme))
    refused(lambda: db.revision)
    refused(lambda: db.last_committed_revision)
    refused(lambda: next(stream))
    refused(lambda: db.create_account(canopy.SYSTEM_ACTOR, "child", "Child"))
    refused(lambda: canopy.open(sys.argv[2]))
    refused(lambda: canopy.open(sys.argv[1]))
    stream.close()
    db.close()
    print("child:", problems or "ok", flush=True)
    sys.exit(3 if problems else 0)   # a normal exit: finalizers and exit handlers run
import signal, time
for _ in range(3000):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.01)
else:
    os.kill(pid, signal.SIGKILL)
    print("parent: the child hung", flush=True)
    sys.exit(1)
print("parent: child status", status, flush=True)
db.create_account(canopy.SYSTEM_ACTOR, "after", "After")
assert sorted(db.get_account(a).key for a in db.roots()) == ["acme", "after"], db.roots()
stream.close()
db.close()
print("parent: ok", flush=True)
"""
        out = subprocess.run([sys.executable, "-c", script, self.path("forked"),
                              self.path("forked-other")],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("child: ok", out.stdout, out.stderr)
        self.assertIn("parent: child status 0", out.stdout, out.stderr)
        self.assertIn("parent: ok", out.stdout, out.stderr)
        self.assertFalse(os.path.exists(self.path("forked-other")))

    @unittest.skipIf("libasan" in os.environ.get("LD_PRELOAD", ""),
                     "fork() after threads is not fork-safe under AddressSanitizer")
    def test_forked_child_never_waits_for_the_parents_threads(self):
        """Forks taken while other threads are inside calls (so holding the
        binding's own locks at that moment): each child's calls raise
        FailedPrecondition at once instead of waiting for a lock no thread
        of the child will let go."""
        script = r"""
import os, signal, sys, threading, time, canopy
db = canopy.open(sys.argv[1], sync=False)
db.create_account(canopy.SYSTEM_ACTOR, "acme", "ACME")
stop = False
def reads():
    while not stop:
        db.count(canopy.SYSTEM_ACTOR)
        db.revision
threads = [threading.Thread(target=reads) for _ in range(3)]
for t in threads:
    t.start()
hung = 0
for _ in range(60):
    pid = os.fork()
    if pid == 0:
        signal.alarm(5)  # a hang ends the child by SIGALRM
        for call in (lambda: db.count(canopy.SYSTEM_ACTOR), lambda: db.revision):
            try:
                call()
                os._exit(2)
            except canopy.FailedPrecondition:
                pass
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        hung += 1
stop = True
for t in threads:
    t.join()
db.close()
print("children failed:", hung, flush=True)
sys.exit(1 if hung else 0)
"""
        out = subprocess.run([sys.executable, "-c", script, self.path("forks")],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("children failed: 0", out.stdout)

    def test_open_errors(self):
        with self.assertRaises(canopy.NotFound):
            canopy.open(self.path("missing"), create_if_missing=False)
        with self.assertRaises(canopy.AlreadyExists):
            canopy.open(self.path("db"), error_if_exists=True)
        with self.assertRaisesRegex(canopy.IoError, "."):
            canopy.open(self.path("db"))  # still open in setUp: locked
        with self.assertRaisesRegex(canopy.InvalidArgument, "max_depth"):
            canopy.open(self.path("other"), max_depth=0)
        with self.assertRaises(canopy.InvalidArgument):
            canopy.open(self.path("other"), max_open_cursors=0)
        with self.assertRaises(canopy.InvalidArgument):
            canopy.open("")
        with self.assertRaises(canopy.InvalidArgument):
            canopy.open(self.path("nul\0name"))
        os.mkdir(self.path("junk"))
        with open(self.path("junk/notes.txt"), "w") as f:
            f.write("not a database\n")
        with self.assertRaises(canopy.CanopyError):
            canopy.open(self.path("junk"))

    def test_paths_may_be_path_objects(self):
        base = pathlib.Path(self.dir)
        with canopy.open(base / "p", sync=False) as db:
            self.assertEqual(db.path, str(base / "p"))
            db.create_account(SYSTEM, "acme", "ACME")
            db.export_file(base / "out.jsonl")
            db.checkpoint(base / "cp")
        with canopy.open(base / "q", sync=False) as db:
            db.import_file(SYSTEM, base / "out.jsonl")
            self.assertEqual(db.find_account("acme").name, "ACME")
        with canopy.open(base / "cp", read_only=True) as db:
            self.assertEqual(db.find_account("acme").name, "ACME")

        class BytesPath:
            def __fspath__(self):
                return b"/tmp/bytes-path"

        with self.assertRaisesRegex(TypeError, "os.PathLike of str"):
            canopy.open(BytesPath())
        with self.assertRaisesRegex(TypeError, "os.PathLike of str"):
            self.db.checkpoint(b"/tmp/bytes-path")

    def test_a_file_name_that_is_not_utf8_names_that_file(self):
        # A name read from the file system with a byte that is not UTF-8
        # (a str with a surrogate escape, as os.listdir gives it) opens,
        # creates and writes that very file, never a look-alike.
        base = os.path.join(self.dir, "odd")
        os.makedirs(os.path.join(os.fsencode(base), b"db\xff"))
        (name,) = os.listdir(base)
        self.assertEqual(name, "db\udcff")
        path = os.path.join(base, name)
        with canopy.open(path, sync=False) as db:
            self.assertEqual(db.path, path)
            db.create_account(SYSTEM, "acme", "ACME")
            db.export_file(os.path.join(base, "out\udcfe.jsonl"))
            db.checkpoint(os.path.join(base, "cp\udcfd"))
        self.assertEqual(sorted(os.listdir(os.fsencode(base))),
                         [b"cp\xfd", b"db\xff", b"out\xfe.jsonl"])
        with canopy.open(os.path.join(base, "cp\udcfd"), read_only=True) as db:
            self.assertEqual(db.find_account("acme").name, "ACME")
        # A lone surrogate that no file name's byte gives is refused by name.
        with self.assertRaisesRegex(canopy.InvalidArgument, "^path cannot be a file name"):
            canopy.open(os.path.join(base, "x\ud800"))
        with self.assertRaisesRegex(canopy.InvalidArgument, "folder contains a NUL byte"):
            self.db.checkpoint(os.path.join(base, "a\0b"))
        self.assertEqual(sorted(os.listdir(os.fsencode(base))),
                         [b"cp\xfd", b"db\xff", b"out\xfe.jsonl"])

    def test_backup_and_restore(self):
        base = pathlib.Path(self.dir)
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        for i in range(5):
            self.db.create_entity(SYSTEM, "device", "d%d" % i, "D", acme)
        calls = []
        rev = self.db.backup(base / "b", progress=lambda d, t: calls.append((d, t)))
        self.assertEqual(rev, self.db.revision)
        self.assertEqual(calls[-1], (5, 5))  # the check's entities
        # Cancelled (False, or an exception, which is raised again): nothing
        # is left behind.
        with self.assertRaisesRegex(canopy.Aborted, "backup cancelled"):
            self.db.backup(base / "c", progress=lambda d, t: False)
        with self.assertRaises(ZeroDivisionError):
            self.db.backup(base / "c", progress=lambda d, t: 1 / 0)
        self.assertFalse((base / "c").exists())
        with self.assertRaises(canopy.AlreadyExists):
            self.db.backup(base / "b")
        with self.assertRaises(TypeError):
            self.db.backup(base / "c", progress=3)

        calls.clear()
        canopy.restore(base / "b", base / "r", progress=lambda d, t: calls.append((d, t)))
        copy_total = calls[0][1]
        self.assertEqual(calls[0], (0, copy_total))
        self.assertIn((copy_total, copy_total), calls)
        self.assertEqual(calls[-1], (5, 5))
        with self.assertRaisesRegex(canopy.Aborted, "restore cancelled"):
            canopy.restore(base / "b", base / "s", progress=lambda d, t: False)
        self.assertFalse((base / "s").exists())
        with self.assertRaises(canopy.AlreadyExists):
            canopy.restore(base / "b", base / "r")
        with self.assertRaises(canopy.NotFound):
            canopy.restore(base / "missing", base / "s")
        with canopy.open(base / "r", read_only=True) as db:
            self.assertEqual(db.count_owned(acme).direct, 5)

    def test_open_type_errors(self):
        with self.assertRaises(TypeError):
            canopy.open(42)
        with self.assertRaises(TypeError):
            canopy.open(b"/tmp/bytes-path")
        with self.assertRaises(TypeError):
            canopy.open(self.path("other"), sync="yes")
        with self.assertRaises(TypeError):
            canopy.open(self.path("other"), max_depth="8")
        with self.assertRaises(canopy.InvalidArgument):
            canopy.open(self.path("other"), max_depth=-1)

    def test_read_only_beside_the_writer(self):
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        with canopy.open(self.path("db"), read_only=True) as ro:
            self.assertEqual(ro.find_account("acme").id, acme)
            with self.assertRaises(canopy.FailedPrecondition) as e:
                ro.create_account(SYSTEM, "x", "X")
            self.assertIn("read-only", str(e.exception))
        with self.assertRaises(canopy.NotFound):
            canopy.open(self.path("none"), read_only=True)
        self.assertFalse(os.path.exists(self.path("none")))

    def test_snapshot_stays_at_its_revision(self):
        acme = self.db.create_account(SYSTEM, "acme", "ACME", sub_account_management=True)
        with self.db.snapshot() as snap:
            rev = snap.revision
            self.assertEqual(rev, self.db.revision)
            self.db.create_account(SYSTEM, "later", "Later", acme)
            self.assertEqual(self.db.find_account("later").name, "Later")
            with self.assertRaises(canopy.NotFound):
                snap.find_account("later")
            self.assertEqual(snap.revision, rev)
            with self.assertRaisesRegex(canopy.FailedPrecondition, "a snapshot is read-only"):
                snap.create_account(SYSTEM, "x", "X")
            self.assertFalse(self.db.closed)
        self.assertTrue(snap.closed)
        # Closing the database closes the snapshots it opened first.
        other = self.db.snapshot()
        self.db.close()
        self.assertTrue(other.closed)
        with self.assertRaises(canopy.FailedPrecondition):
            self.db.snapshot()

    def test_follower_beside_the_writer(self):
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        with canopy.open(self.path("db"), follower=True) as f:
            at = f.revision
            self.assertEqual(at, self.db.revision)
            self.assertEqual(f.find_account("acme").id, acme)
            later = self.db.create_account(SYSTEM, "later", "Later")
            with self.assertRaises(canopy.NotFound):
                f.find_account("later")
            self.assertEqual(f.catch_up(), self.db.revision)
            self.assertGreater(f.revision, at)
            self.assertEqual(f.find_account("later").id, later)
            with self.assertRaises(canopy.FailedPrecondition) as e:
                f.create_account(SYSTEM, "x", "X")
            self.assertIn("follower", str(e.exception))
        with self.assertRaisesRegex(canopy.FailedPrecondition, "not open as a follower"):
            self.db.catch_up()
        with self.assertRaisesRegex(canopy.InvalidArgument, "exclude each other"):
            canopy.open(self.path("db"), follower=True, read_only=True)
        with self.assertRaises(canopy.NotFound):
            canopy.open(self.path("none"), follower=True)
        self.assertFalse(os.path.exists(self.path("none")))
        with self.assertRaises(TypeError):
            canopy.open(self.path("db"), follower="yes")
        with self.assertRaises(canopy.InvalidArgument):
            canopy.open(self.path("db"), follower=True, follower_catch_up_ms=-1)
        # Its own folder, and the automatic catch-up.
        with canopy.open(self.path("db"), follower=True, follower_dir=self.path("mine"),
                         follower_catch_up_ms=5) as f:
            self.db.create_account(SYSTEM, "auto", "Auto")
            deadline = time.monotonic() + 60
            while f.revision != self.db.revision and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual(f.find_account("auto").key, "auto")
        self.assertTrue(os.path.isdir(self.path("mine")))

    def test_options_take_effect(self):
        with canopy.open(self.path("shallow"), max_depth=2, sync=True,
                         block_cache_bytes=1 << 20, cursor_ttl_seconds=5,
                         max_open_cursors=4) as db:
            root = db.create_account(SYSTEM, "r", "R")
            child = db.create_account(SYSTEM, "c", "C", root)
            with self.assertRaisesRegex(canopy.FailedPrecondition, "depth"):
                db.create_account(SYSTEM, "g", "G", child)


class StatsAndTuningTest(DbTestCase):

    def test_property_and_stats(self):
        acme = self.db.create_account(SYSTEM, "acme", "ACME")
        self.db.create_entity(SYSTEM, "device", "d1", "D", acme)
        self.assertEqual(self.db.property("canopy.accounts"), "1")
        self.assertEqual(self.db.property("canopy.devices"), "1")
        self.assertIn("Compaction Stats", self.db.property("rocksdb.stats@entities"))
        names = canopy.Db.property_names()
        self.assertIn("canopy.revision", names)
        stats = self.db.stats()
        self.assertEqual(list(stats), names)
        self.assertEqual(stats["canopy.revision"], 2)
        self.assertEqual(stats["canopy.devices"], 1)
        with self.assertRaisesRegex(canopy.NotFound, "'canopy.nope'"):
            self.db.property("canopy.nope")
        with self.assertRaises(TypeError):
            self.db.property(5)

    def test_tuning_options_and_log(self):
        messages = []
        with canopy.open(self.path("tuned"), compression="zstd", wal_dir=self.path("wal"),
                         max_open_files=64, background_write_bytes_per_second=1 << 20,
                         statistics=True, log=lambda level, text: messages.append((level, text)),
                         log_level="info") as db:
            db.create_account(SYSTEM, "acme", "ACME")
            self.assertIn("rocksdb.block.cache", db.property("rocksdb.statistics"))
        self.assertTrue(os.listdir(self.path("wal")))
        self.assertTrue(messages)
        self.assertTrue(all(level in ("info", "warn", "error") for level, _ in messages))
        self.assertFalse([n for n in os.listdir(self.path("tuned")) if n.startswith("LOG")])
        # Without statistics collected, there are none to read.
        with self.assertRaises(canopy.CanopyError):
            self.db.property("rocksdb.statistics")

    def test_catalog_image(self):
        path = self.path("imaged")
        with canopy.open(path, catalog_image=False) as db:
            db.create_account(SYSTEM, "acme", "ACME")
        self.assertNotIn("CANOPY-CATALOG", os.listdir(path))
        with canopy.open(path) as db:
            self.assertEqual(db.property("canopy.catalog-source"), "key spaces (no image)")
        self.assertIn("CANOPY-CATALOG", os.listdir(path))
        with canopy.open(path, read_only=True) as db:
            self.assertEqual(db.property("canopy.catalog-source"), "image")
            self.assertEqual(db.property("canopy.accounts"), "1")
        with self.assertRaises(TypeError):
            canopy.open(self.path("y"), catalog_image="yes")

    def test_bad_tuning_options(self):
        with self.assertRaisesRegex(canopy.InvalidArgument, "compression must be one of"):
            canopy.open(self.path("x"), compression="brotli")
        with self.assertRaisesRegex(canopy.InvalidArgument, "log_level must be one of"):
            canopy.open(self.path("x"), log_level="loud")
        with self.assertRaisesRegex(canopy.InvalidArgument, "max_open_files"):
            canopy.open(self.path("x"), max_open_files=3)
        with self.assertRaises(TypeError):
            canopy.open(self.path("x"), log="not callable")
        with self.assertRaises(TypeError):
            canopy.open(self.path("x"), compression=2)
        with self.assertRaises(TypeError):
            canopy.open(self.path("x"), max_open_files="16")
        self.assertFalse(os.path.exists(self.path("x")))


class VersionTest(unittest.TestCase):

    def test_versions(self):
        self.assertRegex(canopy.version(), r"^\d+\.\d+\.\d+")
        self.assertEqual(canopy.__version__, canopy.version())
        self.assertEqual(canopy.storage_format_version(), 3)


class LibraryTest(unittest.TestCase):
    """How the package finds libcanopy, in a fresh interpreter."""

    def run_python(self, env_library):
        env = dict(os.environ)
        env["CANOPY_LIBRARY"] = env_library
        return subprocess.run([sys.executable, "-c", "import canopy; print(canopy.version())"],
                              env=env, capture_output=True, text=True, timeout=60)

    def test_bad_library_path_is_an_import_error(self):
        result = self.run_python("/nonexistent/libcanopy.so")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("ImportError", result.stderr)
        self.assertIn("CANOPY_LIBRARY", result.stderr)

    def test_library_next_to_the_package(self):
        # A copy of the package with libcanopy beside it loads without the
        # environment variable.
        folder = tempfile.mkdtemp(prefix="canopy-py-pkg-")
        try:
            package = os.path.dirname(canopy.__file__)
            shutil.copytree(package, os.path.join(folder, "canopy"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy(os.environ["CANOPY_LIBRARY"],
                        os.path.join(folder, "canopy", "libcanopy.so"))
            env = {k: v for k, v in os.environ.items() if k != "CANOPY_LIBRARY"}
            env["PYTHONPATH"] = folder
            code = ("import canopy, canopy._lib as l; "
                    "print(canopy.version(), l.lib._name)")
            result = subprocess.run([sys.executable, "-c", code], env=env,
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(os.path.join(folder, "canopy", "libcanopy.so"), result.stdout)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
