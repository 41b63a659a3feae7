// Copyright (c) Canopy authors.
//
// Groups (docs/model.md, "Groups") beside raw RocksDB, in one run:
//
//   group_first_page/engine/K, group_first_page/raw/K   the first page of 100
//       for a user whose visibility is a subtree grant plus K granted device
//       groups (K = 1, 10, 100) of --members devices each; raw: the same
//       ranges merged by hand (one iterator per group over its member keys,
//       a point read of each member's index entry, one over the subtree);
//       raw_multiget: the same with the page's index entries read in one
//       MultiGet
//   group_count/engine/K       the exact count for the same users (the
//       groups are disjoint: the sum of their sizes, no member is read)
//   group_count/overlapping/K  the same count once another (not granted)
//       group holds 100 members of each of the K groups: the K granted
//       groups now overlap another group, so their union is merged member
//       by member
//   group_check/engine, group_check/raw   check through a group grant; raw:
//       one point read of the entity key index
//   group_check/engine_cold    the same, each membership read for the first
//       time (the engine keeps membership reads for later checks until
//       members change; group_check/engine mostly reuses them); RocksDB's
//       block cache holds the blocks read, as for raw
//   group_check/engine_cold_beside_raw   the same interleaved with raw
//       point gets, one of each per iteration: counters engine_p50_ns,
//       raw_p50_ns and their ratio (medians per call, which a loaded
//       machine's preemptions do not move)
//   group_check/engine_tree    check of a device the user reaches through its
//       membership (no group read), for comparison
//   group_add/engine           adding 100k members to a group, 10k per call
//       (members of g0..g9, so every one is also in another group)
//   group_add/raw              the same 200k keys (member and link) written
//       by hand in batches of 10k
//   (each add starts with the groups key space compacted, memtable empty)
//
//   canopy_group_bench [--members N] [--dir DIR] [benchmark flags]
//
// The database (100 groups of N devices, N = 10000 by default: 1M devices)
// is built once under DIR (default /tmp/canopy-group-bench).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "bench/raw_range.h"
#include "canopy/db.h"
#include "engine/db_impl.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kGroups = 100;
constexpr int kSubtreeDevices = 1000;
std::unique_ptr<Db> db;
uint64_t members = 10000;
std::string dir = "/tmp/canopy-group-bench";
std::vector<GroupId> groups;          // g0..g99 of account t
std::vector<std::vector<EntityId>> group_members;
UserId users[3];                      // reach 1, 10, 100 groups
const int kReach[3] = {1, 10, 100};
std::vector<std::string> member_keys;  // keys of g0's members

storage::Store* store() { return static_cast<engine::DbImpl*>(db.get())->store(); }

void Die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::cerr << "setup: " << what << ": " << s.ToString() << "\n";
  std::exit(1);
}

