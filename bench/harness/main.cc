// Copyright (c) Canopy authors.
//
// canopy-bench: the capacity-planning harness as a program of its own, so
// that the `canopy` command line links neither the harness nor SQLite;
// `canopy bench` runs it (with argv[0] "canopy bench"). It names itself in
// its help and errors after argv[0]. See `canopy-bench --help`.

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "bench/harness/harness.h"

int main(int argc, char** argv) {
  std::string program = "canopy-bench";
  if (argc > 0 && argv[0] != nullptr && argv[0][0] != '\0') {
    program = std::filesystem::path(argv[0]).filename().string();
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  return canopy::bench::RunBenchCommand(program, args, std::cout, std::cerr);
}
