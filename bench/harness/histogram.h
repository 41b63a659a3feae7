// Copyright (c) Canopy authors.
//
// Histogram: the latency record of one operation. Values (nanoseconds, or
// any non-negative integer) go into log-linear buckets laid out like
// HdrHistogram's: every value below 2^kSubBits has its own bucket, and each
// power of two above is split into 2^(kSubBits-1) equal sub-buckets, so a
// value is known within 1/2^(kSubBits-1) of itself (0.8% with kSubBits = 8)
// whatever its size, in a fixed 60 KB. The first kExactLimit values are
// also kept verbatim, so the percentiles of a short run are exact.
//
// Percentiles use the nearest-rank definition: Percentile(p) is the
// smallest recorded value v such that at least p% of the values are <= v
// (p = 0 gives the minimum, p = 100 the maximum). From buckets, the answer
// is the highest value of the bucket holding that rank, clamped to the
// recorded maximum: it never understates a latency.
//
// Thread safety: none; keep one per thread and Merge them.

#ifndef CANOPY_BENCH_HARNESS_HISTOGRAM_H_
#define CANOPY_BENCH_HARNESS_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace canopy::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr size_t kExactLimit = 10000;

  Histogram();

  void Record(uint64_t value);
  // Adds every value of `other` (exact while the sum of both counts stays
  // within kExactLimit).
  void Merge(const Histogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  // The exact sum and mean of the recorded values.
  double sum() const { return sum_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }
  // True while the percentiles come from the verbatim values.
  bool exact() const { return exact_; }

  // Nearest-rank percentile, p in [0, 100]; 0 for an empty histogram.
  uint64_t Percentile(double p) const;

  // The bucket layout, exposed for tests: the index of a value's bucket and
  // the lowest and highest values that bucket holds.
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::vector<uint64_t> buckets_;
  std::vector<uint64_t> samples_;  // verbatim while exact_
  bool exact_ = true;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_HISTOGRAM_H_
