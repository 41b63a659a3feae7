// Copyright (c) Canopy authors.
//
// Human-readable numbers for the harness's reports: durations, byte sizes,
// counts and rates, each short enough for a table cell.
//
// Thread safety: plain functions.

#ifndef CANOPY_BENCH_HARNESS_FORMAT_H_
#define CANOPY_BENCH_HARNESS_FORMAT_H_

#include <cstdint>
#include <string>

namespace canopy::bench {

// 850 -> "850 ns", 12345 -> "12.3 µs", 2.5e9 -> "2.50 s".
std::string FormatNanos(double ns);
// 1536 -> "1.5 KiB", 3e9 -> "2.79 GiB".
std::string FormatBytes(double bytes);
// 1234567 -> "1.23M", 2000 -> "2k", 950 -> "950", 2.5 -> "2.5".
std::string FormatCount(double n);
// 12345.6 -> "12.3k/s".
std::string FormatRate(double per_second);
// A ratio such as 1.37 -> "1.37x"; "—" for 0 or non-finite.
std::string FormatRatio(double r);
// 1 -> "1 thread", 4 -> "4 threads".
std::string ThreadCount(int n);
// printf("%.*f").
std::string Fixed(double v, int digits);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_FORMAT_H_
