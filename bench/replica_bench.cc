// Copyright (c) Canopy authors.
//
// canopy_replica_bench --etcd URLS [--devices N] [--dir DIR] [--seconds S]
//
// Replicas side by side with a single-process database, in one run, on one
// generated tree (accounts, users with memberships, devices):
//   1. local reads on a replica (visible first page, count, check as random
//      users) against the same reads on a single-process database;
//   2. replication lag: one replica writes, another applies; the delay from
//      the writer's acknowledgement to "applied on the other replica";
//   3. write throughput through etcd: 16 writer threads over 3 replicas,
//      beside etcd's own put throughput (16 threads, same client, same
//      cluster; values of 300 bytes, and of the mean size of the log
//      entries the writes made): the ratios.
//   4. with --trim N: N more writes (4 threads on 2 replicas, a checkpoint
//      every 10,000 revisions), sampling etcd's key count under the log's
//      prefix: trimming keeps it bounded.
// Start a cluster first: scripts/etcd-cluster start DIR (prints URLS).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/generator.h"
#include "canopy/db.h"
#include "replication/etcd_client.h"
#include "replication/log.h"

using namespace canopy;
using Clock = std::chrono::steady_clock;

namespace {

double Micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

struct Stats {
  std::vector<double> us;
  double Percentile(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))];
  }
  double Mean() const {
    double s = 0;
    for (double x : us) s += x;
    return us.empty() ? 0 : s / static_cast<double>(us.size());
  }
};

void Die(const std::string& what, const Status& s) {
  std::cerr << "replica_bench: " << what << ": " << s.ToString() << "\n";
  std::exit(1);
}

std::unique_ptr<Db> Open(const std::string& path, const std::vector<std::string>& etcd,
                         const std::string& prefix) {
  Options o;
  o.sync = false;  // the benchmarks measure the engine and etcd, not the local fsync
  o.replication.etcd_endpoints = etcd;
  o.replication.prefix = prefix;
  std::unique_ptr<Db> db;
  Status s = Db::Open(o, path, &db);
  if (!s.ok()) Die("open " + path, s);
  return db;
}

struct ReadTargets {
  std::vector<UserId> users;
  std::vector<std::string> devices;
};

