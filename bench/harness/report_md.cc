// Copyright (c) Canopy authors.
//
// The Markdown report.

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "bench/harness/format.h"
#include "bench/harness/report.h"

namespace canopy::bench {

namespace {

std::string Devices(uint64_t n) { return FormatCount(static_cast<double>(n)); }

std::string Growth(const PowerFit& f) {
  if (!f.ok) return "—";
  return "~n^" + Fixed(f.exponent, 2) + ", " + f.growth;
}

std::string Notes(Op op, const OpStats& s) {
  std::string n;
  if ((op == Op::kScan || op == Op::kPageFirst || op == Op::kPageNext || op == Op::kCount ||
       op == Op::kWhoCan) &&
      s.count > 0) {
    n = FormatCount(static_cast<double>(s.items) / static_cast<double>(s.count)) +
        (op == Op::kWhoCan ? " users" : " devices") + " per answer";
  }
  if (op == Op::kCheck && s.count > 0) {
    n = Fixed(100.0 * static_cast<double>(s.allowed) / static_cast<double>(s.count), 0) +
        "% allowed";
  }
  if (s.refused > 0) n += (n.empty() ? "" : "; ") + std::to_string(s.refused) + " refused";
  if (s.errors > 0) n += (n.empty() ? "" : "; ") + ("first error: " + s.first_error);
  return n.empty() ? "" : n;
}

void Header(std::ostringstream& o, const RunResult& run) {
  const HarnessConfig& c = run.config;
  const TreeSpec& t = c.tree;
  o << "# Canopy capacity benchmark\n\n"
    << "- Run: `canopy-bench " << c.command_line << "` — " << run.started << ", " << run.cores
    << " cores, " << Fixed(run.seconds, 1) << " s in all.\n"
    << "- Tree planned for: " << Devices(t.devices) << " devices, " << Devices(t.accounts)
    << " accounts, root tenants: " << Devices(t.roots) << ", depth " << t.depth << ", fan-out "
    << t.fanout << ", Zipf skew " << SpellReal(t.zipf) << ", " << Devices(t.users) << " users × "
    << t.memberships_per_user << " memberships (branch share " << SpellReal(t.branch_share)
    << "), seed " << t.seed << ".\n- Sizes measured (devices): ";
  for (size_t i = 0; i < run.sizes.size(); ++i) {
    o << (i ? ", " : "") << Devices(run.sizes[i].spec.devices);
  }
  o << " — each the tree above scaled to that size (accounts, roots and users keep their "
       "ratio to devices, with at least 100 users).\n"
    << "- Workload: mix `" << c.mix.ToString() << "`, " << ThreadCount(c.threads) << ", ";
  if (c.ops > 0) {
    o << c.ops << " operations per size";
  } else {
    o << Fixed(c.duration_s, 1) << " s per size after " << Fixed(c.warmup_s, 1) << " s warm-up";
  }
  o << "; pages of " << c.page_size << ", up to " << c.pages_per_listing << " per listing; sync "
    << (c.sync ? "on" : "off") << ", block cache "
    << FormatBytes(static_cast<double>(c.block_cache_bytes)) << ".\n\n";
}

void Summary(std::ostringstream& o, const SizeResult& s) {
  const WorkloadResult& w = s.workload;
  o << "## Throughput and latency at " << Devices(s.spec.devices) << " devices\n\n"
    << "Total " << FormatRate(w.OpsPerSecond()) << " over " << ThreadCount(w.threads) << " ("
    << w.total_ops << " operations in " << Fixed(w.seconds, 2) << " s).\n\n"
    << "| operation | share | ops/s | p50 | p95 | p99 | max | mean | errors | notes |\n"
    << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (int k = 0; k < kNumOps; ++k) {
    const OpStats& st = w.ops[k];
    if (st.count == 0) continue;
    const Histogram& h = st.latency;
    o << "| " << OpName(static_cast<Op>(k)) << " | "
      << Fixed(100.0 * static_cast<double>(st.count) / static_cast<double>(w.total_ops), 1)
      << "% | " << FormatRate(w.OpsPerSecond(static_cast<Op>(k))) << " | "
      << FormatNanos(h.Percentile(50)) << " | " << FormatNanos(h.Percentile(95)) << " | "
      << FormatNanos(h.Percentile(99)) << " | " << FormatNanos(h.max()) << " | "
      << FormatNanos(h.mean()) << " | " << st.errors << " | " << Notes(static_cast<Op>(k), st)
      << " |\n";
  }
  o << "\n";
}

void Sizes(std::ostringstream& o, const RunResult& run) {
  o << "## Database by size\n\n"
    << "| devices | accounts | users | built | open | disk | bytes/device | SQLite bytes/device "
       "| heap at open | heap after workload | RSS after workload | process peak |\n"
    << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const SizeResult& s : run.sizes) {
    const double d = static_cast<double>(s.spec.devices);
    o << "| " << Devices(s.spec.devices) << " | " << Devices(s.spec.accounts) << " | "
      << Devices(s.spec.users) << " | "
      << (s.built ? "imported in " + Fixed(s.import_seconds, 2) + " s (" +
                        FormatRate(d / s.import_seconds) + ")"
                  : "reused")
      << " | " << FormatNanos(s.open_seconds * 1e9) << " | "
      << FormatBytes(static_cast<double>(s.disk_bytes)) << " | "
      << Fixed(static_cast<double>(s.disk_bytes) / d, 1) << " | "
      << (s.sqlite_disk_bytes ? Fixed(static_cast<double>(s.sqlite_disk_bytes) / d, 1) : "—")
      << " | " << FormatBytes(static_cast<double>(s.HeapAtOpen())) << " | "
      << FormatBytes(static_cast<double>(s.HeapAfterWork())) << " | "
      << FormatBytes(static_cast<double>(s.MemoryAfterWork())) << " | "
      << FormatBytes(static_cast<double>(s.after_workload.hwm)) << " |\n";
  }
  o << "\nMemory is growth from just before Db::Open: of the heap (bytes allocated, exact) at "
       "open (the catalog, RocksDB's tables) and after the workload (caches warm), and of this "
       "process's resident set (VmRSS). The process peak (VmHWM) also holds the generator's "
       "tree and earlier sizes' baselines.\n\n";
}

void LatencyBySize(std::ostringstream& o, const RunResult& run, const Analysis& a) {
  o << "## Latency by size (p50 / p99)\n\n| operation |";
  for (const SizeResult& s : run.sizes) o << " " << Devices(s.spec.devices) << " |";
  o << " growth of p50 | growth of p99 |\n|---|";
  for (size_t i = 0; i < run.sizes.size(); ++i) o << "---|";
  o << "---|---|\n";
  for (const OpGrowth& g : a.ops) {
    o << "| " << OpName(g.op) << " |";
    for (const SizeResult& s : run.sizes) {
      const OpStats& st = s.workload.ops[int(g.op)];
      if (st.count == 0) {
        o << " — |";
      } else {
        o << " " << FormatNanos(st.latency.Percentile(50)) << " / "
          << FormatNanos(st.latency.Percentile(99)) << " |";
      }
    }
    o << " " << Growth(g.p50) << " | " << Growth(g.p99) << " |\n";
  }
  o << "\nGrowth: least squares on log(latency) against log(devices); the class is the "
       "nearest of flat, log n, linear, n log n and quadratic over the sizes measured. "
       "Scans and pages grow with what the user may see, which grows with the tree here.\n\n";
}

void Scans(std::ostringstream& o, const RunResult& run, const Analysis& a) {
  bool any = false;
  for (const SizeResult& s : run.sizes) any |= !s.ScanSamples().empty();
  if (!any) return;
  o << "## Scans: cost per device returned\n\n"
    << "A scan's cost should grow with its answer, not with the database.\n\n"
    << "- Per device returned, against database size: " << Growth(a.scan_per_item) << " (Canopy), "
    << Growth(a.raw_scan_per_item) << " (raw RocksDB).\n"
    << "- Scan latency against answer size (all sizes' samples): " << Growth(a.scan_vs_answer)
    << " in the answer.\n\n"
    << "| devices | scans | fixed cost | per device returned | R² |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < run.sizes.size() && i < a.scan_linear.size(); ++i) {
    const LinearFit& f = a.scan_linear[i];
    o << "| " << Devices(run.sizes[i].spec.devices) << " | " << run.sizes[i].ScanSamples().size()
      << " | "
      << (!f.ok ? std::string("—")
                : f.intercept >= 0 ? FormatNanos(f.intercept)
                                   : "≈ 0 (fit: " + FormatNanos(f.intercept) + ")")
      << " | "
      << (f.ok ? Fixed(f.slope, 1) + " ns" : "—") << " | " << (f.ok ? Fixed(f.r2, 2) : "—")
      << " |\n";
  }
  o << "\nLeast squares of scan latency = fixed cost + cost per device × devices returned, "
       "at each size; the cost per device should stay put as the database grows. A fixed "
       "cost the fit puts below zero is too small to measure beside the per-device cost "
       "(shown ≈ 0, with the fit's value).\n\n";
  std::map<uint64_t, std::map<size_t, AnswerBucket>> table;  // lo -> size index -> bucket
  for (size_t i = 0; i < run.sizes.size(); ++i) {
    for (const AnswerBucket& b : AnswerBuckets(run.sizes[i].ScanSamples())) table[b.lo][i] = b;
  }
  o << "| devices returned |";
  for (const SizeResult& s : run.sizes) o << " at " << Devices(s.spec.devices) << " |";
  o << "\n|---|";
  for (size_t i = 0; i < run.sizes.size(); ++i) o << "---|";
  o << "\n";
  for (const auto& [lo, row] : table) {
    const AnswerBucket& any_b = row.begin()->second;
    o << "| " << (lo == 0 ? "0" : Devices(lo) + "–" + Devices(any_b.hi - 1)) << " |";
    for (size_t i = 0; i < run.sizes.size(); ++i) {
      auto it = row.find(i);
      if (it == row.end()) {
        o << " — |";
        continue;
      }
      const AnswerBucket& b = it->second;
      o << " " << FormatNanos(b.median_ns);
      if (lo > 0) o << ", " << Fixed(b.median_ns_per_item, 0) << " ns/device";
      o << " (" << b.samples << ") |";
    }
    o << "\n";
  }
  o << "\nCells: median latency, median ns per device returned (samples).\n\n";
}

