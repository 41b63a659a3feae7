// Copyright (c) Canopy authors.
//
// Side-by-side measurement of Canopy and its baselines on one Dataset, in
// one thread, on the same sampled users and the same keys:
//
//   raw RocksDB   the physical limit: one bounded iterator per index range
//                 of the user's grants (scans, pages), the maintained
//                 counters read with point gets (counts), the entity-key
//                 point get a check or who-can cannot avoid;
//   SQLite path   materialized path: a range on an indexed path column;
//   SQLite CTE    adjacency list: a recursive CTE over accounts.parent.
//
// Every sample runs all variants back to back, so the ratios compare like
// with like, and their answers are compared (with each other and with the
// generator's own counts): any disagreement is reported as a mismatch.
// The answers only agree on the tree as generated, so this runs on the
// cached database, before or apart from any write.
//
// Thread safety: call from one thread.

#ifndef CANOPY_BENCH_HARNESS_COMPARE_H_
#define CANOPY_BENCH_HARNESS_COMPARE_H_

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

enum class Variant : int { kCanopy, kRaw, kSqlitePath, kSqliteCte };
inline constexpr int kNumVariants = 4;
// "canopy", "raw", "sqlite_path", "sqlite_cte".
const char* VariantName(Variant v);
// "Canopy", "raw RocksDB", "SQLite path", "SQLite CTE".
const char* VariantTitle(Variant v);

struct VariantStats {
  bool measured = false;
  Histogram latency;   // nanoseconds per call
  uint64_t items = 0;  // entities returned over all samples
  // Nanoseconds per returned entity (scans and pages); 0 without items.
  double NanosPerItem() const { return items ? latency.sum() / static_cast<double>(items) : 0; }
};

struct OpComparison {
  Op op = Op::kScan;
  std::array<VariantStats, kNumVariants> variants;
  std::string raw_what;  // what the raw loop does, for the report
  uint64_t samples = 0;  // samples measured (Canopy calls timed)
  uint64_t mismatches = 0;
  std::string first_mismatch;
  // Each timed sample's nanoseconds per variant (0: not measured), in
  // sample order: the pairs behind MedianRatio.
  std::vector<std::array<uint64_t, kNumVariants>> paired;
  const VariantStats& at(Variant v) const { return variants[int(v)]; }
  // The median over samples of num's time / den's time on the same sample
  // (robust to a single slow call); 0 when no sample has both.
  double MedianRatio(Variant num, Variant den) const;
};

struct CompareConfig {
  std::vector<Op> ops;  // reads only: scan, page_first, page_next, count, check, who_can
  bool raw = true;
  bool sqlite = true;
  double seconds_per_op = 1;
  size_t samples = 200;
  size_t page_size = 100;
  uint64_t seed = 42;
};

struct CompareResult {
  std::vector<OpComparison> ops;
  // Canopy scans: (devices returned, nanoseconds), single-threaded.
  std::vector<std::pair<uint64_t, uint64_t>> scan_samples;
  const OpComparison* Find(Op op) const;
  uint64_t Mismatches() const;
};

// Needs dataset->env().sqlite open when config.sqlite.
Status RunComparisons(Dataset* dataset, const CompareConfig& config, Progress* progress,
                      CompareResult* out);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_COMPARE_H_
