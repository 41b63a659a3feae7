# Copyright (c) Canopy authors.
"""canopy import / canopy export: the JSON Lines interchange format."""

import json
import os
import pty
import select
import signal
import subprocess
import threading
import time
import unittest

from cli_harness import CANOPY, SEED, CliTestCase, jsonl


class ImportTest(CliTestCase):
    def test_import_prints_a_summary_with_counts_elapsed_and_rate(self):
        f = self.write("seed.jsonl", jsonl(SEED))
        out = self.ok("import", f)
        self.assertRegex(out, r"^imported 19 records from '.*seed\.jsonl' in [0-9.]+ s "
                              r"\([0-9]+ records/s\): 4 accounts, 1 roles, 4 users, "
                              r"4 memberships, 6 entities \(19 lines\)\n$")

    def test_import_json_summary(self):
        f = self.write("seed.jsonl", jsonl(SEED))
        s = self.json_one("import", f)
        self.assertEqual(s["action"], "imported")
        self.assertEqual((s["records"], s["lines"], s["accounts"], s["roles"], s["users"],
                          s["memberships"], s["entities"]), (19, 19, 4, 1, 4, 4, 6))
        self.assertGreaterEqual(s["elapsed_s"], 0)
        self.assertGreaterEqual(s["records_per_s"], 0)

    def test_summaries_count_groups(self):
        f = self.write("groups.jsonl", jsonl(SEED + [
            {"type": "group", "kind": "device", "name": "vans", "account": "acme-a"},
            {"type": "group_member", "account": "acme-a", "kind": "device", "group": "vans",
             "member": "dev-a1"},
            {"type": "group", "kind": "user", "name": "crew", "account": "acme-a"},
            {"type": "group_grant", "account": "acme-a", "group": "crew", "role": "viewer",
             "target_kind": "device", "target": "vans"},
        ]))
        out = self.ok("import", f)
        self.assertRegex(out, r"^imported 23 records .* 6 entities, 2 groups, 1 group members, "
                              r"1 group grants \(23 lines\)\n$")
        s = self.json_one("export", self.path("out.jsonl"))
        self.assertEqual((s["records"], s["groups"], s["group_members"], s["group_grants"]),
                         (23, 2, 1, 1))

    def test_imported_data_is_queryable(self):
        self.seed()
        self.assertEqual(self.visible_keys("a@acme.example"), ["dev-a1", "dev-a2", "dev-a11"])
        self.assertIn("Nested customer A", self.ok("account", "show", "acme-a"))

    def test_import_into_a_database_that_has_data_merges(self):
        self.seed()
        f = self.write("more.jsonl", jsonl([
            {"type": "account", "key": "acme-c", "name": "C", "parent": "acme"},
            {"type": "device", "key": "dev-x", "name": "X", "account": "acme-c"}]))
        self.ok("import", f)
        self.assertIn("dev-x", self.visible_keys("admin@acme.example"))

    def test_blank_lines_are_skipped(self):
        f = self.write("blank.jsonl", "\n" + jsonl(SEED[:1]) + "   \n")
        s = self.json_one("import", f)
        self.assertEqual((s["accounts"], s["lines"]), (1, 3))

    def test_missing_file(self):
        err = self.refused("import", self.path("nope.jsonl"))
        self.assertIn("cannot open import file", err)
        self.assertFalse(os.path.exists(self.db), "a failed import left a database behind")

    def test_a_file_that_cannot_seek_is_read_as_a_stream(self):
        # procfs files report size 0 and refuse to seek to their end: read
        # as a stream, their lines are judged (not silently "0 lines").
        err = self.refused("import", "/proc/self/status")
        self.assertIn("line 1", err)
        self.assertFalse(os.path.exists(self.db))

    def test_why_a_file_cannot_be_opened_is_said(self):
        err = self.refused("import", self.path("nope.jsonl"))
        self.assertIn("No such file or directory", err)

    def test_missing_file_argument_is_a_usage_error(self):
        err = self.usage_error("import")
        self.assertIn("missing FILE", err)
        self.usage_error("import", "a.jsonl", "b.jsonl")
        # An empty FILE is no file: a usage error too, naming it.
        self.assertIn("FILE (the JSON Lines file to import) is empty",
                      self.usage_error("import", ""))
        self.assertFalse(os.path.exists(self.db))

    def test_import_needs_the_system_actor(self):
        self.seed()
        f = self.write("more.jsonl", jsonl([{"type": "account", "key": "z", "name": "Z"}]))
        err = self.refused("--actor", "admin@acme.example", "import", f)
        self.assertIn("permission_denied", err)
        self.assertIn("system actor", err)
        self.refused("account", "show", "z")


