// Copyright (c) Canopy authors.
//
// The crash test's files in its work folder (docs/testing.md, "Crash
// test"):
//
//   db/                  the database
//   expected.state       the verified state, written by `verify` only
//   journal-t<N>.log     thread N's records of the current run
//   export-t<N>.jsonl    thread N's last export
//
// A journal is a sequence of lines, each written with one write() and
// synced before the stress thread goes on:
//
//   H <run> <seed> <threads>       run header
//   O                              the database opened (journal of t0 only)
//   I <seq> <op> {<key> <value>}   intent: a mutation is about to be called,
//                                  with its effect should it succeed
//                                  (value "-": the object is gone)
//   A <seq>                        acknowledged: the call returned OK
//   R <seq> <code>                 refused: it returned an error, changed nothing
//
// (fields separated by tabs). A line cut short by the kill has no final
// newline and is ignored: an intent that never completed was never called;
// an acknowledgement that never completed leaves the call in flight.

#ifndef CANOPY_TESTS_CRASH_JOURNAL_H_
#define CANOPY_TESTS_CRASH_JOURNAL_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "canopy/status.h"
#include "tests/crash/state.h"

namespace canopy::crash {

// An append-only file of synced lines.
class JournalWriter {
 public:
  JournalWriter() = default;
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  Status Open(const std::string& path);
  // Writes `line` and a newline with one write(), then fdatasync()s.
  Status Append(const std::string& line);

 private:
  int fd_ = -1;
  std::string path_;
};

// One journal record.
struct Record {
  char type = 0;  // 'H', 'O', 'I', 'A', 'R'
  uint64_t seq = 0;  // 'H': the run's thread count
  std::string op;    // 'I': the operation; 'R': the error code
  Effects effects;   // 'I'
};

std::string EncodeIntent(uint64_t seq, const std::string& op, const Effects& effects);
// Reads the complete lines of a journal (a torn last line is dropped).
Status ReadJournal(const std::string& path, std::vector<Record>* out);

// The expected state file: written to PATH.tmp, synced, renamed.
Status WriteStateFile(const std::string& path, int threads, const Flat& flat);
// NotFound when the file does not exist.
Status ReadStateFile(const std::string& path, int* threads, Flat* flat);

// Writes a whole file (synced); and fsyncs a folder.
Status WriteFileSynced(const std::string& path, const std::string& contents);
Status SyncDir(const std::string& path);

std::string JournalPath(const std::string& dir, int thread);
std::string ExportPath(const std::string& dir, int thread);
std::string ImportPath(const std::string& dir, int thread);
inline std::string DbPath(const std::string& dir) { return dir + "/db"; }
inline std::string StatePath(const std::string& dir) { return dir + "/expected.state"; }

}  // namespace canopy::crash

#endif  // CANOPY_TESTS_CRASH_JOURNAL_H_
