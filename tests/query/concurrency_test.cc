// Copyright (c) Canopy authors.
//
// Queries while other threads write (db.h: "Reads run in parallel on
// consistent snapshots"; query.h's cursor guarantees). Writers create,
// delete and reassign churn entities and move accounts that hold only
// churn; readers page through listings, count, check, ask who-can and read
// the accounts table. The standard world's entities never change, so every
// listing must contain each of them exactly once, and every answer about
// them must stay what it was. Each test runs for about a second.
//
// EverythingAtOnceThenClose runs every kind of call at once on a durable
// database: those readers and writers, group member adds, removes and
// reassigns, imports, exports, check-db, a follower catching up (read
// beside) and snapshots opened and read, each snapshot agreeing with
// itself; then every acknowledged write is checked, and the follower and
// the database close under load.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/query/world.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::OpenDb;
using testing::TempDir;
using testing::World;

using Clock = std::chrono::steady_clock;
constexpr auto kRunFor = std::chrono::milliseconds(1200);

// Failures found on worker threads, reported on the main thread.
class Problems {
 public:
  void Add(const std::string& p) {
    std::lock_guard<std::mutex> l(mu_);
    if (list_.size() < 20) list_.push_back(p);
    ++count_;
  }
  void Expect() {
    std::lock_guard<std::mutex> l(mu_);
    std::string all;
    for (const auto& p : list_) all += "\n  " + p;
    EXPECT_EQ(count_, 0u) << all;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
  size_t count_ = 0;
};

// Acknowledged entity writes: for each key, the owner its last successful
// write left it with (kNoId: deleted). Filled by writer threads; checked
// against a database once they are done.
class Acked {
 public:
  void Set(EntityKind kind, const std::string& key, AccountId owner) {
    std::lock_guard<std::mutex> l(mu_);
    owners_[{kind, key}] = owner;
  }
  // Every acknowledged write is there in `db`: each live key with its
  // owner, each deleted key gone.
  void ExpectIn(const Db& db, const std::string& what) const {
    std::lock_guard<std::mutex> l(mu_);
    size_t wrong = 0;
    for (const auto& [k, owner] : owners_) {
      auto e = db.FindEntity(k.first, k.second);
      const bool ok = owner == kNoId ? e.status().IsNotFound() : e.ok() && e->owner == owner;
      if (!ok && ++wrong <= 5) {
        ADD_FAILURE() << what << ": " << k.second << " should be "
                      << (owner == kNoId ? std::string("deleted")
                                         : "owned by " + std::to_string(owner))
                      << ", is " << (e.ok() ? "owned by " + std::to_string(e->owner)
                                            : e.status().ToString());
      }
    }
    EXPECT_EQ(wrong, 0u) << what << ": acknowledged writes missing of " << owners_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<EntityKind, std::string>, AccountId> owners_;
};

class ConcurrencyTest : public ::testing::Test {
 protected:
  // `durable`: keep Options::sync (the test helpers turn it off), so that
  // writers go through group commit.
  void Open(Options options, bool durable = false) {
    if (durable) {
      ASSERT_OK(Db::Open(options, dir_.Sub("db"), &db_));
    } else {
      db_ = OpenDb(dir_.Sub("db"), options);
    }
    world_ = std::make_unique<World>(db_.get());
    world_->BuildStandard();
    // Accounts that hold only churn and get moved around.
    world_->AddAccount("m1", "acme");
    world_->AddAccount("m2", "m1");
    churn_owners_ = {world_->account("acme"), world_->account("a"),  world_->account("a1"),
                     world_->account("b1"),   world_->account("m1"), world_->account("m2"),
                     world_->account("g1"),   world_->account("c")};
    // The listings the readers page through, with what they must contain.
    auto add = [&](VisibleRequest r) {
      auto keys = world_->ExpectedVisible(r);
      listings_.push_back({r, std::set<std::string>(keys.begin(), keys.end())});
    };
    add(VisibleRequest{Actor::User(world_->user("root-viewer"))});
    VisibleRequest a{Actor::User(world_->user("a-admin"))};
    a.within = world_->account("a1");
    add(a);
    VisibleRequest sys{Actor::System()};
    sys.name_prefix = "Van";
    add(sys);
    add(VisibleRequest{Actor::User(world_->user("mix"))});
    VisibleRequest assets{Actor::System()};
    assets.kind = EntityKind::kAsset;
    add(assets);
  }