class BadInputTest(CliTestCase):
    """A bad line fails the whole import, names its line, and changes nothing."""

    def assert_refused(self, lines, line_no, fragment):
        self.seed()
        before = self.export_text("before.jsonl")
        f = self.write("bad.jsonl", "".join(lines))
        err = self.refused("import", f)
        self.assertIn(f"line {line_no}:", err)
        self.assertIn(fragment, err)
        self.assertIn("nothing was imported", err)
        self.assertEqual(self.export_text("after.jsonl"), before)

    def good(self, key):
        return json.dumps({"type": "account", "key": key, "name": key, "parent": "acme"}) + "\n"

    def test_invalid_json_line(self):
        self.assert_refused([self.good("n1"), self.good("n2"), '{"type":"account",\n'], 3,
                            "not valid JSON")

    def test_not_an_object(self):
        self.assert_refused([self.good("n1"), "[1,2]\n"], 2, "must be a JSON object")

    def test_unknown_record_type(self):
        self.assert_refused([self.good("n1"), '{"type":"spaceship","key":"x"}\n'], 2,
                            "unknown record type 'spaceship'")

    def test_missing_field(self):
        self.assert_refused(['{"type":"account","key":"n1"}\n'], 1, "missing field 'name'")

    def test_unknown_field(self):
        self.assert_refused(['{"type":"account","key":"n1","name":"N","colour":"red"}\n'], 1,
                            "unknown field 'colour'")

    def test_unknown_parent(self):
        self.assert_refused([self.good("n1"),
                             '{"type":"account","key":"n2","name":"N","parent":"nowhere"}\n'],
                            2, "'nowhere'")

    def test_duplicate_key_in_the_database(self):
        self.assert_refused([self.good("n1"), self.good("acme-b")], 2, "'acme-b' is taken")

    def test_device_of_unknown_account(self):
        self.assert_refused(
            [self.good("n1"),
             '{"type":"device","key":"d9","name":"D","account":"ghost"}\n'], 2, "'ghost'")

    def test_invalid_utf8(self):
        self.seed()
        before = self.export_text("before.jsonl")
        p = self.path("bad.jsonl")
        with open(p, "wb") as f:
            f.write(self.good("n1").encode())
            f.write(b'{"type":"account","key":"n2","name":"\xff\xfe"}\n')
        err = self.refused("import", p)
        self.assertIn("line 2:", err)
        self.assertEqual(self.export_text("after.jsonl"), before)

    def test_failed_import_into_a_new_folder_leaves_nothing(self):
        f = self.write("bad.jsonl", self.good("n1") + "garbage\n")
        err = self.refused("import", f)
        self.assertIn("line 1:", err)  # n1's parent 'acme' does not exist yet
        self.assertFalse(os.path.exists(self.db))
        # Into an empty folder it found: the folder stays, empty.
        os.mkdir(self.db)
        err = self.refused("import", f)
        self.assertIn("nothing was imported", err)
        self.assertEqual(os.listdir(self.db), [])

    def test_edited_export_fails_its_checksum(self):
        self.seed()
        text = self.export_text()
        edited = text.replace('"Van 1"', '"Van 9"')
        self.assertNotEqual(edited, text)
        other = os.path.join(self.dir, "other-db")
        f = self.write("edited.jsonl", edited)
        p = self.expect(1, "--db", other, "import", f, db=False)
        self.assertIn("checksum mismatch", p.stderr)
        self.assertIn(f"line {len(text.splitlines())}:", p.stderr)

    def test_truncated_export_is_refused(self):
        self.seed()
        lines = self.export_text().splitlines(keepends=True)
        truncated = lines[:3] + lines[-1:]
        other = os.path.join(self.dir, "other-db")
        f = self.write("truncated.jsonl", "".join(truncated))
        p = self.expect(1, "--db", other, "import", f, db=False)
        self.assertIn("line 4:", p.stderr)
        self.assertIn("truncated or edited", p.stderr)


