// Copyright (c) Canopy authors.
//
// Growth fits over the sweep and the capacity plan built from them.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "bench/harness/format.h"
#include "bench/harness/results.h"

namespace canopy::bench {

namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

uint64_t Growth(uint64_t after, uint64_t before) { return after > before ? after - before : 0; }

// A per-size figure against devices.
void Series(const RunResult& run, double (*cost)(const SizeResult&), std::vector<double>* x,
            std::vector<double>* y) {
  for (const SizeResult& s : run.sizes) {
    x->push_back(static_cast<double>(s.spec.devices));
    y->push_back(cost(s));
  }
}

PowerFit FitSizes(const RunResult& run, double (*cost)(const SizeResult&)) {
  std::vector<double> x, y;
  Series(run, cost, &x, &y);
  return FitPowerLaw(x, y);
}

LinearFit FitSizesLinear(const RunResult& run, double (*cost)(const SizeResult&)) {
  std::vector<double> x, y;
  Series(run, cost, &x, &y);
  return FitLinear(x, y);
}

double DiskOf(const SizeResult& s) { return static_cast<double>(s.disk_bytes); }
// Memory fits use heap bytes: exact, where resident pages are coarse and
// noisy at small sizes.
double MemoryOpenOf(const SizeResult& s) { return static_cast<double>(s.HeapAtOpen()); }
double MemoryCacheOf(const SizeResult& s) {
  return static_cast<double>(Growth(s.after_workload.heap, s.after_open.heap));
}
double OpenTimeOf(const SizeResult& s) { return s.open_seconds; }

std::string Sizes(const RunResult& run) {
  std::string s;
  for (const SizeResult& r : run.sizes) {
    s += (s.empty() ? "" : ", ") + FormatCount(static_cast<double>(r.spec.devices));
  }
  return s;
}

std::string FitBasis(const RunResult& run, const PowerFit& f) {
  if (!f.ok) return "held at the largest size's value: only one size measured";
  char buf[200];
  if (f.exponent < 0) {
    std::snprintf(buf, sizeof(buf),
                  "held at the largest size's value: the fit over %s devices decreases "
                  "(~n^%.2f), which a cost cannot keep doing",
                  Sizes(run).c_str(), f.exponent);
    return buf;
  }
  std::snprintf(buf, sizeof(buf), "extrapolated from %zu sizes (%s devices): ~n^%.2f, %s, R² %.2f",
                run.sizes.size(), Sizes(run).c_str(), f.exponent, f.growth.c_str(), f.r2);
  return buf;
}

std::string LinearBasis(const RunResult& run, const LinearFit& f, const char* unit) {
  if (!f.ok) return "held at the largest size's value: only one size measured";
  if (f.slope <= 0) {
    return "held at the largest size's value: no growth over " + Sizes(run) + " devices";
  }
  const bool bytes = std::string(unit) == "bytes";
  return "linear fit over " + std::to_string(run.sizes.size()) + " sizes (" + Sizes(run) +
         " devices): " + (bytes ? FormatBytes(f.intercept) : FormatNanos(f.intercept * 1e9)) +
         " + " + (bytes ? Fixed(f.slope, 1) + " B" : FormatNanos(f.slope * 1e9)) +
         " per device, R² " + Fixed(f.r2, 2);
}

// A power-law prediction that never lets a cost fall below the largest
// size's (a decreasing fit is noise or warm-up, not a property).
double PredictPower(const PowerFit& f, double n, double largest) {
  return f.ok && f.exponent >= 0 ? f.Predict(n) : largest;
}

double PredictLinear(const LinearFit& f, double n, double largest) {
  return f.ok && f.slope > 0 ? std::max(f.Predict(n), largest) : largest;
}

}  // namespace

const std::vector<std::pair<uint64_t, uint64_t>>& SizeResult::ScanSamples() const {
  return compare.scan_samples.empty() ? workload.scan_samples : compare.scan_samples;
}

uint64_t SizeResult::MemoryAtOpen() const { return Growth(after_open.rss, before_open.rss); }

uint64_t SizeResult::MemoryAfterWork() const { return Growth(after_workload.rss, before_open.rss); }

uint64_t SizeResult::HeapAtOpen() const { return Growth(after_open.heap, before_open.heap); }

uint64_t SizeResult::HeapAfterWork() const { return Growth(after_workload.heap, before_open.heap); }

