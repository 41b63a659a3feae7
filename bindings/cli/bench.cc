// Copyright (c) Canopy authors.
//
// canopy bench: runs the capacity-planning harness, the separate program
// canopy-bench (bench/harness), in place of this process. It is looked for
// next to the canopy binary, then on PATH; `canopy` itself links neither
// the harness nor SQLite. The harness builds and caches its own databases
// (--cache-dir), so the global flags (--db, --json, --actor...) do not apply
// and are refused; `canopy bench --help` lists its flags.

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "cli.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy bench [FLAGS]  (canopy bench --help lists them)\n\n"
    "The capacity-planning harness: for a generated tree of N tenants, M devices,\n"
    "depth D and a query mix, measures latency, throughput, disk and memory, with\n"
    "raw RocksDB and SQLite baselines in the same run, a scaling sweep, plots,\n"
    "and a --plan mode that extrapolates to sizes beyond this machine.\n"
    "It runs the canopy-bench program, found next to canopy or on PATH. The\n"
    "global flags (--db, --json, --actor, ...) do not apply to it: the full\n"
    "results as JSON are --report-json FILE.\n";

constexpr char kProgram[] = "canopy-bench";

// The folder of the running canopy binary ("" when it cannot be told).
std::string OwnFolder() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.parent_path().string();
}

int Run(Context& ctx, Args& args) {
  if (ctx.db_given || ctx.actor_given || ctx.json || ctx.csv || ctx.read_only || ctx.follower ||
      !ctx.etcd_endpoints.empty()) {
    throw UsageError{
        "the global flags (--db, --json, --csv, --actor, --read-only, --follower, --etcd) do "
        "not apply: "
        "the harness builds its own databases under --cache-dir and writes its JSON report "
        "with --report-json FILE"};
  }
  // The harness names itself after argv[0]: "canopy bench", as typed.
  std::vector<std::string> argv_strings = {"canopy bench"};
  for (const std::string& a : args.raw()) argv_strings.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  ctx.out->flush();
  ctx.err->flush();

  const std::string folder = OwnFolder();
  const std::string beside = folder.empty() ? "" : folder + "/" + kProgram;
  int beside_errno = ENOENT;
  if (!beside.empty()) {
    execv(beside.c_str(), argv.data());
    beside_errno = errno;  // only returns on failure
  }
  execvp(kProgram, argv.data());
  const int path_errno = errno;
  if (beside_errno == ENOENT && path_errno == ENOENT) {
    const std::string missing =
        std::string("bench needs the ") + kProgram + " program, found neither in " +
        (folder.empty() ? std::string("canopy's folder") : "'" + folder + "'") +
        " nor on PATH: build it (the benchmarks, CANOPY_BUILD_BENCH=ON: ninja "
        "canopy_bench_cli) or install it beside canopy";
    // Asked for help: what this command is, then why its flags cannot be
    // listed here.
    for (const std::string& a : args.raw()) {
      if (a == "--help" || a == "-h") {
        *ctx.out << kUsage << "\n" << missing << "\n";
        return kExitOk;
      }
    }
    return ctx.Fail(missing);
  }
  const int why = beside_errno != ENOENT ? beside_errno : path_errno;
  return ctx.Fail(std::string("cannot run ") +
                  (beside_errno != ENOENT ? "'" + beside + "'" : std::string(kProgram)) + ": " +
                  std::strerror(why));
}

}  // namespace

Command BenchCommand() {
  return {"bench", "capacity planning: latency, throughput, disk, memory vs size", kUsage, Run,
          /*own_help=*/true};
}

}  // namespace canopy::cli
