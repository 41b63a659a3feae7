// Copyright (c) Canopy authors.
//
// canopy_catalog_bench: what the in-memory catalog costs on an existing
// database, beside raw RocksDB reading the same key spaces, in one run.
//
//   canopy_catalog_bench --db DIR [--runs N] [--max-open-files N]
//
// DIR is a database folder (for instance the one the capacity harness
// caches: canopy-bench --cache-dir). Each run, on a read-only store:
//
//   1. raw: RocksDB iterating every key space the catalog is built from
//      (accounts, tree, counters, roles, users, memberships, groups),
//      touching each key and value and decoding nothing;
//   2. load: Catalog::Load of the same store: seconds, and its heap (bytes
//      malloc reports in use, after a trim) in total, per account and
//      per user (the users' part is what freeing them gives back); copy:
//      seconds to copy the loaded catalog (a writing Db's second copy);
//   3. open: Db::Open read-only through the public API, as `canopy --db DIR
//      --read-only` opens: seconds and heap growth (the catalog, and RocksDB's
//      table readers and filters).
//
// A writing Db holds two copies of the catalog (readers never wait for
// the writer: docs/index.md), so its catalog heap is twice (2).

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "bindings/cli/cli11_flags.h"
#include "canopy/db.h"
#include "query/catalog.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace canopy::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t HeapInUse() {
  malloc_trim(0);
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

double Per(uint64_t bytes, uint64_t n) {
  return n == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(n);
}

int Run(const std::string& dir, int runs, int max_open_files) {
  storage::StoreOptions so;
  so.max_open_files = max_open_files;
  so.read_only = true;
  so.create_if_missing = false;
  std::unique_ptr<storage::Store> store;
  Status s = storage::Store::Open(so, dir, &store);
  if (!s.ok()) {
    std::cerr << "canopy_catalog_bench: " << s.ToString() << "\n";
    return 1;
  }
  const int spaces[] = {storage::kAccounts, storage::kTree,        storage::kCounters,
                        storage::kRoles,    storage::kUsers,       storage::kMemberships,
                        storage::kGroups};
  std::printf("%-4s %10s %10s %12s %10s %10s %14s %10s %12s %12s %10s %10s\n", "run",
              "accounts", "users", "memberships", "raw s", "load s", "load/raw", "copy s",
              "heap MiB", "B/account", "B/user", "B/(a+u)");
  for (int run = 1; run <= runs; ++run) {
    auto t0 = Clock::now();
    uint64_t touched = 0, memberships = 0;
    for (int cf : spaces) {
      auto it = store->NewIterator(cf, nullptr, "", "", /*fill_cache=*/false);
      for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
        touched += (*it)->key().size() + (*it)->value().size();
        if (cf == storage::kMemberships) ++memberships;
      }
      if (!(*it)->status().ok()) {
        std::cerr << "canopy_catalog_bench: " << (*it)->status().ToString() << "\n";
        return 1;
      }
    }
    const double raw = Since(t0);

    const uint64_t before = HeapInUse();
    auto catalog = std::make_unique<query::Catalog>();
    t0 = Clock::now();
    s = catalog->Load(*store);
    const double load = Since(t0);
    if (!s.ok()) {
      std::cerr << "canopy_catalog_bench: " << s.ToString() << "\n";
      return 1;
    }
    const uint64_t with_all = HeapInUse();
    // The second copy a writing Db makes at open.
    t0 = Clock::now();
    auto copy = std::make_unique<query::Catalog>(*catalog);
    const double copy_s = Since(t0);
    copy.reset();
    const uint64_t accounts = catalog->accounts.size(), users = catalog->users.size();
    catalog->users = {};
    const uint64_t without_users = HeapInUse();
    catalog.reset();
    const uint64_t total = with_all - before;
    const uint64_t user_bytes = with_all - without_users;
    const uint64_t account_bytes = total - user_bytes;  // and roles, groups: few
    std::printf("%-4d %10llu %10llu %12llu %10.2f %10.2f %13.2fx %10.2f %12.1f %12.1f %10.1f %10.1f\n",
                run, static_cast<unsigned long long>(accounts),
                static_cast<unsigned long long>(users),
                static_cast<unsigned long long>(memberships), raw, load, load / raw, copy_s,
                static_cast<double>(total) / (1 << 20), Per(account_bytes, accounts),
                Per(user_bytes, users), Per(total, accounts + users));
    if (touched == 0 && accounts != 0) return 1;  // keeps the raw loop's reads
  }
  store.reset();

  for (int run = 1; run <= runs; ++run) {
    Options o;
    o.read_only = true;
    o.create_if_missing = false;
    o.max_open_files = max_open_files;
    const uint64_t before = HeapInUse();
    auto t0 = Clock::now();
    std::unique_ptr<Db> db;
    s = Db::Open(o, dir, &db);
    const double open = Since(t0);
    if (!s.ok()) {
      std::cerr << "canopy_catalog_bench: " << s.ToString() << "\n";
      return 1;
    }
    std::printf("open %d: Db::Open read-only %.2f s, heap growth %.1f MiB\n", run, open,
                static_cast<double>(HeapInUse() - before) / (1 << 20));
  }
  return 0;
}

}  // namespace
}  // namespace canopy::bench

int main(int argc, char** argv) {
  CLI::App app{"canopy_catalog_bench: the catalog's memory and load time beside raw RocksDB"};
  std::string dir;
  int runs = 3;
  app.add_option("--db", dir, "an existing database folder")->required();
  app.add_option("--runs", runs, "runs of each measurement")->check(CLI::Range(1, 100));
  int max_open_files = -1;
  app.add_option("--max-open-files", max_open_files,
                 "Options::max_open_files of the stores opened (-1: all, at open)");
  CLI11_PARSE(app, argc, argv);
  return canopy::bench::Run(dir, runs, max_open_files);
}
