// Copyright (c) Canopy authors.
//
// canopy bench: the capacity-planning harness (bench/harness), the same
// program as the standalone canopy-bench. It builds and caches its own
// databases (--cache-dir), so the global --db, --json and --actor do not
// apply; see `canopy bench --help`.

#include "bench/harness/harness.h"
#include "bindings/cli/cli.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy bench [FLAGS]  (canopy bench --help lists them)\n\n"
    "The capacity-planning harness: for a generated tree of N tenants, M devices,\n"
    "depth D and a query mix, measures latency, throughput, disk and memory, with\n"
    "raw RocksDB and SQLite baselines in the same run, a scaling sweep, plots,\n"
    "and a --plan mode that extrapolates to sizes beyond this machine.\n";

int Run(Context& ctx, Args& args) {
  return bench::RunBenchCommand(args.raw(), *ctx.out, *ctx.err);
}

}  // namespace

Command BenchCommand() {
  return {"bench", "capacity planning: latency, throughput, disk, memory vs size", kUsage, Run,
          /*own_help=*/true};
}

}  // namespace canopy::cli
