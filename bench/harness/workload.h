// Copyright (c) Canopy authors.
//
// The workload: client threads drawing operations from a mix (config.h)
// against a Dataset's Canopy database, for a duration or a number of
// operations, each timing every operation into its own histograms. Users
// are the generated ones, so what each query sees varies as in the tree;
// a `page` continues its listing through the cursor for a few pages.
//
// Thread safety: RunWorkload starts and joins its own threads; call it
// from one thread.

#ifndef CANOPY_BENCH_HARNESS_WORKLOAD_H_
#define CANOPY_BENCH_HARNESS_WORKLOAD_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/harness/config.h"
#include "bench/harness/dataset.h"
#include "bench/harness/histogram.h"
#include "bench/harness/progress.h"

namespace canopy::bench {

struct WorkloadConfig {
  Mix mix;
  int threads = 1;
  double duration_s = 5;  // used when ops == 0
  uint64_t ops = 0;
  double warmup_s = 0;  // duration mode only
  size_t page_size = 100;
  int pages_per_listing = 5;
  uint64_t seed = 42;
  size_t max_scan_samples = 20000;  // (answer size, latency) pairs kept
};

// What one operation did over a run.
struct OpStats {
  Histogram latency;     // nanoseconds, successful and refused calls alike
  uint64_t count = 0;    // calls made
  uint64_t errors = 0;   // calls that failed unexpectedly
  uint64_t refused = 0;  // expected refusals (e.g. a move into its own subtree)
  uint64_t items = 0;    // entities returned (scans, pages, counts)
  uint64_t allowed = 0;  // checks that answered yes
  std::string first_error;
  void Merge(const OpStats& other);
};

struct WorkloadResult {
  int threads = 0;
  double seconds = 0;  // measured wall time
  uint64_t total_ops = 0;
  std::array<OpStats, kNumOps> ops;
  // Scans: (devices returned, nanoseconds), for cost against answer size.
  std::vector<std::pair<uint64_t, uint64_t>> scan_samples;
  double OpsPerSecond() const { return seconds > 0 ? total_ops / seconds : 0; }
  double OpsPerSecond(Op op) const { return seconds > 0 ? ops[int(op)].count / seconds : 0; }
  uint64_t Errors() const;
};

// Runs the mix. `label` prefixes progress lines. Writes need the
// dataset's private copy (the caller decides); errors of single calls are
// counted in the result, not returned.
WorkloadResult RunWorkload(Dataset* dataset, const WorkloadConfig& config, Progress* progress,
                           const std::string& label);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_WORKLOAD_H_