std::vector<AnswerBucket> AnswerBuckets(const std::vector<std::pair<uint64_t, uint64_t>>& s) {
  std::vector<AnswerBucket> out;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> by_decade;
  for (auto [items, ns] : s) {
    size_t d = 0;  // 0: empty answers, 1: 1..9, 2: 10..99, ...
    for (uint64_t v = items; v > 0; v /= 10) ++d;
    if (by_decade.size() <= d) by_decade.resize(d + 1);
    by_decade[d].emplace_back(items, ns);
  }
  for (size_t d = 0; d < by_decade.size(); ++d) {
    if (by_decade[d].empty()) continue;
    AnswerBucket b;
    b.lo = d == 0 ? 0 : static_cast<uint64_t>(std::pow(10.0, static_cast<double>(d - 1)));
    b.hi = d == 0 ? 1 : b.lo * 10;
    b.samples = by_decade[d].size();
    std::vector<double> ns, per;
    for (auto [items, t] : by_decade[d]) {
      ns.push_back(static_cast<double>(t));
      if (items > 0) per.push_back(static_cast<double>(t) / static_cast<double>(items));
    }
    b.median_ns = Median(ns);
    b.median_ns_per_item = Median(per);
    out.push_back(b);
  }
  return out;
}

double NanosPerItem(const std::vector<std::pair<uint64_t, uint64_t>>& samples) {
  double ns = 0, items = 0;
  for (auto [n, t] : samples) {
    if (n == 0) continue;
    ns += static_cast<double>(t);
    items += static_cast<double>(n);
  }
  return items > 0 ? ns / items : 0;
}

const OpGrowth* Analysis::Find(Op op) const {
  for (const OpGrowth& g : ops) {
    if (g.op == op) return &g;
  }
  return nullptr;
}

Analysis Analyze(const RunResult& run) {
  Analysis a;
  for (const SizeResult& s : run.sizes) a.devices.push_back(static_cast<double>(s.spec.devices));
  for (int k = 0; k < kNumOps; ++k) {
    std::vector<double> x, p50, p99, mean;
    for (const SizeResult& s : run.sizes) {
      const OpStats& st = s.workload.ops[k];
      if (st.count == 0) continue;
      x.push_back(static_cast<double>(s.spec.devices));
      p50.push_back(static_cast<double>(st.latency.Percentile(50)));
      p99.push_back(static_cast<double>(st.latency.Percentile(99)));
      mean.push_back(st.latency.mean());
    }
    if (x.empty()) continue;
    a.ops.push_back(OpGrowth{static_cast<Op>(k), FitPowerLaw(x, p50), FitPowerLaw(x, p99),
                             FitPowerLaw(x, mean)});
  }
  a.scan_per_item =
      FitSizes(run, [](const SizeResult& s) { return NanosPerItem(s.ScanSamples()); });
  a.raw_scan_per_item = FitSizes(run, [](const SizeResult& s) {
    const OpComparison* c = s.compare.Find(Op::kScan);
    return c ? c->at(Variant::kRaw).NanosPerItem() : 0.0;
  });
  std::vector<double> answer, ns;
  for (const SizeResult& s : run.sizes) {
    for (auto [n, t] : s.ScanSamples()) {
      answer.push_back(static_cast<double>(n));
      ns.push_back(static_cast<double>(t));
    }
  }
  a.scan_vs_answer = FitPowerLaw(answer, ns);
  for (const SizeResult& s : run.sizes) {
    std::vector<double> x, y;
    for (auto [n, t] : s.ScanSamples()) {
      x.push_back(static_cast<double>(n));
      y.push_back(static_cast<double>(t));
    }
    a.scan_linear.push_back(FitLinear(x, y));
  }
  a.disk = FitSizes(run, DiskOf);
  a.memory_open = FitSizes(run, MemoryOpenOf);
  a.memory_cache = FitSizes(run, MemoryCacheOf);
  a.open_time = FitSizes(run, OpenTimeOf);
  a.disk_linear = FitSizesLinear(run, DiskOf);
  a.memory_open_linear = FitSizesLinear(run, MemoryOpenOf);
  a.memory_cache_linear = FitSizesLinear(run, MemoryCacheOf);
  a.open_time_linear = FitSizesLinear(run, OpenTimeOf);
  return a;
}

