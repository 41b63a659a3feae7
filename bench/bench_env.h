// Copyright (c) Canopy authors.
//
// A benchmark environment: a generated tree loaded into a Canopy database
// (by Db::Import) and, on request, into SQLite — built once per tree spec
// under a cache folder and reused by later runs.

#ifndef CANOPY_BENCH_BENCH_ENV_H_
#define CANOPY_BENCH_BENCH_ENV_H_

#include <functional>
#include <memory>
#include <string>

#include "bench/generator.h"
#include "bench/sqlite_baseline.h"
#include "canopy/db.h"
#include "storage/store.h"

namespace canopy::bench {

// How BenchEnv::Prepare builds and opens an environment (the defaults are
// the original Prepare's behaviour, without SQLite).
struct PrepareOptions {
  bool with_sqlite = false;
  bool verbose = false;  // phase messages, to `log` or else to stderr
  // Options of Db::Open; sync is off as benchmarks measure the engine, not
  // the disk's fsync.
  Options db_options = [] {
    Options o;
    o.sync = false;
    return o;
  }();
  ProgressFn import_progress;                    // forwarded to Db::Import
  std::function<void(const std::string&)> log;  // receives phase messages
};

struct BenchEnv {
  TreeSpec spec;
  GeneratedTree tree;
  std::string dir;               // <root>/<spec name>
  std::unique_ptr<Db> db;
  std::unique_ptr<SqliteBaseline> sqlite;
  double import_seconds = 0;     // 0 when the database was reused
  uint64_t import_bytes = 0;
  double open_seconds = 0;       // the last Db::Open (catalog load included)
  std::string db_path;           // the folder `db` was opened from (the private copy)

  // Builds (or reuses) the environment for `spec` under `root_dir`. The
  // cached database itself is opened only to build it: every environment
  // opens a private copy of it, so that a workload that writes never
  // changes the cache, and runs that share a cache never open one
  // database twice. The copy hard-links the SST files (RocksDB never
  // rewrites one in place) and copies the few other files; it is deleted
  // when the environment is destroyed. Runs sharing a cache wait for the
  // one building a tree (a lock per tree: shared while a tree is used,
  // exclusive to build it); a tree found damaged is built again.
  static Status Prepare(const TreeSpec& spec, const std::string& root_dir, bool with_sqlite,
                        bool verbose, std::unique_ptr<BenchEnv>* out);
  static Status Prepare(const TreeSpec& spec, const std::string& root_dir,
                        const PrepareOptions& options, std::unique_ptr<BenchEnv>* out);
  // Closes the database (and deletes a private copy).
  ~BenchEnv();

  // Closes the database and opens a fresh private copy of the cached one
  // (the tree as built, whatever was written to the last copy). `between`,
  // when set, runs once the database is closed and before it opens again
  // (to measure what opening costs).
  Status Reopen(const std::function<void()>& between = nullptr);
  // Opens the SQLite baseline on the same tree (building it on first use).
  Status OpenSqlite();
  // Bytes of the cached database folder as built (the tree just imported
  // and closed; RocksDB's text log left out), the same on every run.
  uint64_t CachedDiskBytes() const;

  storage::Store* store() const;
  AccountId Account(uint32_t index) const;
  // The interval label of an account (read through the raw store).
  std::string Label(AccountId id) const;
  // A user holding account_admin on the account (branch), created on first use.
  UserId AdminOf(uint32_t index, bool branch = true);
  // Bytes of the database folder on disk.
  uint64_t DiskBytes() const;

 private:
  // Opens a fresh private copy of the cached database (a shared lock held).
  Status OpenDb();
  Status CloseDb();
  std::string CachedPath() const { return dir + "/canopy"; }
  std::string MarkerPath() const { return dir + "/canopy.done"; }
  void Log(const std::string& message) const;
  // Generates the tree's file and imports it into a new cached database
  // (with the cache entry's lock held exclusively); removes what it left
  // unfinished when it fails.
  Status Build();
  PrepareOptions options_;
  std::string copy_path_;  // the private copy, when open
  // The cache entry's lock (DIR/build.lock): held shared while this
  // environment uses the cached database, exclusively while building it,
  // so that no run builds or rebuilds a tree another run is using.
  int lock_fd_ = -1;
};

// Bytes of a folder's files, RocksDB's text log (LOG, LOG.old...) left out.
uint64_t FolderBytes(const std::string& path);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_BENCH_ENV_H_
