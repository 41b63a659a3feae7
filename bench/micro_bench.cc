// Copyright (c) Canopy authors.
//
// Canopy's micro-benchmarks (Google Benchmark), each beside its raw RocksDB
// counterpart over the same keys (the physical limit) and SQLite (recursive
// CTE and materialized path) on the same generated tree, in one run. After
// the run a table of ratios against the performance budgets (docs/PERFORMANCE.md) is printed.
//
//   canopy_micro_bench [--scale tiny|small|full] [--dir DIR] [benchmark flags]
//
// Every figure is wall-clock time (UseRealTime): imports and compactions
// work on other threads, which CPU time of the calling thread would hide.
//
// full: 10k accounts and 1M devices (the budgets' scale); small: 2k and
// 200k; tiny: a smoke run for ctest. Databases are built once per scale
// under DIR (default /tmp/canopy-bench) and reused.

#include <benchmark/benchmark.h>

#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "bench/bench_env.h"
#include "bench/raw_range.h"
#include "bindings/cli/cli11_flags.h"
#include "engine/db_impl.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::bench {
namespace {

namespace fs = std::filesystem;

BenchEnv* env = nullptr;
std::string bench_dir = "/tmp/canopy-bench";

struct Target {
  std::string name;   // "1k", "100k", "all"
  uint32_t index;     // account index in the generated tree
  AccountId id;
  std::string label;
  UserId admin;       // account_admin with branch access on it
  uint64_t devices;   // devices in its subtree
};
std::vector<Target> targets;
std::vector<std::string> device_keys;  // random keys for point operations

// ---- read path: scans, pages, counts, checks ------------------------------

void EngineScan(benchmark::State& state, const Target* t) {
  uint64_t items = 0, bytes = 0;
  for (auto _ : state) {
    VisibleRequest req{Actor::User(t->admin)};
    std::unique_ptr<VisibleIterator> it;
    if (!env->db->NewVisibleIterator(req, &it).ok()) state.SkipWithError("iterator");
    for (; it->Valid(); it->Next()) {
      bytes += it->key().size() + it->name().size();
      ++items;
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(items));
}

void RawScan(benchmark::State& state, const Target* t) {
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  uint64_t items = 0, bytes = 0;
  for (auto _ : state) {
    RawRange it(*env->store(), storage::kVisibility, storage::IndexRangeStart(kind, t->label, true),
                storage::IndexRangeLimit(kind, t->label, true));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      bytes += it->key().size() + it->value().size();
      ++items;
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(items));
}

void SqliteScanPath(benchmark::State& state, const Target* t) {
  std::string path = SqliteBaseline::PathOf(env->tree, t->index);
  uint64_t items = 0;
  for (auto _ : state) items += env->sqlite->ScanPath(path);
  state.SetItemsProcessed(static_cast<int64_t>(items));
}

void SqliteScanCte(benchmark::State& state, const Target* t) {
  uint64_t items = 0;
  for (auto _ : state) items += env->sqlite->ScanCte(t->index);
  state.SetItemsProcessed(static_cast<int64_t>(items));
}

void EngineFirstPage(benchmark::State& state, const Target* t) {
  for (auto _ : state) {
    VisibleRequest req{Actor::User(t->admin)};
    req.limit = 100;
    VisiblePage page;
    if (!env->db->Visible(req, &page).ok()) state.SkipWithError("visible");
    benchmark::DoNotOptimize(page.items.data());
  }
}

void RawFirstPage(benchmark::State& state, const Target* t) {
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  uint64_t bytes = 0;
  for (auto _ : state) {
    RawRange it(*env->store(), storage::kVisibility, storage::IndexRangeStart(kind, t->label, true),
                storage::IndexRangeLimit(kind, t->label, true));
    int n = 0;
    for (it->SeekToFirst(); it->Valid() && n < 100; it->Next(), ++n) {
      bytes += it->key().size() + it->value().size();
    }
  }
  benchmark::DoNotOptimize(bytes);
}

void SqliteFirstPagePath(benchmark::State& state, const Target* t) {
  std::string path = SqliteBaseline::PathOf(env->tree, t->index);
  for (auto _ : state) benchmark::DoNotOptimize(env->sqlite->ScanPath(path, 100));
}

void SqliteFirstPageCte(benchmark::State& state, const Target* t) {
  for (auto _ : state) benchmark::DoNotOptimize(env->sqlite->ScanCte(t->index, 100));
}

void EngineCount(benchmark::State& state, const Target* t) {
  uint64_t n = 0;
  for (auto _ : state) {
    VisibleRequest req{Actor::User(t->admin)};
    auto c = env->db->Count(req);
    if (!c.ok()) state.SkipWithError("count");
    n = *c;
  }
  if (n != t->devices) state.SkipWithError("count differs from the generated tree");
}

void SqliteCountPath(benchmark::State& state, const Target* t) {
  std::string path = SqliteBaseline::PathOf(env->tree, t->index);
  for (auto _ : state) benchmark::DoNotOptimize(env->sqlite->CountPath(path));
}

void SqliteCountCte(benchmark::State& state, const Target* t) {
  for (auto _ : state) benchmark::DoNotOptimize(env->sqlite->CountCte(t->index));
}

void EngineCheck(benchmark::State& state, const Target* t) {
  size_t i = 0;
  for (auto _ : state) {
    auto r = env->db->Check(t->admin, "device.read", device_keys[i++ % device_keys.size()]);
    benchmark::DoNotOptimize(r);
  }
}

void RawCheck(benchmark::State& state, const Target*) {
  size_t i = 0;
  std::string v;
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  for (auto _ : state) {
    Status s = env->store()->Get(storage::kEntityKeys,
                                 storage::EntityKeyKey(kind, device_keys[i++ % device_keys.size()]),
                                 &v);
    benchmark::DoNotOptimize(s);
  }
}

void SqliteCheck(benchmark::State& state, const Target* t) {
  std::string grant = SqliteBaseline::PathOf(env->tree, t->index);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(env->sqlite->CheckPath(device_keys[i++ % device_keys.size()], grant));
  }
}

void EngineWhoCan(benchmark::State& state, const Target*) {
  size_t i = 0;
  for (auto _ : state) {
    WhoCanRequest req;
    req.permission = "device.read";
    req.entity_key = device_keys[i++ % device_keys.size()];
    WhoCanPage page;
    if (!env->db->WhoCan(req, &page).ok()) state.SkipWithError("who-can");
  }
}

// ---- labels -------------------------------------------------------------

void LabelEncode(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::vector<uint64_t> ords(1024);
  for (auto& o : ords) o = rng() % 100000;
  std::string label;
  size_t i = 0;
  for (auto _ : state) {
    label.clear();
    for (int level = 0; level < 6; ++level) storage::AppendOrdinal(&label, ords[(i + level) % 1024]);
    ++i;
    benchmark::DoNotOptimize(label.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void LabelCompare(benchmark::State& state) {
  std::vector<std::string> labels;
  for (const Target& t : targets) labels.push_back(t.label);
  for (size_t i = 0; i < 64; ++i) {
    std::string l;
    for (int level = 0; level < 5; ++level) storage::AppendOrdinal(&l, (i * 7 + level * 31) % 300);
    labels.push_back(l);
  }
  size_t i = 0;
  for (auto _ : state) {
    const std::string& a = labels[i % labels.size()];
    const std::string& b = labels[(i * 13 + 5) % labels.size()];
    benchmark::DoNotOptimize(storage::IsSelfOrAncestorLabel(a, b));
    benchmark::DoNotOptimize(a < b);
    ++i;
  }
}

// ---- write path, on a scratch database ---------------------------------

struct Scratch {
  std::unique_ptr<Db> db;
  AccountId root = kNoId, left = kNoId, right = kNoId, mover = kNoId;
  std::vector<std::string> keys;
  std::vector<std::string> batch;  // 100 devices reassigned together
  uint64_t mover_devices = 0;
};
Scratch* scratch = nullptr;

Status MakeScratch(uint64_t move_devices) {
  static Scratch s;
  const std::string path = bench_dir + "/scratch";
  std::error_code ec;
  fs::remove_all(path, ec);
  Options o;
  o.sync = false;
  CANOPY_RETURN_IF_ERROR(Db::Open(o, path, &s.db));
  auto mk = [&](const std::string& key, AccountId parent) {
    AccountSpec spec;
    spec.key = key;
    spec.name = key;
    spec.parent = parent;
    spec.settings.sub_account_management = true;
    return s.db->CreateAccount(Actor::System(), spec);
  };
  CANOPY_ASSIGN_OR_RETURN(s.root, mk("root", kNoId));
  CANOPY_ASSIGN_OR_RETURN(s.left, mk("left", s.root));
  CANOPY_ASSIGN_OR_RETURN(s.right, mk("right", s.root));
  CANOPY_ASSIGN_OR_RETURN(s.mover, mk("mover", s.left));
  // A subtree of move_devices devices, loaded through import.
  const std::string jsonl = bench_dir + "/scratch.jsonl";
  {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(jsonl.c_str(), "w"), std::fclose);
    for (uint64_t i = 0; i < move_devices; ++i) {
      std::fprintf(f.get(),
                   "{\"type\":\"device\",\"key\":\"m-%llu\",\"name\":\"Moved %llu\",\"account\":\"mover\"}\n",
                   (unsigned long long)i, (unsigned long long)i);
    }
    for (int i = 0; i < 64; ++i) {
      std::fprintf(f.get(), "{\"type\":\"device\",\"key\":\"s-%d\",\"name\":\"Swing %d\",\"account\":\"left\"}\n", i, i);
    }
    for (int i = 0; i < 100; ++i) {
      std::fprintf(f.get(), "{\"type\":\"device\",\"key\":\"b-%d\",\"name\":\"Batch %d\",\"account\":\"left\"}\n", i, i);
    }
  }
  CANOPY_RETURN_IF_ERROR(s.db->Import(Actor::System(), jsonl, ImportOptions(), nullptr));
  fs::remove(jsonl, ec);
  s.mover_devices = move_devices;
  for (int i = 0; i < 64; ++i) s.keys.push_back("s-" + std::to_string(i));
  for (int i = 0; i < 100; ++i) s.batch.push_back("b-" + std::to_string(i));
  scratch = &s;
  return Status::Ok();
}

storage::Store* ScratchStore() { return static_cast<engine::DbImpl*>(scratch->db.get())->store(); }

void EngineAccountCreate(benchmark::State& state) {
  static uint64_t n = 0;
  for (auto _ : state) {
    AccountSpec spec;
    spec.key = "new-" + std::to_string(n++);
    spec.name = spec.key;
    spec.parent = scratch->right;
    if (!scratch->db->CreateAccount(Actor::System(), spec).ok()) state.SkipWithError("create");
  }
}

void RawAccountCreate(benchmark::State& state) {
  // The same three writes (record, key index, tree) as one batch.
  static uint64_t n = 0;
  storage::AccountRecord rec;
  rec.account.name = "raw";
  rec.label = "\x01\x02\x03";
  for (auto _ : state) {
    rocksdb::WriteBatch b;
    std::string key = "raw-" + std::to_string(n++);
    rec.account.key = key;
    b.Put(ScratchStore()->cf(storage::kAccounts), storage::IdKey(1000000000 + n), storage::EncodeAccount(rec));
    b.Put(ScratchStore()->cf(storage::kAccountKeys), "zz-raw-" + key, storage::IdKey(n));
    b.Put(ScratchStore()->cf(storage::kMeta), "zz-raw-tree-" + key, storage::IdKey(n));
    if (!ScratchStore()->Write(&b).ok()) state.SkipWithError("write");
  }
}

void EngineDeviceAssign(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) {
    std::vector<std::string> refs = {scratch->keys[i % scratch->keys.size()]};
    AccountId to = (i / scratch->keys.size()) % 2 ? scratch->left : scratch->right;
    Status s = scratch->db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey,
                                             refs, to, nullptr);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    ++i;
  }
}

// Account creation as a user meets it by default: durable (Options::sync,
// the write-ahead log synced before the call returns), on its own database.
void EngineAccountCreateDurable(benchmark::State& state) {
  const std::string path = bench_dir + "/durable";
  std::error_code ec;
  fs::remove_all(path, ec);
  std::unique_ptr<Db> db;
  Options o;  // sync on: the default
  Status s = Db::Open(o, path, &db);
  if (!s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  AccountSpec root;
  root.key = "root";
  root.name = "root";
  root.settings.sub_account_management = true;
  auto rid = db->CreateAccount(Actor::System(), root);
  if (!rid.ok()) {
    state.SkipWithError(rid.status().ToString().c_str());
    return;
  }
  uint64_t i = 0;
  for (auto _ : state) {
    AccountSpec spec;
    spec.key = "durable-" + std::to_string(i++);
    spec.name = spec.key;
    spec.parent = *rid;
    auto id = db->CreateAccount(Actor::System(), spec);
    if (!id.ok()) state.SkipWithError(id.status().ToString().c_str());
  }
  db.reset();
  fs::remove_all(path, ec);
}

// AutoPi's "Manage devices -> Process": 100 devices in one call, back and
// forth between two accounts.
void EngineReassign100(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) {
    AccountId to = i++ % 2 ? scratch->left : scratch->right;
    Status s = scratch->db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey,
                                             scratch->batch, to, nullptr);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * scratch->batch.size()));
}

