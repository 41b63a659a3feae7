// Copyright (c) Canopy authors.
//
// canopy_integrity_bench: Db::CheckIntegrity (`canopy check-db`) at scale,
// and what it costs a writer running at the same time, in one run:
//
//   1. the check alone, --runs times: seconds and entities/s each;
//   2. one writer thread creating devices (one mutation each) for
//      --seconds with nothing else running, then for --seconds again while
//      another thread runs the check in a loop: the writer's latency
//      (p50, p99, p99.9, max) and writes/s both times, and the checks'
//      entities/s under the writes.
//
//   canopy_integrity_bench [--devices N] [--accounts N] [--seconds S]
//                          [--runs N] [--durable] [--dir DIR]
//
// The tree (default 10k accounts and 1M devices, the micro-benchmarks'
// full scale and cache) is built once under DIR (default /tmp/canopy-bench)
// and reused; the writes go to a private copy of it. Writes are not
// durable (the benchmarks' default: they measure the engine, not fsync)
// unless --durable.

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include "bench/bench_env.h"
#include "bench/harness/config.h"
#include "bench/harness/histogram.h"
#include "bindings/cli/cli11_flags.h"

namespace canopy::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds the whole process has used (all threads).
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Flags {
  uint64_t devices = 1000000;
  uint64_t accounts = 10000;
  double seconds = 20;
  uint64_t runs = 3;
  bool durable = false;
  std::string dir = "/tmp/canopy-bench";
};

// Parses the flags; false (after printing why) on a bad one.
bool ParseArgs(int argc, char** argv, Flags* f) {
  CLI::App app;
  app.set_help_flag();
  std::vector<std::string> devices, accounts, seconds, runs, dirs;
  cli11::AddValued(app, "devices", &devices);
  cli11::AddValued(app, "accounts", &accounts);
  cli11::AddValued(app, "seconds", &seconds);
  cli11::AddValued(app, "runs", &runs);
  cli11::AddValued(app, "dir", &dirs);
  cli11::AddBoolean(app, "durable");
  try {
    cli11::Parse(app, std::vector<std::string>(argv + 1, argv + argc),
                 {"devices", "accounts", "seconds", "runs", "dir"});
    auto count = [](const char* flag, const std::vector<std::string>& v, uint64_t* out) {
      if (auto s = cli11::Single(flag, v); s && (!ParseCount(*s, out) || *out == 0)) {
        throw cli11::FlagError{"--" + std::string(flag) + " '" + *s +
                               "': want a count above 0 like 1000, 1e6 or 2M"};
      }
    };
    count("devices", devices, &f->devices);
    count("accounts", accounts, &f->accounts);
    count("runs", runs, &f->runs);
    if (auto s = cli11::Single("seconds", seconds);
        s && (!ParseDuration(*s, &f->seconds) || f->seconds <= 0)) {
      throw cli11::FlagError{"--seconds '" + *s + "': want a duration like 20, 20s or 1m"};
    }
    f->dir = cli11::Single("dir", dirs).value_or(f->dir);
    f->durable = app.count("--durable") > 0;
  } catch (const cli11::FlagError& e) {
    std::cerr << "canopy_integrity_bench: " << e.message << "\n";
    return false;
  }
  return true;
}

// One CheckIntegrity: its seconds and the entities it checked.
Status TimedCheck(Db* db, double* seconds, uint64_t* entities) {
  const auto start = Clock::now();
  std::vector<std::string> problems;
  Status s = db->CheckIntegrity(&problems, [&](uint64_t done, uint64_t) {
    *entities = done;
    return true;
  });
  *seconds = Since(start);
  if (!s.ok() && !problems.empty()) s = s.WithContext(problems.front());
  return s;
}

struct WriterResult {
  Histogram latency_ns;
  uint64_t writes = 0;
  double seconds = 0;
  Status status;
};

