// Copyright (c) Canopy authors.
//
// What a harness run measured (RunResult: one SizeResult per size of the
// sweep, the thread sweep, problems met), and what the harness derives
// from it (Analysis: growth fits per operation, scan cost per item and per
// answer size, disk and memory growth; Plan: the figures predicted for the
// planned size, each marked measured or extrapolated).
//
// Thread safety: plain values and functions.

#ifndef CANOPY_BENCH_HARNESS_RESULTS_H_
#define CANOPY_BENCH_HARNESS_RESULTS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/generator.h"
#include "bench/harness/compare.h"
#include "bench/harness/config.h"
#include "bench/harness/fit.h"
#include "bench/harness/progress.h"
#include "bench/harness/workload.h"

namespace canopy::bench {

struct SizeResult {
  TreeSpec spec;
  bool built = false;         // built by this run (else reused from the cache)
  double import_seconds = 0;  // when built
  double open_seconds = 0;    // Db::Open of the database the workload used
  uint64_t disk_bytes = 0;    // the database as built, before any write
  uint64_t sqlite_disk_bytes = 0;
  MemoryInfo before_open;     // process memory before Db::Open
  MemoryInfo after_open;      // ... after it (the catalog is loaded)
  MemoryInfo after_workload;  // ... after the workload (caches warm)
  WorkloadResult workload;
  bool compared = false;
  CompareResult compare;

  // Scans (answer size, ns): single-threaded comparison samples when there
  // are any, else the workload's.
  const std::vector<std::pair<uint64_t, uint64_t>>& ScanSamples() const;
  uint64_t MemoryAtOpen() const;     // after_open.rss - before_open.rss
  uint64_t MemoryAfterWork() const;  // after_workload.rss - before_open.rss
  uint64_t HeapAtOpen() const;       // after_open.heap - before_open.heap
  uint64_t HeapAfterWork() const;    // after_workload.heap - before_open.heap
};

struct RunResult {
  HarnessConfig config;
  std::vector<SizeResult> sizes;  // ascending devices
  uint64_t threads_sweep_devices = 0;
  std::vector<WorkloadResult> threads_sweep;
  std::vector<std::string> problems;  // failed operations, disagreements
  double seconds = 0;                 // the whole run
  unsigned cores = 0;
  std::string started;  // local time, ISO 8601
};

// Scan answers grouped by decade of devices returned.
struct AnswerBucket {
  uint64_t lo = 0, hi = 0;  // devices returned in [lo, hi)
  uint64_t samples = 0;
  double median_ns = 0;
  double median_ns_per_item = 0;  // 0 for the empty answers' bucket
};
std::vector<AnswerBucket> AnswerBuckets(const std::vector<std::pair<uint64_t, uint64_t>>& s);
// Total ns / total devices over the samples that returned something.
double NanosPerItem(const std::vector<std::pair<uint64_t, uint64_t>>& samples);

struct OpGrowth {
  Op op = Op::kScan;
  PowerFit p50, p99, mean;  // latency (ns) against devices
};

struct Analysis {
  std::vector<double> devices;  // the measured sizes
  std::vector<OpGrowth> ops;    // operations measured at two or more sizes
  PowerFit scan_per_item;       // Canopy ns per scanned device against devices
  PowerFit raw_scan_per_item;   // the same for the raw loop
  PowerFit scan_vs_answer;      // scan latency against devices returned
  // Per size (as run.sizes): scan latency = fixed part + slope * devices
  // returned; the slope is the cost per device, which should not grow with
  // the database.
  std::vector<LinearFit> scan_linear;
  PowerFit disk;          // bytes against devices
  PowerFit memory_open;   // resident growth at open against devices
  PowerFit memory_cache;  // resident growth during the workload
  PowerFit open_time;     // Db::Open seconds against devices
  // The same four as fixed part + part per device, for the plan.
  LinearFit disk_linear;
  LinearFit memory_open_linear;
  LinearFit memory_cache_linear;
  LinearFit open_time_linear;
  const OpGrowth* Find(Op op) const;
};
Analysis Analyze(const RunResult& run);

struct PlanFigure {
  std::string name;  // "disk", "p99 page_first", ...
  double value = 0;  // in `unit`
  std::string unit;  // "bytes", "ns", "ops/s"
  bool measured = false;
  std::string basis;  // "measured at 1M devices" / "extrapolated from ..."
};

struct Plan {
  TreeSpec target;
  uint64_t largest_measured = 0;
  bool extrapolated = false;
  std::vector<PlanFigure> figures;
};
Plan MakePlan(const RunResult& run, const Analysis& analysis);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_RESULTS_H_
