// Copyright (c) Canopy authors.

#include "bench/harness/progress.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

namespace canopy::bench {

namespace {

constexpr auto kTtyInterval = std::chrono::milliseconds(100);
constexpr auto kLinesInterval = std::chrono::seconds(5);

}  // namespace

Progress::Progress(std::ostream* err, ProgressMode mode) : err_(err), mode_(mode) {
  if (mode_ == ProgressMode::kAuto) {
    const bool is_stderr = err == &std::cerr || err == &std::clog;
    mode_ = is_stderr && isatty(STDERR_FILENO) ? ProgressMode::kLine : ProgressMode::kLines;
  }
  start_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { Finish(); }

void Progress::Phase(const std::string& what) {
  phase_ = what;
  Emit(what, true);
}

void Progress::Update(const std::string& status) { Emit(phase_ + ": " + status, false); }

void Progress::Note(const std::string& message) {
  if (err_ == nullptr) return;
  Finish();
  *err_ << message << "\n" << std::flush;
}

void Progress::Finish() {
  if (line_open_ && err_ != nullptr) *err_ << "\n" << std::flush;
  line_open_ = false;
  last_width_ = 0;
}

void Progress::Emit(const std::string& line, bool force) {
  if (mode_ == ProgressMode::kNone || err_ == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = mode_ == ProgressMode::kLine ? kTtyInterval : kLinesInterval;
  if (!force && now - last_emit_ < interval) return;
  last_emit_ = now;
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "[%6.1fs] ",
                std::chrono::duration<double>(now - start_).count());
  std::string text = stamp + line;
  if (mode_ == ProgressMode::kLine) {
    // Rewrite the line in place, blanking what a longer one left behind.
    std::string padded = text;
    if (padded.size() < last_width_) padded.append(last_width_ - padded.size(), ' ');
    *err_ << '\r' << padded << std::flush;
    last_width_ = text.size();
    line_open_ = true;
  } else {
    *err_ << text << "\n" << std::flush;
  }
}

MemoryInfo ReadMemoryInfo() {
  MemoryInfo m;
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return m;  // no /proc: no figures at all
  char line[256];
  while (std::fgets(line, sizeof(line), f)) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "VmRSS: %llu kB", &kb) == 1) m.rss = kb * 1024;
    if (std::sscanf(line, "VmHWM: %llu kB", &kb) == 1) m.hwm = kb * 1024;
  }
  std::fclose(f);
  const struct mallinfo2 mi = mallinfo2();
  m.heap = mi.uordblks + mi.hblkhd;  // in use: small blocks plus mmapped ones
  return m;
}

void TrimHeap() { malloc_trim(0); }

}  // namespace canopy::bench
