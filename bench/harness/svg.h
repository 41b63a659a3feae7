// Copyright (c) Canopy authors.
//
// A small, dependency-free SVG line-chart writer for the harness's plots
// (latency against size, throughput against threads): axes with ticks and
// tick labels (decades on log axes, 1-2-5 steps on linear ones), grid
// lines, axis titles, a legend, and one polyline with point markers per
// series (each point carries a <title> tooltip with its exact values).
//
// Thread safety: plain functions and values.

#ifndef CANOPY_BENCH_HARNESS_SVG_H_
#define CANOPY_BENCH_HARNESS_SVG_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canopy::bench {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in x order
  bool dashed = false;                            // e.g. baselines
};

struct Chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool log_y = false;
  bool y_from_zero = true;  // linear y axes start at 0 (throughput)
  bool x_integer = false;   // linear x ticks on whole numbers only (threads)
  int width = 860;
  int height = 520;
  // Tick label formatters; null means FormatCompact.
  std::string (*format_x)(double) = nullptr;
  std::string (*format_y)(double) = nullptr;
  std::vector<ChartSeries> series;
};

// The chart as a standalone SVG document (UTF-8). Points that a log axis
// cannot show (<= 0) are left out; a chart with no point says so.
std::string RenderSvg(const Chart& chart);

// 12345 -> "12.3k", 1e6 -> "1M", 0.25 -> "0.25".
std::string FormatCompact(double v);
// A duration given in microseconds: 0.5 -> "0.5 µs", 2500 -> "2.5 ms".
std::string FormatMicros(double us);
// Escapes &, <, >, " and ' for XML text and attributes.
std::string XmlEscape(std::string_view s);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_SVG_H_
