// Copyright (c) Canopy authors.
//
// canopy-bench: the capacity-planning harness as a program of its own, so
// that the `canopy` command line links neither the harness nor SQLite;
// `canopy bench` runs it (with argv[0] "canopy bench"). It names itself in
// its help and errors after argv[0]. See `canopy-bench --help`.

#include <signal.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "bench/generator.h"
#include "bench/harness/harness.h"

namespace {

// Ctrl-C (or SIGTERM) once: the run stops at its next step, cleans up and
// exits 130; a second one ends the process at once (SA_RESETHAND).
extern "C" void OnStopSignal(int) { canopy::bench::RequestStop(); }

void CatchStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string program = "canopy-bench";
  if (argc > 0 && argv[0] != nullptr && argv[0][0] != '\0') {
    program = std::filesystem::path(argv[0]).filename().string();
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  CatchStopSignals();
  return canopy::bench::RunBenchCommand(program, args, std::cout, std::cerr);
}