class ExportTest(CliTestCase):
    def test_round_trip_is_exact(self):
        self.seed()
        first = self.export_text("first.jsonl")
        other = os.path.join(self.dir, "empty-db")
        self.expect(0, "--db", other, "import", self.path("first.jsonl"), db=False)
        self.expect(0, "--db", other, "export", self.path("second.jsonl"), db=False)
        self.assertEqual(self.read("second.jsonl"), first)

    def test_round_trip_after_cli_mutations(self):
        self.seed()
        self.ok("account", "create", "acme-c", "--name", "C", "--parent", "acme",
                "--attribute", "region=eu", "--sub-account-access", "always_on")
        self.ok("device", "reassign", "--to", "acme-c", "--keys", "dev-a1,dev-b1")
        self.ok("user", "disable", "b@acme.example")
        first = self.export_text("first.jsonl")
        self.assertIn('"region":"eu"', first)
        self.assertIn('"disabled":true', first)
        other = os.path.join(self.dir, "empty-db")
        self.expect(0, "--db", other, "import", self.path("first.jsonl"), db=False)
        self.expect(0, "--db", other, "export", self.path("second.jsonl"), db=False)
        self.assertEqual(self.read("second.jsonl"), first)

    def test_export_format_and_summary(self):
        self.seed()
        out = self.ok("export", self.path("e.jsonl"))
        self.assertRegex(out, r"^exported 19 records to '.*e\.jsonl' in [0-9.]+ s "
                              r"\([0-9]+ records/s\): 4 accounts, 1 roles, 4 users, "
                              r"4 memberships, 6 entities \(21 lines\)\n$")
        records = [json.loads(l) for l in self.read("e.jsonl").splitlines()]
        self.assertEqual(records[0], {"type": "begin", "format": 1})
        self.assertEqual(records[1]["type"], "account")
        self.assertEqual(records[1]["key"], "acme")
        self.assertEqual(records[-1]["type"], "end")
        self.assertEqual(records[-1]["records"], 19)
        s = self.json_one("export", self.path("e2.jsonl"))
        self.assertEqual((s["action"], s["records"], s["entities"]), ("exported", 19, 6))

    def test_export_of_a_missing_database(self):
        err = self.refused("export", self.path("e.jsonl"))
        self.assertIn("no database in", err)
        self.assertFalse(os.path.exists(self.path("e.jsonl")))

    def test_export_to_an_unwritable_place(self):
        self.seed()
        err = self.refused("export", self.path("no/such/folder/e.jsonl"))
        self.assertIn("io_error", err)

    def test_missing_file_argument_is_a_usage_error(self):
        self.seed()
        err = self.usage_error("export")
        self.assertIn("missing FILE", err)
        self.assertIn("FILE (where to write the export) is empty", self.usage_error("export", ""))