  // Creates, deletes and reassigns churn devices and assets until `stop`.
  void ChurnWriter(uint64_t seed, const std::atomic<bool>& stop) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<EntityKind, std::string>> live;
    int next = 0;
    while (!stop.load()) {
      const int op = static_cast<int>(rng() % 4);
      const AccountId owner = churn_owners_[rng() % churn_owners_.size()];
      if (op <= 1 || live.size() < 5) {
        EntitySpec s;
        s.kind = rng() % 3 == 0 ? EntityKind::kAsset : EntityKind::kDevice;
        s.key = "churn-" + std::to_string(seed) + "-" + std::to_string(next++);
        s.name = "Churn " + s.key;  // never matches the "Van" filter
        s.owner = owner;
        auto r = db_->CreateEntity(Actor::System(), s);
        if (!r.ok()) {
          problems_.Add("create: " + r.status().ToString());
        } else {
          acked_.Set(s.kind, s.key, owner);
        }
        live.emplace_back(s.kind, s.key);
      } else if (op == 2) {
        const size_t i = rng() % live.size();
        auto e = db_->FindEntity(live[i].first, live[i].second);
        Status s = e.ok() ? db_->DeleteEntity(Actor::System(), e->id) : e.status();
        if (!s.ok()) {
          problems_.Add("delete: " + s.ToString());
        } else {
          acked_.Set(live[i].first, live[i].second, kNoId);
        }
        live.erase(live.begin() + static_cast<long>(i));
      } else {
        const auto& [kind, key] = live[rng() % live.size()];
        std::vector<std::string> refs = {key};
        Status s =
            db_->ReassignEntities(Actor::System(), kind, EntityRef::kKey, refs, owner, nullptr);
        if (!s.ok()) {
          problems_.Add("reassign: " + s.ToString());
        } else {
          acked_.Set(kind, key, owner);
        }
      }
      writes_++;
    }
  }

  // Moves m2 between m1 and acme, and m1 between acme and b.
  void MoveWriter(const std::atomic<bool>& stop) {
    const AccountId acme = world_->account("acme"), b = world_->account("b");
    const AccountId m1 = world_->account("m1"), m2 = world_->account("m2");
    for (int i = 0; !stop.load(); ++i) {
      Status s = i % 2 == 0 ? db_->MoveAccount(Actor::System(), m2, (i / 2) % 2 ? m1 : acme)
                            : db_->MoveAccount(Actor::System(), m1, (i / 2) % 2 ? acme : b);
      if (!s.ok()) problems_.Add("move: " + s.ToString());
      writes_++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Pages through listings with random page sizes until `stop`. With
  // `snapshot` (live cursors) nothing at all may repeat within a listing.
  void Reader(uint64_t seed, bool snapshot, const std::atomic<bool>& stop, Db* db = nullptr) {
    if (db == nullptr) db = db_.get();
    std::mt19937_64 rng(seed);
    while (!stop.load()) {
      const auto& [request, stable] = listings_[rng() % listings_.size()];
      VisibleRequest r = request;
      r.limit = 1 + rng() % 9;
      std::map<std::string, int> seen;
      for (int guard = 0; guard < 100000; ++guard) {
        VisiblePage page;
        Status s = db->Visible(r, &page);
        if (!s.ok()) {
          problems_.Add("visible: " + s.ToString());
          return;
        }
        for (const auto& item : page.items) seen[item.key]++;
        pages_++;
        if (page.next_cursor.empty()) break;
        r.cursor = page.next_cursor;
      }
      for (const auto& k : stable) {
        if (seen[k] != 1) {
          problems_.Add(testing::Describe(request) + ": stable " + k + " seen " +
                        std::to_string(seen[k]) + " times (limit " + std::to_string(r.limit) + ")");
        }
      }
      if (snapshot) {
        for (const auto& [k, n] : seen) {
          if (n != 1) problems_.Add(k + " repeated within one snapshot listing");
        }
      }
      listings_done_++;
    }
  }

  // Lets the threads run at least kRunFor, and on a slow machine
  // (sanitizers, a loaded CI runner) on until `enough` says every kind of
  // work has run often enough to mean something; a minute without that is
  // a stall, which the caller's checks then report.
  static void RunAtLeast(const std::function<bool()>& enough) {
    const auto started = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(kRunFor);
    while (!enough() && std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  void Run(int readers, bool snapshot) {
    std::atomic<bool> stop{false};
    // Sized up front (GCC 12 at -O3 warns, wrongly, of an out-of-bounds
    // std::thread when a vector of them grows here).
    std::vector<std::thread> threads(3 + static_cast<size_t>(readers));
    threads[0] = std::thread([&] { ChurnWriter(1, stop); });
    threads[1] = std::thread([&] { ChurnWriter(2, stop); });
    threads[2] = std::thread([&] { MoveWriter(stop); });
    for (int i = 0; i < readers; ++i) {
      threads[3 + static_cast<size_t>(i)] = std::thread([&, i] { Reader(100 + i, snapshot, stop); });
    }
    RunAtLeast([&] {
      return writes_.load() > 20 && listings_done_.load() > static_cast<uint64_t>(readers);
    });
    stop = true;
    for (auto& t : threads) t.join();
    problems_.Expect();
    // The run must have done real work on both sides.
    EXPECT_GT(writes_.load(), 20u);
    EXPECT_GT(listings_done_.load(), static_cast<uint64_t>(readers));
    EXPECT_OK(db_->CheckIntegrity(nullptr));
  }

  // Groups in c: the entity group `fleet` holding c's devices, and the
  // user `grouped` (no membership anywhere) in the user group `crew`,
  // granted viewer onto fleet: grouped sees exactly fleet's members.
  void AddGroups() {
    const AccountId c = world_->account("c");
    grouped_ = world_->AddUser("grouped", "c");
    auto fleet = db_->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "fleet", c});
    auto crew = db_->CreateGroup(Actor::System(), GroupSpec{GroupKind::kUser, "crew", c});
    ASSERT_OK(fleet);
    ASSERT_OK(crew);
    fleet_ = *fleet;
    std::vector<uint64_t> members;
    for (const auto& [id, e] : world_->entities()) {
      if (e.kind != EntityKind::kDevice || e.owner != c) continue;
      members.push_back(id);
      fleet_stable_[id] = e.key;
    }
    ASSERT_FALSE(members.empty());
    ASSERT_OK(db_->AddGroupMembers(Actor::System(), fleet_, members, nullptr));
    ASSERT_OK(db_->AddGroupMembers(Actor::System(), *crew, std::vector<uint64_t>{grouped_}, nullptr));
    auto viewer = db_->FindRole(kNoId, "viewer");
    ASSERT_OK(viewer);
    ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{*crew, viewer->id, fleet_, false}));
    fleet_members_ = std::set<uint64_t>(members.begin(), members.end());
  }

