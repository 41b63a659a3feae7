// Copyright (c) Canopy authors.
//
// The bulk import's sorting with bounded memory, and the pool of threads it
// runs on.
//
// ExternalSorter takes one key space's pairs as sorted pieces (KvBuffers a
// worker sorted), in the order of the input. It keeps them in memory up to
// what the caller allows, and beyond that merges the pieces it holds into a
// sorted run file (Spill). Read() then merges the runs and the pieces left in
// memory in key order, over any key range, so that one key space can be
// written as several SST files of adjacent ranges on several threads. Pairs
// with equal keys come out in the order they were added (a duplicate's later
// occurrence comes second).
//
// A run file is a sequence of pairs, each lp(key) lp(value) (length-prefixed
// as in storage/coding.h), with a sparse index in memory (the first key of every
// 64 KiB) for reading a range. Run files live in the import's scratch
// folder and are removed with it.
//
// Thread safety: Add, Spill and Read may run on different threads, at most
// one Spill at a time; Read only once every Add and Spill has returned.

#ifndef CANOPY_ENGINE_EXTERNAL_SORT_H_
#define CANOPY_ENGINE_EXTERNAL_SORT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "canopy/status.h"
#include "engine/kv_buffer.h"

namespace canopy::engine {

// A fixed set of threads running submitted tasks in submission order.
class TaskPool {
 public:
  explicit TaskPool(unsigned threads);
  ~TaskPool();  // runs what is queued, then joins
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // `urgent` tasks run before the ones queued (still after running ones).
  void Submit(std::function<void()> task, bool urgent = false);
  // Blocks until every task submitted so far has finished.
  void Wait();
  // As Wait, for at most `timeout`: true when every task has finished.
  bool WaitFor(std::chrono::milliseconds timeout);
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable cv_;       // tasks queued, or stopping
  std::condition_variable idle_cv_;  // a task finished
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Pairs in key order from several sorted sources (see ExternalSorter::Read).
class SortedCursor {
 public:
  virtual ~SortedCursor() = default;
  virtual bool Valid() const = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual void Next() = 0;
  // Not OK when a run file could not be read (Valid() is then false).
  virtual Status status() const = 0;
};

class ExternalSorter {
 public:
  // Names a new file in the scratch folder for a run.
  using PathFn = std::function<Status(std::string* path)>;
  explicit ExternalSorter(PathFn make_path);
  ~ExternalSorter();
  ExternalSorter(const ExternalSorter&) = delete;
  ExternalSorter& operator=(const ExternalSorter&) = delete;

  // Adds a piece sorted by KvBuffer::Sort; its pairs follow every pair
  // added before it.
  void Add(KvBuffer piece);
  uint64_t size() const;       // pairs added
  uint64_t bytes() const;      // their key and value bytes
  size_t memory() const;       // held by pieces in memory
  uint64_t memory_pairs() const;  // pairs in pieces in memory
  size_t pieces() const;       // pieces in memory
  size_t runs() const;         // run files written

  // Merges the pieces in memory into one run file and frees them (pieces
  // added meanwhile stay in memory, after the run).
  Status Spill();

  // The pairs with keys in [begin, end) (end empty: no upper bound) in key
  // order; equal keys in the order they were added.
  std::unique_ptr<SortedCursor> Read(std::string_view begin, std::string_view end) const;

  // Frees the pieces in memory (after the last Read; size() and runs()
  // stay).
  void Release();

  // Up to parts - 1 distinct keys cutting the pairs into ranges of about
  // equal bytes (from a sample: runs' index keys, every 64th key of a
  // piece), ascending.
  std::vector<std::string> Splitters(size_t parts) const;

  struct Run;  // a run file (external_sort.cc)

 private:
  struct Piece {
    std::shared_ptr<const KvBuffer> kv;
  };
  PathFn make_path_;
  mutable std::mutex mu_;
  std::vector<Piece> pieces_;
  std::vector<std::unique_ptr<Run>> runs_;
  uint64_t size_ = 0;
  uint64_t bytes_ = 0;
  size_t memory_ = 0;
  uint64_t memory_pairs_ = 0;
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_EXTERNAL_SORT_H_
