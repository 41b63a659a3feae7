// Copyright (c) Canopy authors.
//
// RunBenchCommand: the order of a run. For each size of the sweep
// (ascending): build or reuse the database, open it (measuring time and
// memory), run the workload, at the largest size the thread sweep, then
// the side-by-side comparisons on the database as built; then the fits, the
// plan and the outputs.

#include "bench/harness/harness.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <ctime>
#include <exception>
#include <new>
#include <fstream>
#include <thread>

#include "bench/harness/compare.h"
#include "bench/harness/config.h"
#include "bench/harness/dataset.h"
#include "bench/harness/format.h"
#include "bench/harness/progress.h"
#include "bench/harness/report.h"
#include "bench/harness/results.h"
#include "bench/harness/workload.h"

namespace canopy::bench {

namespace {

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

WorkloadConfig WorkloadOf(const HarnessConfig& c, int threads) {
  WorkloadConfig w;
  w.mix = c.mix;
  w.threads = threads;
  w.duration_s = c.duration_s;
  w.ops = c.ops;
  w.warmup_s = c.ops > 0 ? 0 : c.warmup_s;
  w.page_size = c.page_size;
  w.pages_per_listing = c.pages_per_listing;
  w.seed = c.tree.seed;
  return w;
}

// The read operations of the mix that have a side-by-side comparison.
std::vector<Op> ComparedOps(const Mix& mix) {
  std::vector<Op> out;
  for (Op op : mix.Ops()) {
    if (!IsWrite(op)) out.push_back(op);
  }
  return out;
}

void NoteProblems(const std::string& where, const WorkloadResult& w,
                  std::vector<std::string>* problems) {
  if (w.total_ops == 0 && !StopRequested()) {
    char took[32];
    std::snprintf(took, sizeof(took), "%.3g", w.seconds);
    problems->push_back(where + ": no operation completed in " + took +
                        " s, so nothing was measured; give a longer --duration or --ops");
  }
  for (int k = 0; k < kNumOps; ++k) {
    const OpStats& s = w.ops[k];
    if (s.errors == 0) continue;
    problems->push_back(where + ": " + std::to_string(s.errors) + " of " + std::to_string(s.count) +
                        " " + OpName(static_cast<Op>(k)) +
                        " calls failed; first: " + s.first_error);
  }
}

// Measures one size into *out. Returns an error when the size could not be
// measured at all (the database could not be built or opened).
Status MeasureSize(const HarnessConfig& c, const TreeSpec& spec, bool largest, Progress* progress,
                   SizeResult* out, RunResult* run) {
  out->spec = spec;
  const bool writes = c.mix.HasWrites();
  DatasetOptions o;
  o.cache_dir = c.cache_dir;
  o.db_options.sync = c.sync;
  o.db_options.block_cache_bytes = c.block_cache_bytes;
  o.progress = progress;
  std::unique_ptr<Dataset> ds;
  CANOPY_RETURN_IF_ERROR(Dataset::Open(spec, o, &ds));
  // A stop request (Ctrl-C) ends the size between its steps; the caller
  // sees it and reports nothing.
  if (StopRequested()) return Status::Ok();
  out->built = ds->built();
  out->import_seconds = ds->env().import_seconds;
  out->disk_bytes = ds->env().CachedDiskBytes();

  // Open again from a trimmed heap, so that open time and memory are the
  // database's alone (not the generator's or the import's).
  progress->Phase("opening " + FormatCount(static_cast<double>(spec.devices)) + " devices");
  CANOPY_RETURN_IF_ERROR(ds->env().Reopen([out] {
    TrimHeap();
    out->before_open = ReadMemoryInfo();
  }));
  out->after_open = ReadMemoryInfo();
  out->open_seconds = ds->env().open_seconds;
  if (StopRequested()) return Status::Ok();

  const std::string where = "at " + FormatCount(static_cast<double>(spec.devices)) + " devices";
  out->workload = RunWorkload(ds.get(), WorkloadOf(c, c.threads), progress,
                              "workload " + where + ", " + ThreadCount(c.threads));
  out->after_workload = ReadMemoryInfo();
  NoteProblems(where, out->workload, &run->problems);
  if (StopRequested()) return Status::Ok();

  if (largest && !c.threads_sweep.empty()) {
    std::vector<int> counts = c.threads_sweep;
    std::sort(counts.begin(), counts.end());
    counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
    run->threads_sweep_devices = spec.devices;
    for (int t : counts) {
      if (StopRequested()) return Status::Ok();
      if (t == c.threads) {
        run->threads_sweep.push_back(out->workload);
        continue;
      }
      run->threads_sweep.push_back(
          RunWorkload(ds.get(), WorkloadOf(c, t), progress,
                      "threads sweep " + where + ", " + ThreadCount(t)));
      NoteProblems(where + ", " + ThreadCount(t), run->threads_sweep.back(),
                   &run->problems);
    }
  }

  const std::vector<Op> compared = ComparedOps(c.mix);
  if ((c.raw_baseline || c.sqlite_baseline) && !compared.empty() && !StopRequested()) {
    // The baselines hold the tree as generated: compare on the cached
    // database, never on the copy the workload wrote to.
    if (writes) CANOPY_RETURN_IF_ERROR(ds->env().Reopen());
    if (c.sqlite_baseline) {
      progress->Phase("loading SQLite " + where);
      CANOPY_RETURN_IF_ERROR(ds->env().OpenSqlite());
      if (StopRequested()) return Status::Ok();
      out->sqlite_disk_bytes = ds->env().sqlite->DiskBytes();
    }
    CompareConfig cc;
    cc.ops = compared;
    cc.raw = c.raw_baseline;
    cc.sqlite = c.sqlite_baseline;
    cc.seconds_per_op = c.compare_seconds;
    cc.samples = c.compare_samples;
    cc.page_size = c.page_size;
    cc.seed = c.tree.seed;
    Status s = RunComparisons(ds.get(), cc, progress, &out->compare);
    if (!s.ok()) {
      run->problems.push_back(where + ": comparison failed: " + s.ToString());
    } else {
      out->compared = true;
      for (const OpComparison& oc : out->compare.ops) {
        if (oc.mismatches == 0) continue;
        run->problems.push_back(where + ": " + std::to_string(oc.mismatches) +
                                " disagreements in " + OpName(oc.op) +
                                "; first: " + oc.first_mismatch);
      }
    }
  }
  ds.reset();
  TrimHeap();
  return Status::Ok();
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// Can the file `path` (or, with `folder`, files in the folder `path`,
// made here if missing) be written? Asked before measuring, so that a
// mistyped output path costs no run.
Status CheckOutput(const std::string& flag, const std::string& path, bool folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (folder) {
    fs::create_directories(path, ec);
    if (ec) return Status::IOError(flag + ": cannot create " + path + ": " + ec.message());
    if (::access(path.c_str(), W_OK) != 0) {
      return Status::IOError(flag + ": cannot write in " + path + ": " + std::strerror(errno));
    }
    return Status::Ok();
  }
  if (fs::is_directory(path, ec)) return Status::IOError(flag + ": " + path + " is a folder");
  if (fs::exists(path, ec)) {
    if (::access(path.c_str(), W_OK) != 0) {
      return Status::IOError(flag + ": cannot write " + path + ": " + std::strerror(errno));
    }
    return Status::Ok();
  }
  const fs::path parent = fs::absolute(fs::path(path), ec).parent_path();
  if (!fs::is_directory(parent, ec)) {
    return Status::IOError(flag + ": cannot write " + path + ": no folder " + parent.string());
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    return Status::IOError(flag + ": cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The run itself (RunBenchCommand adds the exception firewall).
int RunBench(const std::string& program, const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  const std::string me = program + ": ";
  HarnessConfig config;
  bool help = false;
  if (Status s = ParseFlags(args, &config, &help); !s.ok()) {
    err << me << s.message() << "\n";
    return 2;
  }
  if (help) {
    out << HelpText(program);
    return 0;
  }
  if (!config.write_tree_path.empty()) {
    // The tree alone; its summary goes to stderr, so that the file may be
    // standard output ("-") piped into `canopy import -`.
    const std::string& path = config.write_tree_path;
    const bool to_stdout = path == "-";
    if (!to_stdout) {
      if (Status s = CheckOutput("--write-tree", path, false); !s.ok()) {
        err << me << s.message() << "\n";
        return 1;
      }
    }
    TreeSpec spec;
    GeneratedTree tree;
    Status s = ScaleSpec(config.tree, config.tree.devices, &spec);
    if (s.ok()) s = Generate(spec, path, &tree);
    if (!s.ok()) {
      // An unfinished file is removed, if it is one: never what a symbolic
      // link or a device (/dev/stdout) names.
      std::error_code ec;
      const bool removed = !to_stdout && s.code() != Code::kInvalidArgument &&
                           std::filesystem::is_regular_file(std::filesystem::symlink_status(path, ec)) &&
                           std::filesystem::remove(path, ec);
      if (StopRequested()) {
        err << me << "stopped (interrupted); "
            << (removed ? "the unfinished file was removed" : "what was written is incomplete")
            << "\n";
        return 130;
      }
      err << me << "--write-tree: " << s.message() << "\n";
      return s.code() == Code::kInvalidArgument ? 2 : 1;
    }
    err << me << "wrote " << (to_stdout ? "the tree to standard output" : path) << ": "
        << spec.accounts << " accounts, " << spec.users << " users, " << tree.memberships.size()
        << " memberships, " << spec.devices << " devices (" << spec.Name() << ")\n";
    return 0;
  }
  const std::vector<uint64_t> sizes = MeasuredSizes(config);
  if (config.max_measured_devices > 0 && config.sweep_given) {
    std::string above;
    for (uint64_t n : config.sweep) {
      if (n > config.max_measured_devices) {
        above += (above.empty() ? "" : ", ") + FormatCount(static_cast<double>(n));
      }
    }
    if (!above.empty()) {
      err << me << "note: --sweep sizes above --max-measured-devices "
          << FormatCount(static_cast<double>(config.max_measured_devices))
          << " are not measured: " << above
          << (config.plan ? " (the plan extrapolates to --devices)" : "") << "\n";
    }
  }
  std::vector<TreeSpec> specs;
  for (uint64_t n : sizes) {
    TreeSpec spec;
    if (Status s = ScaleSpec(config.tree, n, &spec); !s.ok()) {
      err << me << s.message() << "\n";
      return 2;
    }
    specs.push_back(spec);
  }
  if (config.plan) {
    TreeSpec target;
    if (Status s = ScaleSpec(config.tree, config.tree.devices, &target); !s.ok()) {
      err << me << "planned tree: " << s.message() << "\n";
      return 2;
    }
  }

  for (const auto& [flag, path, folder] :
       {std::tuple<std::string, std::string, bool>{"--markdown", config.markdown_path, false},
        {"--report-json", config.json_path, false},
        {"--plots", config.plots_dir, true}}) {
    if (path.empty()) continue;
    if (Status s = CheckOutput(flag, path, folder); !s.ok()) {
      err << me << s.message() << "\n";
      return 1;
    }
  }

  const auto start = std::chrono::steady_clock::now();
  Progress progress(&err, config.progress);
  RunResult run;
  run.config = config;
  run.started = Now();
  run.cores = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < specs.size(); ++i) {
    SizeResult r;
    Status s = MeasureSize(config, specs[i], i + 1 == specs.size(), &progress, &r, &run);
    if (StopRequested()) {
      progress.Finish();
      err << me << "stopped (interrupted): no report was written";
      if (!s.ok() && s.code() == Code::kAborted) err << "; " << s.message();
      err << "\n";
      return 130;
    }
    if (!s.ok()) {
      progress.Finish();
      err << me << "cannot measure " << specs[i].Name() << ": " << s.ToString() << "\n";
      return 1;
    }
    run.sizes.push_back(std::move(r));
  }
  progress.Phase("analysing");
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Analysis analysis = Analyze(run);
  Plan plan;
  if (config.plan) plan = MakePlan(run, analysis);

  int rc = run.problems.empty() ? 0 : 1;
  std::vector<std::string> plots;
  if (!config.plots_dir.empty()) {
    if (Status s = WritePlots(run, config.plots_dir, &plots); !s.ok()) {
      err << me << s.ToString() << "\n";
      rc = 1;
    }
  }
  const std::string markdown = RenderMarkdown(run, analysis, config.plan ? &plan : nullptr, plots);
  if (!config.json_path.empty()) {
    Status s =
        WriteText(config.json_path, RenderJson(run, analysis, config.plan ? &plan : nullptr));
    if (!s.ok()) {
      err << me << s.ToString() << "\n";
      rc = 1;
    }
  }
  progress.Finish();
  if (config.markdown_path.empty()) {
    out << markdown << std::flush;
  } else if (Status s = WriteText(config.markdown_path, markdown); !s.ok()) {
    err << me << s.ToString() << "\n";
    rc = 1;
  }
  for (const std::string& p : run.problems) err << me << "problem: " << p << "\n";
  return rc;
}

}  // namespace

int RunBenchCommand(const std::string& program, const std::vector<std::string>& args,
                    std::ostream& out, std::ostream& err) {
  // Nothing may escape to the caller: an exception (out of memory, a file
  // system error) ends the run with a message.
  try {
    return RunBench(program, args, out, err);
  } catch (const std::bad_alloc&) {
    err << "\n" << program << ": out of memory: the tree does not fit in this machine's "
                                "memory (lower --devices, --accounts or --users)\n";
  } catch (const std::exception& e) {
    err << "\n" << program << ": failed: " << e.what() << "\n";
  } catch (...) {
    err << "\n" << program << ": failed with an unknown exception\n";
  }
  return 1;
}

}  // namespace canopy::bench