  // Creates devices in c and adds them to fleet, removes some of them
  // again and reassigns others out of c (which takes them out of fleet);
  // fleet's stable members are never touched. fleet_members_ ends as
  // what fleet must hold.
  void GroupWriter(const std::atomic<bool>& stop) {
    const AccountId c = world_->account("c"), a = world_->account("a");
    std::mt19937_64 rng(21);
    std::vector<std::pair<EntityId, std::string>> added;  // in fleet, not stable
    for (int i = 0; !stop.load(); ++i) {
      const int op = static_cast<int>(rng() % 4);
      if (op <= 1 || added.empty()) {
        EntitySpec e;
        e.key = "gdev-" + std::to_string(i);
        e.name = "Grouped " + std::to_string(i);
        e.owner = c;
        auto id = db_->CreateEntity(Actor::System(), e);
        if (!id.ok()) {
          problems_.Add("group writer create: " + id.status().ToString());
          return;
        }
        acked_.Set(EntityKind::kDevice, e.key, c);
        GroupMembersReport rep;
        Status s = db_->AddGroupMembers(Actor::System(), fleet_, std::vector<uint64_t>{*id}, &rep);
        if (!s.ok()) {
          problems_.Add("group add: " + s.ToString());
          return;
        }
        fleet_members_.insert(*id);
        added.emplace_back(*id, e.key);
      } else {
        const size_t k = rng() % added.size();
        const auto [id, key] = added[k];
        Status s;
        if (op == 2) {
          GroupMembersReport rep;
          s = db_->RemoveGroupMembers(Actor::System(), fleet_, std::vector<uint64_t>{id}, &rep);
        } else {
          std::vector<std::string> refs = {key};
          s = db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, refs, a,
                                    nullptr);
          if (s.ok()) acked_.Set(EntityKind::kDevice, key, a);
        }
        if (!s.ok()) {
          problems_.Add(std::string(op == 2 ? "group remove: " : "group reassign: ") + s.ToString());
          return;
        }
        fleet_members_.erase(id);
        added.erase(added.begin() + static_cast<long>(k));
      }
      group_writes_++;
    }
  }

  // fleet's members, every page of them (empty after a failure, recorded).
  std::set<uint64_t> FleetOf(const Db& db, const std::string& what) {
    std::set<uint64_t> members;
    for (uint64_t after = 0;;) {
      GroupMembersPage page;
      Status s = db.GroupMembers(Actor::System(), fleet_, after, 5, &page);
      if (!s.ok()) {
        problems_.Add(what + ": group members: " + s.ToString());
        return {};
      }
      members.insert(page.members.begin(), page.members.end());
      if (page.next == 0) break;
      after = page.next;
    }
    return members;
  }