// Creates devices under random accounts for `seconds`.
void Write(BenchEnv* env, double seconds, uint64_t* next_key, WriterResult* out) {
  std::mt19937_64 rng(*next_key);
  const auto start = Clock::now();
  while (Since(start) < seconds) {
    EntitySpec spec;
    spec.key = "bench-integrity-" + std::to_string((*next_key)++);
    spec.name = "Device";
    spec.owner = env->Account(static_cast<uint32_t>(rng() % env->tree.parent.size()));
    const auto t = Clock::now();
    auto r = env->db->CreateEntity(Actor::System(), spec);
    out->latency_ns.Record(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count());
    if (!r.ok()) {
      out->status = r.status();
      break;
    }
    ++out->writes;
  }
  out->seconds = Since(start);
}

void PrintWriter(const char* what, const WriterResult& w) {
  std::printf("| %s | %.0f | %.1f | %.1f | %.1f | %.1f |\n", what, w.writes / w.seconds,
              w.latency_ns.Percentile(50) / 1e3, w.latency_ns.Percentile(99) / 1e3,
              w.latency_ns.Percentile(99.9) / 1e3, w.latency_ns.max() / 1e3);
}

int Main(int argc, char** argv) {
  Flags f;
  if (!ParseArgs(argc, argv, &f)) return 2;
  TreeSpec spec;
  spec.accounts = f.accounts;
  spec.devices = f.devices;
  PrepareOptions prepare;
  prepare.verbose = true;
  prepare.db_options.sync = f.durable;
  std::unique_ptr<BenchEnv> env;
  Status s = BenchEnv::Prepare(spec, f.dir, prepare, &env);
  if (!s.ok()) {
    std::cerr << "bench setup failed: " << s.ToString() << "\n";
    return 1;
  }
  std::printf("tree %s: %llu accounts, %llu devices; writes %s; %u hardware threads\n\n",
              spec.Name().c_str(), (unsigned long long)spec.accounts,
              (unsigned long long)spec.devices, f.durable ? "durable" : "not durable",
              std::thread::hardware_concurrency());

  // 1. The check alone.
  std::printf("| check alone | seconds | entities | entities/s | CPU seconds (all threads) |\n"
              "|---|---|---|---|---|\n");
  for (uint64_t run = 1; run <= f.runs; ++run) {
    double seconds = 0;
    uint64_t entities = 0;
    const double cpu = ProcessCpuSeconds();
    s = TimedCheck(env->db.get(), &seconds, &entities);
    if (!s.ok()) {
      std::cerr << "check failed: " << s.ToString() << "\n";
      return 1;
    }
    std::printf("| run %llu | %.2f | %llu | %.2f M | %.2f |\n", (unsigned long long)run, seconds,
                (unsigned long long)entities, entities / seconds / 1e6, ProcessCpuSeconds() - cpu);
    std::fflush(stdout);
  }

  // 2. The writer alone, then with the check running in a loop.
  uint64_t next_key = 0;
  WriterResult alone, during;
  Write(env.get(), f.seconds, &next_key, &alone);
  std::atomic<bool> writing{true};
  uint64_t checks = 0, checked = 0;
  double check_seconds = 0;
  Status check_status;
  std::thread checker([&] {
    while (writing.load() && check_status.ok()) {
      double seconds = 0;
      uint64_t entities = 0;
      check_status = TimedCheck(env->db.get(), &seconds, &entities);
      if (!writing.load()) break;  // a check cut short by the end: not counted
      ++checks;
      checked += entities;
      check_seconds += seconds;
    }
  });
  Write(env.get(), f.seconds, &next_key, &during);
  writing = false;
  checker.join();
  for (const Status* st : {&alone.status, &during.status, &check_status}) {
    if (!st->ok()) {
      std::cerr << "failed: " << st->ToString() << "\n";
      return 1;
    }
  }
  std::printf("\n| writer (device creations) | writes/s | p50 us | p99 us | p99.9 us | max us |\n"
              "|---|---|---|---|---|---|\n");
  PrintWriter("alone", alone);
  PrintWriter("while check-db runs", during);
  if (checks > 0) {
    std::printf("\nduring the writes: %llu checks completed, %.2f s each, %.2f M entities/s\n",
                (unsigned long long)checks, check_seconds / checks,
                checked / check_seconds / 1e6);
  } else {
    std::printf("\nduring the writes: no check completed (raise --seconds)\n");
  }
  return 0;
}

}  // namespace
}  // namespace canopy::bench

int main(int argc, char** argv) { return canopy::bench::Main(argc, argv); }
