// Copyright (c) Canopy authors.
//
// SQLite on the same generated tree: what a user would pick instead of
// Canopy, in process. Two classic encodings of the hierarchy:
//  - adjacency list + recursive CTE (accounts.parent), and
//  - materialized path (accounts.path, copied into devices.path and indexed),
// so each benchmark can run the same question both ways.

#ifndef CANOPY_BENCH_SQLITE_BASELINE_H_
#define CANOPY_BENCH_SQLITE_BASELINE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/generator.h"
#include "canopy/status.h"

namespace canopy::bench {

class SqliteBaseline {
 public:
  // Opens `path`, loading `tree` into it first unless it already holds that
  // tree (a marker row records the spec's name).
  static Status Open(const GeneratedTree& tree, const std::string& path,
                     std::unique_ptr<SqliteBaseline>* out);
  ~SqliteBaseline();

  // The materialized path of an account, e.g. "/0/12/345/".
  static std::string PathOf(const GeneratedTree& tree, uint32_t account);

  // Devices of the subtree of `account`: all rows (key and name read), the
  // first `limit` rows, or their count. Return the number of rows seen.
  uint64_t ScanCte(uint32_t account, uint64_t limit = UINT64_MAX);
  uint64_t ScanPath(const std::string& path, uint64_t limit = UINT64_MAX);
  uint64_t CountCte(uint32_t account);
  uint64_t CountPath(const std::string& path);
  // Is the device with `key` inside the subtree whose path is `grant`?
  bool CheckPath(const std::string& key, const std::string& grant);
  // Devices owned by `account` itself (not its sub-accounts): rows seen, as
  // ScanPath, or their count. A user's direct (non-branch) membership.
  uint64_t ScanDirect(uint32_t account, uint64_t limit = UINT64_MAX);
  uint64_t CountDirect(uint32_t account);
  // The owner and the stored materialized path of the device with `key`
  // (false when there is none): a check by path prefix.
  bool DevicePath(const std::string& key, uint32_t* owner, std::string* path);
  // The device's owner and all its ancestors, owner first, walked up the
  // adjacency list with a recursive CTE (false when there is no device).
  bool OwnerChainCte(const std::string& key, std::vector<uint32_t>* chain);
  // Moves an account under another parent (materialized path: rewrite the
  // subtree's paths in accounts and devices). Returns devices touched.
  uint64_t MovePath(uint32_t account, uint32_t new_parent, const GeneratedTree& tree);

  size_t DiskBytes() const;

 private:
  SqliteBaseline() = default;
  sqlite3_stmt* Prepare(const char* sql);
  sqlite3* db_ = nullptr;
  uint64_t sink_ = 0;  // bytes read, so the reads are not optimised away
  std::string path_;
  sqlite3_stmt* scan_cte_ = nullptr;
  sqlite3_stmt* scan_path_ = nullptr;
  sqlite3_stmt* count_cte_ = nullptr;
  sqlite3_stmt* count_path_ = nullptr;
  sqlite3_stmt* check_ = nullptr;
  // Prepared on first use by the methods added for the capacity harness.
  sqlite3_stmt* scan_direct_ = nullptr;
  sqlite3_stmt* count_direct_ = nullptr;
  sqlite3_stmt* device_path_ = nullptr;
  sqlite3_stmt* owner_chain_ = nullptr;
};

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_SQLITE_BASELINE_H_