class ProgressTest(CliTestCase):
    """The progress bar goes to stderr only when stderr is a terminal."""

    def run_with_tty_stderr(self, *args, stdin=None):
        master, slave = pty.openpty()
        try:
            p = subprocess.run([CANOPY, "--db", self.db] + list(args), stdin=stdin,
                               stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120)
            chunks = []
            while select.select([master], [], [], 0.2)[0]:
                data = os.read(master, 65536)
                if not data:
                    break
                chunks.append(data)
            return p, b"".join(chunks).decode("utf-8", "replace")
        finally:
            os.close(master)
            os.close(slave)

    def test_progress_bar_on_a_terminal(self):
        f = self.write("seed.jsonl", jsonl(SEED))
        p, tty = self.run_with_tty_stderr("import", f)
        self.assertEqual(p.returncode, 0, tty)
        self.assertIn("importing [", tty)
        self.assertIn("100%", tty)
        self.assertTrue(p.stdout.startswith("imported 19 records"), p.stdout)
        p, tty = self.run_with_tty_stderr("export", self.path("e.jsonl"))
        self.assertEqual(p.returncode, 0, tty)
        self.assertIn("exporting [", tty)
        self.assertIn("100%", tty)

    def test_progress_of_a_pipe_counts_bytes_without_a_total(self):
        # A pipe's size is unknown: the bytes read so far, never a full bar
        # from the start ("100% (N/0 bytes)").
        lines = [{"type": "account", "key": "t", "name": "T"}]
        lines += [{"type": "device", "key": "d-%d" % i, "name": "D", "account": "t"}
                  for i in range(40000)]
        f = self.write("pipe.jsonl", jsonl(lines))
        cat = subprocess.Popen(["cat", f], stdout=subprocess.PIPE)  # a pipe, not the file
        try:
            p, tty = self.run_with_tty_stderr("import", "-", stdin=cat.stdout)
        finally:
            cat.stdout.close()
            cat.wait()
        self.assertEqual(p.returncode, 0, tty)
        self.assertRegex(tty, r"importing \d+ bytes")
        self.assertNotIn("/0 bytes", tty)
        self.assertTrue(p.stdout.startswith("imported 40001 records"), p.stdout)

    def test_no_progress_bar_when_stderr_is_not_a_terminal(self):
        f = self.write("seed.jsonl", jsonl(SEED))
        p = self.expect(0, "import", f)
        self.assertEqual(p.stderr, "")
        p = self.expect(0, "export", self.path("e.jsonl"))
        self.assertEqual(p.stderr, "")


