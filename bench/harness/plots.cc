// Copyright (c) Canopy authors.
//
// The SVG plots of a run (see report.h).

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bench/harness/report.h"
#include "bench/harness/svg.h"

namespace canopy::bench {

namespace {

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// Latencies in the charts are in microseconds (FormatMicros labels them).
double Micros(double ns) { return ns / 1e3; }

}  // namespace

Status WritePlots(const RunResult& run, const std::string& dir, std::vector<std::string>* written) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  auto emit = [&](const std::string& name, const Chart& chart) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    CANOPY_RETURN_IF_ERROR(WriteFile(path, RenderSvg(chart)));
    written->push_back(path);
    return Status::Ok();
  };

  // Every operation's median latency against size.
  Chart all;
  all.title = "Canopy latency (p50) against database size";
  all.x_label = "devices";
  all.y_label = "latency";
  all.log_x = all.log_y = true;
  all.format_y = FormatMicros;
  for (int k = 0; k < kNumOps; ++k) {
    ChartSeries s{OpName(static_cast<Op>(k)), {}, false};
    for (const SizeResult& r : run.sizes) {
      const OpStats& st = r.workload.ops[k];
      if (st.count == 0) continue;
      s.points.emplace_back(static_cast<double>(r.spec.devices),
                            Micros(static_cast<double>(st.latency.Percentile(50))));
    }
    if (!s.points.empty()) all.series.push_back(std::move(s));
  }
  CANOPY_RETURN_IF_ERROR(emit("latency_vs_size.svg", all));

  // One chart per operation: p50 and p99 under the workload, and the mean
  // of each variant of the side-by-side phase.
  for (int k = 0; k < kNumOps; ++k) {
    const Op op = static_cast<Op>(k);
    Chart c;
    c.title = std::string(OpName(op)) + ": latency against database size";
    c.x_label = "devices";
    c.y_label = "latency";
    c.log_x = c.log_y = true;
    c.format_y = FormatMicros;
    ChartSeries p50{"Canopy p50 (workload)", {}, false};
    ChartSeries p99{"Canopy p99 (workload)", {}, false};
    std::array<ChartSeries, kNumVariants> variants;
    for (int v = 0; v < kNumVariants; ++v) {
      variants[v].name = std::string(VariantTitle(static_cast<Variant>(v))) + " mean (1 thread)";
      variants[v].dashed = true;
    }
    for (const SizeResult& r : run.sizes) {
      const double x = static_cast<double>(r.spec.devices);
      const OpStats& st = r.workload.ops[k];
      if (st.count > 0) {
        p50.points.emplace_back(x, Micros(static_cast<double>(st.latency.Percentile(50))));
        p99.points.emplace_back(x, Micros(static_cast<double>(st.latency.Percentile(99))));
      }
      if (const OpComparison* cmp = r.compare.Find(op)) {
        for (int v = 0; v < kNumVariants; ++v) {
          const VariantStats& vs = cmp->variants[v];
          if (vs.measured) variants[v].points.emplace_back(x, Micros(vs.latency.mean()));
        }
      }
    }
    if (p50.points.empty()) continue;
    c.series.push_back(std::move(p50));
    c.series.push_back(std::move(p99));
    for (auto& v : variants) {
      if (!v.points.empty()) c.series.push_back(std::move(v));
    }
    CANOPY_RETURN_IF_ERROR(emit(std::string("latency_") + OpName(op) + ".svg", c));
  }

  if (!run.threads_sweep.empty()) {
    Chart t;
    t.title = "Throughput against threads (" +
              FormatCompact(static_cast<double>(run.threads_sweep_devices)) + " devices)";
    t.x_label = "client threads";
    t.y_label = "operations per second";
    t.x_integer = true;
    ChartSeries total{"whole mix", {}, false};
    ChartSeries ideal{"linear scaling from 1st point", {}, true};
    const WorkloadResult& first = run.threads_sweep.front();
    const double per_thread = first.OpsPerSecond() / std::max(1, first.threads);
    for (const WorkloadResult& w : run.threads_sweep) {
      total.points.emplace_back(w.threads, w.OpsPerSecond());
      ideal.points.emplace_back(w.threads, per_thread * w.threads);
    }
    t.series.push_back(std::move(total));
    t.series.push_back(std::move(ideal));
    for (int k = 0; k < kNumOps; ++k) {
      ChartSeries s{OpName(static_cast<Op>(k)), {}, false};
      for (const WorkloadResult& w : run.threads_sweep) {
        if (w.ops[k].count > 0)
          s.points.emplace_back(w.threads, w.OpsPerSecond(static_cast<Op>(k)));
      }
      if (!s.points.empty()) t.series.push_back(std::move(s));
    }
    CANOPY_RETURN_IF_ERROR(emit("throughput_vs_threads.svg", t));
  }
  return Status::Ok();
}

}  // namespace canopy::bench