void Build() {
  const std::string path = dir + "/db-" + std::to_string(members);
  const bool exists = fs::exists(path);
  Options o;
  o.create_if_missing = true;
  o.sync = false;
  Die(Db::Open(o, path, &db), "open");
  const Actor sys = Actor::System();
  if (!exists) {
    const std::string file = dir + "/seed-" + std::to_string(members) + ".jsonl";
    {
      std::ofstream out(file);
      out << R"({"type":"account","key":"t","name":"T","settings":{"sub_account_management":true,"sub_account_access":"default_off"}})"
          << "\n";
      out << R"({"type":"account","key":"c","name":"C","parent":"t"})" << "\n";
      for (uint64_t i = 0; i < kGroups * members; ++i) {
        out << R"({"type":"device","key":"d)" << i << R"(","name":"D)" << i
            << R"(","account":"t"})" << "\n";
      }
      for (int i = 0; i < kSubtreeDevices; ++i) {
        out << R"({"type":"device","key":"c)" << i << R"(","name":"C)" << i
            << R"(","account":"c"})" << "\n";
      }
    }
    ImportReport rep;
    Die(db->Import(sys, file, ImportOptions(), &rep), "import");
    fs::remove(file);
    auto t = db->FindAccount("t");
    auto c = db->FindAccount("c");
    AccountPatch on;
    on.group_sharing = true;
    Die(db->UpdateAccount(sys, t->id, on), "group sharing");
    for (int g = 0; g < kGroups; ++g) {
      auto id = db->CreateGroup(sys, GroupSpec{GroupKind::kDevice, "g" + std::to_string(g), t->id});
      Die(id.status(), "create group");
      std::vector<uint64_t> batch;
      for (uint64_t i = 0; i < members; ++i) {
        batch.push_back(db->FindEntity(EntityKind::kDevice, "d" + std::to_string(g * members + i))->id);
        if (batch.size() == 10000 || i + 1 == members) {
          Die(db->AddGroupMembers(sys, *id, batch, nullptr), "add members");
          batch.clear();
        }
      }
    }
    for (int r = 0; r < 3; ++r) {
      const std::string n = "u" + std::to_string(kReach[r]);
      auto u = db->CreateUser(sys, {n + "@x", n, c->id});
      Die(u.status(), "user");
      Die(db->Invite(sys, *u, c->id, 3, true), "invite");
      auto ug = db->CreateGroup(sys, GroupSpec{GroupKind::kUser, "crew" + n, c->id});
      Die(ug.status(), "user group");
      Die(db->AddGroupMembers(sys, *ug, std::vector<uint64_t>{*u}, nullptr), "crew");
      auto all = db->GroupsOf(sys, t->id);
      for (int g = 0; g < kReach[r]; ++g) {
        Die(db->GrantGroup(sys, GroupGrant{*ug, 3, (*all)[g].id, false}), "grant");
      }
    }
  }
  auto t = db->FindAccount("t");
  auto c = db->FindAccount("c");
  auto listed = db->GroupsOf(Actor::System(), t->id);
  Die(listed.status(), "groups");
  const std::vector<Group> all_groups = *listed;
  for (const Group& g : all_groups) {
    if (g.kind != GroupKind::kDevice || g.name == "big") continue;
    groups.push_back(g.id);
    GroupMembersPage page;
    Die(db->GroupMembers(Actor::System(), g.id, 0, 100000, &page), "members");
    group_members.emplace_back(page.members.begin(), page.members.end());
  }
  for (int r = 0; r < 3; ++r) users[r] = db->FindUser("u" + std::to_string(kReach[r]) + "@x")->id;
  for (EntityId e : group_members[0]) member_keys.push_back(db->GetEntity(e)->key);
  (void)c;
  // Every run measures the same steady state: each key space compacted
  // (tables written with the current options).
  for (int cf = 0; cf < storage::kNumCfs; ++cf) {
    rocksdb::CompactRangeOptions o;
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    (void)store()->db()->CompactRange(o, store()->cf(cf), nullptr, nullptr);
  }
}

void EngineFirstPage(benchmark::State& state, int r) {
  for (auto _ : state) {
    VisibleRequest req{Actor::User(users[r])};
    req.limit = 100;
    VisiblePage page;
    if (!db->Visible(req, &page).ok() || page.items.size() != 100) state.SkipWithError("visible");
    benchmark::DoNotOptimize(page.items.data());
  }
}

