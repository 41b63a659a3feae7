// Copyright (c) Canopy authors.
//
// The capacity-planning harness (the canopy-bench program, which
// `canopy bench` runs): for N
// tenants, M devices, depth D and a query mix, what latency, throughput,
// disk and memory — measured over a sweep of sizes with growth fits, side
// by side with a raw RocksDB loop over the same keys and SQLite on the same
// tree, and, with --plan, extrapolated to sizes this machine cannot hold.
// `--help` describes every flag (config.h's HelpText).
//
// Thread safety: one call at a time per process (it starts and joins its
// own worker threads).

#ifndef CANOPY_BENCH_HARNESS_HARNESS_H_
#define CANOPY_BENCH_HARNESS_HARNESS_H_

#include <ostream>
#include <string>
#include <vector>

namespace canopy::bench {

// Runs the harness with `args` (the flags, without a program name);
// `program` is the name it goes by in its help and errors ("canopy-bench",
// or "canopy bench" when the canopy command runs it). The Markdown report
// goes to `out` (unless --markdown names a file), progress and errors to
// `err`. Returns 0 on success, 1 when an operation failed, a baseline
// disagreed with Canopy or the run could not complete, 2 for bad flags, and
// 130 when a stop was requested (RequestStop, bench/generator.h; the
// program calls it on SIGINT and SIGTERM): the run stops at its next step,
// writes no report, and removes what it left unfinished.
int RunBenchCommand(const std::string& program, const std::vector<std::string>& args,
                    std::ostream& out, std::ostream& err);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_HARNESS_H_
