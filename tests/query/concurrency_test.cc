// Copyright (c) Canopy authors.
//
// Queries while other threads write (db.h: "Reads run in parallel on
// consistent snapshots"; query.h's cursor guarantees). Writers create,
// delete and reassign churn entities and move accounts that hold only
// churn; readers page through listings, count, check, ask who-can and read
// the accounts table. The standard world's entities never change, so every
// listing must contain each of them exactly once, and every answer about
// them must stay what it was. Each test runs for about a second.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
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
        if (!r.ok()) problems_.Add("create: " + r.status().ToString());
        live.emplace_back(s.kind, s.key);
      } else if (op == 2) {
        const size_t i = rng() % live.size();
        auto e = db_->FindEntity(live[i].first, live[i].second);
        Status s = e.ok() ? db_->DeleteEntity(Actor::System(), e->id) : e.status();
        if (!s.ok()) problems_.Add("delete: " + s.ToString());
        live.erase(live.begin() + static_cast<long>(i));
      } else {
        const auto& [kind, key] = live[rng() % live.size()];
        std::vector<std::string> refs = {key};
        Status s =
            db_->ReassignEntities(Actor::System(), kind, EntityRef::kKey, refs, owner, nullptr);
        if (!s.ok()) problems_.Add("reassign: " + s.ToString());
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
  void Reader(uint64_t seed, bool snapshot, const std::atomic<bool>& stop) {
    std::mt19937_64 rng(seed);
    while (!stop.load()) {
      const auto& [request, stable] = listings_[rng() % listings_.size()];
      VisibleRequest r = request;
      r.limit = 1 + rng() % 9;
      std::map<std::string, int> seen;
      for (int guard = 0; guard < 100000; ++guard) {
        VisiblePage page;
        Status s = db_->Visible(r, &page);
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

  void Run(int readers, bool snapshot) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    threads.reserve(3 + static_cast<size_t>(readers));
    threads.emplace_back([&] { ChurnWriter(1, stop); });
    threads.emplace_back([&] { ChurnWriter(2, stop); });
    threads.emplace_back([&] { MoveWriter(stop); });
    for (int i = 0; i < readers; ++i) {
      threads.emplace_back([&, i] { Reader(100 + i, snapshot, stop); });
    }
    std::this_thread::sleep_for(kRunFor);
    stop = true;
    for (auto& t : threads) t.join();
    problems_.Expect();
    // The run must have done real work on both sides.
    EXPECT_GT(writes_.load(), 20u);
    EXPECT_GT(listings_done_.load(), static_cast<uint64_t>(readers));
    EXPECT_OK(db_->CheckIntegrity(nullptr));
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<World> world_;
  std::vector<AccountId> churn_owners_;
  std::vector<std::pair<VisibleRequest, std::set<std::string>>> listings_;
  Problems problems_;
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
  std::this_thread::sleep_for(kRunFor);
  stop = true;
  for (auto& t : threads) t.join();
  problems_.Expect();
  EXPECT_GT(writes_.load(), 20u);
  EXPECT_GT(reads.load(), 100u);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

// Everything at once on a durable database: writers (group commit), moves,
// paging readers, imports, exports and integrity checks; every write is
// visible to its own thread as soon as it returns; then Close() while
// readers and writers are still calling, which they see only as "closed".
TEST_F(ConcurrencyTest, EverythingAtOnceThenClose) {
  Open(Options(), /*durable=*/true);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> imports{0}, exports{0}, checks{0}, own_reads{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] { ChurnWriter(11, stop); });
  threads.emplace_back([&] { ChurnWriter(12, stop); });
  threads.emplace_back([&] { MoveWriter(stop); });
  for (int i = 0; i < 2; ++i) threads.emplace_back([&, i] { Reader(300 + i, true, stop); });
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
      if (!s.ok()) problems_.Add("import: " + s.ToString());
      imports++;
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      Status s = db_->Export(dir_.Sub("export.jsonl"), nullptr, nullptr);
      if (!s.ok()) problems_.Add("export: " + s.ToString());
      exports++;
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      std::vector<std::string> found;
      Status s = db_->CheckIntegrity(&found);
      if (!s.ok()) problems_.Add("check-db: " + s.ToString());
      checks++;
    }
  });
  // At least kRunFor, and on a slow machine (sanitizers, a loaded CI
  // runner) on until every kind of work has run often enough to mean
  // something; a minute without that is a stall, and fails below.
  const auto started = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(kRunFor);
  while ((writes_.load() <= 20 || own_reads.load() <= 5 || imports.load() == 0 ||
          exports.load() == 0 || checks.load() == 0) &&
         std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  for (auto& t : threads) t.join();
  problems_.Expect();
  EXPECT_GT(writes_.load(), 20u);
  EXPECT_GT(own_reads.load(), 5u);
  EXPECT_GT(imports.load(), 0u);
  EXPECT_GT(exports.load(), 0u);
  EXPECT_GT(checks.load(), 0u);
  EXPECT_OK(db_->CheckIntegrity(nullptr));

  // Close under load: each call either completes or is told "closed".
  std::atomic<bool> closed{false};
  std::vector<std::thread> late;
  for (int i = 0; i < 4; ++i) {
    late.emplace_back([&, i] {
      for (int n = 0; n < 100000 && !(closed.load() && n > 0); ++n) {
        Status s;
        if (i % 2 == 0) {
          s = db_->Count(VisibleRequest{Actor::System()}).status();
        } else {
          EntitySpec e;
          e.key = "late-" + std::to_string(i) + "-" + std::to_string(n);
          e.name = e.key;
          e.owner = world_->account("c");
          s = db_->CreateEntity(Actor::System(), e).status();
        }
        if (s.code() == Code::kFailedPrecondition) break;  // closed
        if (!s.ok()) {
          problems_.Add("during close: " + s.ToString());
          break;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_OK(db_->Close());
  closed = true;
  for (auto& t : late) t.join();
  problems_.Expect();
  // Everything acknowledged is there after a reopen.
  db_.reset();
  ASSERT_OK(Db::Open(Options(), dir_.Sub("db"), &db_));
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

}  // namespace
}  // namespace canopy
