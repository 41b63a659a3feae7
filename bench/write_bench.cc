// Copyright (c) Canopy authors.
//
// canopy_write_bench: Canopy under a platform server's load, side by side
// with raw RocksDB in the same run.
//
//   durable/raw_rocksdb/threads:N   N threads each writing one WriteBatch
//                                   with sync on (RocksDB's own group
//                                   commit); the batch carries as many
//                                   bytes as one Canopy device creation.
//   durable/canopy/threads:N        N threads each calling CreateEntity with
//                                   Options::sync (the default).
//   mixed/canopy/reads_only, mixed/canopy/reads_with_writes
//                                   threads run check / count / first page
//                                   in turn on a small tree of accounts,
//                                   users, memberships and devices; in the
//                                   second run 10% of the operations are
//                                   durable device creations. Counters give
//                                   the reads' p50 and p99 in microseconds,
//                                   all together and per kind.
//   mixed/raw_rocksdb/...           the same mix on raw RocksDB: a Get, a
//                                   Get, a 100-key range read; writes are
//                                   synced batches of a creation's size.
//
// The folder for the scratch databases is $CANOPY_BENCH_DIR (default
// ./canopy-write-bench, removed at the end); $CANOPY_BENCH_THREADS sets the
// mixed runs' threads (default 4). Only Google Benchmark's own flags are
// taken (e.g. --benchmark_filter=durable).

#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "canopy/db.h"

namespace fs = std::filesystem;
using namespace canopy;