void SideBySide(std::ostringstream& o, const RunResult& run) {
  bool any = false;
  for (const SizeResult& s : run.sizes) any |= s.compared;
  if (!any) return;
  o << "## Side by side: Canopy, raw RocksDB, SQLite\n\n"
    << "One thread, the same sampled users and keys for every variant, each variant running a "
       "batch of samples back to back in an order that varies from batch to batch. Cells are "
       "median latencies; ratios are medians of the per-sample ratios (Canopy / raw: the cost "
       "over the physical limit; SQLite / Canopy: how much slower the in-process peer is). "
       "The per-device row of scans divides total time by total devices returned.\n\n";
  for (const SizeResult& s : run.sizes) {
    if (!s.compared) continue;
    o << "### " << Devices(s.spec.devices) << " devices\n\n"
      << "| operation | samples | Canopy | raw RocksDB | Canopy / raw | SQLite path | SQLite "
         "path / Canopy | SQLite CTE | SQLite CTE / Canopy | raw loop |\n"
      << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const OpComparison& c : s.compare.ops) {
      const VariantStats& e = c.at(Variant::kCanopy);
      if (!e.measured) continue;
      auto cell = [&](Variant v) {
        const VariantStats& x = c.at(v);
        return x.measured ? FormatNanos(static_cast<double>(x.latency.Percentile(50)))
                          : std::string("—");
      };
      auto paired = [&](Variant num, Variant den) { return FormatRatio(c.MedianRatio(num, den)); };
      auto ratio = [&](Variant num, Variant den) {
        const VariantStats& a = c.at(num);
        const VariantStats& b = c.at(den);
        if (!a.measured || !b.measured || b.latency.sum() <= 0) return std::string("—");
        return FormatRatio(a.latency.sum() / b.latency.sum());
      };
      o << "| " << OpName(c.op) << " | " << c.samples << " | " << cell(Variant::kCanopy) << " | "
        << cell(Variant::kRaw) << " | " << paired(Variant::kCanopy, Variant::kRaw) << " | "
        << cell(Variant::kSqlitePath) << " | " << paired(Variant::kSqlitePath, Variant::kCanopy)
        << " | " << cell(Variant::kSqliteCte) << " | "
        << paired(Variant::kSqliteCte, Variant::kCanopy) << " | " << c.raw_what << " |\n";
      if (c.op == Op::kScan && e.items > 0) {
        auto per = [&](Variant v) {
          const VariantStats& x = c.at(v);
          return x.measured && x.items ? Fixed(x.NanosPerItem(), 1) + " ns" : std::string("—");
        };
        o << "| scan, per device | " << e.items << " devices | " << per(Variant::kCanopy) << " | "
          << per(Variant::kRaw) << " | " << ratio(Variant::kCanopy, Variant::kRaw) << " | "
          << per(Variant::kSqlitePath) << " | " << ratio(Variant::kSqlitePath, Variant::kCanopy)
          << " | " << per(Variant::kSqliteCte) << " | "
          << ratio(Variant::kSqliteCte, Variant::kCanopy) << " | |\n";
      }
    }
    o << "\n";
  }
}

