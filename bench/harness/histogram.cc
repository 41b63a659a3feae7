// Copyright (c) Canopy authors.

#include "bench/harness/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace canopy::bench {

namespace {

constexpr uint64_t kLinear = uint64_t{1} << Histogram::kSubBits;  // values with own buckets
constexpr uint64_t kHalf = kLinear / 2;                           // sub-buckets per octave
constexpr size_t kBuckets = kLinear + (64 - Histogram::kSubBits) * kHalf;

// The 1-based rank of percentile p among n values (nearest rank).
uint64_t RankOf(double p, uint64_t n) {
  if (p <= 0) return 1;
  if (p >= 100) return n;
  // A small tolerance keeps p * n / 100 from rounding up past an integer.
  double r = std::ceil(p / 100.0 * static_cast<double>(n) - 1e-9);
  return std::clamp<uint64_t>(static_cast<uint64_t>(r), 1, n);
}

}  // namespace

Histogram::Histogram() : buckets_(kBuckets, 0) {}

size_t Histogram::BucketOf(uint64_t value) {
  if (value < kLinear) return static_cast<size_t>(value);
  const int e = std::bit_width(value) - 1;  // floor(log2 value) >= kSubBits
  const int shift = e - (kSubBits - 1);
  const uint64_t sub = (value >> shift) - kHalf;  // 0 .. kHalf-1
  return static_cast<size_t>(kLinear + static_cast<uint64_t>(e - kSubBits) * kHalf + sub);
}

uint64_t Histogram::BucketLow(size_t bucket) {
  if (bucket < kLinear) return bucket;
  const uint64_t k = bucket - kLinear;
  const int e = kSubBits + static_cast<int>(k / kHalf);
  const int shift = e - (kSubBits - 1);
  return (kHalf + k % kHalf) << shift;
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < kLinear) return bucket;
  const uint64_t k = bucket - kLinear;
  const int e = kSubBits + static_cast<int>(k / kHalf);
  const int shift = e - (kSubBits - 1);
  return BucketLow(bucket) + ((uint64_t{1} << shift) - 1);
}

void Histogram::Record(uint64_t value) {
  ++buckets_[BucketOf(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<double>(value);
  if (exact_) {
    if (samples_.size() < kExactLimit) {
      samples_.push_back(value);
    } else {
      exact_ = false;
      samples_.clear();
      samples_.shrink_to_fit();
    }
  }
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  if (exact_ && other.exact_ && samples_.size() + other.samples_.size() <= kExactLimit) {
    samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  } else if (other.count_ > 0) {
    exact_ = false;
    samples_.clear();
    samples_.shrink_to_fit();
  }
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::Clear() { *this = Histogram(); }

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  const uint64_t rank = RankOf(p, count_);
  if (exact_) {
    std::vector<uint64_t> sorted = samples_;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(rank - 1),
                     sorted.end());
    return sorted[rank - 1];
  }
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (seen >= rank) return std::clamp(BucketHigh(b), min_, max_);
  }
  return max_;
}

}  // namespace canopy::bench