// The same ranges merged by hand: the groups' member keys (their index
// entries read point by point) and the subtree's index range.
// multiget: the members' index entries read with one MultiGet for the
// page (what the engine does, in batches) instead of a point read each.
void RawFirstPage(benchmark::State& state, int r, bool multiget) {
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  auto t = db->FindAccount("t");
  (void)t;
  // The owner labels, from the index keys of a member and a subtree device.
  std::string t_label, c_label;
  {
    auto it = store()->NewIterator(storage::kVisibility, nullptr, "", "");
    (*it)->SeekToFirst();
    std::string_view label;
    uint8_t k;
    uint64_t id;
    rocksdb::Slice key = (*it)->key();
    storage::DecodeIndexKey(std::string_view(key.data(), key.size()), &k, &label, &id);
    t_label = std::string(label);
  }
  {
    auto e = db->FindEntity(EntityKind::kDevice, "c0");
    (void)e;
    auto it = store()->NewIterator(storage::kVisibility, nullptr, "", "");
    (*it)->SeekToLast();
    std::string_view label;
    uint8_t k;
    uint64_t id;
    rocksdb::Slice key = (*it)->key();
    storage::DecodeIndexKey(std::string_view(key.data(), key.size()), &k, &label, &id);
    c_label = std::string(label);
  }
  uint64_t bytes = 0;
  std::string v;
  for (auto _ : state) {
    std::vector<std::unique_ptr<RawRange>> its;
    for (int g = 0; g < kReach[r]; ++g) {
      const std::string prefix = storage::GroupMembersPrefix(groups[g]);
      its.push_back(std::make_unique<RawRange>(*store(), storage::kGroups, prefix,
                                               storage::PrefixSuccessor(prefix)));
      (*its.back())->SeekToFirst();
    }
    RawRange sub(*store(), storage::kVisibility, storage::IndexRangeStart(kind, c_label, true),
                 storage::IndexRangeLimit(kind, c_label, true));
    sub->SeekToFirst();
    int n = 0;
    std::vector<std::string> keys;
    // t's members sort before c's subtree (t is c's parent): groups first.
    while (n < 100) {
      uint64_t best = UINT64_MAX;
      for (auto& it : its) {
        if ((*it)->Valid()) best = std::min(best, storage::DecodeFixed64BE((*it)->key().data() + 9));
      }
      if (best == UINT64_MAX) break;
      for (auto& it : its) {
        if ((*it)->Valid() && storage::DecodeFixed64BE((*it)->key().data() + 9) == best) (*it)->Next();
      }
      if (multiget) {
        keys.push_back(storage::IndexKey(kind, t_label, best));
      } else {
        (void)store()->Get(storage::kVisibility, storage::IndexKey(kind, t_label, best), &v);
        bytes += v.size();
      }
      ++n;
    }
    if (multiget && !keys.empty()) {
      std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
      std::vector<rocksdb::PinnableSlice> values;
      std::vector<rocksdb::Status> statuses;
      store()->MultiGet(storage::kVisibility, slices, &values, &statuses, nullptr, true);
      for (const auto& x : values) bytes += x.size();
    }
    for (; n < 100 && sub->Valid(); sub->Next(), ++n) bytes += sub->value().size();
  }
  benchmark::DoNotOptimize(bytes);
}

void EngineCount(benchmark::State& state, int r) {
  const uint64_t want = static_cast<uint64_t>(kReach[r]) * members + kSubtreeDevices;
  for (auto _ : state) {
    auto c = db->Count(VisibleRequest{Actor::User(users[r])});
    if (!c.ok() || *c != want) state.SkipWithError("count differs");
  }
}

// The count once a group that is not granted holds 100 members of each of
// the K granted groups (so that each of them overlaps another group).
void OverlappingCount(benchmark::State& state, int r) {
  const Actor sys = Actor::System();
  const uint64_t want = static_cast<uint64_t>(kReach[r]) * members + kSubtreeDevices;
  auto t = db->FindAccount("t");
  auto id = db->CreateGroup(sys, GroupSpec{GroupKind::kDevice, "overlap", t->id});
  if (!id.ok()) {
    state.SkipWithError("create overlap group");
    return;
  }
  std::vector<uint64_t> shared;
  for (int g = 0; g < kReach[r]; ++g) {
    for (size_t i = 0; i < 100 && i < group_members[g].size(); ++i) {
      shared.push_back(group_members[g][i]);
    }
  }
  if (!db->AddGroupMembers(sys, *id, shared, nullptr).ok()) state.SkipWithError("add");
  for (auto _ : state) {
    auto c = db->Count(VisibleRequest{Actor::User(users[r])});
    if (!c.ok() || *c != want) state.SkipWithError("count differs");
  }
  (void)db->DeleteGroup(sys, *id);
}

void EngineCheck(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) {
    auto r = db->Check(users[0], "device.read", member_keys[i++ % member_keys.size()]);
    if (!r.ok() || !*r) state.SkipWithError("check");
  }
}

// The same check for a device of the user's own subtree (its membership
// decides; no group is read): the engine's cost beyond the key lookup.
void TreeCheck(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) {
    auto r = db->Check(users[0], "device.read", "c" + std::to_string(i++ % kSubtreeDevices));
    if (!r.ok() || !*r) state.SkipWithError("check");
  }
}