void Threads(std::ostringstream& o, const RunResult& run) {
  if (run.threads_sweep.empty()) return;
  const double base =
      run.threads_sweep.front().OpsPerSecond() / std::max(1, run.threads_sweep.front().threads);
  o << "## Throughput against threads (" << Devices(run.threads_sweep_devices)
    << " devices)\n\n| threads | ops/s | ops/s per thread | vs linear scaling | errors |\n"
    << "|---|---|---|---|---|\n";
  for (const WorkloadResult& w : run.threads_sweep) {
    o << "| " << w.threads << " | " << FormatRate(w.OpsPerSecond()) << " | "
      << FormatRate(w.OpsPerSecond() / w.threads) << " | "
      << (base > 0 ? Fixed(100.0 * w.OpsPerSecond() / (base * w.threads), 0) + "%" : "—") << " | "
      << w.Errors() << " |\n";
  }
  o << "\nThis machine has " << run.cores
    << " cores; beyond that more threads only share "
       "them.\n\n";
}

void PlanSection(std::ostringstream& o, const Plan& p) {
  const TreeSpec& t = p.target;
  o << "## Capacity plan: " << Devices(t.devices) << " devices, " << Devices(t.accounts)
    << " accounts, tenants: " << Devices(t.roots) << ", depth " << t.depth << "\n\n";
  if (p.extrapolated) {
    o << "**Extrapolated**: sizes up to " << Devices(p.largest_measured)
      << " devices were measured on this machine; every figure below is predicted from the "
         "growth fitted over the sweep (basis column). Treat them as estimates.\n\n";
  } else {
    o << "**Measured**: the planned size itself was measured on this machine.\n\n";
  }
  o << "| figure | value | measured or extrapolated | basis |\n|---|---|---|---|\n";
  for (const PlanFigure& f : p.figures) {
    std::string v = f.unit == "bytes" ? FormatBytes(f.value)
                    : f.unit == "ns"  ? FormatNanos(f.value)
                                      : FormatRate(f.value);
    if (f.name == "disk")
      v += " (" + Fixed(f.value / static_cast<double>(t.devices), 1) + " B/device)";
    o << "| " << f.name << " | " << v << " | " << (f.measured ? "measured" : "extrapolated")
      << " | " << f.basis << " |\n";
  }
  o << "\n";
}

}  // namespace

