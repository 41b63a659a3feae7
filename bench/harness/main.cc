// Copyright (c) Canopy authors.
//
// canopy-bench: the capacity-planning harness as a standalone program (the
// same as `canopy bench`). See `canopy-bench --help`.

#include <iostream>
#include <string>
#include <vector>

#include "bench/harness/harness.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return canopy::bench::RunBenchCommand(args, std::cout, std::cerr);
}
