// Copyright (c) Canopy authors.
//
// canopy_catalog_bench: what the in-memory catalog costs on an existing
// database, beside raw RocksDB reading the same key spaces, in one run.
//
//   canopy_catalog_bench --db DIR [--runs N] [--max-open-files N] [--image-dir DIR]
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
//      seconds to copy the loaded catalog (a writing Db's second copy, and
//      what a replica pays to take back a group of writes it cannot undo)
//      and the heap the copy adds;
//      undo: microseconds to take back one account creation by undoing
//      its change set (how a replica takes a group back now);
//      img: seconds to write the catalog image (as Close does, into
//      --image-dir) and to read it back (as an open does), and its size;
//   3. open: Db::Open read-only through the public API, as `canopy --db DIR
//      --read-only` opens: seconds and heap growth (the catalog, and RocksDB's
//      table readers and filters), without the catalog image and with it
//      (Options::catalog_image; the image is one a writing Db left at Close,
//      if any: the line says where the catalog came from).
//
// A writing Db holds two copies of the catalog (readers never wait for
// the writer: docs/index.md); they share the account and user pages, so
// the second costs "copy MiB" (its page index, roles and groups), and
// between writes the pages the last write changed.

#include <malloc.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "bindings/cli/cli11_flags.h"
#include "canopy/db.h"
#include "query/catalog.h"
#include "query/catalog_image.h"
#include "storage/changes.h"
#include "storage/coding.h"
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

std::string Fixed(uint64_t v) {
  std::string b(8, '\0');
  storage::EncodeFixed64BE(b.data(), v);
  return b;
}

// The mean time Catalog::Undo takes to take back an account created under
// the first root tenant (its record, its parent's next ordinal, the
// account sequence), as a replica takes back a refused write; -1 when the
// catalog has no account or the change does not apply.
double UndoMicros(query::Catalog* catalog) {
  if (catalog->roots.empty()) return -1;
  const query::AccountNode& root = *catalog->account(catalog->roots.front());
  storage::AccountRecord parent_before;
  parent_before.account.id = root.id;
  parent_before.account.key = root.key;
  parent_before.account.depth = root.depth;
  parent_before.account.settings = root.settings;
  parent_before.label = root.label;
  parent_before.next_child_ordinal = root.next_child_ordinal;
  storage::AccountRecord parent_after = parent_before;
  ++parent_after.next_child_ordinal;
  storage::AccountRecord created;
  created.account.id = AccountId(catalog->last_account_id + 1);
  created.account.key = "catalog-bench-undo";
  created.account.parent = root.id;
  created.account.depth = root.depth + 1;
  created.label = root.label + "\xff\xff";
  storage::ChangeSet cs;
  storage::RecordChange r;
  r.type = storage::RecordType::kMeta;
  r.key = std::string(storage::kSeqAccount);
  r.before = Fixed(catalog->last_account_id);
  r.after = Fixed(catalog->last_account_id + 1);
  cs.records.push_back(r);
  r = storage::RecordChange();
  r.type = storage::RecordType::kAccount;
  r.before = r.after = "-";  // only whether they are empty matters here
  r.before_record = parent_before;
  r.after_record = parent_after;
  cs.records.push_back(r);
  r = storage::RecordChange();
  r.type = storage::RecordType::kAccount;
  r.after = "-";
  r.after_record = created;
  cs.records.push_back(r);
  const int rounds = 1000;
  double total = 0;
  for (int i = 0; i < rounds; ++i) {
    if (!catalog->Apply(cs).ok()) return -1;
    const auto t0 = Clock::now();
    if (!catalog->Undo(cs).ok()) return -1;
    total += Since(t0);
  }
  return total / rounds * 1e6;
}