std::string RenderMarkdown(const RunResult& run, const Analysis& analysis, const Plan* plan,
                           const std::vector<std::string>& plots) {
  std::ostringstream o;
  Header(o, run);
  if (!run.sizes.empty()) Summary(o, run.sizes.back());
  if (plan != nullptr) PlanSection(o, *plan);
  Sizes(o, run);
  LatencyBySize(o, run, analysis);
  o << "## Growth of storage and start-up\n\n| what | growth with devices | R² |\n|---|---|---|\n"
    << "| disk bytes | " << Growth(analysis.disk) << " | " << Fixed(analysis.disk.r2, 2) << " |\n"
    << "| heap at open | " << Growth(analysis.memory_open) << " | "
    << Fixed(analysis.memory_open.r2, 2) << " |\n"
    << "| open time | " << Growth(analysis.open_time) << " | " << Fixed(analysis.open_time.r2, 2)
    << " |\n\n";
  Scans(o, run, analysis);
  SideBySide(o, run);
  Threads(o, run);
  if (!plots.empty()) {
    o << "## Plots\n\n";
    for (const std::string& p : plots) o << "- " << p << "\n";
    o << "\n";
  }
  o << "## Problems\n\n";
  if (run.problems.empty()) {
    o << "none: every operation succeeded"
      << (run.config.raw_baseline || run.config.sqlite_baseline ? " and every baseline agreed with Canopy" : "")
      << ".\n";
  } else {
    for (const std::string& p : run.problems) o << "- " << p << "\n";
  }
  return o.str();
}

}  // namespace canopy::bench