// Before first-time checks: RocksDB's block cache warmed by raw reads of
// the keys a check reads (the entity key index entry and the membership
// key), so that the engine, like group_check/raw, reads cached blocks;
// then a membership change (a member of g99 out and in again) starts a new
// epoch, so that no membership read of the engine's is reused. False (and
// the benchmark skipped) when the change fails.
bool ColdCheckSetup(benchmark::State& state) {
  const Actor sys = Actor::System();
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  std::string v;
  bool in = false;
  for (size_t i = 0; i < member_keys.size(); ++i) {
    (void)store()->Get(storage::kEntityKeys, storage::EntityKeyKey(kind, member_keys[i]), &v);
    (void)store()->Exists(storage::kGroups, storage::GroupMemberKey(groups[0], group_members[0][i]),
                          &in);
  }
  const std::vector<uint64_t> one{group_members[kGroups - 1][0]};
  if (!db->RemoveGroupMembers(sys, groups[kGroups - 1], one, nullptr).ok() ||
      !db->AddGroupMembers(sys, groups[kGroups - 1], one, nullptr).ok()) {
    state.SkipWithError("membership change");
    return false;
  }
  return true;
}

// Each check once, on memberships not read before (the engine keeps them
// for later checks): what is first-time is the engine's own membership
// read, not the file read under it (see ColdCheckSetup).
void ColdCheck(benchmark::State& state) {
  if (!ColdCheckSetup(state)) return;
  size_t i = 0;
  for (auto _ : state) {
    auto r = db->Check(users[0], "device.read", member_keys[i++ % member_keys.size()]);
    if (!r.ok() || !*r) state.SkipWithError("check");
  }
}

// group_check/engine_cold and group_check/raw interleaved, the fairer
// ratio on a loaded machine: each iteration times one raw point get (of
// another member's key index entry, as cached) and one first-time check,
// back to back. The time reported is the check's; the counters give the
// median of each (a check preempted midway does not count more) and their
// ratio.
void ColdCheckBesideRaw(benchmark::State& state) {
  if (!ColdCheckSetup(state)) return;
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  std::string v;
  const size_t n = member_keys.size();
  using Clock = std::chrono::steady_clock;
  std::vector<double> engine, raw;
  engine.reserve(n);
  raw.reserve(n);
  size_t i = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    Status s = store()->Get(storage::kEntityKeys,
                            storage::EntityKeyKey(kind, member_keys[(i + n / 2) % n]), &v);
    benchmark::DoNotOptimize(s);
    const auto t1 = Clock::now();
    auto r = db->Check(users[0], "device.read", member_keys[i++ % n]);
    const auto t2 = Clock::now();
    if (!r.ok() || !*r) state.SkipWithError("check");
    raw.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    engine.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count());
    state.SetIterationTime(std::chrono::duration<double>(t2 - t1).count());
  }
  if (engine.empty()) return;
  auto median = [](std::vector<double>& x) {
    std::nth_element(x.begin(), x.begin() + x.size() / 2, x.end());
    return x[x.size() / 2];
  };
  const double e = median(engine);
  const double r = median(raw);
  state.counters["engine_p50_ns"] = e;
  state.counters["raw_p50_ns"] = r;
  state.counters["ratio"] = e / r;
}

void RawCheck(benchmark::State& state) {
  size_t i = 0;
  std::string v;
  const uint8_t kind = static_cast<uint8_t>(EntityKind::kDevice);
  for (auto _ : state) {
    Status s = store()->Get(storage::kEntityKeys,
                            storage::EntityKeyKey(kind, member_keys[i++ % member_keys.size()]), &v);
    benchmark::DoNotOptimize(s);
  }
}

// Before each timed add (engine and raw alike): the groups key space
// compacted, its memtable empty, so that every repetition starts from the
// same state (without it each one would insert among the previous one's
// deletions, and a background compaction could run during the next).
void SettleGroups() {
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  (void)store()->db()->CompactRange(o, store()->cf(storage::kGroups), nullptr, nullptr);
}

// The 100k members an add benchmark adds, in ascending id order. Adjacent:
// the first 100k members of the 100 groups, consecutive ids. Scattered:
// every 10th member of every group, ids 10 apart, as a hand-picked set
// of devices would be.
std::vector<uint64_t> AddPool(bool scattered) {
  std::vector<uint64_t> pool;
  for (const auto& m : group_members) {
    for (size_t i = 0; i < m.size(); i += scattered ? 10 : 1) pool.push_back(m[i]);
  }
  std::sort(pool.begin(), pool.end());
  pool.resize(std::min<size_t>(pool.size(), 100000));
  return pool;
}