#if __has_include("canopy/changes.h")
// The log as a database that has run a while holds it: flushed and
// compacted into its last level (which is compressed with ZSTD), not in a
// memtable. Without this the figure depended on how much of the log the
// write benchmarks before had left unflushed.
void SettleLog() {
  static bool settled = false;
  if (settled) return;
  settled = true;
  rocksdb::DB* db = ScratchStore()->db();
  rocksdb::ColumnFamilyHandle* cf = ScratchStore()->cf(storage::kChanges);
  rocksdb::Status s = db->Flush(rocksdb::FlushOptions(), cf);
  if (s.ok()) s = db->CompactRange(rocksdb::CompactRangeOptions(), cf, nullptr, nullptr);
  if (!s.ok()) std::fprintf(stderr, "settling the scratch log: %s\n", s.ToString().c_str());
}

// Reading the change log (watch): every entry of the scratch database's
// log, in pages of 1000; items are record changes delivered.
void EngineChangesRead(benchmark::State& state) {
  SettleLog();
  int64_t records = 0;
  for (auto _ : state) {
    ChangesRequest req;
    req.limit = 1000;
    req.values = state.range(0) != 0;
    for (req.since = 1; req.since <= scratch->db->Revision();) {
      ChangesPage page;
      Status s = scratch->db->ReadChanges(req, &page);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
      for (const auto& e : page.entries) records += static_cast<int64_t>(e.changes.size());
      req.since = page.next;
    }
  }
  state.SetItemsProcessed(records);
}

