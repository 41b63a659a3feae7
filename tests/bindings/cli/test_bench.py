# Copyright (c) Canopy authors.
"""canopy bench: runs the separate canopy-bench program (next to canopy, or
on PATH), under its own name; canopy itself links neither it nor SQLite."""

import json
import os
import shutil
import subprocess
import unittest

from cli_harness import CANOPY, CliTestCase

BESIDE = os.path.join(os.path.dirname(os.path.abspath(CANOPY)), "canopy-bench")


@unittest.skipUnless(os.path.exists(BESIDE), "canopy-bench is not built (CANOPY_BUILD_BENCH=OFF)")
class BenchCommandTest(CliTestCase):
    def test_help_calls_itself_canopy_bench(self):
        out = self.ok("bench", "--help", db=False)
        self.assertTrue(out.startswith("canopy bench: capacity planning"), out[:200])
        self.assertIn("usage: canopy bench [flags]", out)
        self.assertNotIn("canopy-bench:", out)
        self.assertNotIn("usage: canopy-bench", out)
        self.assertIn("--report-json FILE", out)
        self.assertEqual(out, self.ok("bench", "-h", db=False))

    def test_the_report_flag_does_not_clash_with_json(self):
        err = self.usage_error("bench", "--json", self.path("r.json"), db=False)
        self.assertIn("--report-json FILE", err)
        self.assertFalse(os.path.exists(self.path("r.json")))
        # The global flags do not apply to the harness: refused, not ignored.
        for argv in (["--json", "bench"], ["--db", self.db, "bench"],
                     ["--actor", "x", "bench"], ["--csv", "bench", "--help"]):
            with self.subTest(argv=argv):
                err = self.usage_error(*argv, db=False)
                self.assertIn("do not apply", err)

    def test_bad_flags_are_usage_errors_naming_the_flag(self):
        self.assertIn("canopy bench: unknown flag --bogus",
                      self.usage_error("bench", "--bogus", db=False))
        self.assertIn("--devices needs a value", self.usage_error("bench", "--devices", db=False))
        self.assertIn("--ops is given more than once",
                      self.usage_error("bench", "--ops", "1", "--ops", "2", db=False))

    def test_a_tiny_run_through_canopy(self):
        report = self.path("report.json")
        p = self.expect(0, "bench", "--devices", "300", "--accounts", "12", "--users", "6",
                        "--depth", "3", "--fanout", "4", "--sweep", "none", "--ops", "30",
                        "--no-baselines", "--cache-dir", self.path("cache"), "--progress",
                        "none", "--report-json", report, db=False)
        self.assertIn("## Throughput and latency at 300 devices", p.stdout)
        with open(report, encoding="utf-8") as f:
            doc = json.load(f)
        self.assertEqual(doc["format"], "canopy-bench/1")
        self.assertEqual(len(doc["sizes"]), 1)

    def bench_argv(self, cache, *extra):
        return [CANOPY, "bench", "--accounts", "2000", "--users", "200", "--sweep", "none",
                "--cache-dir", cache, "--progress", "lines"] + list(extra)

    def test_ctrl_c_stops_cleanly_and_leaves_no_half_built_tree(self):
        """SIGINT: exit 130, a message, no report; the cache holds either the
        whole tree (built before the signal) or nothing of it, never half.
        Signalled while the tree is generated, imported, and measured."""
        for i, phase in enumerate(("generating", "importing", "workload")):
            with self.subTest(phase=phase):
                cache = self.path(f"cache-{i}")
                p = subprocess.Popen(
                    self.bench_argv(cache, "--devices", "1e6", "--duration", "30s"),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                # Signalled once the phase has begun (progress lines on stderr).
                seen = ""
                for line in p.stderr:
                    seen += line
                    if "] " + phase in line:  # "[   0.3s] importing ..."
                        break
                p.send_signal(subprocess.signal.SIGINT)
                out, err = p.communicate(timeout=120)
                err = seen + err
                self.assertEqual(p.returncode, 130, err)
                self.assertIn("stopped (interrupted)", err)
                self.assertEqual(out, "")  # no report
                entries = os.listdir(cache)
                self.assertEqual(len(entries), 1, entries)
                entry = os.path.join(cache, entries[0])
                left = sorted(os.listdir(entry))
                if "canopy.done" in left:
                    self.assertTrue(os.path.exists(os.path.join(entry, "canopy", "CURRENT")), left)
                else:
                    self.assertNotIn("canopy", left)
                    self.assertNotIn("tree.jsonl", left)
                if phase == "workload":
                    self.assertIn("canopy.done", left)  # built before the signal: kept
                self.assertFalse([n for n in left if n.startswith("work-")], left)

    def test_write_tree_to_standard_output_pipes_into_import(self):
        bench = subprocess.Popen([CANOPY, "bench", "--devices", "500", "--accounts", "20",
                                  "--users", "10", "--write-tree", "-"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        imp = subprocess.run([CANOPY, "--db", self.db, "import", "-"], stdin=bench.stdout,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=120)
        bench.stdout.close()
        err = bench.stderr.read().decode()
        self.assertEqual(bench.wait(timeout=60), 0, err)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        self.assertIn("500 entities", imp.stdout)
        self.assertIn("wrote the tree to standard output: 20 accounts", err)
        self.assertFalse(os.path.exists(self.path("-")))

    def test_two_runs_on_one_cache_share_the_tree(self):
        """Started together on an empty cache: one builds the tree, the other
        waits for it and reuses it; both measure and report."""
        cache = self.path("cache")
        argv = self.bench_argv(cache, "--devices", "2e5", "--ops", "200", "--mix", "count=1",
                               "--compare-seconds", "0.2")
        runs = [subprocess.Popen(argv + ["--report-json", self.path(f"r{i}.json")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(2)]
        results = [r.communicate(timeout=300) for r in runs]
        for r, (out, err) in zip(runs, results):
            self.assertEqual(r.returncode, 0, err)
            self.assertIn("## Throughput and latency at 200k devices", out)
        built = []
        for i in range(2):
            with open(self.path(f"r{i}.json"), encoding="utf-8") as f:
                built.append(json.load(f)["sizes"][0]["built"])
        self.assertEqual(sorted(built), [False, True], results)

    def copy_of_canopy(self):
        """canopy copied alone into a folder of its own (no canopy-bench beside it)."""
        folder = self.path("lonely")
        os.makedirs(folder)
        shutil.copy2(CANOPY, folder)
        return os.path.join(folder, os.path.basename(CANOPY))

    def test_found_on_path(self):
        lonely = self.copy_of_canopy()
        harness = os.path.dirname(os.path.realpath(BESIDE))
        p = subprocess.run([lonely, "bench", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120,
                           env=dict(os.environ, PATH=harness + os.pathsep + "/usr/bin:/bin"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("usage: canopy bench [flags]", p.stdout)

    def test_missing_program_is_a_clear_error(self):
        lonely = self.copy_of_canopy()
        p = subprocess.run([lonely, "bench", "--sizes", "1000"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120,
                           env=dict(os.environ, PATH="/usr/bin:/bin"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertIn("canopy: bench needs the canopy-bench program", p.stderr)
        self.assertIn(os.path.dirname(lonely), p.stderr)
        self.assertIn("PATH", p.stderr)

    def test_help_without_the_program_says_what_bench_is_and_what_is_missing(self):
        lonely = self.copy_of_canopy()
        for flag in ("--help", "-h"):
            p = subprocess.run([lonely, "bench", flag], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120,
                               env=dict(os.environ, PATH="/usr/bin:/bin"))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("usage: canopy bench [FLAGS]", p.stdout)
            self.assertIn("bench needs the canopy-bench program", p.stdout)
            self.assertIn(os.path.dirname(lonely), p.stdout)


class LinkTest(CliTestCase):
    """canopy is a client of the public API: libcanopy and include/canopy only."""

    def needed(self, binary):
        out = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE, text=True,
                             check=True).stdout
        return [line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]

    @unittest.skipUnless(shutil.which("readelf"), "readelf (binutils) is not installed")
    def test_links_libcanopy_and_not_sqlite(self):
        needed = self.needed(CANOPY)
        self.assertTrue(any(n.startswith("libcanopy.so") for n in needed), needed)
        for unwanted in ("sqlite", "benchmark", "rocksdb"):
            self.assertFalse(any(unwanted in n for n in needed), f"{unwanted} in {needed}")

    def test_sources_include_only_public_headers(self):
        # The command line and the server of `canopy ui` it links
        # (bindings/http, itself on the public API only) include their own
        # headers and include/canopy/*.h, nothing of the engine.
        here = os.path.dirname(os.path.abspath(__file__))
        bindings = os.path.join(here, "..", "..", "..", "bindings")
        folders = [os.path.join(bindings, "cli"), os.path.join(bindings, "http")]
        own = set().union(*(os.listdir(d) for d in folders))
        checked = 0
        for folder in folders:
            for name in sorted(os.listdir(folder)):
                if not name.endswith((".cc", ".h")):
                    continue
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    for line in f:
                        if not line.startswith('#include "'):
                            continue
                        header = line.split('"')[1]
                        checked += 1
                        self.assertTrue(header in own or header.startswith("canopy/"),
                                        f"{name} includes {header}")
        self.assertGreater(checked, 20)


if __name__ == "__main__":
    unittest.main()
