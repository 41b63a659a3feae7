// Copyright (c) Canopy authors.
//
// canopy_stress run --dir DIR [--seed S] [--run K] [--threads N] [--ops N]
//                   [--big-import N] [--mode normal|import|export]
//                   [--check-every N] [--stats]
// canopy_stress verify --dir DIR [--quiet]
//
// See tests/crash/stress.h and docs/testing.md ("Crash test").

#include <cstdio>
#include <cstring>
#include <string>

#include "tests/crash/stress.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: canopy_stress run --dir DIR [--seed S] [--run K] [--threads N] [--ops N]\n"
               "                         [--big-import N] [--mode normal|import|export]\n"
               "                         [--check-every N] [--stats]\n"
               "       canopy_stress verify --dir DIR [--quiet]\n");
  return canopy::crash::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string mode = argv[1];
  canopy::crash::RunConfig c;
  bool quiet = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    try {
      if (a == "--dir" && value(&c.dir)) continue;
      if (a == "--mode" && value(&c.mode)) continue;
      if (a == "--stats") {
        c.stats = true;
        continue;
      }
      if (a == "--quiet") {
        quiet = true;
        continue;
      }
      if (a == "--seed" && value(&v)) {
        c.seed = std::stoull(v);
        continue;
      }
      if (a == "--run" && value(&v)) {
        c.run = std::stoull(v);
        continue;
      }
      if (a == "--threads" && value(&v)) {
        c.threads = std::stoi(v);
        continue;
      }
      if (a == "--ops" && value(&v)) {
        c.ops = std::stoull(v);
        continue;
      }
      if (a == "--big-import" && value(&v)) {
        c.big_import = std::stoull(v);
        continue;
      }
      if (a == "--check-every" && value(&v)) {
        c.check_every = std::stoull(v);
        continue;
      }
    } catch (const std::exception&) {
    }
    std::fprintf(stderr, "canopy_stress: bad argument '%s'\n", a.c_str());
    return Usage();
  }
  if (c.dir.empty()) return Usage();
  if (mode == "run") {
    if (c.threads < 1 || c.threads > 64) return Usage();
    return canopy::crash::Run(c);
  }
  if (mode == "verify") return canopy::crash::Verify(c.dir, quiet);
  return Usage();
}