class CtrlCTest(CliTestCase):
    """The first SIGINT cancels an import or an export cleanly. Each test
    makes the order certain: the command blocks on a FIFO until the test
    opens its other end, which the test does only after the signal, so the
    cancel is seen at the first progress step whatever the timing."""

    def start(self, *args):
        p = subprocess.Popen([CANOPY, "--db", self.db] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=self.dir)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        if not self.wait_until_caught(p, signal.SIGINT):
            self.fail("canopy ended before the signal: %r" % (p.communicate(),))
        p.send_signal(signal.SIGINT)
        return p

    def test_ctrl_c_cancels_an_import_and_leaves_no_folder(self):
        fifo = self.path("in.fifo")
        os.mkfifo(fifo)
        # The lines are ready before the FIFO opens: an import that waits
        # 200 ms for its first bytes asks whether to go on (and, cancelled,
        # ends "while waiting for input", not at a line).
        payload = jsonl([{"type": "account", "key": "t", "name": "T"}] + [
            {"type": "device", "key": "d-%d" % i, "name": "D", "account": "t"}
            for i in range(40000)]).encode("utf-8")
        p = self.start("import", fifo)

        def feed():
            try:
                with open(fifo, "wb", buffering=0) as f:
                    view = memoryview(payload)
                    while view:
                        view = view[f.write(view):]
            except BrokenPipeError:
                pass  # the import stopped reading: what is being tested

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("import cancelled at line 16384; nothing was imported", err)
        self.assertEqual(out, "")
        self.assertFalse(os.path.exists(self.db))  # the folder it created is gone

    def test_ctrl_c_is_heard_while_a_pipe_brings_nothing(self):
        # The writer keeps the pipe open and sends nothing more: the first
        # signal ends the import (it does not wait for more input).
        p = subprocess.Popen([CANOPY, "--db", self.db, "import", "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=self.dir)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        p.stdin.write(jsonl([{"type": "account", "key": "t", "name": "T"}]))
        p.stdin.flush()
        self.assertTrue(self.wait_until_caught(p, signal.SIGINT))
        time.sleep(0.5)  # reading by now
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(timeout=20)
        finally:
            p.stdin.close()
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
        self.assertEqual(rc, 1, err)
        self.assertIn("import cancelled while waiting for input; nothing was imported", err)
        self.assertFalse(os.path.exists(self.db))

    def test_ctrl_c_cancels_an_export(self):
        self.seed()
        fifo = self.path("out.fifo")
        os.mkfifo(fifo)
        p = self.start("export", fifo)  # waits until the FIFO has a reader
        # A reader that never blocks (if canopy ended early, the test fails
        # rather than hangs); what the export wrote stays in the pipe.
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            out, err = p.communicate(timeout=120)
            try:
                written = os.read(reader, 1 << 20)
            except BlockingIOError:
                written = b""
        finally:
            os.close(reader)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("export cancelled", err)
        self.assertEqual((written, out), (b"", ""))
        # Nothing changed: a full export follows.
        self.assertTrue(self.ok("export", self.path("after.jsonl")).startswith(
            "exported 19 records"))


if __name__ == "__main__":
    unittest.main()


class SpecialInputTest(CliTestCase):
    """Imports from pipes, FIFOs and devices are streamed; folders and
    endless lines are refused with a clear error and nothing imported."""

    def test_import_from_stdin_and_a_fifo(self):
        text = jsonl(SEED)
        p = subprocess.run([CANOPY, "--db", self.db, "import", "/dev/stdin"], input=text,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("acme-a1", self.ok("tree"))
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        other = os.path.join(self.dir, "other")

        def feed():
            with open(fifo, "w", encoding="utf-8") as f:
                f.write(text)

        t = threading.Thread(target=feed)
        t.start()
        self.ok("--db", other, "import", fifo, db=False)
        t.join()
        self.assertIn("acme-a1", self.ok("--db", other, "tree", db=False))

    def test_dash_is_standard_input_and_output(self):
        text = jsonl(SEED)
        p = subprocess.run([CANOPY, "--db", self.db, "import", "-"], input=text,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("from '(stdin)'", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "-")))
        # A refusal names standard input as the summary does.
        p = subprocess.run([CANOPY, "--db", self.db, "import", "-"],
                           input='{"type":"account","key":"x"}\n', stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("import '(stdin)' line 1: missing field 'name'", p.stderr)
        p = subprocess.run([CANOPY, "--db", self.db, "export", "-"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60, cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "-")))
        self.assertIn("exported", p.stderr)  # the summary stays out of the data
        records = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual(records[-1]["type"], "end")
        self.assertIn("acme-a1", [r.get("key") for r in records])
        # And it imports back into a new database.
        other = os.path.join(self.dir, "other")
        q = subprocess.run([CANOPY, "--db", other, "import", "-"], input=p.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertIn("acme-a1", self.ok("--db", other, "tree", db=False))

    def test_dash_keeps_a_redirection_to_a_file_appending(self):
        # `canopy export - >> FILE`: the data goes after what FILE held,
        # and /dev/stdout (a link) is never replaced.
        self.seed()
        out = os.path.join(self.dir, "appended.jsonl")
        with open(out, "w") as f:
            f.write("HEAD\n")
        with open(out, "a") as f:
            p = subprocess.run([CANOPY, "--db", self.db, "export", "-"], stdout=f,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "HEAD")
        self.assertEqual(json.loads(lines[-1])["type"], "end")
        self.assertTrue(os.path.islink("/dev/stdout"))
        # A symbolic link is followed: the file it names is replaced, the
        # link stays; a dangling one is refused.
        target = os.path.join(self.dir, "real.jsonl")
        link = os.path.join(self.dir, "link.jsonl")
        with open(target, "w") as f:
            f.write("old\n")
        os.symlink(target, link)
        self.ok("export", link)
        self.assertTrue(os.path.islink(link))
        with open(target) as f:
            self.assertIn('"type":"end"', f.read())
        os.symlink(os.path.join(self.dir, "nowhere", "x.jsonl"), os.path.join(self.dir, "dead"))
        self.assertIn("symbolic link to nothing",
                      self.refused("export", os.path.join(self.dir, "dead")))

    def test_folders_and_endless_lines_are_refused(self):
        err = self.refused("import", self.dir)
        self.assertIn("is a folder", err)
        err = self.refused("import", "/dev/zero")
        self.assertIn("line 1 is longer than 64 MiB", err)
        self.assertIn("nothing was imported", err)
        # The cap holds for every line, also one whose newline comes within
        # the read that crosses it (64 MiB and 1 KiB of text, then a newline).
        long_file = os.path.join(self.dir, "long.jsonl")
        with open(long_file, "w") as f:
            f.write('{"type":"account","key":"acme","name":"Acme"}\n')
            f.write('{"type":"account","key":"x","name":"' + "n" * ((64 << 20) + 1024) + '"}\n')
        err = self.refused("import", long_file)
        self.assertIn("line 2 is longer than 64 MiB", err)
        os.remove(long_file)
        # Nothing was imported by the refusals.
        self.assertNotIn("acme", self.run_cli("tree").stdout)


class ExportTargetTest(CliTestCase):
    """export writes a regular file whole (via FILE.tmp, synced, renamed)
    and a special file (stdout, a pipe) in place, never replacing it."""

    def test_export_to_stdout_writes_in_place(self):
        self.seed()
        p = subprocess.run([CANOPY, "--db", self.db, "export", "/dev/stdout"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        records = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
        self.assertEqual(records[-1]["type"], "end")
        self.assertEqual(records[-1]["records"], len(SEED))
        self.assertFalse(os.path.exists("/dev/stdout.tmp"))

    def test_a_killed_exports_leftover_is_replaced(self):
        self.seed()
        out = self.path("out.jsonl")
        self.write("out.jsonl.tmp", "half an export from a killed run\n")
        self.ok("export", out)
        self.assertFalse(os.path.exists(out + ".tmp"))
        other = os.path.join(self.dir, "other")
        self.ok("--db", other, "import", out, db=False)
        err = self.refused("export", self.dir)
        self.assertIn("is a folder", err)

    def test_a_link_at_the_scratch_name_is_refused_and_left_alone(self):
        # A symbolic or hard link at PATH.tmp would make the export write
        # into the file it names (someone else's, in a shared folder).
        self.seed()
        out = self.path("out.jsonl")
        victim = self.write("victim.txt", "precious\n")
        for make in (os.symlink, os.link):
            with self.subTest(make.__name__):
                make(victim, out + ".tmp")
                err = self.refused("export", out)
                self.assertIn("out.jsonl.tmp", err)
                self.assertIn("remove it", err)
                with open(victim) as f:
                    self.assertEqual(f.read(), "precious\n")
                self.assertFalse(os.path.exists(out))
                os.unlink(out + ".tmp")
        self.ok("export", out)  # once the link is gone

    def test_an_export_keeps_the_replaced_files_permissions(self):
        self.seed()
        out = self.write("out.jsonl", "old\n")
        os.chmod(out, 0o600)
        self.ok("export", out)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        fresh = self.path("fresh.jsonl")
        old_mask = os.umask(0o022)
        try:
            self.ok("export", fresh)
        finally:
            os.umask(old_mask)
        self.assertEqual(os.stat(fresh).st_mode & 0o777, 0o644)
