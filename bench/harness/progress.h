// Copyright (c) Canopy authors.
//
// Progress of a long harness run, on the error stream: on a terminal one
// line rewritten in place (at most ten times a second), otherwise a line
// every few seconds, so logs of unattended runs stay short. Also reads the
// process's memory figures (VmRSS, VmHWM) from /proc/self/status.
//
// Thread safety: Progress is used by the harness's coordinating thread
// only (workers never call it).

#ifndef CANOPY_BENCH_HARNESS_PROGRESS_H_
#define CANOPY_BENCH_HARNESS_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "bench/harness/config.h"

namespace canopy::bench {

class Progress {
 public:
  // kAuto becomes kLine when `err` is std::cerr (or std::clog) on a
  // terminal, else kLines.
  Progress(std::ostream* err, ProgressMode mode);
  ~Progress();

  // Starts a phase: ends the current line and shows `what`.
  void Phase(const std::string& what);
  // The phase's current state ("3.2/5 s, 41k ops"); throttled.
  void Update(const std::string& status);
  // A message that must be seen (warnings), on its own line.
  void Note(const std::string& message);
  // Ends the current line, if any.
  void Finish();

 private:
  void Emit(const std::string& line, bool force);
  std::ostream* err_;
  ProgressMode mode_;
  std::string phase_;
  bool line_open_ = false;
  size_t last_width_ = 0;
  std::chrono::steady_clock::time_point last_emit_;
  std::chrono::steady_clock::time_point start_;
};

// Memory of this process, in bytes (0 when unknown).
struct MemoryInfo {
  uint64_t rss = 0;   // VmRSS: resident now (/proc/self/status)
  uint64_t hwm = 0;   // VmHWM: the most ever resident
  uint64_t heap = 0;  // allocated by malloc and not freed (mallinfo2): exact to
                      // the byte, where resident pages move in 4 KiB steps
};
MemoryInfo ReadMemoryInfo();
// Gives freed heap memory back to the system (glibc's malloc_trim), so the
// next size's resident figures start from a clean slate.
void TrimHeap();

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_PROGRESS_H_
