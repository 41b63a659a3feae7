// Copyright (c) Canopy authors.
//
// Growth fits: how a cost grows with a size. A least-squares line through
// (log size, log cost) gives cost ~ c * size^b; the exponent b is then
// named in plain words by comparing it with what the usual complexity
// classes give over the same sizes (log n, for example, has an exponent of
// only ~0.09 between 1e4 and 1e6, so the candidates are computed from the
// sizes actually measured, not fixed thresholds).
//
// Thread safety: plain functions and values.

#ifndef CANOPY_BENCH_HARNESS_FIT_H_
#define CANOPY_BENCH_HARNESS_FIT_H_

#include <cstddef>
#include <string>
#include <vector>

namespace canopy::bench {

struct PowerFit {
  bool ok = false;         // false with fewer than two distinct sizes
  size_t points = 0;       // points used (positive size and cost)
  double exponent = 0;     // b
  double coefficient = 0;  // c
  double r2 = 0;           // of the log-log line; 1 for an exact power law
  double x_min = 0;
  double x_max = 0;
  std::string growth;  // "flat (O(1)-like)", "~log n", "linear", ...

  // c * x^b (the fitted cost at size x); 0 when !ok.
  double Predict(double x) const;
};

// Fits cost ~ c * size^b over the points with size > 0 and cost > 0.
PowerFit FitPowerLaw(const std::vector<double>& size, const std::vector<double>& cost);

// cost = intercept + slope * size, by least squares: for costs made of a
// fixed part and a part per item (disk, memory, load time), where a power
// law fitted at small sizes would mistake the fixed part for slow growth.
struct LinearFit {
  bool ok = false;  // false with fewer than two distinct sizes
  size_t points = 0;
  double intercept = 0;
  double slope = 0;
  double r2 = 0;
  double Predict(double x) const { return ok ? intercept + slope * x : 0; }
};
LinearFit FitLinear(const std::vector<double>& size, const std::vector<double>& cost);

// Names an exponent measured over `sizes`: "flat (O(1)-like)", "~log n",
// "linear", "~n log n", "quadratic", or "sublinear (~n^0.45)",
// "superlinear (~n^1.4)", "decreasing (~n^-0.5)" when no class is near.
std::string ClassifyGrowth(double exponent, const std::vector<double>& sizes);

// The least-squares slope of log(f(x)) against log(x) over `sizes`: what a
// cost exactly proportional to f would show as its exponent.
double ModelExponent(const std::vector<double>& sizes, double (*f)(double));

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_FIT_H_