// The raw bytes of the same log, as a follower reads them (no decoding).
void EngineLogEntriesRead(benchmark::State& state) {
  SettleLog();
  int64_t entries = 0;
  for (auto _ : state) {
    for (uint64_t since = 1; since <= scratch->db->Revision();) {
      std::vector<std::string> out;
      Status s = scratch->db->ReadLogEntries(since, 1000, &out);
      if (!s.ok() || out.empty()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
      since += out.size();
      entries += static_cast<int64_t>(out.size());
    }
  }
  state.SetItemsProcessed(entries);
  // What the log takes on disk, per entry (its compression's other side).
  uint64_t bytes = 0;
  ScratchStore()->db()->GetIntProperty(ScratchStore()->cf(storage::kChanges),
                                       "rocksdb.total-sst-files-size", &bytes);
  uint64_t kept = scratch->db->Revision();
  if (kept > 0) state.counters["disk_bytes_per_entry"] = static_cast<double>(bytes) / kept;
}
#endif

void RawDeviceAssign(benchmark::State& state) {
  // The same writes: index delete + put, record put, key index put.
  Entity e;
  e.key = "raw-device";
  e.name = "Raw device";
  std::string value;
  storage::EncodeIndexValue(&value, 1, e.key, e.name, "");
  size_t i = 0;
  for (auto _ : state) {
    rocksdb::WriteBatch b;
    std::string from = i % 2 ? "\xF0" : "\xF1";
    std::string to = i % 2 ? "\xF1" : "\xF0";
    b.Delete(ScratchStore()->cf(storage::kVisibility), storage::IndexKey(9, from, 7));
    b.Put(ScratchStore()->cf(storage::kVisibility), storage::IndexKey(9, to, 7), value);
    b.Put(ScratchStore()->cf(storage::kMeta), "zz-raw-entity", storage::EncodeEntity(e));
    b.Put(ScratchStore()->cf(storage::kMeta), "zz-raw-entity-key", storage::EntityKeyValue(7, 1));
    if (!ScratchStore()->Write(&b).ok()) state.SkipWithError("write");
    ++i;
  }
}

void EngineSubtreeMove(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) {
    AccountId to = i++ % 2 ? scratch->left : scratch->right;
    Status s = scratch->db->MoveAccount(Actor::System(), scratch->mover, to);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * scratch->mover_devices));
}

