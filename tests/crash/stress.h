// Copyright (c) Canopy authors.
//
// canopy_stress: the crash test's workload and its verifier
// (docs/testing.md, "Crash test"). `run` opens a database with sync on and
// runs several threads of random mutations, imports, exports and queries
// through the public API, journaling each mutation's intent before the call
// and its acknowledgement after; `verify` opens the database after a kill
// and checks it against the verified state plus the journals.

#ifndef CANOPY_TESTS_CRASH_STRESS_H_
#define CANOPY_TESTS_CRASH_STRESS_H_

#include <cstdint>
#include <string>

namespace canopy::crash {

// Exit codes of both modes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;     // bad arguments or an unusable work folder
inline constexpr int kExitFailure = 3;   // a bug: lost, partial or wrong data, a bad answer
inline constexpr int kExitCreation = 4;  // verify: a database never opened is unopenable
                                         // (a kill during its creation left it so)

struct RunConfig {
  std::string dir;          // the work folder
  uint64_t seed = 1;
  uint64_t run = 1;         // distinct per run on one folder (keys carry it)
  int threads = 4;          // fixed when the folder is first used
  uint64_t ops = 0;         // per thread; 0: until killed
  uint64_t big_import = 0;  // devices in a large import (SST ingestion); 0: none
  std::string mode = "normal";  // "import", "export": more of those
  uint64_t check_every = 200;   // ops between a thread's self-checks
  bool stats = false;           // print per-operation counts at the end
};

int Run(const RunConfig& config);
int Verify(const std::string& dir, bool quiet);

}  // namespace canopy::crash

#endif  // CANOPY_TESTS_CRASH_STRESS_H_
