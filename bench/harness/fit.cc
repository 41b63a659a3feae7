// Copyright (c) Canopy authors.

#include "bench/harness/fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace canopy::bench {

namespace {

// Least squares y = a + b x; false when the x do not vary.
bool Line(const std::vector<double>& x, const std::vector<double>& y, double* a, double* b,
          double* r2) {
  const size_t n = x.size();
  if (n < 2) return false;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 1e-12 * std::max(1.0, mx * mx)) return false;
  *b = sxy / sxx;
  *a = my - *b * mx;
  // A constant cost is explained perfectly by a flat line.
  *r2 = syy <= 1e-24 ? 1.0 : (sxy * sxy) / (sxx * syy);
  return true;
}

double LogOf(double x) { return std::log(std::max(x, 2.0)); }
double LinearOf(double x) { return x; }
double NLogNOf(double x) { return x * LogOf(x); }

std::string Exp(const char* words, double b) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s (~n^%.2f)", words, b);
  return buf;
}

}  // namespace

double PowerFit::Predict(double x) const {
  if (!ok || x <= 0) return 0;
  return coefficient * std::pow(x, exponent);
}

double ModelExponent(const std::vector<double>& sizes, double (*f)(double)) {
  std::vector<double> lx, ly;
  for (double s : sizes) {
    if (s <= 0) continue;
    lx.push_back(std::log(s));
    ly.push_back(std::log(f(s)));
  }
  double a, b, r2;
  return Line(lx, ly, &a, &b, &r2) ? b : 0;
}

std::string ClassifyGrowth(double exponent, const std::vector<double>& sizes) {
  struct Candidate {
    const char* name;
    double exponent;
  };
  const double log_b = ModelExponent(sizes, LogOf);
  const Candidate candidates[] = {
      {"flat (O(1)-like)", 0.0},
      {"~log n", log_b},
      {"linear", ModelExponent(sizes, LinearOf)},
      {"~n log n", ModelExponent(sizes, NLogNOf)},
      {"quadratic", 2.0},
  };
  const Candidate* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  for (const Candidate& c : candidates) {
    double d = std::fabs(exponent - c.exponent);
    if (d < best_d) {
      best_d = d;
      best = &c;
    }
  }
  // A class is named when the exponent is within 0.15 of its own (between
  // flat and log n, whose exponents are close, that is the nearer one).
  if (best_d <= 0.15) return best->name;
  if (exponent < 0) return Exp("decreasing", exponent);
  if (exponent < 1) return Exp("sublinear", exponent);
  if (exponent < 2) return Exp("superlinear", exponent);
  return Exp("worse than quadratic", exponent);
}

PowerFit FitPowerLaw(const std::vector<double>& size, const std::vector<double>& cost) {
  PowerFit fit;
  std::vector<double> lx, ly, kept;
  for (size_t i = 0; i < size.size() && i < cost.size(); ++i) {
    if (size[i] <= 0 || cost[i] <= 0 || !std::isfinite(size[i]) || !std::isfinite(cost[i])) {
      continue;
    }
    lx.push_back(std::log(size[i]));
    ly.push_back(std::log(cost[i]));
    kept.push_back(size[i]);
  }
  fit.points = lx.size();
  double a, b, r2;
  if (!Line(lx, ly, &a, &b, &r2)) return fit;
  fit.ok = true;
  fit.exponent = b;
  fit.coefficient = std::exp(a);
  fit.r2 = r2;
  fit.x_min = *std::min_element(kept.begin(), kept.end());
  fit.x_max = *std::max_element(kept.begin(), kept.end());
  fit.growth = ClassifyGrowth(b, kept);
  return fit;
}

LinearFit FitLinear(const std::vector<double>& size, const std::vector<double>& cost) {
  LinearFit fit;
  std::vector<double> x, y;
  for (size_t i = 0; i < size.size() && i < cost.size(); ++i) {
    if (!std::isfinite(size[i]) || !std::isfinite(cost[i])) continue;
    x.push_back(size[i]);
    y.push_back(cost[i]);
  }
  fit.points = x.size();
  fit.ok = Line(x, y, &fit.intercept, &fit.slope, &fit.r2);
  return fit;
}

}  // namespace canopy::bench
