// Copyright (c) Canopy authors.

#include "bench/harness/format.h"

#include <cmath>
#include <cstdio>

namespace canopy::bench {

namespace {

// Three significant digits: 1.23, 12.3, 123.
std::string Sig3(double v, const char* unit) {
  char buf[48];
  const double a = std::fabs(v);
  const int digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  std::snprintf(buf, sizeof(buf), "%.*f%s", digits, v, unit);
  return buf;
}

}  // namespace

std::string FormatNanos(double ns) {
  if (!std::isfinite(ns)) return "—";
  const double a = std::fabs(ns);
  if (a >= 1e9) return Sig3(ns / 1e9, " s");
  if (a >= 1e6) return Sig3(ns / 1e6, " ms");
  if (a >= 1e3) return Sig3(ns / 1e3, " µs");
  return Sig3(ns, " ns");
}

std::string FormatBytes(double bytes) {
  if (!std::isfinite(bytes)) return "—";
  const double a = std::fabs(bytes);
  if (a >= 1099511627776.0) return Sig3(bytes / 1099511627776.0, " TiB");
  if (a >= 1073741824.0) return Sig3(bytes / 1073741824.0, " GiB");
  if (a >= 1048576.0) return Sig3(bytes / 1048576.0, " MiB");
  if (a >= 1024.0) return Sig3(bytes / 1024.0, " KiB");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  return buf;
}

std::string FormatCount(double n) {
  if (!std::isfinite(n)) return "—";
  const double a = std::fabs(n);
  const char* unit = "";
  if (a >= 1e9) {
    n /= 1e9, unit = "G";
  } else if (a >= 1e6) {
    n /= 1e6, unit = "M";
  } else if (a >= 1e3) {
    n /= 1e3, unit = "k";
  }
  // Three significant digits at most, without trailing zeros: 2k, 1.14k.
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.3g", n);
  std::string s = buf;
  if (s.find('e') != std::string::npos) {
    std::snprintf(buf, sizeof(buf), "%.0f", n);
    s = buf;
  }
  return s + unit;
}

std::string FormatRate(double per_second) { return FormatCount(per_second) + "/s"; }

std::string FormatRatio(double r) {
  if (!std::isfinite(r) || r <= 0) return "—";
  return Sig3(r, "x");
}

std::string ThreadCount(int n) { return std::to_string(n) + (n == 1 ? " thread" : " threads"); }

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace canopy::bench