void RawSubtreeMove(benchmark::State& state) {
  // The physical work of a move: rewrite one index range under a new label
  // and DeleteRange the old one, in one batch; back and forth between two
  // labels of a private kind byte so the data stays the same size.
  storage::Store* st = ScratchStore();
  const uint8_t k = 13;  // no real kind uses it
  const std::string labels[2] = {"\x01", "\x02"};
  {
    rocksdb::WriteBatch b;
    std::string value;
    for (uint64_t i = 0; i < scratch->mover_devices; ++i) {
      storage::EncodeIndexValue(&value, 4, "m-" + std::to_string(i), "Moved " + std::to_string(i), "");
      b.Put(st->cf(storage::kVisibility), storage::IndexKey(k, labels[0], i + 1), value);
    }
    if (!st->Write(&b).ok()) state.SkipWithError("seed");
  }
  size_t i = 0;
  std::string key;
  for (auto _ : state) {
    const std::string& from = labels[i % 2];
    const std::string& to = labels[(i + 1) % 2];
    ++i;
    std::string lo = storage::IndexRangeStart(k, from, true);
    std::string hi = storage::IndexRangeLimit(k, from, true);
    rocksdb::WriteBatch b;
    RawRange it(*st, storage::kVisibility, lo, hi, false);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::Slice old_key = it->key();
      key.assign(1, static_cast<char>(k));
      key.append(to);
      key.append(old_key.data() + 1 + from.size(), old_key.size() - 1 - from.size());
      b.Put(st->cf(storage::kVisibility), key, it->value());
    }
    b.DeleteRange(st->cf(storage::kVisibility), lo, hi);
    if (!st->Write(&b).ok()) state.SkipWithError("write");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * scratch->mover_devices));
}