  // On a Db whose every read answers from one state (a snapshot): fleet's
  // members, its size, what `grouped` lists (paging) and counts, and the
  // checks on each listed device agree, and hold every stable member;
  // the state's revision stays.
  void ExpectConsistent(const Db& db, const std::string& what) {
    const uint64_t rev = db.Revision();
    const std::set<uint64_t> members = FleetOf(db, what);
    auto g = db.GetGroup(Actor::System(), fleet_);
    if (!g.ok() || g->size != members.size()) {
      problems_.Add(what + ": fleet's size " + (g.ok() ? std::to_string(g->size) : g.status().ToString()) +
                    " but " + std::to_string(members.size()) + " members listed");
    }
    for (const auto& [id, key] : fleet_stable_) {
      if (!members.count(id)) problems_.Add(what + ": stable member " + key + " left fleet");
    }
    VisibleRequest r{Actor::User(grouped_)};
    r.limit = 4;
    std::set<uint64_t> seen;
    std::vector<std::string> keys;
    for (int guard = 0; guard < 10000; ++guard) {
      VisiblePage page;
      Status s = db.Visible(r, &page);
      if (!s.ok()) {
        problems_.Add(what + ": visible as grouped: " + s.ToString());
        return;
      }
      for (const auto& item : page.items) {
        if (!seen.insert(item.id).second) problems_.Add(what + ": " + item.key + " listed twice");
        keys.push_back(item.key);
      }
      if (page.next_cursor.empty()) break;
      r.cursor = page.next_cursor;
    }
    if (seen != members) {
      problems_.Add(what + ": grouped lists " + std::to_string(seen.size()) +
                    " devices, fleet holds " + std::to_string(members.size()));
    }
    auto n = db.Count(VisibleRequest{Actor::User(grouped_)});
    if (!n.ok() || *n != members.size()) {
      problems_.Add(what + ": grouped counts " + (n.ok() ? std::to_string(*n) : n.status().ToString()) +
                    ", fleet holds " + std::to_string(members.size()));
    }
    for (size_t i = 0; i < keys.size(); i += 3) {
      auto allowed = db.Check(grouped_, "device.read", keys[i]);
      if (!allowed.ok() || !*allowed) problems_.Add(what + ": check denies listed " + keys[i]);
    }
    if (db.Revision() != rev) problems_.Add(what + ": the revision moved under a snapshot");
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<World> world_;
  std::vector<AccountId> churn_owners_;
  std::vector<std::pair<VisibleRequest, std::set<std::string>>> listings_;
  Problems problems_;
  Acked acked_;
  // Groups (AddGroups): fleet's stable members (id -> key) and what it
  // must hold (GroupWriter's thread, then the main thread).
  GroupId fleet_ = kNoId;
  UserId grouped_ = kNoId;
  std::map<uint64_t, std::string> fleet_stable_;
  std::set<uint64_t> fleet_members_;
  std::atomic<uint64_t> group_writes_{0};
  std::atomic<uint64_t> writes_{0}, pages_{0}, listings_done_{0};
};

// Live cursors: each listing reads one snapshot.
TEST_F(ConcurrencyTest, PagingWithLiveCursorsWhileOthersWrite) {
  Open(Options());
  Run(3, /*snapshot=*/true);
}

// Cursors that never stay live resume on the latest state each page.
TEST_F(ConcurrencyTest, PagingWithExpiringCursorsWhileOthersWrite) {
  Options o;
  o.cursor_ttl_seconds = 0;
  Open(o);
  Run(3, /*snapshot=*/false);
}

// More listings than open cursors: snapshots get evicted mid-listing.
TEST_F(ConcurrencyTest, PagingWithEvictedCursorsWhileOthersWrite) {
  Options o;
  o.max_open_cursors = 2;
  Open(o);
  Run(5, /*snapshot=*/false);
}

// Many readers ask everything about the unchanging entities while one
// writer churns; every answer stays what it was before the writer started.
TEST_F(ConcurrencyTest, ManyReadersOneWriter) {
  Open(Options());
  const UserId root_viewer = world_->user("root-viewer");
  VisibleRequest vans{Actor::User(root_viewer)};
  vans.name_prefix = "Van";
  const uint64_t vans_count = world_->ExpectedVisible(vans).size();
  VisibleRequest in_a{Actor::User(world_->user("a-admin"))};
  in_a.within = world_->account("a");
  in_a.direct_only = true;
  const uint64_t in_a_count = world_->ExpectedVisible(in_a).size();
  struct CheckCase {
    UserId user;
    std::string perm, key;
    bool want;
  };
  std::vector<CheckCase> checks;
  for (const auto& [uid, u] : world_->users()) {
    for (const char* key : {"dev-00", "dev-03", "dev-05", "dev-08", "dev-35"}) {
      AccountId owner = world_->entities().at(db_->FindEntity(EntityKind::kDevice, key)->id).owner;
      checks.push_back({uid, "device.read", key, world_->Allows(uid, "device.read", owner)});
    }
  }
  auto who = [&](const std::string& key) {
    WhoCanRequest w;
    w.permission = "device.read";
    w.entity_key = key;
    WhoCanPage page;
    EXPECT_OK(db_->WhoCan(w, &page));
    std::vector<UserId> users;
    for (const auto& i : page.items) users.push_back(i.user);
    return users;
  };
  const std::vector<UserId> who_03 = who("dev-03");
  TableRequest table{Actor::User(root_viewer)};
  TablePage tp;
  ASSERT_OK(db_->AccountsTable(table, &tp));
  const uint64_t table_total = tp.total;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> threads;
  threads.reserve(7);
  threads.emplace_back([&] { ChurnWriter(7, stop); });
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(200 + t);
      while (!stop.load()) {
        switch (rng() % 6) {
          case 0: {
            auto n = db_->Count(vans);
            if (!n.ok() || *n != vans_count) problems_.Add("count of vans changed");
            break;
          }
          case 1: {
            auto n = db_->Count(in_a);
            if (!n.ok() || *n < in_a_count) problems_.Add("count within a lost devices");
            break;
          }
          case 2: {
            const auto& c = checks[rng() % checks.size()];
            // Out of the user's sight reads as missing (NotFound): denied.
            auto r = db_->Check(c.user, c.perm, c.key);
            const bool denied_unseen = r.status().IsNotFound() && !c.want;
            if (!denied_unseen && (!r.ok() || *r != c.want)) {
              problems_.Add("check changed for " + c.key);
            }
            break;
          }
          case 3: {
            WhoCanRequest w;
            w.permission = "device.read";
            w.entity_key = "dev-03";
            WhoCanPage page;
            Status s = db_->WhoCan(w, &page);
            std::vector<UserId> users;
            for (const auto& i : page.items) users.push_back(i.user);
            if (!s.ok() || users != who_03) problems_.Add("who-can changed");
            break;
          }
          case 4: {
            TablePage page;
            Status s = db_->AccountsTable(table, &page);
            if (!s.ok() || page.total != table_total) problems_.Add("table total changed");
            break;
          }
          default: {
            std::unique_ptr<VisibleIterator> it;
            Status s = db_->NewVisibleIterator(vans, &it);
            uint64_t n = 0;
            if (s.ok()) {
              for (; it->Valid(); it->Next()) ++n;
              s = it->status();
            }
            if (!s.ok() || n != vans_count) problems_.Add("stream of vans changed");
          }
        }
        reads++;
      }
    });
  }
  RunAtLeast([&] { return writes_.load() > 20 && reads.load() > 100; });
  stop = true;
  for (auto& t : threads) t.join();
  problems_.Expect();
  EXPECT_GT(writes_.load(), 20u);
  EXPECT_GT(reads.load(), 100u);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

