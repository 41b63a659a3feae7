// Copyright (c) Canopy authors.
//
// Helpers shared by the fuzz targets: a property check that stops the run
// (libFuzzer saves the input as a crash), and a scratch folder removed when
// the fuzzer exits.

#ifndef CANOPY_FUZZ_FUZZ_UTIL_H_
#define CANOPY_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

// A property every input must keep; a violation aborts with the condition
// and the source line (libFuzzer then writes the input to crash-<sha1>).
#define FUZZ_CHECK(cond, ...)                                                       \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      ::canopy::fuzz::Detail(__VA_ARGS__);                                          \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace canopy::fuzz {

inline void Detail() {}
inline void Detail(std::string_view what) {
  std::fprintf(stderr, "  %.*s\n", static_cast<int>(what.size()), what.data());
}

// A fresh folder under $CANOPY_FUZZ_SCRATCH (scripts/fuzz sets it), else
// /dev/shm when it is writable (RocksDB opens and syncs are much cheaper
// there), else $TMPDIR or /tmp; removed with everything in it when the
// process exits normally (not after a crash: scripts/fuzz removes its base).
inline const std::string& ScratchDir() {
  // Never destroyed: the exit handler below still reads it.
  static const std::string& path = *new std::string([] {
    std::string base = "/dev/shm";
    const char* s = std::getenv("CANOPY_FUZZ_SCRATCH");
    if (s != nullptr && *s != '\0') {
      base = s;
    } else if (::access(base.c_str(), W_OK) != 0) {
      const char* t = std::getenv("TMPDIR");
      base = t != nullptr && *t != '\0' ? t : "/tmp";
    }
    std::string templ = base + "/canopy-fuzz-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return templ;
  }());
  return path;
}

}  // namespace canopy::fuzz

#endif  // CANOPY_FUZZ_FUZZ_UTIL_H_