Plan MakePlan(const RunResult& run, const Analysis& a) {
  Plan plan;
  plan.target = run.config.tree;
  if (run.sizes.empty()) return plan;
  const SizeResult& top = run.sizes.back();
  const double n = static_cast<double>(plan.target.devices);
  plan.largest_measured = top.spec.devices;
  const bool measured = top.spec.devices == plan.target.devices;
  plan.extrapolated = !measured;
  const std::string at =
      "measured at " + FormatCount(static_cast<double>(top.spec.devices)) + " devices";
  auto add = [&](const std::string& name, double value, const std::string& unit,
                 const std::string& basis) {
    plan.figures.push_back(PlanFigure{name, value, unit, measured, measured ? at : basis});
  };
  add("disk", measured ? DiskOf(top) : PredictLinear(a.disk_linear, n, DiskOf(top)), "bytes",
      LinearBasis(run, a.disk_linear, "bytes"));
  {
    const double cache_cap = static_cast<double>(run.config.block_cache_bytes);
    const double open_part = PredictLinear(a.memory_open_linear, n, MemoryOpenOf(top));
    const double cache_part =
        std::min(PredictLinear(a.memory_cache_linear, n, MemoryCacheOf(top)), cache_cap);
    add("memory", measured ? top.MemoryAfterWork() : open_part + cache_part, "bytes",
        "heap allocated at open (catalog): " + LinearBasis(run, a.memory_open_linear, "bytes") +
            "; plus its growth during the workload (" +
            LinearBasis(run, a.memory_cache_linear, "bytes") + "), capped at the block cache (" +
            FormatBytes(cache_cap) + "); resident memory at " +
            FormatCount(static_cast<double>(top.spec.devices)) + " devices grew by " +
            FormatBytes(static_cast<double>(top.MemoryAfterWork())) + " for " +
            FormatBytes(static_cast<double>(top.HeapAfterWork())) + " of heap");
  }
  add("open time",
      (measured ? OpenTimeOf(top) : PredictLinear(a.open_time_linear, n, OpenTimeOf(top))) * 1e9,
      "ns", LinearBasis(run, a.open_time_linear, "seconds"));

  // Latency and throughput per operation; the mix's throughput per core
  // from the mean latencies weighted by the measured shares.
  const unsigned cores = std::max(1u, run.cores);
  const double threads = top.workload.threads;
  double mix_mean = 0, shares = 0;
  for (const OpGrowth& g : a.ops) {
    const OpStats& st = top.workload.ops[int(g.op)];
    if (st.count == 0) continue;
    const double p99 = static_cast<double>(st.latency.Percentile(99));
    const double mean = st.latency.mean();
    const double p99_at = measured ? p99 : PredictPower(g.p99, n, p99);
    const double mean_at = measured ? mean : PredictPower(g.mean, n, mean);
    // A p99 over few calls is close to their maximum: say so.
    uint64_t fewest = UINT64_MAX;
    for (const SizeResult& r : run.sizes) {
      const uint64_t c = r.workload.ops[int(g.op)].count;
      if (c > 0) fewest = std::min(fewest, c);
    }
    std::string caution;
    if (fewest < 1000) {
      caution = "; caution: as few as " + std::to_string(fewest) +
                " calls at a size, so its p99 is nearly its slowest call (run longer)";
    }
    add(std::string("p99 ") + OpName(g.op), p99_at, "ns", FitBasis(run, g.p99) + caution);
    add(std::string("ops/s per core ") + OpName(g.op), mean_at > 0 ? 1e9 / mean_at : 0, "ops/s",
        "1 / mean latency; mean " + FitBasis(run, g.mean));
    const double share = static_cast<double>(st.count) /
                         std::max<double>(1, static_cast<double>(top.workload.total_ops));
    mix_mean += share * mean_at;
    shares += share;
  }
  if (mix_mean > 0) {
    double mix_qps = 1e9 * shares / mix_mean;
    std::string basis = "1 / mix-weighted mean latency (mix " + run.config.mix.ToString() + ")";
    if (measured) {
      // Measured directly: the run's throughput over the cores it could use.
      mix_qps = top.workload.OpsPerSecond() / std::min<double>(threads, cores);
      basis = "throughput / min(threads, cores)";
    }
    plan.figures.push_back(
        PlanFigure{"ops/s per core, whole mix", mix_qps, "ops/s", measured,
                   measured ? at + ": " + basis : basis + "; latencies extrapolated"});
  }
  return plan;
}

}  // namespace canopy::bench
