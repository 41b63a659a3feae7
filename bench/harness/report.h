// Copyright (c) Canopy authors.
//
// The harness's outputs: the Markdown report (what an operator reads), the
// JSON document (everything measured, for tools), and the SVG plots.
//
// Thread safety: plain functions.

#ifndef CANOPY_BENCH_HARNESS_REPORT_H_
#define CANOPY_BENCH_HARNESS_REPORT_H_

#include <string>
#include <vector>

#include "bench/harness/results.h"
#include "canopy/status.h"

namespace canopy::bench {

// `plan` may be null (no --plan). `plots` lists the plot files written.
std::string RenderMarkdown(const RunResult& run, const Analysis& analysis, const Plan* plan,
                           const std::vector<std::string>& plots);
std::string RenderJson(const RunResult& run, const Analysis& analysis, const Plan* plan);

// Writes latency_vs_size.svg (every operation's p50, log-log),
// latency_<op>.svg (p50, p99 and the baselines' means against size) and,
// with a thread sweep, throughput_vs_threads.svg into `dir` (created if
// missing). *written receives the paths.
Status WritePlots(const RunResult& run, const std::string& dir, std::vector<std::string>* written);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_REPORT_H_