int Run(const std::string& dir, int runs, int max_open_files, const std::string& image_dir) {
  auto copy_into = std::make_unique<query::Catalog>();
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
  std::printf("%-4s %10s %10s %12s %10s %10s %14s %10s %10s %10s %12s %12s %10s %10s %12s %12s %10s\n",
              "run", "accounts", "users", "memberships", "raw s", "load s", "load/raw",
              "copy s", "copy MiB", "undo us", "heap MiB", "B/account", "B/user", "B/(a+u)", "img write s",
              "img read s", "img MiB");
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
    // The second copy a writing Db makes at open (it shares the account
    // and user pages: query/id_table.h), and what it adds to the heap.
    t0 = Clock::now();
    auto copy = std::make_unique<query::Catalog>(*catalog);
    const double copy_s = Since(t0);
    const uint64_t copy_bytes = HeapInUse() - with_all;
    copy.reset();
    const double undo_us = UndoMicros(catalog.get());
    // The catalog image: written (as Close does) to a scratch folder, then
    // read back (as an open does).
    const std::string scratch = image_dir + "/canopy-catalog-bench-" + std::to_string(::getpid());
    std::filesystem::create_directories(scratch);
    const query::ImageStamp stamp{1, 1, 1, catalog->max_depth, "bench"};
    t0 = Clock::now();
    s = query::WriteCatalogImage(*catalog, stamp, scratch);
    const double image_write = Since(t0);
    const double image_mib =
        static_cast<double>(std::filesystem::file_size(scratch + "/" + query::kCatalogImageFile)) /
        (1 << 20);
    std::string why;
    t0 = Clock::now();
    if (s.ok() && !query::ReadCatalogImage(scratch, stamp, copy_into.get(), &why)) {
      s = Status::Internal("the image written cannot be read: " + why);
    }
    const double image_read = Since(t0);
    *copy_into = query::Catalog();
    std::filesystem::remove_all(scratch);
    if (!s.ok()) {
      std::cerr << "canopy_catalog_bench: " << s.ToString() << "\n";
      return 1;
    }
    const uint64_t accounts = catalog->accounts.size(), users = catalog->users.size();
    catalog->users = {};
    const uint64_t without_users = HeapInUse();
    catalog.reset();
    const uint64_t total = with_all - before;
    const uint64_t user_bytes = with_all - without_users;
    const uint64_t account_bytes = total - user_bytes;  // and roles, groups: few
    std::printf("%-4d %10llu %10llu %12llu %10.2f %10.2f %13.2fx %10.2f %10.1f %10.1f %12.1f %12.1f %10.1f %10.1f %12.2f %12.2f %10.1f\n",
                run, static_cast<unsigned long long>(accounts),
                static_cast<unsigned long long>(users),
                static_cast<unsigned long long>(memberships), raw, load, load / raw, copy_s,
                static_cast<double>(copy_bytes) / (1 << 20), undo_us,
                static_cast<double>(total) / (1 << 20), Per(account_bytes, accounts),
                Per(user_bytes, users), Per(total, accounts + users), image_write, image_read,
                image_mib);
    if (touched == 0 && accounts != 0) return 1;  // keeps the raw loop's reads
  }
  store.reset();

  for (int run = 1; run <= runs; ++run) {
    for (bool image : {false, true}) {
      Options o;
      o.read_only = true;
      o.create_if_missing = false;
      o.max_open_files = max_open_files;
      o.catalog_image = image;
      const uint64_t before = HeapInUse();
      auto t0 = Clock::now();
      std::unique_ptr<Db> db;
      s = Db::Open(o, dir, &db);
      const double open = Since(t0);
      if (!s.ok()) {
        std::cerr << "canopy_catalog_bench: " << s.ToString() << "\n";
        return 1;
      }
      const uint64_t grown = HeapInUse() - before;
      auto source = db->GetProperty("canopy.catalog-source");
      std::printf("open %d: Db::Open read-only %.2f s, heap growth %.1f MiB, catalog from %s\n",
                  run, open, static_cast<double>(grown) / (1 << 20),
                  source.ok() ? source->c_str() : source.status().ToString().c_str());
    }
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
  std::string image_dir = std::filesystem::temp_directory_path().string();
  app.add_option("--image-dir", image_dir,
                 "where the catalog image is written and read back (a scratch folder in it)");
  CLI11_PARSE(app, argc, argv);
  return canopy::bench::Run(dir, runs, max_open_files, image_dir);
}