namespace {

std::string BenchDir() {
  const char* d = std::getenv("CANOPY_BENCH_DIR");
  return d != nullptr && *d != '\0' ? d : "canopy-write-bench";
}

void Fail(benchmark::State& state, const Status& s) { state.SkipWithError(s.ToString().c_str()); }

// ---- durable single writes ----------------------------------------------

// Bytes a device creation adds to the write-ahead log, measured once.
std::atomic<uint64_t> canopy_batch_bytes{0};

struct Durable {
  std::unique_ptr<Db> db;
  AccountId owner = kNoId;
  std::atomic<uint64_t> next{0};
};
Durable* durable = nullptr;

void CanopyDurable(benchmark::State& state) {
  if (state.thread_index() == 0) {
    durable = new Durable;
    const std::string path = BenchDir() + "/durable";
    std::error_code ec;
    fs::remove_all(path, ec);
    Options o;  // sync on: the default
    Status s = Db::Open(o, path, &durable->db);
    if (s.ok()) {
      AccountSpec root;
      root.key = "tenant";
      root.name = "Tenant";
      auto id = durable->db->CreateAccount(Actor::System(), root);
      s = id.status();
      if (id.ok()) durable->owner = *id;
    }
    if (!s.ok()) Fail(state, s);
  }
  // (Google Benchmark starts the timed loop of all threads together.)
  for (auto _ : state) {
    EntitySpec e;
    const uint64_t n = durable->next.fetch_add(1);
    e.key = "dev-" + std::to_string(n);
    e.name = "Device " + std::to_string(n);
    e.type = "tracker";
    e.owner = durable->owner;
    auto id = durable->db->CreateEntity(Actor::System(), e);
    if (!id.ok()) {
      Fail(state, id.status());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["batch_bytes"] = static_cast<double>(canopy_batch_bytes.load());
  }
}

void CanopyDurableTeardown(const benchmark::State&) {
  if (durable == nullptr) return;
  durable->db.reset();
  std::error_code ec;
  fs::remove_all(BenchDir() + "/durable", ec);
  delete durable;
  durable = nullptr;
}

// Measures the WAL bytes of one CreateEntity on a scratch database.
Status MeasureBatchBytes() {
  const std::string path = BenchDir() + "/measure";
  std::error_code ec;
  fs::remove_all(path, ec);
  std::unique_ptr<Db> db;
  Options o;
  o.sync = false;
  CANOPY_RETURN_IF_ERROR(Db::Open(o, path, &db));
  AccountSpec root;
  root.key = "tenant";
  root.name = "Tenant";
  CANOPY_ASSIGN_OR_RETURN(AccountId owner, db->CreateAccount(Actor::System(), root));
  auto wal_bytes = [&]() -> uint64_t {
    uint64_t total = 0;
    for (const auto& f : fs::directory_iterator(path)) {
      if (f.path().extension() == ".log") total += f.file_size();
    }
    return total;
  };
  const uint64_t before = wal_bytes();
  constexpr int kN = 1000;
  for (int i = 0; i < kN; ++i) {
    EntitySpec e;
    e.key = "dev-" + std::to_string(i);
    e.name = "Device " + std::to_string(i);
    e.type = "tracker";
    e.owner = owner;
    CANOPY_RETURN_IF_ERROR(db->CreateEntity(Actor::System(), e).status());
  }
  canopy_batch_bytes = (wal_bytes() - before) / kN;
  db.reset();
  fs::remove_all(path, ec);
  return Status::Ok();
}

struct Raw {
  std::unique_ptr<rocksdb::DB> db;
  std::atomic<uint64_t> next{0};
};
Raw* raw = nullptr;

void RawDurable(benchmark::State& state) {
  if (state.thread_index() == 0) {
    raw = new Raw;
    const std::string path = BenchDir() + "/raw";
    std::error_code ec;
    fs::remove_all(path, ec);
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* d = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, path, &d);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    raw->db.reset(d);
  }
  // Six keys (a Canopy device creation writes about as many), values
  // sized so that the batch carries the bytes one creation does.
  const uint64_t bytes = std::max<uint64_t>(canopy_batch_bytes.load(), 64);
  const size_t value_size = bytes / 6;
  const std::string value(value_size, 'v');
  rocksdb::WriteOptions wo;
  wo.sync = true;
  for (auto _ : state) {
    const uint64_t n = raw->next.fetch_add(1);
    rocksdb::WriteBatch batch;
    for (int k = 0; k < 6; ++k) batch.Put("k" + std::to_string(k) + "-" + std::to_string(n), value);
    rocksdb::Status s = raw->db->Write(wo, &batch);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void RawDurableTeardown(const benchmark::State&) {
  if (raw == nullptr) return;
  raw->db.reset();
  std::error_code ec;
  fs::remove_all(BenchDir() + "/raw", ec);
  delete raw;
  raw = nullptr;
}

// ---- reads with and without writes mixed in --------------------------------

struct Tree {
  std::unique_ptr<Db> db;
  AccountId tenant = kNoId;
  std::vector<AccountId> customers;
  std::vector<UserId> users;         // one admin per customer (branch)
  std::vector<std::string> devices;  // keys
};

Status BuildTree(const std::string& path, Tree* t) {
  std::error_code ec;
  fs::remove_all(path, ec);
  {
    std::unique_ptr<Db> db;
    Options o;
    o.sync = false;  // building only
    CANOPY_RETURN_IF_ERROR(Db::Open(o, path, &db));
    AccountSpec ts;
    ts.key = "tenant";
    ts.name = "Tenant";
    ts.settings.sub_account_management = true;
    CANOPY_ASSIGN_OR_RETURN(t->tenant, db->CreateAccount(Actor::System(), ts));
    CANOPY_ASSIGN_OR_RETURN(Role admin, db->FindRole(kNoId, "account_admin"));
    std::mt19937 rng(7);
    int d = 0;
    for (int c = 0; c < 50; ++c) {
      AccountSpec cs;
      cs.key = "customer-" + std::to_string(c);
      cs.name = "Customer " + std::to_string(c);
      cs.parent = t->tenant;
      cs.settings.sub_account_management = true;
      CANOPY_ASSIGN_OR_RETURN(AccountId cid, db->CreateAccount(Actor::System(), cs));
      t->customers.push_back(cid);
      std::vector<AccountId> owners{cid};
      for (int s = 0; s < 4; ++s) {
        AccountSpec ss;
        ss.key = cs.key + "-site-" + std::to_string(s);
        ss.name = ss.key;
        ss.parent = cid;
        CANOPY_ASSIGN_OR_RETURN(AccountId sid, db->CreateAccount(Actor::System(), ss));
        owners.push_back(sid);
      }
      UserSpec us;
      us.login = "admin-" + std::to_string(c) + "@example.com";
      us.name = "Admin " + std::to_string(c);
      us.account = cid;
      CANOPY_ASSIGN_OR_RETURN(UserId uid, db->CreateUser(Actor::System(), us));
      CANOPY_RETURN_IF_ERROR(db->Invite(Actor::System(), uid, cid, admin.id, true));
      t->users.push_back(uid);
      for (int i = 0; i < 400; ++i, ++d) {
        EntitySpec e;
        e.key = "dev-" + std::to_string(d);
        e.name = "Device " + std::to_string(d);
        e.type = i % 3 ? "tracker" : "sensor";
        e.owner = owners[rng() % owners.size()];
        CANOPY_RETURN_IF_ERROR(db->CreateEntity(Actor::System(), e).status());
        t->devices.push_back(e.key);
      }
    }
  }
  Options o;  // the durable default for the measured run
  return Db::Open(o, path, &t->db);
}

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  const size_t i = std::min(v->size() - 1, static_cast<size_t>(p * static_cast<double>(v->size())));
  std::nth_element(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(i), v->end());
  return (*v)[i];
}

// What one mixed run drives: Read(kind, customer, rng) does a check (0), a
// count (1) or a first page (2) as customer's admin; Write(customer, n)
// makes durable device creation n. Both return a non-OK status to stop
// the run.
struct MixedLoad {
  size_t customers = 0;
  std::function<Status(int kind, size_t customer, std::mt19937* rng)> read;
  std::function<Status(size_t customer, uint64_t n)> write;
};

// Runs `load` on $CANOPY_BENCH_THREADS threads (default 4) for 3 s, with
// write_percent of the operations writes, and sets the counters: reads,
// writes, and p50 / p99 in microseconds of all reads and of each kind.
void RunMixed(benchmark::State& state, const MixedLoad& load, int write_percent) {
  const char* threads_env = std::getenv("CANOPY_BENCH_THREADS");
  const int kThreads = threads_env != nullptr ? std::atoi(threads_env) : 4;
  constexpr auto kDuration = std::chrono::seconds(3);
  // Read latencies in microseconds, per thread and per kind.
  std::vector<std::array<std::vector<double>, 3>> lat(static_cast<size_t>(kThreads));
  std::atomic<uint64_t> writes{0}, next_device{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mu;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    const auto end = std::chrono::steady_clock::now() + kDuration;
    for (int th = 0; th < kThreads; ++th) {
      threads.emplace_back([&, th] {
        std::mt19937 rng(static_cast<unsigned>(th) + 1);
        auto fail = [&](const Status& st) {
          std::lock_guard<std::mutex> g(error_mu);
          error = st.ToString();
          failed = true;
        };
        for (uint64_t op = 0; std::chrono::steady_clock::now() < end && !failed; ++op) {
          const size_t c = rng() % load.customers;
          if (static_cast<int>(rng() % 100) < write_percent) {
            Status st = load.write(c, next_device.fetch_add(1));
            if (!st.ok()) fail(st);
            ++writes;
            continue;
          }
          const int kind = static_cast<int>(op % 3);
          const auto t0 = std::chrono::steady_clock::now();
          Status st = load.read(kind, c, &rng);
          lat[th][static_cast<size_t>(kind)].push_back(
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                  .count());
          if (!st.ok()) fail(st);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  if (failed) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::vector<double> all;
  static const char* const kKinds[3] = {"check", "count", "page"};
  for (size_t k = 0; k < 3; ++k) {
    std::vector<double> kind;
    for (auto& v : lat) kind.insert(kind.end(), v[k].begin(), v[k].end());
    all.insert(all.end(), kind.begin(), kind.end());
    state.counters[std::string(kKinds[k]) + "_p50_us"] = Percentile(&kind, 0.50);
    state.counters[std::string(kKinds[k]) + "_p99_us"] = Percentile(&kind, 0.99);
  }
  state.counters["reads"] = static_cast<double>(all.size());
  state.counters["writes"] = static_cast<double>(writes.load());
  state.counters["read_p50_us"] = Percentile(&all, 0.50);
  state.counters["read_p99_us"] = Percentile(&all, 0.99);
}

// state.range(0): percent of operations that are writes.
void Mixed(benchmark::State& state) {
  const std::string path = BenchDir() + "/mixed";
  Tree t;
  Status s = BuildTree(path, &t);
  if (!s.ok()) {
    Fail(state, s);
    return;
  }
  MixedLoad load;
  load.customers = t.customers.size();
  load.read = [&t](int kind, size_t c, std::mt19937* rng) -> Status {
    VisibleRequest r(Actor::User(t.users[c]));
    switch (kind) {
      case 0: {
        auto ok = t.db->Check(t.users[c], "device.read", t.devices[(*rng)() % t.devices.size()]);
        // Another customer's device is out of sight: NotFound, a denial.
        return ok.ok() || ok.status().IsNotFound() ? Status::Ok() : ok.status();
      }
      case 1:
        return t.db->Count(r).status();
      default: {
        VisiblePage page;
        r.limit = 100;
        return t.db->Visible(r, &page);
      }
    }
  };
  load.write = [&t](size_t c, uint64_t n) -> Status {
    EntitySpec e;
    e.key = "new-" + std::to_string(n);
    e.name = "New " + std::to_string(n);
    e.owner = t.customers[c];
    return t.db->CreateEntity(Actor::User(t.users[c]), e).status();
  };
  RunMixed(state, load, static_cast<int>(state.range(0)));
  t.db.reset();
  std::error_code ec;
  fs::remove_all(path, ec);
}

// The same mix on raw RocksDB, the baseline of what the disk, the kernel
// and RocksDB cost without Canopy: a check is one point Get of a device
// key, a count one Get of a counter, a first page an iterator reading 100
// keys of the customer's range; a write is a synced batch of six keys
// carrying as many bytes as a Canopy device creation, one of them in the
// customer's range (so pages, like Canopy's, merge new memtable entries).
void RawMixed(benchmark::State& state) {
  const std::string path = BenchDir() + "/raw-mixed";
  std::error_code ec;
  fs::remove_all(path, ec);
  std::unique_ptr<rocksdb::DB> db;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* d = nullptr;
    rocksdb::Status rs = rocksdb::DB::Open(o, path, &d);
    if (!rs.ok()) {
      state.SkipWithError(rs.ToString().c_str());
      return;
    }
    db.reset(d);
  }
  constexpr size_t kCustomers = 50, kPerCustomer = 400;
  auto range_key = [](size_t c, const std::string& device) {
    char prefix[16];
    std::snprintf(prefix, sizeof(prefix), "v/%04zu/", c);
    return prefix + device;
  };
  const uint64_t bytes = std::max<uint64_t>(canopy_batch_bytes.load(), 64);
  const std::string value(bytes / 6, 'v');
  {
    rocksdb::WriteBatch batch;
    for (size_t c = 0; c < kCustomers; ++c) {
      batch.Put("n/" + std::to_string(c), "00000400");
      for (size_t i = 0; i < kPerCustomer; ++i) {
        const std::string dev = "dev-" + std::to_string(c * kPerCustomer + i);
        batch.Put("d/" + dev, "00000000");
        batch.Put(range_key(c, dev), value);
      }
    }
    rocksdb::Status rs = db->Write(rocksdb::WriteOptions(), &batch);
    if (rs.ok()) rs = db->Flush(rocksdb::FlushOptions());
    if (!rs.ok()) {
      state.SkipWithError(rs.ToString().c_str());
      return;
    }
  }
  auto to_status = [](const rocksdb::Status& rs) {
    return rs.ok() || rs.IsNotFound() ? Status::Ok() : Status::IOError(rs.ToString());
  };
  MixedLoad load;
  load.customers = kCustomers;
  load.read = [&](int kind, size_t c, std::mt19937* rng) -> Status {
    std::string v;
    switch (kind) {
      case 0:
        return to_status(db->Get(
            rocksdb::ReadOptions(),
            "d/dev-" + std::to_string((*rng)() % (kCustomers * kPerCustomer)), &v));
      case 1:
        return to_status(db->Get(rocksdb::ReadOptions(), "n/" + std::to_string(c), &v));
      default: {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
        const std::string prefix = range_key(c, "");
        int n = 0;
        for (it->Seek(prefix); it->Valid() && n < 100 && it->key().starts_with(prefix);
             it->Next()) {
          ++n;
        }
        return to_status(it->status());
      }
    }
  };
  rocksdb::WriteOptions sync;
  sync.sync = true;
  load.write = [&](size_t c, uint64_t n) -> Status {
    const std::string dev = "new-" + std::to_string(n);
    rocksdb::WriteBatch batch;
    batch.Put(range_key(c, dev), value);
    batch.Put("d/" + dev, value);
    for (int k = 0; k < 4; ++k) batch.Put("log/" + std::to_string(k) + "/" + dev, value);
    return to_status(db->Write(sync, &batch));
  };
  RunMixed(state, load, static_cast<int>(state.range(0)));
  db.reset();
  fs::remove_all(path, ec);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::error_code ec;
  fs::create_directories(BenchDir(), ec);
  Status m = MeasureBatchBytes();
  if (!m.ok()) {
    std::fprintf(stderr, "canopy_write_bench: %s\n", m.ToString().c_str());
    return 1;
  }
  for (int threads : {1, 4, 16}) {
    benchmark::RegisterBenchmark("durable/raw_rocksdb", RawDurable)
        ->Threads(threads)
        ->UseRealTime()
        ->MinTime(2.0)
        ->Teardown(RawDurableTeardown);
    benchmark::RegisterBenchmark("durable/canopy", CanopyDurable)
        ->Threads(threads)
        ->UseRealTime()
        ->MinTime(2.0)
        ->Teardown(CanopyDurableTeardown);
  }
  // Canopy's two runs, then raw RocksDB's, one after the other.
  benchmark::RegisterBenchmark("mixed/canopy/reads_only", Mixed)
      ->Arg(0)
      ->Iterations(1)
      ->UseRealTime();
  benchmark::RegisterBenchmark("mixed/canopy/reads_with_writes", Mixed)
      ->Arg(10)
      ->Iterations(1)
      ->UseRealTime();
  benchmark::RegisterBenchmark("mixed/raw_rocksdb/reads_only", RawMixed)
      ->Arg(0)
      ->Iterations(1)
      ->UseRealTime();
  benchmark::RegisterBenchmark("mixed/raw_rocksdb/reads_with_writes", RawMixed)
      ->Arg(10)
      ->Iterations(1)
      ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  fs::remove_all(BenchDir(), ec);
  return 0;
}