void EngineAdd(benchmark::State& state) {
  const Actor sys = Actor::System();
  auto t = db->FindAccount("t");
  const std::vector<uint64_t> pool = AddPool(state.range(0) != 0);
  for (auto _ : state) {
    state.PauseTiming();
    auto id = db->CreateGroup(sys, GroupSpec{GroupKind::kDevice, "big", t->id});
    SettleGroups();
    state.ResumeTiming();
    for (size_t i = 0; i < pool.size(); i += 10000) {
      std::vector<uint64_t> batch(pool.begin() + i,
                                  pool.begin() + std::min(pool.size(), i + 10000));
      if (!db->AddGroupMembers(sys, *id, batch, nullptr).ok()) state.SkipWithError("add");
    }
    state.PauseTiming();
    (void)db->DeleteGroup(sys, *id);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pool.size()));
}

// The keys AddGroupMembers writes for the same 100k members (member key
// with its record, link key), in batches of 10k, straight into RocksDB.
void RawAdd(benchmark::State& state) {
  const std::vector<uint64_t> pool = AddPool(state.range(0) != 0);
  const uint64_t gid = 1ull << 40;  // no group has this id
  const std::string value = storage::EncodeGroupMember(
      storage::GroupMemberRecord{gid, 0, GroupKind::kDevice, 1});
  for (auto _ : state) {
    state.PauseTiming();
    SettleGroups();
    state.ResumeTiming();
    for (size_t i = 0; i < pool.size(); i += 10000) {
      rocksdb::WriteBatch batch;
      for (size_t j = i; j < std::min(pool.size(), i + 10000); ++j) {
        batch.Put(store()->cf(storage::kGroups), storage::GroupMemberKey(gid, pool[j]), value);
        batch.Put(store()->cf(storage::kGroups),
                  storage::MemberGroupKey(storage::kMemberEntity, pool[j], gid), "");
      }
      if (!store()->Write(&batch).ok()) state.SkipWithError("write");
    }
    state.PauseTiming();
    rocksdb::WriteBatch undo;
    for (uint64_t m : pool) {
      undo.Delete(store()->cf(storage::kGroups), storage::GroupMemberKey(gid, m));
      undo.Delete(store()->cf(storage::kGroups),
                  storage::MemberGroupKey(storage::kMemberEntity, m, gid));
    }
    (void)store()->Write(&undo);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pool.size()));
}

}  // namespace
}  // namespace canopy::bench

int main(int argc, char** argv) {
  using namespace canopy::bench;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--members=", 0) == 0) {
      members = std::stoull(a.substr(10));
    } else if (a.rfind("--dir=", 0) == 0) {
      dir = a.substr(6);
    } else {
      rest.push_back(argv[i]);
    }
  }
  std::filesystem::create_directories(dir);
  Build();
  for (int r = 0; r < 3; ++r) {
    const std::string k = std::to_string(kReach[r]);
    benchmark::RegisterBenchmark(("group_first_page/engine/" + k).c_str(), EngineFirstPage, r)
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("group_first_page/raw/" + k).c_str(), RawFirstPage, r, false)
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("group_first_page/raw_multiget/" + k).c_str(), RawFirstPage, r,
                                 true)
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("group_count/engine/" + k).c_str(), EngineCount, r)
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("group_count/overlapping/" + k).c_str(), OverlappingCount, r)
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("group_check/engine_cold", ColdCheck)
      ->UseRealTime()->Iterations(static_cast<int64_t>(std::min<uint64_t>(members, 10000)));
  benchmark::RegisterBenchmark("group_check/engine_cold_beside_raw", ColdCheckBesideRaw)
      ->UseManualTime()->Iterations(static_cast<int64_t>(std::min<uint64_t>(members, 10000)));
  benchmark::RegisterBenchmark("group_check/engine", EngineCheck)->UseRealTime();
  benchmark::RegisterBenchmark("group_check/raw", RawCheck)->UseRealTime();
  benchmark::RegisterBenchmark("group_check/engine_tree", TreeCheck)->UseRealTime();
  for (int scattered = 0; scattered < 2; ++scattered) {
    const std::string k = scattered != 0 ? "scattered" : "adjacent";
    benchmark::RegisterBenchmark(("group_add/engine/" + k).c_str(), EngineAdd)
        ->Arg(scattered)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("group_add/raw/" + k).c_str(), RawAdd)
        ->Arg(scattered)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  (void)db->Close();
  return 0;
}
