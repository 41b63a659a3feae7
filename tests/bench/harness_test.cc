// Copyright (c) Canopy authors.
//
// RunBenchCommand end to end at tiny sizes: flags, the Markdown and JSON
// reports (every operation, no error, baselines agreeing), plots, the
// database cache, and a capacity plan that says what it extrapolated.

#include "bench/harness/harness.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/harness/config.h"
#include "tests/test_util.h"

namespace canopy::bench {
namespace {

struct BenchRun {
  int rc = -1;
  std::string out;
  std::string err;
};

BenchRun Bench(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  BenchRun r;
  r.rc = RunBenchCommand("canopy-bench", args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The tiny tree of these tests (sizes 500 and 2000 devices).
std::vector<std::string> Tree(const std::string& cache) {
  return {"--devices", "2000", "--accounts",    "40", "--users",     "30",  "--depth",    "4",
          "--fanout",  "8",    "--memberships", "2",  "--cache-dir", cache, "--progress", "lines"};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const char* const kAllOps[] = {"scan",    "page_first", "page_next", "count", "check",
                               "who_can", "reassign",   "create",    "move"};

TEST(HarnessTest, HelpDescribesEveryFlag) {
  BenchRun r = Bench({"--help"});
  EXPECT_EQ(r.rc, 0);
  for (const char* flag : {"--roots",
                           "--accounts",
                           "--devices",
                           "--depth",
                           "--fanout",
                           "--zipf",
                           "--users",
                           "--memberships",
                           "--branch-share",
                           "--seed",
                           "--device-attributes",
                           "--write-tree",
                           "--sweep",
                           "--max-measured-devices",
                           "--plan",
                           "--mix",
                           "--threads",
                           "--duration",
                           "--ops",
                           "--warmup",
                           "--page-size",
                           "--pages-per-listing",
                           "--threads-sweep",
                           "--no-raw",
                           "--no-sqlite",
                           "--no-baselines",
                           "--compare-seconds",
                           "--compare-samples",
                           "--cache-dir",
                           "--block-cache",
                           "--sync",
                           "--report-json",
                           "--plots",
                           "--markdown",
                           "--progress",
                           "--quiet",
                           "--help"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(HarnessTest, HelpNamesTheProgramAsInvoked) {
  std::ostringstream out, err;
  EXPECT_EQ(RunBenchCommand("canopy bench", {"--help"}, out, err), 0);
  EXPECT_NE(out.str().find("usage: canopy bench [flags]"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("canopy-bench:"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("usage: canopy-bench"), std::string::npos) << out.str();
  std::ostringstream out2, err2;
  EXPECT_EQ(RunBenchCommand("canopy bench", {"--frobnicate"}, out2, err2), 2);
  EXPECT_EQ(err2.str().rfind("canopy bench: unknown flag --frobnicate", 0), 0u) << err2.str();
}

// An output that cannot be written is refused before anything is measured
// (a mistyped path used to cost the whole run, refused at its end).
TEST(HarnessTest, UnwritableOutputsAreRefusedBeforeMeasuring) {
  testing::TempDir dir;
  const std::string cache = dir.Sub("cache");
  for (const auto& [flag, path] :
       std::vector<std::pair<std::string, std::string>>{{"--markdown", dir.Sub("missing/report")},
                                                        {"--report-json", dir.Sub("missing/report-json")},
                                                        {"--markdown", dir.path()},
                                                        {"--plots", "/proc/x"}}) {
    BenchRun r = Bench({flag, path, "--devices", "1k", "--accounts", "100", "--sweep", "none",
                        "--duration", "1s", "--cache-dir", cache, "--quiet"});
    EXPECT_EQ(r.rc, 1) << flag << " " << path;
    EXPECT_NE(r.err.find(flag + ": "), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "nothing measured";
    EXPECT_FALSE(std::filesystem::exists(cache)) << "no tree was built";
  }
}

TEST(HarnessTest, FlagSyntaxIsRefusedByName) {
  // The old --json FILE is now --report-json FILE (canopy's --json is its
  // output format): refused with a pointer to the new name.
  BenchRun r = Bench({"--json", "x.json"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--report-json FILE"), std::string::npos) << r.err;
  r = Bench({"--devices", "1000", "--devices", "2000"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--devices is given more than once"), std::string::npos) << r.err;
  r = Bench({"--devices"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--devices needs a value"), std::string::npos) << r.err;
  r = Bench({"--plan=yes"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--plan takes no value"), std::string::npos) << r.err;
  r = Bench({"--quiet", "--progress", "lines"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("exclude each other"), std::string::npos) << r.err;
  r = Bench({"1e6"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unexpected argument '1e6'"), std::string::npos) << r.err;
  // Both spellings of a value, and booleans, are read.
  HarnessConfig c;
  bool help = true;
  ASSERT_OK(ParseFlags({"--devices=3000", "--report-json", "r.json", "--no-sqlite", "--sweep=none"},
                       &c, &help));
  EXPECT_FALSE(help);
  EXPECT_EQ(c.tree.devices, 3000u);
  EXPECT_EQ(c.json_path, "r.json");
  EXPECT_FALSE(c.sqlite_baseline);
  EXPECT_TRUE(c.raw_baseline);
  EXPECT_TRUE(c.sweep.empty());
}

TEST(HarnessTest, BadFlagsAreRefusedByName) {
  BenchRun r = Bench({"--mix", "scan=1,teleport=3"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("teleport"), std::string::npos) << r.err;
  r = Bench({"--devices", "lots"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--devices"), std::string::npos) << r.err;
  r = Bench({"--frobnicate"});
  EXPECT_EQ(r.rc, 2);
  r = Bench({"--devices", "1e6", "--accounts", "1e6", "--depth", "2", "--fanout", "3"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("fan-out"), std::string::npos) << r.err;
  r = Bench({"--device-attributes", "5"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--device-attributes"), std::string::npos) << r.err;
  // Values that used to mean something else silently: 0 for "the
  // default", an operation weighed twice summed, an empty path for the
  // working folder.
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--ops", "0"},
                                             {"--compare-samples", "0"},
                                             {"--max-measured-devices", "0"},
                                             {"--mix", "count=1,count=2"},
                                             {"--cache-dir", ""},
                                             {"--markdown", ""},
                                             {"--report-json", ""},
                                             {"--plots", ""},
                                             {"--write-tree", ""}}) {
    r = Bench(bad);
    EXPECT_EQ(r.rc, 2) << bad[0] << " " << bad[1];
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
  }
}

// --write-tree only writes the tree's file (nothing is measured): the file
// `canopy import` loads with the counts asked for.
TEST(HarnessTest, WriteTreeWritesAnImportableFileAndStops) {
  testing::TempDir dir;
  BenchRun r = Bench({"--devices", "3000", "--accounts", "50", "--roots", "2", "--depth", "4",
                      "--fanout", "8", "--users", "40", "--device-attributes", "2",
                      "--write-tree", dir.Sub("tree.jsonl")});
  ASSERT_EQ(r.rc, 0) << r.err;
  // The summary goes to stderr (standard output may be the file: "-").
  EXPECT_NE(r.err.find("3000 devices"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  auto db = testing::OpenDb(dir.Sub("db"));
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("tree.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.entities, 3000u);
  EXPECT_EQ(report.accounts, 50u);
  EXPECT_EQ(report.users, 40u);
  EXPECT_EQ(db->Roots().size(), 2u);
  EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "dev-1")->attributes.size(), 2u);
  // A file that cannot be written is an error naming it.
  r = Bench({"--devices", "100", "--write-tree", dir.Sub("no/such/folder/tree.jsonl")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("no/such/folder/tree.jsonl"), std::string::npos) << r.err;
  // A folder is named as one, and nothing is written into it.
  std::filesystem::create_directories(dir.Sub("adir"));
  r = Bench({"--devices", "100", "--write-tree", dir.Sub("adir")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("is a folder"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::is_empty(dir.Sub("adir")));
  // A flag of a measuring run would be ignored: refused instead, and no
  // file is written.
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--report-json", dir.Sub("r.json")},
           {"--markdown", dir.Sub("report-markdown")},
           {"--plan"},
           {"--cache-dir", dir.Sub("cache")},
           {"--sweep", "1e3"},
           {"--mix", "count=1"}}) {
    std::vector<std::string> args = {"--devices", "100", "--write-tree", dir.Sub("x.jsonl")};
    args.insert(args.end(), extra.begin(), extra.end());
    r = Bench(args);
    EXPECT_EQ(r.rc, 2) << extra[0];
    EXPECT_NE(r.err.find(extra[0]), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.Sub("x.jsonl")));
  }
}

// Values the harness once misread: each is refused (exit 2, naming the
// flag) or read as the help says.
TEST(HarnessTest, NumbersAreReadStrictlyAndWithinLimits) {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--devices", "0x10"},             // hexadecimal
           {"--devices", " 100"},             // leading space
           {"--zipf", "nan"},
           {"--duration", "1e308h"},          // infinite once scaled
           {"--warmup", "25h"},               // over a day
           {"--compare-seconds", "1e308"},
           {"--depth", "33"},                 // deeper than an import allows
           {"--accounts", "5e9"},             // the generator numbers them with 32 bits
           {"--users", "5e9"},
           {"--block-cache", "1.5"},
           {"--seed", "18446744073709551616"}}) {  // 2^64
    BenchRun r = Bench(bad);
    EXPECT_EQ(r.rc, 2) << bad[0] << " " << bad[1] << ": " << r.err;
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
  }
  HarnessConfig c;
  bool help;
  // Byte sizes are binary, as the help's default (256M) is.
  ASSERT_OK(ParseFlags({"--block-cache", "256M"}, &c, &help));
  EXPECT_EQ(c.block_cache_bytes, size_t{256} << 20);
  EXPECT_EQ(HarnessConfig().block_cache_bytes, size_t{256} << 20);
  ASSERT_OK(ParseFlags({"--block-cache", "1G"}, &c, &help));
  EXPECT_EQ(c.block_cache_bytes, size_t{1} << 30);
  // Any 64-bit seed, written out.
  ASSERT_OK(ParseFlags({"--seed", "18446744073709551615"}, &c, &help));
  EXPECT_EQ(c.tree.seed, UINT64_MAX);
  ASSERT_OK(ParseFlags({"--depth", "32", "--duration", "24h"}, &c, &help));
  EXPECT_EQ(c.tree.depth, 32u);
  EXPECT_EQ(c.duration_s, 86400);
  // -0 is 0: the same tree, the same name.
  ASSERT_OK(ParseFlags({"--branch-share", "-0"}, &c, &help));
  HarnessConfig zero;
  ASSERT_OK(ParseFlags({"--branch-share", "0"}, &zero, &help));
  EXPECT_EQ(c.tree.Name(), zero.tree.Name());
  // Two reports into one file would overwrite each other.
  testing::TempDir dir;
  BenchRun r = Bench({"--report-json", dir.Sub("same"), "--markdown", dir.Sub("./same")});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("same file"), std::string::npos) << r.err;
}

TEST(HarnessTest, ScaledSizesKeepTwoAccountsWhereTheTreeCanHoldThem) {
  HarnessConfig c;
  bool help;
  TreeSpec at;
  ASSERT_OK(ParseFlags({"--devices", "1e6", "--accounts", "1000"}, &c, &help));
  ASSERT_OK(ScaleSpec(c.tree, 100, &at));
  EXPECT_EQ(at.accounts, 2u);  // 1000 per 1e6 devices would be 0.1, so 1
  // A flat tree (depth 1) holds only its roots: scaled as before.
  ASSERT_OK(ParseFlags({"--depth", "1", "--roots", "10", "--accounts", "10", "--devices", "1e4"},
                       &c, &help));
  ASSERT_OK(ScaleSpec(c.tree, 1000, &at));
  EXPECT_EQ(at.accounts, at.roots);
}

TEST(HarnessTest, SizesOfTheSweep) {
  HarnessConfig c;
  bool help;
  ASSERT_OK(ParseFlags({}, &c, &help));
  EXPECT_EQ(MeasuredSizes(c), (std::vector<uint64_t>{10000, 100000, 1000000}));
  ASSERT_OK(ParseFlags({"--plan", "--devices", "50e6", "--accounts", "2e6"}, &c, &help));
  EXPECT_EQ(c.max_measured_devices, 2000000u);
  EXPECT_EQ(MeasuredSizes(c), (std::vector<uint64_t>{10000, 100000, 1000000, 2000000}));
  TreeSpec at;
  ASSERT_OK(ScaleSpec(c.tree, 2000000, &at));
  EXPECT_EQ(at.accounts, 80000u);  // the planned 1 account per 25 devices
  ASSERT_OK(ParseFlags({"--devices", "3000"}, &c, &help));
  // Small trees: devices/100 (raised to 100), devices/10, devices.
  EXPECT_EQ(MeasuredSizes(c), (std::vector<uint64_t>{100, 300, 3000}));
  ASSERT_OK(ParseFlags({"--sweep", "1e4,1e5,1e6,1e7"}, &c, &help));
  EXPECT_EQ(MeasuredSizes(c), (std::vector<uint64_t>{10000, 100000, 1000000, 10000000}));
}

TEST(HarnessTest, TinyRunReportsEveryOperationWithoutError) {
  testing::TempDir dir;
  const std::string json = dir.Sub("out.json"), plots = dir.Sub("plots");
  BenchRun r =
      Bench(Tree(dir.Sub("cache")) +
            std::vector<std::string>{"--sweep",
                                     "500,2000",
                                     "--ops",
                                     "400",
                                     "--threads",
                                     "2",
                                     "--threads-sweep",
                                     "1,2",
                                     "--mix",
                                     "scan=3,page=30,count=20,check=30,who_can=5,reassign=5,"
                                     "create=3,move=2",
                                     "--compare-seconds",
                                     "0.2",
                                     "--compare-samples",
                                     "30",
                                     "--page-size",
                                     "20",
                                     "--report-json",
                                     json,
                                     "--plots",
                                     plots});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_EQ(r.err.find("problem"), std::string::npos) << r.err;
  // Markdown: every operation, every section, no problem.
  for (const char* op : kAllOps)
    EXPECT_NE(r.out.find("| " + std::string(op) + " |"), std::string::npos) << op;
  for (const char* section :
       {"## Throughput and latency at 2k devices", "## Database by size", "## Latency by size",
        "## Scans: cost per device returned", "## Side by side", "### 500 devices",
        "## Throughput against threads", "## Problems\n\nnone"}) {
    EXPECT_NE(r.out.find(section), std::string::npos) << section << "\n" << r.out;
  }

  // JSON: parses, holds every operation at both sizes with no error, and
  // the baselines agreed with Canopy.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(simdjson::padded_string(ReadAll(json))).get(doc), simdjson::SUCCESS);
  simdjson::dom::array sizes = doc["sizes"].get_array();
  ASSERT_EQ(sizes.size(), 2u);
  for (simdjson::dom::element size : sizes) {
    simdjson::dom::object ops = size["workload"]["ops"].get_object();
    for (const char* op : kAllOps) {
      simdjson::dom::element o;
      ASSERT_EQ(ops[op].get(o), simdjson::SUCCESS) << op;
      EXPECT_EQ(uint64_t(o["errors"]), 0u) << op;
      EXPECT_GT(uint64_t(o["count"]), 0u) << op;
      EXPECT_GE(uint64_t(o["latency_ns"]["p99"]), uint64_t(o["latency_ns"]["p50"])) << op;
    }
    simdjson::dom::object cmp = size["comparisons"].get_object();
    for (const char* op : {"scan", "page_first", "count", "check", "who_can"}) {
      simdjson::dom::element c;
      ASSERT_EQ(cmp[op].get(c), simdjson::SUCCESS) << op;
      EXPECT_EQ(uint64_t(c["mismatches"]), 0u) << op;
      EXPECT_EQ(c["variants"]["canopy"].error(), simdjson::SUCCESS) << op;
      EXPECT_EQ(c["variants"]["raw"].error(), simdjson::SUCCESS) << op;
    }
    EXPECT_EQ(cmp["scan"]["variants"]["sqlite_cte"].error(), simdjson::SUCCESS);
    EXPECT_GT(double(size["disk_bytes_per_device"]), 0);
  }
  EXPECT_EQ(doc["problems"].get_array().size(), 0u);
  EXPECT_EQ(doc["threads_sweep"]["runs"].get_array().size(), 2u);
  EXPECT_TRUE(bool(doc["growth"]["ops"]["count"]["p50"]["ok"]));

  for (const char* file : {"latency_vs_size.svg", "latency_scan.svg", "latency_check.svg",
                           "throughput_vs_threads.svg"}) {
    const std::string svg = ReadAll(plots + "/" + file);
    EXPECT_NE(svg.find("</svg>"), std::string::npos) << file;
  }

  // A second run finds both databases in the cache.
  BenchRun again =
      Bench(Tree(dir.Sub("cache")) + std::vector<std::string>{"--sweep", "500,2000", "--ops", "50",
                                                              "--no-baselines", "--report-json", json});
  ASSERT_EQ(again.rc, 0) << again.err;
  ASSERT_EQ(parser.parse(simdjson::padded_string(ReadAll(json))).get(doc), simdjson::SUCCESS);
  for (simdjson::dom::element size : doc["sizes"].get_array()) {
    EXPECT_FALSE(bool(size["built"]));
  }
  EXPECT_NE(again.out.find("| reused |"), std::string::npos);
}

// The cache of built trees: found again by name, measured the same on
// every run (its disk figure as built), and built again when damaged.
TEST(HarnessTest, TheCacheIsReusedMeasuredAlikeAndRebuiltWhenDamaged) {
  testing::TempDir dir;
  const std::string cache = dir.Sub("cache");
  auto run = [&](const std::string& json) {
    return Bench(Tree(cache) + std::vector<std::string>{"--sweep", "none", "--ops", "50", "--mix",
                                                       "count=1", "--no-baselines",
                                                       "--report-json", json});
  };
  auto size_of = [&](const std::string& json, const char* field) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    EXPECT_EQ(parser.parse(simdjson::padded_string(ReadAll(json))).get(doc), simdjson::SUCCESS);
    simdjson::dom::element v = doc["sizes"].at(0)[field];
    return v.is_bool() ? uint64_t(bool(v)) : uint64_t(v);
  };
  BenchRun r = run(dir.Sub("1.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(size_of(dir.Sub("1.json"), "built"), 1u);
  std::string entry;
  for (const auto& e : std::filesystem::directory_iterator(cache)) entry = e.path().string();
  ASSERT_FALSE(entry.empty());
  // Reused: not built again, and the same bytes on disk although each open
  // and close of the cache writes RocksDB's log and may flush or compact.
  for (const char* json : {"2.json", "3.json"}) {
    r = run(dir.Sub(json));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(size_of(dir.Sub(json), "built"), 0u);
    EXPECT_EQ(size_of(dir.Sub(json), "disk_bytes"), size_of(dir.Sub("1.json"), "disk_bytes"));
  }
  // A damaged cached database is built again, with a note, not a failure.
  {
    std::ofstream current(entry + "/canopy/CURRENT", std::ios::trunc);
    current << "garbage\n";
  }
  r = run(dir.Sub("4.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("building it again"), std::string::npos) << r.err;
  EXPECT_EQ(size_of(dir.Sub("4.json"), "built"), 1u);
  // So is one whose folder went missing behind its marker.
  std::filesystem::remove_all(entry + "/canopy");
  r = run(dir.Sub("5.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("building it again"), std::string::npos) << r.err;
  EXPECT_EQ(size_of(dir.Sub("5.json"), "built"), 1u);
  EXPECT_FALSE(std::filesystem::exists(entry + "/tree.jsonl"));  // removed once imported
  // And one that lost a file (an error other than damage when opened).
  for (const auto& e : std::filesystem::directory_iterator(entry + "/canopy")) {
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) std::filesystem::remove(e.path());
  }
  r = run(dir.Sub("6.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("building it again"), std::string::npos) << r.err;
  EXPECT_EQ(size_of(dir.Sub("6.json"), "built"), 1u);
  // Every run measured a private copy: none is left, and the cached
  // database was never opened by the runs that reused it (its LOG holds
  // the opens of its builds only).
  for (const auto& e : std::filesystem::directory_iterator(entry)) {
    EXPECT_NE(e.path().filename().string().rfind("work-", 0), 0u) << e.path();
  }
}

TEST(HarnessTest, PlanSaysWhatItExtrapolated) {
  testing::TempDir dir;
  const std::string json = dir.Sub("plan.json");
  // 100k devices planned, at most 2000 measured (the tiny tree's ratios).
  BenchRun r = Bench({"--plan",
                      "--devices",
                      "1e5",
                      "--accounts",
                      "2000",
                      "--users",
                      "1500",
                      "--depth",
                      "4",
                      "--fanout",
                      "16",
                      "--max-measured-devices",
                      "2000",
                      "--sweep",
                      "500,2000",
                      "--ops",
                      "200",
                      "--mix",
                      "page=5,count=3,check=3,reassign=1",
                      "--no-sqlite",
                      "--compare-seconds",
                      "0.1",
                      "--cache-dir",
                      dir.Sub("cache"),
                      "--report-json",
                      json,
                      "--progress",
                      "none"});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("## Capacity plan: 100k devices"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("**Extrapolated**"), std::string::npos);
  EXPECT_NE(r.out.find("linear fit over 2 sizes (500, 2k devices)"), std::string::npos) << r.out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(simdjson::padded_string(ReadAll(json))).get(doc), simdjson::SUCCESS);
  EXPECT_TRUE(bool(doc["plan"]["extrapolated"]));
  EXPECT_EQ(uint64_t(doc["plan"]["largest_measured_devices"]), 2000u);
  std::vector<std::string> names;
  for (simdjson::dom::element f : doc["plan"]["figures"].get_array()) {
    names.emplace_back(std::string_view(f["name"]));
    EXPECT_FALSE(bool(f["measured"]));
    // Resident growth of a tiny database may round to nothing; the rest may not.
    if (names.back() != "memory") {
      EXPECT_GT(double(f["value"]), 0) << names.back();
    }
  }
  for (const char* want : {"disk", "memory", "p99 page_first", "p99 count", "p99 check",
                           "p99 reassign", "ops/s per core, whole mix"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

}  // namespace
}  // namespace canopy::bench