// Visible first page, count and check as random users: per-op latencies.
std::map<std::string, Stats> Reads(Db* db, const ReadTargets& t, int iterations, uint64_t seed) {
  std::map<std::string, Stats> out;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < iterations; ++i) {
    const UserId u = t.users[rng() % t.users.size()];
    const std::string& dev = t.devices[rng() % t.devices.size()];
    VisibleRequest req(Actor::User(u));
    req.limit = 50;
    VisiblePage page;
    auto a = Clock::now();
    Status s = db->Visible(req, &page);
    auto b = Clock::now();
    if (!s.ok()) Die("visible", s);
    auto n = db->Count(req);
    auto c = Clock::now();
    if (!n.ok()) Die("count", n.status());
    auto ok = db->Check(u, "device.read", dev);
    auto d = Clock::now();
    if (!ok.ok() && ok.status().code() != Code::kNotFound) Die("check", ok.status());
    out["visible page"].us.push_back(Micros(b - a));
    out["count"].us.push_back(Micros(c - b));
    out["check"].us.push_back(Micros(d - c));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> etcd;
  uint64_t devices = 100000;
  std::string dir = "/tmp/canopy-replica-bench";
  double seconds = 5;
  uint64_t trim_writes = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--etcd") {
      std::stringstream ss(value());
      for (std::string u; std::getline(ss, u, ',');) etcd.push_back(u);
    } else if (a == "--devices") {
      devices = std::stoull(value());
    } else if (a == "--dir") {
      dir = value();
    } else if (a == "--seconds") {
      seconds = std::stod(value());
    } else if (a == "--trim") {
      trim_writes = std::stoull(value());
    } else {
      std::cerr << "usage: canopy_replica_bench --etcd URLS [--devices N] [--dir DIR] "
                   "[--seconds S] [--trim N]\n";
      return 2;
    }
  }
  if (etcd.empty()) {
    std::cerr << "canopy_replica_bench: --etcd URLS is required (scripts/etcd-cluster start DIR)\n";
    return 2;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string prefix = "bench/" + std::to_string(std::random_device()());

  // The tree: accounts, users with memberships, devices.
  bench::TreeSpec spec;
  spec.accounts = std::max<uint64_t>(100, devices / 50);
  spec.devices = devices;
  spec.users = std::max<uint64_t>(100, devices / 100);
  spec.memberships_per_user = 2;
  bench::GeneratedTree tree;
  const std::string file = dir + "/tree.jsonl";
  Status s = bench::Generate(spec, file, &tree);
  if (!s.ok()) Die("generate", s);
  std::printf("tree: %llu accounts, %llu users (2 memberships each), %llu devices; %.1f MB\n",
              static_cast<unsigned long long>(spec.accounts),
              static_cast<unsigned long long>(spec.users),
              static_cast<unsigned long long>(spec.devices),
              static_cast<double>(std::filesystem::file_size(file)) / 1e6);

  // The single-process database and the first replica, from the same file.
  Options solo_options;
  solo_options.sync = false;
  std::unique_ptr<Db> solo;
  if (!(s = Db::Open(solo_options, dir + "/solo", &solo)).ok()) Die("open solo", s);
  auto t0 = Clock::now();
  if (!(s = solo->Import(Actor::System(), file, ImportOptions(), nullptr)).ok()) Die("import", s);
  auto t1 = Clock::now();
  auto r1 = Open(dir + "/r1", etcd, prefix);
  if (!(s = r1->Import(Actor::System(), file, ImportOptions(), nullptr)).ok()) Die("import r1", s);
  auto t2 = Clock::now();
  auto r2 = Open(dir + "/r2", etcd, prefix);  // replays the import from etcd
  auto t3 = Clock::now();
  auto r3 = Open(dir + "/r3", etcd, prefix);
  std::printf("import: single process %.2f s; replica (through etcd) %.2f s; a new replica "
              "replaying it from etcd %.2f s\n",
              std::chrono::duration<double>(t1 - t0).count(),
              std::chrono::duration<double>(t2 - t1).count(),
              std::chrono::duration<double>(t3 - t2).count());

  // 1. Local reads.
  ReadTargets targets;
  for (uint64_t u = 0; u < spec.users; ++u) {
    auto user = solo->FindUser(bench::GeneratedTree::UserLogin(u));
    if (!user.ok()) Die("find user", user.status());
    targets.users.push_back(user->id);
  }
  for (uint64_t d = 0; d < devices; d += std::max<uint64_t>(1, devices / 5000)) {
    targets.devices.push_back(bench::GeneratedTree::DeviceKey(d));
  }
  for (uint64_t u = 0; u < spec.users; ++u) {  // same ids on the replica
    auto user = r2->FindUser(bench::GeneratedTree::UserLogin(u));
    if (!user.ok() || user->id != targets.users[u]) Die("replica user ids", user.status());
  }
  const int iters = 3000;
  (void)Reads(solo.get(), targets, 300, 1);  // warm both
  (void)Reads(r2.get(), targets, 300, 1);
  // Interleaved rounds, so that drift on the machine hits both alike.
  std::map<std::string, Stats> solo_reads, replica_reads;
  for (int round = 0; round < 4; ++round) {
    for (auto& [k, v] : Reads(solo.get(), targets, iters / 4, 7 + round)) {
      solo_reads[k].us.insert(solo_reads[k].us.end(), v.us.begin(), v.us.end());
    }
    for (auto& [k, v] : Reads(r2.get(), targets, iters / 4, 7 + round)) {
      replica_reads[k].us.insert(replica_reads[k].us.end(), v.us.begin(), v.us.end());
    }
  }
  std::printf("\nlocal reads (%d each, as random users)   single p50/p99 us   replica p50/p99 us"
              "   mean ratio\n", iters);
  for (auto& [k, v] : solo_reads) {
    Stats& r = replica_reads[k];
    std::printf("  %-14s %22.1f / %-8.1f %12.1f / %-8.1f %8.2fx\n", k.c_str(), v.Percentile(0.5),
                v.Percentile(0.99), r.Percentile(0.5), r.Percentile(0.99), r.Mean() / v.Mean());
  }

  // 2. Replication lag: r1 writes one at a time, r2 applies.
  auto root = r1->FindAccount(bench::GeneratedTree::AccountKey(0));
  if (!root.ok()) Die("root", root.status());
  const int lag_writes = 2000;
  std::vector<Clock::time_point> acked(lag_writes), applied(lag_writes);
  const uint64_t base = r1->Revision();
  if (!r2->SyncWithLog(10000).ok()) Die("sync", Status::Aborted("r2"));
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    uint64_t seen = base;
    while (seen < base + lag_writes) {
      auto rev = r2->WaitForChanges(seen, 1000);
      if (!rev.ok()) Die("wait", rev.status());
      const auto now = Clock::now();
      for (uint64_t r = seen + 1; r <= *rev && r <= base + lag_writes; ++r) {
        applied[r - base - 1] = now;
      }
      seen = *rev;
    }
    done = true;
  });
  Stats commit;
  for (int i = 0; i < lag_writes; ++i) {
    EntitySpec e;
    e.key = "lag-" + std::to_string(i);
    e.name = e.key;
    e.owner = root->id;
    auto a = Clock::now();
    auto id = r1->CreateEntity(Actor::System(), e);
    if (!id.ok()) Die("write", id.status());
    acked[r1->LastCommittedRevision() - base - 1] = Clock::now();
    commit.us.push_back(Micros(acked[r1->LastCommittedRevision() - base - 1] - a));
  }
  watcher.join();
  Stats lag;
  for (int i = 0; i < lag_writes; ++i) {
    lag.us.push_back(std::max(0.0, Micros(applied[i] - acked[i])));
  }
  std::printf("\nreplication (%d writes on one replica, applied on another)\n", lag_writes);
  std::printf("  write latency (etcd round trip + local apply)   p50 %.0f us, p99 %.0f us\n",
              commit.Percentile(0.5), commit.Percentile(0.99));
  std::printf("  lag: acknowledged on the writer -> applied on the other   p50 %.0f us, p99 %.0f "
              "us, max %.0f us\n",
              lag.Percentile(0.5), lag.Percentile(0.99), lag.Percentile(1.0));

  // 3. Throughput: 16 writers over 3 replicas, then etcd's own puts.
  std::vector<Db*> replicas = {r1.get(), r2.get(), r3.get()};
  for (Db* r : replicas) (void)r->SyncWithLog(10000);
  std::atomic<uint64_t> writes{0}, failures{0};
  std::atomic<uint64_t> per_replica[3] = {0, 0, 0};
  std::vector<Stats> write_us(16);  // each thread's write latencies
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto w0 = Clock::now();
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Db* db = replicas[t % 3];
      for (uint64_t i = 0; !stop.load(); ++i) {
        EntitySpec e;
        e.key = "tp-" + std::to_string(t) + "-" + std::to_string(i);
        e.name = e.key;
        e.owner = root->id;
        const auto a = Clock::now();
        if (db->CreateEntity(Actor::System(), e).ok()) {
          ++writes;
          ++per_replica[t % 3];
        } else {
          ++failures;
        }
        write_us[t].us.push_back(Micros(Clock::now() - a));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double canopy_rate =
      static_cast<double>(writes.load()) / std::chrono::duration<double>(Clock::now() - w0).count();

  replication::EtcdOptions eo;
  eo.endpoints = etcd;
  replication::EtcdClient client(eo);
  // What those writes put in etcd: the mean size of the newest log entries
  // (the bytes etcd stores; its JSON gateway carries them in base64).
  size_t entry_bytes = 0;
  {
    const uint64_t head = r1->Revision();
    const uint64_t from = head > 1000 ? head - 999 : 1;
    replication::LogOptions lo;
    lo.etcd = eo;
    lo.prefix = prefix;
    const replication::EtcdLog log(lo);
    std::vector<replication::EtcdKv> kvs;
    if (client.Range(log.EntryKey(from), log.EntryKey(head + 1), 0, &kvs).ok() &&
        !kvs.empty()) {
      for (const replication::EtcdKv& kv : kvs) entry_bytes += kv.value.size();
      entry_bytes /= kvs.size();
    }
  }
  // etcd's own puts, 16 threads: of 300 bytes, and of the entries' size.
  auto put_loop = [&](size_t bytes) {
    std::atomic<uint64_t> puts{0};
    stop = false;
    threads.clear();
    const std::string value(bytes, 'x');
    const auto p0 = Clock::now();
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t i = 0; !stop.load(); ++i) {
          if (client.Put(prefix + "/put-bench/" + std::to_string(t) + "/" + std::to_string(i),
                         value)
                  .ok()) {
            ++puts;
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    const double rate =
        static_cast<double>(puts.load()) / std::chrono::duration<double>(Clock::now() - p0).count();
    (void)client.DeleteRange(prefix + "/put-bench/", replication::PrefixEnd(prefix + "/put-bench/"));
    return rate;
  };
  const double put_rate = put_loop(300);
  const double sized_put_rate = entry_bytes > 0 ? put_loop(entry_bytes) : 0;
  std::printf("\nwrite throughput, 16 threads, %.0f s each\n", seconds);
  std::printf("  canopy writes over 3 replicas   %8.0f /s  (%llu failed; log entries of %zu "
              "bytes on average)\n",
              canopy_rate, static_cast<unsigned long long>(failures.load()), entry_bytes);
  std::printf("  etcd puts of 300 bytes           %8.0f /s\n", put_rate);
  std::printf("  ratio                            %8.2f\n", canopy_rate / put_rate);
  if (sized_put_rate > 0) {
    std::printf("  etcd puts of %zu bytes           %8.0f /s\n", entry_bytes, sized_put_rate);
    std::printf("  ratio to those                   %8.2f\n", canopy_rate / sized_put_rate);
  }
  // Fairness: replicas race for the log's head; none should be starved.
  Stats all_writes;
  for (Stats& w : write_us) all_writes.us.insert(all_writes.us.end(), w.us.begin(), w.us.end());
  std::printf("  per replica (6/5/5 threads)      %llu / %llu / %llu writes\n",
              static_cast<unsigned long long>(per_replica[0].load()),
              static_cast<unsigned long long>(per_replica[1].load()),
              static_cast<unsigned long long>(per_replica[2].load()));
  std::printf("  one write's latency              p50 %.0f us, p99 %.0f us, max %.0f us\n",
              all_writes.Percentile(0.5), all_writes.Percentile(0.99),
              all_writes.Percentile(1.0));
  for (Db* r : replicas) (void)r->SyncWithLog(30000);
  if (trim_writes > 0) {
    // 4. Trimming over a long run, on a fresh prefix (the tree above is not
    // needed): etcd's keys under the prefix stay bounded.
    const std::string tprefix = prefix + "-trim";
    Options o;
    o.sync = false;
    o.replication.etcd_endpoints = etcd;
    o.replication.prefix = tprefix;
    o.replication.checkpoint_dir = dir + "/checkpoints";
    o.replication.checkpoint_every = 10000;
    o.replication.housekeeping_interval_ms = 200;
    std::unique_ptr<Db> t1, t2;
    if (!(s = Db::Open(o, dir + "/t1", &t1)).ok()) Die("open t1", s);
    if (!(s = Db::Open(o, dir + "/t2", &t2)).ok()) Die("open t2", s);
    AccountSpec acc;
    acc.key = "trim-root";
    acc.name = "Trim";
    auto troot = t1->CreateAccount(Actor::System(), acc);
    if (!troot.ok()) Die("trim root", troot.status());
    std::atomic<uint64_t> next{0};
    size_t max_keys = 0;
    std::vector<std::thread> ws;
    const auto a0 = Clock::now();
    for (int t = 0; t < 4; ++t) {
      ws.emplace_back([&, t] {
        Db* db = t % 2 == 0 ? t1.get() : t2.get();
        for (uint64_t i = next++; i < trim_writes; i = next++) {
          EntitySpec e;
          e.key = "trim-" + std::to_string(i);
          e.name = e.key;
          e.owner = *troot;
          if (!db->CreateEntity(Actor::System(), e).ok()) ++failures;
        }
      });
    }
    std::printf("\ntrimming: %llu writes on 2 replicas, checkpoint every 10000 revisions\n",
                static_cast<unsigned long long>(trim_writes));
    std::printf("  %10s %12s %10s %12s\n", "revision", "etcd keys", "log first", "checkpoint");
    uint64_t last_report = 0;
    while (next.load() < trim_writes + 4) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      std::vector<replication::EtcdKv> kvs;
      if (!client.Range(tprefix + "/", replication::PrefixEnd(tprefix + "/"), 0, &kvs, nullptr,
                        nullptr, true)
               .ok()) {
        continue;
      }
      max_keys = std::max(max_keys, kvs.size());
      auto st = t1->GetReplicaStatus();
      if (st.ok() && st->applied >= last_report + trim_writes / 10) {
        last_report = st->applied;
        std::printf("  %10llu %12zu %10llu %12llu\n", static_cast<unsigned long long>(st->applied),
                    kvs.size(), static_cast<unsigned long long>(st->log_first),
                    static_cast<unsigned long long>(st->checkpoint));
      }
    }
    for (auto& w : ws) w.join();
    std::printf("  %llu writes in %.0f s; at most %zu etcd keys under the prefix at any sample\n",
                static_cast<unsigned long long>(trim_writes),
                std::chrono::duration<double>(Clock::now() - a0).count(), max_keys);
  }
  std::printf("\nfinal revision %llu on all replicas: %s\n",
              static_cast<unsigned long long>(r1->Revision()),
              r1->Revision() == r2->Revision() && r2->Revision() == r3->Revision() ? "yes" : "NO");
  return 0;
}
