// Copyright (c) Canopy authors.
//
// A benchmark environment: a generated tree loaded into a Canopy database
// (by Db::Import) and, on request, into SQLite — built once per tree spec
// under a cache folder and reused by later runs.

#ifndef CANOPY_BENCH_BENCH_ENV_H_
#define CANOPY_BENCH_BENCH_ENV_H_

#include <memory>
#include <string>

#include "bench/generator.h"
#include "bench/sqlite_baseline.h"
#include "canopy/db.h"
#include "storage/store.h"

namespace canopy::bench {

struct BenchEnv {
  TreeSpec spec;
  GeneratedTree tree;
  std::string dir;               // <root>/<spec name>
  std::unique_ptr<Db> db;
  std::unique_ptr<SqliteBaseline> sqlite;
  double import_seconds = 0;     // 0 when the database was reused
  uint64_t import_bytes = 0;

  // Builds (or reuses) the environment for `spec` under `root_dir`.
  static Status Prepare(const TreeSpec& spec, const std::string& root_dir, bool with_sqlite,
                        bool verbose, std::unique_ptr<BenchEnv>* out);

  storage::Store* store() const;
  AccountId Account(uint32_t index) const;
  // The interval label of an account (read through the raw store).
  std::string Label(AccountId id) const;
  // A user holding account_admin on the account (branch), created on first use.
  UserId AdminOf(uint32_t index, bool branch = true);
  // Bytes of the database folder on disk.
  uint64_t DiskBytes() const;
};

// Bytes of a folder's files.
uint64_t FolderBytes(const std::string& path);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_BENCH_ENV_H_