// Everything at once on a durable database: writers (group commit), moves,
// group member adds, removes and reassigns, paging readers, readers of
// every other kind (count, check, who-can, group reads), imports, exports
// and integrity checks; a follower of the same folder catching up (every
// 2 ms, and when asked) while it is read; snapshots opened and read, each
// agreeing with itself. Every write is visible to its own thread as soon
// as it returns, and every acknowledged one is there at the end, in the
// follower too once it caught up. Then the follower and the database close
// while readers and writers are still calling, which they see only as
// "closed" (the database once its last snapshot is gone); everything
// acknowledged is there after a reopen.
TEST_F(ConcurrencyTest, EverythingAtOnceThenClose) {
  Open(Options(), /*durable=*/true);
  ASSERT_NO_FATAL_FAILURE(AddGroups());
  // The grouped user's listing: it holds fleet's stable members.
  {
    std::set<std::string> stable;
    for (const auto& [id, key] : fleet_stable_) stable.insert(key);
    listings_.push_back({VisibleRequest{Actor::User(grouped_)}, stable});
  }
  // What the readers of other kinds must keep getting.
  const UserId root_viewer = world_->user("root-viewer");
  VisibleRequest vans{Actor::User(root_viewer)};
  vans.name_prefix = "Van";
  const uint64_t vans_count = world_->ExpectedVisible(vans).size();
  const std::string member_key = fleet_stable_.begin()->second;
  const std::string outsider_key = "dev-00";  // owned by acme, in no group
  ASSERT_NE(world_->entities().at(db_->FindEntity(EntityKind::kDevice, outsider_key)->id).owner,
            world_->account("c"));
  auto who = [&](const Db& db, const std::string& key, std::vector<UserId>* users) {
    WhoCanRequest w;
    w.permission = "device.read";
    w.entity_key = key;
    WhoCanPage page;
    Status s = db.WhoCan(w, &page);
    users->clear();
    for (const auto& i : page.items) users->push_back(i.user);
    return s;
  };
  std::vector<UserId> who_member;
  ASSERT_OK(who(*db_, member_key, &who_member));
  ASSERT_NE(std::find(who_member.begin(), who_member.end(), grouped_), who_member.end());
  TableRequest table{Actor::User(root_viewer)};
  TablePage tp;
  ASSERT_OK(db_->AccountsTable(table, &tp));
  const uint64_t table_total = tp.total;

  // The follower, opened on the writer's folder once the world is there.
  Options fo;
  fo.follower = true;
  fo.follower_catch_up_ms = 2;
  std::unique_ptr<Db> follower;
  ASSERT_OK(Db::Open(fo, dir_.Sub("db"), &follower));
  const uint64_t follower_opened_at = follower->Revision();

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> imports{0}, exports{0}, checks{0}, own_reads{0}, other_reads{0},
      snapshots{0}, follower_reads{0}, follower_catch_ups{0};
  std::atomic<int> imported{0};  // imp-0 .. imp-(imported-1) acknowledged
  std::vector<std::thread> threads;
  threads.emplace_back([&] { ChurnWriter(11, stop); });
  threads.emplace_back([&] { ChurnWriter(12, stop); });
  threads.emplace_back([&] { MoveWriter(stop); });
  threads.emplace_back([&] { GroupWriter(stop); });
  for (int i = 0; i < 2; ++i) threads.emplace_back([&, i] { Reader(300 + i, true, stop); });
  // Count, check, who-can and group reads, about what never changes.
  threads.emplace_back([&] {
    std::mt19937_64 rng(400);
    while (!stop.load()) {
      switch (rng() % 6) {
        case 0: {
          auto n = db_->Count(vans);
          if (!n.ok() || *n != vans_count) problems_.Add("count of vans changed");
          auto g = db_->Count(VisibleRequest{Actor::User(grouped_)});
          if (!g.ok() || *g < fleet_stable_.size()) problems_.Add("grouped count lost members");
          break;
        }
        case 1: {
          auto in = db_->Check(grouped_, "device.read", member_key);
          if (!in.ok() || !*in) problems_.Add("check through the group denied " + member_key);
          auto out = db_->Check(grouped_, "device.read", outsider_key);
          if (!out.status().IsNotFound() && (!out.ok() || *out)) {
            problems_.Add("check through the group allowed " + outsider_key);
          }
          break;
        }
        case 2: {
          std::vector<UserId> users;
          Status s = who(*db_, member_key, &users);
          if (!s.ok() || users != who_member) problems_.Add("who-can changed");
          break;
        }
        case 3: {
          TablePage page;
          Status s = db_->AccountsTable(table, &page);
          if (!s.ok() || page.total != table_total) problems_.Add("table total changed");
          break;
        }
        case 4: {
          const std::set<uint64_t> members = FleetOf(*db_, "live");
          for (const auto& [id, key] : fleet_stable_) {
            if (!members.count(id)) problems_.Add("live: stable member " + key + " left fleet");
          }
          auto of = db_->GroupsOfMember(Actor::System(), GroupKind::kDevice,
                                        fleet_stable_.begin()->first);
          if (!of.ok() || of->size() != 1 || (*of)[0].id != fleet_) {
            problems_.Add("groups of a stable member changed");
          }
          break;
        }
        default: {
          auto g = db_->GetGroup(Actor::User(grouped_), fleet_);
          // grouped holds viewer through crew, not group.read on c.
          if (!g.status().IsNotFound()) problems_.Add("grouped reads fleet itself");
        }
      }
      other_reads++;
    }
  });
  // Read-your-writes: a created device is there for its own thread at once,
  // and the revision readers see has reached the write's.
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      EntitySpec e;
      e.key = "own-" + std::to_string(i);
      e.name = "Own " + std::to_string(i);
      e.owner = world_->account("c");
      auto id = db_->CreateEntity(Actor::System(), e);
      if (!id.ok()) {
        problems_.Add("own create: " + id.status().ToString());
        return;
      }
      acked_.Set(EntityKind::kDevice, e.key, e.owner);
      if (db_->Revision() < db_->LastCommittedRevision()) {
        problems_.Add("a returned write's revision is not visible yet");
      }
      if (!db_->GetEntity(*id).ok()) problems_.Add("a returned write is not visible to its thread");
      own_reads++;
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::string file = dir_.Sub("import-" + std::to_string(i) + ".jsonl");
      std::FILE* f = std::fopen(file.c_str(), "w");
      std::fprintf(f,
                   "{\"type\":\"account\",\"key\":\"imp-%d\",\"name\":\"Imp %d\"}\n"
                   "{\"type\":\"device\",\"key\":\"imp-dev-%d\",\"name\":\"Imp %d\","
                   "\"account\":\"imp-%d\"}\n",
                   i, i, i, i, i);
      std::fclose(f);
      ImportReport rep;
      Status s = db_->Import(Actor::System(), file, ImportOptions(), &rep);
      if (!s.ok()) {
        problems_.Add("import: " + s.ToString());
        return;
      }
      imported = i + 1;
      imports++;
      // An import holds off mutations while it runs (it reloads the
      // catalog): back to back, they would leave writers little time on a
      // slow (sanitized) build.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      Status s = db_->Export(dir_.Sub("export.jsonl"), nullptr, nullptr);
      if (!s.ok()) problems_.Add("export: " + s.ToString());
      exports++;
    }
  });
  // check-db, on the database and on the follower in turn.
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::vector<std::string> found;
      Status s = (i % 2 == 0 ? *db_ : *follower).CheckIntegrity(&found);
      if (!s.ok()) {
        problems_.Add(std::string(i % 2 == 0 ? "check-db: " : "follower check-db: ") +
                      s.ToString() + (found.empty() ? "" : " " + found[0]));
      }
      checks++;
    }
  });
  // Snapshots of the database, and of the follower.
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto snap = (i % 2 == 0 ? *db_ : *follower).OpenSnapshot();
      if (!snap.ok()) {
        problems_.Add("open snapshot: " + snap.status().ToString());
        return;
      }
      ExpectConsistent(**snap, i % 2 == 0 ? "snapshot" : "follower snapshot");
      snapshots++;
    }
  });
  // The follower: paging readers, and one that catches up, reads, and
  // sees the revision never go back.
  threads.emplace_back([&] { Reader(500, false, stop, follower.get()); });
  threads.emplace_back([&] {
    std::mt19937_64 rng(501);
    uint64_t last = follower->Revision();
    while (!stop.load()) {
      if (rng() % 8 == 0) {
        auto r = follower->CatchUp();
        if (r.ok()) {
          follower_catch_ups++;
        } else if (r.status().code() != Code::kAborted) {  // held too long: allowed
          problems_.Add("follower catch-up: " + r.status().ToString());
        }
      }
      auto n = follower->Count(VisibleRequest{Actor::User(grouped_)});
      if (!n.ok() || *n < fleet_stable_.size()) problems_.Add("follower: grouped count lost members");
      auto in = follower->Check(grouped_, "device.read", member_key);
      if (!in.ok() || !*in) problems_.Add("follower: check through the group denied");
      const uint64_t rev = follower->Revision();
      if (rev < last) problems_.Add("the follower's revision went back");
      last = rev;
      follower_reads++;
    }
  });
  auto enough = [&] {
    return writes_.load() > 20 && group_writes_.load() > 5 && own_reads.load() > 5 &&
           imports.load() > 0 && exports.load() > 0 && checks.load() > 1 &&
           snapshots.load() > 1 && other_reads.load() > 10 && follower_reads.load() > 5 &&
           listings_done_.load() > 3 && follower->Revision() > follower_opened_at;
  };
  RunAtLeast(enough);
  stop = true;
  for (auto& t : threads) t.join();
  problems_.Expect();
  EXPECT_TRUE(enough()) << "writes " << writes_ << ", group writes " << group_writes_
                        << ", own reads " << own_reads << ", imports " << imports << ", exports "
                        << exports << ", checks " << checks << ", snapshots " << snapshots
                        << ", other reads " << other_reads << ", follower reads "
                        << follower_reads << ", listings " << listings_done_
                        << ", follower at " << follower->Revision() << " (opened at "
                        << follower_opened_at << ")";
  EXPECT_OK(db_->CheckIntegrity(nullptr));

  // Every acknowledged write is there, in the database and, once caught
  // up, in the follower, which then agrees with the database.
  auto expect_all = [&](const Db& db, const std::string& what) {
    acked_.ExpectIn(db, what);
    EXPECT_EQ(FleetOf(db, what), fleet_members_) << what;
    for (int i = 0; i < imported.load(); ++i) {
      EXPECT_TRUE(db.FindAccount("imp-" + std::to_string(i)).ok()) << what << ": imp-" << i;
      EXPECT_TRUE(db.FindEntity(EntityKind::kDevice, "imp-dev-" + std::to_string(i)).ok())
          << what << ": imp-dev-" << i;
    }
    ExpectConsistent(db, what);
  };
  expect_all(*db_, "database");
  auto caught = follower->CatchUp();
  ASSERT_OK(caught);
  EXPECT_EQ(*caught, db_->Revision());
  expect_all(*follower, "follower");
  EXPECT_EQ(*follower->Count(VisibleRequest{Actor::System()}),
            *db_->Count(VisibleRequest{Actor::System()}));
  EXPECT_OK(follower->CheckIntegrity(nullptr));
  problems_.Expect();

  // Close under load: each call either completes or is told "closed" (or,
  // once Close has begun, "closing"). The follower closes first; the
  // database refuses while a snapshot of it is open (saying so), and
  // closes once the last one is destroyed. Close waits for the calls in
  // flight and refuses new ones; as before, the
  // callers stop 200 ms into each Close if it has not ended by then.
  std::atomic<bool> closed{false}, follower_closed{false}, want_close{false};
  std::atomic<Clock::rep> close_asked{0}, follower_close_asked{0};
  auto calling = [](const std::atomic<bool>& done, const std::atomic<Clock::rep>& asked, int n) {
    if (n == 0) return true;
    if (done.load()) return false;
    const Clock::rep at = asked.load();
    return at == 0 || Clock::now() - Clock::time_point(Clock::duration(at)) <
                          std::chrono::milliseconds(200);
  };
  std::vector<std::thread> late;
  auto is_closed = [](const Status& s) {
    return s.code() == Code::kFailedPrecondition &&
           (s.message().find("closed") != std::string::npos ||
            s.message().find("the database is closing") != std::string::npos);
  };
  for (int i = 0; i < 4; ++i) {
    late.emplace_back([&, i] {
      for (int n = 0; calling(closed, close_asked, n); ++n) {
        Status s;
        EntitySpec e;
        if (i % 2 == 0) {
          s = db_->Count(VisibleRequest{Actor::System()}).status();
        } else {
          e.key = "late-" + std::to_string(i) + "-" + std::to_string(n);
          e.name = e.key;
          e.owner = world_->account("c");
          s = db_->CreateEntity(Actor::System(), e).status();
        }
        if (is_closed(s)) break;
        if (!s.ok()) {
          problems_.Add("during close: " + s.ToString());
          break;
        }
        if (i % 2 == 1) acked_.Set(EntityKind::kDevice, e.key, e.owner);
      }
    });
  }
  late.emplace_back([&] {  // snapshots until the database wants to close
    while (!want_close.load()) {
      auto snap = db_->OpenSnapshot();
      if (!snap.ok()) {
        if (!is_closed(snap.status())) problems_.Add("late snapshot: " + snap.status().ToString());
        break;
      }
      ExpectConsistent(**snap, "late snapshot");
    }
  });
  late.emplace_back([&] {  // the follower, read (and catching up) until closed
    for (int n = 0; calling(follower_closed, follower_close_asked, n); ++n) {
      auto c = follower->Count(VisibleRequest{Actor::User(grouped_)});
      if (is_closed(c.status())) break;
      if (!c.ok()) {
        problems_.Add("follower during close: " + c.status().ToString());
        break;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  follower_close_asked = Clock::now().time_since_epoch().count();
  EXPECT_OK(follower->Close());
  follower_closed = true;
  Status s;
  const auto closing = Clock::now();
  close_asked = closing.time_since_epoch().count();
  while (!(s = db_->Close()).ok() && Clock::now() - closing < std::chrono::seconds(60)) {
    if (s.code() != Code::kFailedPrecondition ||
        s.message().find("snapshot(s) still open") == std::string::npos) {
      break;
    }
    want_close = true;
    close_asked = Clock::now().time_since_epoch().count();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_OK(s);
  closed = true;
  want_close = true;
  for (auto& t : late) t.join();
  problems_.Expect();
  EXPECT_TRUE(is_closed(follower->Count(VisibleRequest{Actor::System()}).status()));
  follower.reset();
  // Everything acknowledged is there after a reopen.
  db_.reset();
  ASSERT_OK(Db::Open(Options(), dir_.Sub("db"), &db_));
  EXPECT_OK(db_->CheckIntegrity(nullptr));
  expect_all(*db_, "reopened");
  problems_.Expect();
}

}  // namespace
}  // namespace canopy
