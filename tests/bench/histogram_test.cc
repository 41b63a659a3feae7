// Copyright (c) Canopy authors.
//
// The harness's latency histogram: exact nearest-rank percentiles on known
// inputs, its bucket layout, and merging.

#include "bench/harness/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace canopy::bench {
namespace {

// The nearest-rank percentile of `v` for p = per_mille / 10, computed the
// slow, obvious way (in integers: rank = ceil(per_mille * n / 1000)).
uint64_t NearestRank(std::vector<uint64_t> v, uint64_t per_mille) {
  std::sort(v.begin(), v.end());
  size_t rank = (per_mille * v.size() + 999) / 1000;
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

TEST(HistogramTest, EmptyHistogramAnswersZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0);
}

TEST(HistogramTest, ExactPercentilesOfOneToHundred) {
  Histogram h;
  for (uint64_t v = 100; v >= 1; --v) h.Record(v);  // order must not matter
  EXPECT_TRUE(h.exact());
  EXPECT_EQ(h.Percentile(0), 1u);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(95), 95u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(99.5), 100u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
  EXPECT_DOUBLE_EQ(h.sum(), 5050);
}

TEST(HistogramTest, NearestRankOnSmallSets) {
  Histogram h;
  for (uint64_t v : {5000, 1000, 3000}) h.Record(v);
  EXPECT_EQ(h.Percentile(33), 1000u);  // rank ceil(0.99) = 1
  EXPECT_EQ(h.Percentile(34), 3000u);  // rank ceil(1.02) = 2
  EXPECT_EQ(h.Percentile(50), 3000u);
  EXPECT_EQ(h.Percentile(67), 5000u);
  Histogram one;
  one.Record(123456789);
  for (double p : {0.0, 50.0, 99.0, 100.0}) EXPECT_EQ(one.Percentile(p), 123456789u);
}

TEST(HistogramTest, BucketsCoverEveryValueWithinOnePercent) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> values = {0, 1, 255, 256, 257, 511, 512, 1000, UINT64_MAX};
  for (int i = 0; i < 10000; ++i) values.push_back(rng() >> (rng() % 64));
  for (uint64_t v : values) {
    const size_t b = Histogram::BucketOf(v);
    ASSERT_LE(Histogram::BucketLow(b), v);
    ASSERT_GE(Histogram::BucketHigh(b), v);
    const double width = static_cast<double>(Histogram::BucketHigh(b) - Histogram::BucketLow(b));
    ASSERT_LE(width, static_cast<double>(v) / 128.0) << v;
  }
  // Buckets are contiguous: none overlaps or leaves a gap.
  for (size_t b = 0; b + 1 < 4000; ++b) {
    ASSERT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << b;
  }
}

TEST(HistogramTest, SmallValuesStayExactBeyondTheSampleLimit) {
  // 20000 values, 0..99 200 times each: the verbatim samples are gone but
  // values below 256 have buckets of their own, so percentiles are exact.
  Histogram h;
  for (int rep = 0; rep < 200; ++rep) {
    for (uint64_t v = 0; v < 100; ++v) h.Record(v);
  }
  EXPECT_FALSE(h.exact());
  EXPECT_EQ(h.count(), 20000u);
  EXPECT_EQ(h.Percentile(50), 49u);
  EXPECT_EQ(h.Percentile(99), 98u);
  EXPECT_EQ(h.Percentile(100), 99u);
  EXPECT_EQ(h.Percentile(0), 0u);
}

TEST(HistogramTest, BucketedPercentilesNeverUnderstateAndStayClose) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> latency(10.0, 1.5);  // ~22 µs median, long tail
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 50000; ++i) {
    values.push_back(static_cast<uint64_t>(latency(rng)));
    h.Record(values.back());
  }
  ASSERT_FALSE(h.exact());
  for (uint64_t per_mille : {10, 250, 500, 900, 950, 990, 999}) {
    const double p = static_cast<double>(per_mille) / 10;
    const uint64_t truth = NearestRank(values, per_mille);
    const uint64_t got = h.Percentile(p);
    EXPECT_GE(got, truth) << "p" << p;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(truth) * (1 + 1.0 / 128) + 1)
        << "p" << p;
  }
  EXPECT_EQ(h.Percentile(100), *std::max_element(values.begin(), values.end()));
}

TEST(HistogramTest, MergeIsTheSameAsRecordingEverything) {
  Histogram a, b, all;
  for (uint64_t v = 1; v <= 3000; ++v) {
    (v % 3 ? a : b).Record(v * 977);
    all.Record(v * 977);
  }
  a.Merge(b);
  EXPECT_TRUE(a.exact());
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.sum(), all.sum());
  for (double p : {0.0, 10.0, 50.0, 99.0, 100.0}) EXPECT_EQ(a.Percentile(p), all.Percentile(p));

  // Past the sample limit the merged histogram uses its buckets.
  Histogram big, other;
  for (uint64_t v = 0; v < Histogram::kExactLimit; ++v) big.Record(v + 1000);
  other.Record(5);
  big.Merge(other);
  EXPECT_FALSE(big.exact());
  EXPECT_EQ(big.count(), Histogram::kExactLimit + 1);
  EXPECT_EQ(big.Percentile(0), 5u);
  EXPECT_EQ(big.max(), Histogram::kExactLimit + 999);
}

}  // namespace
}  // namespace canopy::bench