void EngineBulkImport(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  const std::string jsonl = bench_dir + "/import.jsonl";
  {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(jsonl.c_str(), "w"), std::fclose);
    std::fprintf(f.get(), "{\"type\":\"account\",\"key\":\"t\",\"name\":\"T\"}\n");
    for (int a = 0; a < 100; ++a) {
      std::fprintf(f.get(), "{\"type\":\"account\",\"key\":\"t-%d\",\"name\":\"T %d\",\"parent\":\"t\"}\n", a, a);
    }
    for (uint64_t i = 0; i < n; ++i) {
      std::fprintf(f.get(),
                   "{\"type\":\"device\",\"key\":\"dev-%llu\",\"unit_id\":\"U-%llu\",\"name\":\"Device %llu\","
                   "\"device_type\":\"tracker\",\"account\":\"t-%llu\"}\n",
                   (unsigned long long)i, (unsigned long long)i, (unsigned long long)i,
                   (unsigned long long)(i % 100));
    }
  }
  for (auto _ : state) {
    state.PauseTiming();
    std::error_code ec;
    fs::remove_all(bench_dir + "/import-db", ec);
    std::unique_ptr<Db> db;
    Options o;
    o.sync = false;
    if (!Db::Open(o, bench_dir + "/import-db", &db).ok()) state.SkipWithError("open");
    state.ResumeTiming();
    Status s = db->Import(Actor::System(), jsonl, ImportOptions(), nullptr);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void RawBulkImport(benchmark::State& state) {
  // Writing the same number of visibility-index entries into one SST and
  // ingesting it: the physical floor of an import (no parsing, one space).
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  storage::Store* st = ScratchStore();
  std::string value;
  for (auto _ : state) {
    std::string path = bench_dir + "/raw-import.sst";
    rocksdb::Options opts(st->db()->GetDBOptions(), st->db()->GetOptions(st->cf(storage::kVisibility)));
    rocksdb::SstFileWriter w(rocksdb::EnvOptions(), opts, st->cf(storage::kVisibility));
    if (!w.Open(path).ok()) state.SkipWithError("sst");
    for (uint64_t i = 0; i < n; ++i) {
      std::string k = "dev-" + std::to_string(i);
      storage::EncodeIndexValue(&value, 5, k, "Device " + std::to_string(i), "tracker");
      (void)w.Put(storage::IndexKey(13, "\x02\x03", i), value);
    }
    (void)w.Finish();
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;
    if (!st->db()->IngestExternalFile(st->cf(storage::kVisibility), {path}, io).ok()) {
      state.SkipWithError("ingest");
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

// ---- the ratio table ------------------------------------------------------

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      std::string name = r.benchmark_name();
      const std::string suffix = "/real_time";  // added by UseRealTime()
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        name.resize(name.size() - suffix.size());
      }
      Result& res = results_[name];
      res.ns = r.GetAdjustedRealTime() * 1e9 / benchmark::GetTimeUnitMultiplier(r.time_unit);
      auto it = r.counters.find("items_per_second");
      res.items_per_second = it == r.counters.end() ? 0 : double(it->second);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintTable(std::ostream& out) const {
    out << "\n## Ratios (same run, same keys)\n\n"
        << "| operation | Canopy | raw RocksDB | ratio | budget | SQLite path | SQLite CTE |\n"
        << "|---|---|---|---|---|---|---|\n";
    for (const Target& t : targets) {
      Row(out, "subtree scan, " + t.name + " (" + std::to_string(t.devices) + " devices)",
          "scan/engine/" + t.name, "scan/raw/" + t.name, "scan/sqlite_path/" + t.name,
          "scan/sqlite_cte/" + t.name, true, ">= 0.8", 0.8);
    }
    for (const Target& t : targets) {
      Row(out, "first page of 100, " + t.name, "first_page/engine/" + t.name,
          "first_page/raw/" + t.name, "first_page/sqlite_path/" + t.name,
          "first_page/sqlite_cte/" + t.name, false, "<= 1.5", 1.5);
    }
    for (const Target& t : targets) {
      Row(out, "count, no filter, " + t.name, "count/engine/" + t.name, "", "count/sqlite_path/" + t.name,
          "count/sqlite_cte/" + t.name, false, "<= 20 us", 0);
    }
    Row(out, "check", "check/engine", "check/raw", "check/sqlite_path", "", false, "<= 2", 2);
    Row(out, "who-can", "who_can/engine", "", "", "", false, "", 0);
    Row(out, "account create", "account_create/engine", "account_create/raw", "", "", false, "", 0);
    Row(out, "device assign (1 device)", "device_assign/engine", "device_assign/raw", "", "", false, "", 0);
    Row(out, "subtree move (keys/s)", "subtree_move/engine", "subtree_move/raw", "", "", true,
        ">= 1M keys/s", 0);
    for (const auto& [name, r] : results_) {
      if (name.rfind("bulk_import/engine", 0) == 0) {
        std::string raw = "bulk_import/raw" + name.substr(std::strlen("bulk_import/engine"));
        Row(out, "bulk import (devices/s)", name, raw, "", "", true, ">= 1M devices/s", 0);
      }
    }
  }

 private:
  struct Result {
    double ns = 0;
    double items_per_second = 0;
  };
  static std::string Fmt(double v, bool per_second) {
    std::ostringstream s;
    s << std::setprecision(3);
    if (per_second) {
      if (v >= 1e6) s << v / 1e6 << " M/s";
      else s << v / 1e3 << " k/s";
    } else if (v >= 1e6) {
      s << v / 1e6 << " ms";
    } else if (v >= 1e3) {
      s << v / 1e3 << " us";
    } else {
      s << v << " ns";
    }
    return s.str();
  }
  void Row(std::ostream& out, const std::string& label, const std::string& engine,
           const std::string& raw, const std::string& sqlite_path, const std::string& sqlite_cte,
           bool throughput, const std::string& budget, double limit) const {
    auto e = results_.find(engine);
    if (e == results_.end()) return;
    auto value = [&](const Result& r) { return throughput ? r.items_per_second : r.ns; };
    out << "| " << label << " | " << Fmt(value(e->second), throughput) << " | ";
    auto r = raw.empty() ? results_.end() : results_.find(raw);
    if (r != results_.end()) {
      double ratio = throughput ? e->second.items_per_second / r->second.items_per_second
                                : e->second.ns / r->second.ns;
      bool met = limit == 0 || (throughput ? ratio >= limit : ratio <= limit);
      std::ostringstream rs;
      rs << std::setprecision(3) << ratio << (limit == 0 ? "" : met ? " (met)" : " (MISSED)");
      out << Fmt(value(r->second), throughput) << " | " << rs.str();
    } else {
      out << "— | —";
    }
    out << " | " << (budget.empty() ? "—" : budget) << " | ";
    for (const std::string& s : {sqlite_path, sqlite_cte}) {
      auto q = s.empty() ? results_.end() : results_.find(s);
      if (q == results_.end()) {
        out << "— | ";
        continue;
      }
      // How many times slower SQLite is than Canopy.
      double x = throughput ? e->second.items_per_second / q->second.items_per_second
                            : q->second.ns / e->second.ns;
      std::ostringstream qs;
      qs << Fmt(value(q->second), throughput) << " (" << std::setprecision(3) << x << "x)";
      out << qs.str() << " | ";
    }
    out << "\n";
  }
  std::map<std::string, Result> results_;
};

int Main(int argc, char** argv) {
  // Canopy's own flags through CLI11 (cli11_flags.h); everything else, the
  // --benchmark_* flags and --help, goes on to Google Benchmark.
  std::string scale = "full";
  std::vector<std::string> passed_on;
  {
    CLI::App app;
    app.set_help_flag();
    app.allow_extras();
    std::vector<std::string> scales, dirs;
    cli11::AddValued(app, "scale", &scales);
    cli11::AddValued(app, "dir", &dirs);
    try {
      passed_on = cli11::Parse(app, std::vector<std::string>(argv + 1, argv + argc),
                               {"scale", "dir"});
      scale = cli11::Single("scale", scales).value_or(scale);
      bench_dir = cli11::Single("dir", dirs).value_or(bench_dir);
    } catch (const cli11::FlagError& e) {
      std::cerr << "canopy_micro_bench: " << e.message << "\n";
      return 2;
    }
  }
  std::vector<char*> rest = {argv[0]};
  for (std::string& a : passed_on) rest.push_back(a.data());
  TreeSpec spec;
  uint64_t move_devices = 100000, import_devices = 1000000;
  std::vector<std::pair<std::string, uint64_t>> sizes;
  if (scale == "full") {
    spec.accounts = 10000;
    spec.devices = 1000000;
    sizes = {{"1k", 1000}, {"100k", 100000}, {"all", spec.devices}};
  } else if (scale == "small") {
    spec.accounts = 2000;
    spec.devices = 200000;
    move_devices = 20000;
    import_devices = 200000;
    sizes = {{"1k", 1000}, {"100k", 100000}, {"all", spec.devices}};
  } else if (scale == "tiny") {
    spec.accounts = 50;
    spec.devices = 2000;
    spec.users = 20;
    move_devices = 500;
    import_devices = 2000;
    sizes = {{"100", 100}, {"all", spec.devices}};
  } else {
    std::cerr << "unknown --scale " << scale << " (tiny, small, full)\n";
    return 2;
  }
  std::unique_ptr<BenchEnv> e;
  Status s = BenchEnv::Prepare(spec, bench_dir, true, true, &e);
  if (!s.ok()) {
    std::cerr << "bench setup failed: " << s.ToString() << "\n";
    return 1;
  }
  env = e.get();
  for (const auto& [name, min] : sizes) {
    uint32_t idx = min >= spec.devices ? 0 : env->tree.SubtreeAtLeast(min);
    if (min >= spec.devices) {
      // The root holding every device (spec.roots == 1).
      for (uint32_t i = 0; i < env->tree.parent.size(); ++i) {
        if (env->tree.parent[i] == UINT32_MAX) idx = i;
      }
    }
    if (idx == UINT32_MAX) continue;
    Target t{name, idx, env->Account(idx), "", kNoId, env->tree.subtree[idx]};
    t.label = env->Label(t.id);
    t.admin = env->AdminOf(idx);
    if (t.id == kNoId || t.admin == kNoId || t.label.empty()) {
      std::cerr << "bench setup: cannot resolve target " << name << "\n";
      return 1;
    }
    targets.push_back(t);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 4096; ++i) device_keys.push_back(GeneratedTree::DeviceKey(rng() % spec.devices));
  s = MakeScratch(move_devices);
  if (!s.ok()) {
    std::cerr << "bench scratch setup failed: " << s.ToString() << "\n";
    return 1;
  }

  for (const Target& t : targets) {
    const Target* p = &t;
    benchmark::RegisterBenchmark(("scan/engine/" + t.name).c_str(), EngineScan, p)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("scan/raw/" + t.name).c_str(), RawScan, p)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("scan/sqlite_path/" + t.name).c_str(), SqliteScanPath, p)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("scan/sqlite_cte/" + t.name).c_str(), SqliteScanCte, p)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("first_page/engine/" + t.name).c_str(), EngineFirstPage, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("first_page/raw/" + t.name).c_str(), RawFirstPage, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("first_page/sqlite_path/" + t.name).c_str(), SqliteFirstPagePath, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("first_page/sqlite_cte/" + t.name).c_str(), SqliteFirstPageCte, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("count/engine/" + t.name).c_str(), EngineCount, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("count/sqlite_path/" + t.name).c_str(), SqliteCountPath, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("count/sqlite_cte/" + t.name).c_str(), SqliteCountCte, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
  }
  const Target* all = &targets.back();
  benchmark::RegisterBenchmark("check/engine", EngineCheck, all)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("check/raw", RawCheck, all)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("check/sqlite_path", SqliteCheck, all)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("who_can/engine", EngineWhoCan, all)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("label/encode_6_levels", LabelEncode)->UseRealTime();
  benchmark::RegisterBenchmark("label/compare", LabelCompare)->UseRealTime();
  benchmark::RegisterBenchmark("account_create/engine", EngineAccountCreate)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("account_create/raw", RawAccountCreate)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("account_create_durable/engine", EngineAccountCreateDurable)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("device_assign/engine", EngineDeviceAssign)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("device_assign/raw", RawDeviceAssign)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("reassign_100/engine", EngineReassign100)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("subtree_move/engine", EngineSubtreeMove)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("subtree_move/raw", RawSubtreeMove)->UseRealTime()->Unit(benchmark::kMillisecond);
#if __has_include("canopy/changes.h")
  benchmark::RegisterBenchmark("changes_read/engine/values", EngineChangesRead)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("changes_read/engine/keys_only", EngineChangesRead)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("log_entries_read/engine", EngineLogEntriesRead)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
  benchmark::RegisterBenchmark("bulk_import/engine", EngineBulkImport)
      ->Arg(static_cast<int64_t>(import_devices))->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)
      ->ReportAggregatesOnly(false);
  benchmark::RegisterBenchmark("bulk_import/raw", RawBulkImport)
      ->Arg(static_cast<int64_t>(import_devices))->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);

  int bargc = static_cast<int>(rest.size());
  benchmark::Initialize(&bargc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(bargc, rest.data())) return 2;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::cout << "\nscale " << scale << ": " << spec.accounts << " accounts, " << spec.devices
            << " devices; disk " << env->DiskBytes() / (double)spec.devices << " bytes/device\n";
  reporter.PrintTable(std::cout);
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace canopy::bench

int main(int argc, char** argv) { return canopy::bench::Main(argc, argv); }
