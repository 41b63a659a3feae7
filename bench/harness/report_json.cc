// Copyright (c) Canopy authors.
//
// The JSON report: every figure of the Markdown one, unrounded. Latencies
// are in nanoseconds, sizes in bytes, rates per second.

#include "bench/harness/json_writer.h"
#include "bench/harness/report.h"

namespace canopy::bench {

namespace {

void Latency(JsonWriter& j, const Histogram& h) {
  j.BeginObject();
  j.Key("count").Uint(h.count());
  j.Key("min").Uint(h.min());
  j.Key("p50").Uint(h.Percentile(50));
  j.Key("p95").Uint(h.Percentile(95));
  j.Key("p99").Uint(h.Percentile(99));
  j.Key("max").Uint(h.max());
  j.Key("mean").Number(h.mean());
  j.Key("exact").Bool(h.exact());
  j.EndObject();
}

void Fit(JsonWriter& j, const PowerFit& f) {
  j.BeginObject();
  j.Key("ok").Bool(f.ok);
  j.Key("points").Uint(f.points);
  j.Key("exponent").Number(f.exponent);
  j.Key("coefficient").Number(f.coefficient);
  j.Key("r2").Number(f.r2);
  j.Key("class").String(f.growth);
  j.EndObject();
}

void Tree(JsonWriter& j, const TreeSpec& t) {
  j.BeginObject();
  j.Key("name").String(t.Name());
  j.Key("roots").Uint(t.roots);
  j.Key("accounts").Uint(t.accounts);
  j.Key("devices").Uint(t.devices);
  j.Key("depth").Uint(t.depth);
  j.Key("fanout").Uint(t.fanout);
  j.Key("zipf").Number(t.zipf);
  j.Key("users").Uint(t.users);
  j.Key("memberships_per_user").Uint(t.memberships_per_user);
  j.Key("branch_share").Number(t.branch_share);
  j.Key("device_attributes").Uint(t.device_attributes);
  j.Key("seed").Uint(t.seed);
  j.EndObject();
}

void Memory(JsonWriter& j, const MemoryInfo& m) {
  j.BeginObject();
  j.Key("rss").Uint(m.rss);
  j.Key("hwm").Uint(m.hwm);
  j.Key("heap").Uint(m.heap);
  j.EndObject();
}

void Workload(JsonWriter& j, const WorkloadResult& w) {
  j.BeginObject();
  j.Key("threads").Int(w.threads);
  j.Key("seconds").Number(w.seconds);
  j.Key("total_ops").Uint(w.total_ops);
  j.Key("ops_per_second").Number(w.OpsPerSecond());
  j.Key("errors").Uint(w.Errors());
  j.Key("ops").BeginObject();
  for (int k = 0; k < kNumOps; ++k) {
    const OpStats& s = w.ops[k];
    if (s.count == 0) continue;
    j.Key(OpName(static_cast<Op>(k))).BeginObject();
    j.Key("count").Uint(s.count);
    j.Key("ops_per_second").Number(w.OpsPerSecond(static_cast<Op>(k)));
    j.Key("errors").Uint(s.errors);
    j.Key("refused").Uint(s.refused);
    j.Key("items").Uint(s.items);
    j.Key("allowed").Uint(s.allowed);
    if (s.errors > 0) j.Key("first_error").String(s.first_error);
    j.Key("latency_ns");
    Latency(j, s.latency);
    j.EndObject();
  }
  j.EndObject();
  j.EndObject();
}

void Comparisons(JsonWriter& j, const CompareResult& c) {
  j.BeginObject();
  for (const OpComparison& op : c.ops) {
    j.Key(OpName(op.op)).BeginObject();
    j.Key("samples").Uint(op.samples);
    j.Key("raw_loop").String(op.raw_what);
    j.Key("mismatches").Uint(op.mismatches);
    if (op.mismatches > 0) j.Key("first_mismatch").String(op.first_mismatch);
    j.Key("variants").BeginObject();
    for (int v = 0; v < kNumVariants; ++v) {
      const VariantStats& s = op.variants[v];
      if (!s.measured) continue;
      j.Key(VariantName(static_cast<Variant>(v))).BeginObject();
      j.Key("items").Uint(s.items);
      j.Key("total_ns").Number(s.latency.sum());
      j.Key("ns_per_item").Number(s.NanosPerItem());
      if (v != int(Variant::kCanopy)) {
        // Paired, per sample: this variant's time over Canopy's.
        j.Key("median_ratio_to_canopy")
            .Number(op.MedianRatio(static_cast<Variant>(v), Variant::kCanopy));
      }
      j.Key("latency_ns");
      Latency(j, s.latency);
      j.EndObject();
    }
    j.EndObject();
    j.EndObject();
  }
  j.EndObject();
}

void Buckets(JsonWriter& j, const std::vector<std::pair<uint64_t, uint64_t>>& samples) {
  j.BeginArray();
  for (const AnswerBucket& b : AnswerBuckets(samples)) {
    j.BeginObject();
    j.Key("devices_from").Uint(b.lo);
    j.Key("devices_below").Uint(b.hi);
    j.Key("samples").Uint(b.samples);
    j.Key("median_ns").Number(b.median_ns);
    j.Key("median_ns_per_device").Number(b.median_ns_per_item);
    j.EndObject();
  }
  j.EndArray();
}

}  // namespace

std::string RenderJson(const RunResult& run, const Analysis& a, const Plan* plan) {
  const HarnessConfig& c = run.config;
  JsonWriter j;
  j.BeginObject();
  j.Key("format").String("canopy-bench/1");
  j.Key("command").String("canopy-bench " + c.command_line);
  j.Key("started").String(run.started);
  j.Key("seconds").Number(run.seconds);
  j.Key("cores").Uint(run.cores);
  j.Key("config").BeginObject();
  j.Key("tree");
  Tree(j, c.tree);
  j.Key("mix").String(c.mix.ToString());
  j.Key("threads").Int(c.threads);
  j.Key("duration_s").Number(c.ops ? 0 : c.duration_s);
  j.Key("ops").Uint(c.ops);
  j.Key("warmup_s").Number(c.warmup_s);
  j.Key("page_size").Uint(c.page_size);
  j.Key("pages_per_listing").Int(c.pages_per_listing);
  j.Key("sync").Bool(c.sync);
  j.Key("block_cache_bytes").Uint(c.block_cache_bytes);
  j.Key("max_measured_devices").Uint(c.max_measured_devices);
  j.Key("plan").Bool(c.plan);
  j.Key("sweep_given").Bool(c.sweep_given);  // false: the default sizes
  j.Key("sweep").BeginArray();                // as given by --sweep (empty: none)
  for (uint64_t n : c.sweep) j.Uint(n);
  j.EndArray();
  j.Key("threads_sweep").BeginArray();
  for (int t : c.threads_sweep) j.Int(t);
  j.EndArray();
  j.Key("raw_baseline").Bool(c.raw_baseline);
  j.Key("sqlite_baseline").Bool(c.sqlite_baseline);
  j.Key("compare_seconds").Number(c.compare_seconds);
  j.Key("compare_samples").Uint(c.compare_samples);
  j.Key("cache_dir").String(c.cache_dir);
  j.EndObject();

  j.Key("sizes").BeginArray();
  for (const SizeResult& s : run.sizes) {
    j.BeginObject();
    j.Key("devices").Uint(s.spec.devices);
    j.Key("tree");
    Tree(j, s.spec);
    j.Key("built").Bool(s.built);
    j.Key("import_seconds").Number(s.import_seconds);
    j.Key("open_seconds").Number(s.open_seconds);
    j.Key("disk_bytes").Uint(s.disk_bytes);
    j.Key("disk_bytes_per_device")
        .Number(static_cast<double>(s.disk_bytes) / static_cast<double>(s.spec.devices));
    j.Key("sqlite_disk_bytes").Uint(s.sqlite_disk_bytes);
    j.Key("memory").BeginObject();
    j.Key("before_open");
    Memory(j, s.before_open);
    j.Key("after_open");
    Memory(j, s.after_open);
    j.Key("after_workload");
    Memory(j, s.after_workload);
    j.Key("growth_at_open").Uint(s.MemoryAtOpen());
    j.Key("growth_after_workload").Uint(s.MemoryAfterWork());
    j.Key("heap_growth_at_open").Uint(s.HeapAtOpen());
    j.Key("heap_growth_after_workload").Uint(s.HeapAfterWork());
    j.EndObject();
    j.Key("workload");
    Workload(j, s.workload);
    if (s.compared) {
      j.Key("comparisons");
      Comparisons(j, s.compare);
    }
    j.Key("scan").BeginObject();
    j.Key("ns_per_device").Number(NanosPerItem(s.ScanSamples()));
    j.Key("by_answer_size");
    Buckets(j, s.ScanSamples());
    j.EndObject();
    j.EndObject();
  }
  j.EndArray();

  j.Key("growth").BeginObject();
  j.Key("ops").BeginObject();
  for (const OpGrowth& g : a.ops) {
    j.Key(OpName(g.op)).BeginObject();
    j.Key("p50");
    Fit(j, g.p50);
    j.Key("p99");
    Fit(j, g.p99);
    j.Key("mean");
    Fit(j, g.mean);
    j.EndObject();
  }
  j.EndObject();
  j.Key("scan_ns_per_device");
  Fit(j, a.scan_per_item);
  j.Key("raw_scan_ns_per_device");
  Fit(j, a.raw_scan_per_item);
  j.Key("scan_latency_vs_answer_size");
  Fit(j, a.scan_vs_answer);
  j.Key("scan_fixed_and_per_device").BeginArray();
  for (size_t i = 0; i < a.scan_linear.size() && i < run.sizes.size(); ++i) {
    const LinearFit& f = a.scan_linear[i];
    j.BeginObject();
    j.Key("devices").Uint(run.sizes[i].spec.devices);
    j.Key("ok").Bool(f.ok);
    j.Key("fixed_ns").Number(f.intercept);
    j.Key("ns_per_device").Number(f.slope);
    j.Key("r2").Number(f.r2);
    j.EndObject();
  }
  j.EndArray();
  j.Key("disk_bytes");
  Fit(j, a.disk);
  j.Key("memory_at_open");
  Fit(j, a.memory_open);
  j.Key("memory_during_workload");
  Fit(j, a.memory_cache);
  j.Key("open_seconds");
  Fit(j, a.open_time);
  j.EndObject();

  if (!run.threads_sweep.empty()) {
    j.Key("threads_sweep").BeginObject();
    j.Key("devices").Uint(run.threads_sweep_devices);
    j.Key("runs").BeginArray();
    for (const WorkloadResult& w : run.threads_sweep) Workload(j, w);
    j.EndArray();
    j.EndObject();
  }
  if (plan != nullptr) {
    j.Key("plan").BeginObject();
    j.Key("target");
    Tree(j, plan->target);
    j.Key("largest_measured_devices").Uint(plan->largest_measured);
    j.Key("extrapolated").Bool(plan->extrapolated);
    j.Key("figures").BeginArray();
    for (const PlanFigure& f : plan->figures) {
      j.BeginObject();
      j.Key("name").String(f.name);
      j.Key("value").Number(f.value);
      j.Key("unit").String(f.unit);
      j.Key("measured").Bool(f.measured);
      j.Key("basis").String(f.basis);
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
  }
  j.Key("problems").BeginArray();
  for (const std::string& p : run.problems) j.String(p);
  j.EndArray();
  j.EndObject();
  return j.str();
}

}  // namespace canopy::bench
