// Copyright (c) Canopy authors.
//
// Replicas of one database sharing a change log in a real 3-member etcd
// cluster (ctest starts it: see CMakeLists.txt here). Each test uses its
// own key prefix, so tests never see each other's logs.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "canopy/db.h"
#include "engine/db_impl.h"
#include "replication/etcd_client.h"
#include "replication/log.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::OpenDb;
using testing::TempDir;

std::vector<std::string> Endpoints() {
  std::vector<std::string> out;
  const char* e = std::getenv("CANOPY_ETCD_ENDPOINTS");
  if (e == nullptr) return out;
  std::stringstream ss(e);
  std::string url;
  while (std::getline(ss, url, ',')) {
    if (!url.empty()) out.push_back(url);
  }
  return out;
}

std::string UniquePrefix(const std::string& name) {
  std::random_device rd;
  return "test/" + name + "-" + std::to_string(rd());
}

// Runs `scripts/etcd-cluster COMMAND DIR MEMBER` on the test cluster.
int Cluster(const std::string& command, int member) {
  const char* dir = std::getenv("CANOPY_ETCD_DIR");
  if (dir == nullptr) return -1;
  const std::string cmd = std::string(CANOPY_ETCD_CLUSTER_SCRIPT) + " " + command + " " + dir + " " +
                          std::to_string(member) + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoints_ = Endpoints();
    if (endpoints_.empty()) GTEST_SKIP() << "CANOPY_ETCD_ENDPOINTS is not set (run under ctest)";
    prefix_ = UniquePrefix(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  Options ReplicaOptions() const {
    Options o;
    o.sync = false;
    o.replication.etcd_endpoints = endpoints_;
    o.replication.prefix = prefix_;
    o.replication.request_timeout_ms = 1000;
    o.replication.housekeeping_interval_ms = 50;
    return o;
  }

  std::unique_ptr<Db> Replica(const std::string& name, Options o) {
    return OpenDb(dir_.Sub(name), o);
  }
  std::unique_ptr<Db> Replica(const std::string& name) { return Replica(name, ReplicaOptions()); }

  static engine::DbImpl* Impl(Db* db) { return static_cast<engine::DbImpl*>(db); }

  // Every replica at the log's head, holding exactly the same keys.
  void ExpectConverged(const std::vector<Db*>& replicas) {
    uint64_t head = 0;
    for (Db* r : replicas) {
      auto rev = r->SyncWithLog(20000);
      ASSERT_OK(rev);
      head = std::max(head, *rev);
    }
    for (Db* r : replicas) ASSERT_OK(r->SyncWithLog(20000));
    const testing::Dump first = testing::DumpReplicated(replicas[0]);
    for (size_t i = 0; i < replicas.size(); ++i) {
      EXPECT_EQ(replicas[i]->Revision(), replicas[0]->Revision()) << "replica " << i;
      std::vector<std::string> problems;
      EXPECT_OK(replicas[i]->CheckIntegrity(&problems));
      if (i > 0) {
        const testing::Dump d = testing::DumpReplicated(replicas[i]);
        EXPECT_TRUE(d == first) << "replica " << i << " differs from replica 0:\n"
                                << testing::DescribeDiff(first, d);
      }
    }
  }

  // A JSON Lines file of account "big" and `devices` devices in it.
  std::string BigImport(int devices) {
    const std::string file = dir_.Sub("big.jsonl");
    std::ofstream out(file);
    out << R"({"type":"account","key":"big","name":"Big"})" << "\n";
    for (int i = 0; i < devices; ++i) {
      out << R"({"type":"device","key":"dev-)" << i << R"(","name":"Device number )" << i
          << R"(","account":"big"})" << "\n";
    }
    return file;
  }

  // `db` holds account "big" (BigImport's) with its `devices` devices.
  void ExpectBigImported(Db* db, uint64_t devices) {
    auto big = db->FindAccount("big");
    ASSERT_OK(big);
    auto n = db->CountOwned(big->id, EntityKind::kDevice);
    ASSERT_OK(n);
    EXPECT_EQ(n->subtree, devices);
  }

  // Keys under this test's prefix in etcd.
  size_t EtcdKeys() {
    replication::EtcdOptions eo;
    eo.endpoints = endpoints_;
    replication::EtcdClient etcd(eo);
    std::vector<replication::EtcdKv> kvs;
    EXPECT_OK(etcd.Range(prefix_ + "/", replication::PrefixEnd(prefix_ + "/"), 0, &kvs, nullptr,
                         nullptr, /*keys_only=*/true));
    return kvs.size();
  }

  std::vector<std::string> endpoints_;
  std::string prefix_;
  TempDir dir_;
};

TEST_F(ReplicaTest, WritesOnEitherReplicaReachTheOther) {
  auto a = Replica("a");
  auto b = Replica("b");
  const AccountId acme = testing::MakeAccount(a.get(), "acme");
  // Read-your-writes on the writing replica: no wait needed.
  ASSERT_OK(a->FindAccount("acme"));
  EXPECT_EQ(a->Revision(), a->LastCommittedRevision());
  // The other replica sees it once it has applied the revision.
  auto rev = b->SyncWithLog(10000);
  ASSERT_OK(rev);
  EXPECT_EQ(*rev, a->Revision());
  ASSERT_OK(b->FindAccount("acme"));
  // And the other way round, with the same ids (one log, one order).
  testing::MakeDevice(b.get(), "dev-1", acme, "U-1");
  ASSERT_OK(a->SyncWithLog(10000));
  auto dev = a->FindEntity(EntityKind::kDevice, "dev-1");
  ASSERT_OK(dev);
  EXPECT_EQ(dev->owner, acme);
  EXPECT_EQ(a->LogId(), b->LogId());
  ExpectConverged({a.get(), b.get()});
  // A min_revision read on the other replica waits for nothing once synced,
  // and says which revision it read.
  VisibleRequest req(Actor::System());
  req.min_revision = b->Revision();
  VisiblePage page;
  ASSERT_OK(a->Visible(req, &page));
  EXPECT_EQ(page.revision, a->Revision());
}

TEST_F(ReplicaTest, FollowerAppliesWithoutBeingAsked) {
  auto a = Replica("a");
  auto b = Replica("b");
  testing::MakeAccount(a.get(), "acme");
  // No SyncWithLog: the follower thread applies it by itself.
  auto seen = b->WaitForChanges(0, 10000);
  ASSERT_OK(seen);
  EXPECT_EQ(*seen, a->Revision());
  auto st = b->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_TRUE(st->replicated);
  EXPECT_EQ(st->applied, a->Revision());
  EXPECT_EQ(st->members.size(), endpoints_.size());
  for (const auto& m : st->members) EXPECT_TRUE(m.reachable) << m.endpoint << ": " << m.error;
}

TEST_F(ReplicaTest, AStaleReplicaReauthorisesAfterLosingTheRace) {
  auto a = Replica("a");
  auto b = Replica("b");
  const AccountId acme = testing::MakeAccount(a.get(), "acme");
  const UserId u = testing::MakeUser(a.get(), "ops@acme", acme);
  auto admin = a->FindRole(kNoId, "account_admin");
  ASSERT_OK(admin);
  ASSERT_OK(a->Invite(Actor::System(), u, acme, admin->id, true));
  ASSERT_OK(b->SyncWithLog(10000));
  // While b is stale (its follower paused), a takes the user's access away.
  Impl(b.get())->TEST_PauseFollower(true);
  ASSERT_OK(a->RemoveMembership(Actor::System(), u, acme));
  const uint64_t after_revoke = a->Revision();
  EXPECT_LT(b->Revision(), after_revoke);
  // b authorised the write against its stale state, lost the append to a's
  // revision, caught up, authorised again, and now refuses (as not found:
  // the user no longer sees the account).
  EntitySpec spec;
  spec.key = "sneaky";
  spec.name = "Sneaky";
  spec.owner = acme;
  auto r = b->CreateEntity(Actor::User(u), spec);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_EQ(b->Revision(), after_revoke);
  Impl(b.get())->TEST_PauseFollower(false);
  ASSERT_OK(a->SyncWithLog(10000));
  EXPECT_EQ(a->FindEntity(EntityKind::kDevice, "sneaky").status().code(), Code::kNotFound);
  ExpectConverged({a.get(), b.get()});
}

TEST_F(ReplicaTest, ConcurrentWritersOnThreeReplicasConverge) {
  auto a = Replica("a");
  auto b = Replica("b");
  auto c = Replica("c");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  for (Db* r : {b.get(), c.get()}) ASSERT_OK(r->SyncWithLog(10000));
  std::vector<Db*> replicas = {a.get(), b.get(), c.get()};
  std::atomic<int> failures{0};
  std::mutex acked_mu;
  std::map<uint64_t, std::string> acked;  // revision -> device key
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      Db* db = replicas[t % 3];
      for (int i = 0; i < 40; ++i) {
        const std::string key = "d-" + std::to_string(t) + "-" + std::to_string(i);
        EntitySpec spec;
        spec.key = key;
        spec.name = key;
        spec.owner = root;
        auto r = db->CreateEntity(Actor::System(), spec);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> g(acked_mu);
        acked[db->LastCommittedRevision()] = key;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectConverged(replicas);
  // One revision per acknowledged write, each holding that write.
  EXPECT_EQ(acked.size(), 240u);
  EXPECT_EQ(a->Revision(), 1 + acked.size());
  for (const auto& [rev, key] : acked) {
    ChangesRequest req;
    req.since = rev;
    req.limit = 1;
    ChangesPage page;
    ASSERT_OK(c->ReadChanges(req, &page));
    ASSERT_EQ(page.entries.size(), 1u);
    EXPECT_EQ(page.entries[0].operation, "entity.create");
    EXPECT_NE(page.entries[0].arguments.find("\"" + key + "\""), std::string::npos)
        << "revision " << rev << " should create " << key << ": " << page.entries[0].arguments;
    ASSERT_OK(b->FindEntity(EntityKind::kDevice, key));
  }
}

// Writers on one replica share etcd transactions (a group of writes):
// each write is built on the writes staged before it, which are neither
// in the store nor published yet. Racing creates of one key (and unit id)
// leave exactly one winner across groups and replicas; updates of one
// device through many groups keep its indexes right (the record each reads
// is the one the write before it staged); account moves (which the
// overlay cannot show) settle their group at once. A group that loses the
// race is taken back (catalog and staged keys) and built again.
TEST_F(ReplicaTest, GroupsOfWritesSeeEachOtherAndLeaveOneWinnerPerKey) {
  auto a = Replica("a");
  auto b = Replica("b");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  const AccountId p1 = testing::MakeAccount(a.get(), "p1", root);
  const AccountId p2 = testing::MakeAccount(a.get(), "p2", root);
  const AccountId moving = testing::MakeAccount(a.get(), "moving", p1);
  testing::MakeDevice(a.get(), "in-moving", moving, "u-in-moving");
  ASSERT_OK(b->SyncWithLog(10000));
  std::vector<Db*> replicas = {a.get(), b.get()};
  constexpr int kThreads = 8, kRounds = 20;
  std::atomic<int> wins[kRounds] = {};
  std::atomic<int> unexpected{0}, updates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Db* db = replicas[t % 2];
      for (int r = 0; r < kRounds; ++r) {
        const std::string key = "k" + std::to_string(r);
        EntitySpec spec;
        spec.key = key;
        spec.name = key;
        spec.owner = root;
        spec.unit_id = "u" + std::to_string(r);
        auto created = db->CreateEntity(Actor::System(), spec);
        if (created.ok()) {
          ++wins[r];
        } else if (created.status().code() != Code::kAlreadyExists) {
          ++unexpected;
          ADD_FAILURE() << key << ": " << created.status().ToString();
        }
        // The device every thread updates: a new unit id each time.
        auto shared = db->FindEntity(EntityKind::kDevice, "k0");
        if (shared.ok()) {
          EntityPatch patch;
          patch.unit_id = "shared-" + std::to_string(t) + "-" + std::to_string(r);
          Status u = db->UpdateEntity(Actor::System(), shared->id, patch);
          if (u.ok()) {
            ++updates;
          } else {
            ++unexpected;
            ADD_FAILURE() << "update: " << u.ToString();
          }
        }
        if (t < 2) {
          Status m = db->MoveAccount(Actor::System(), moving, (r + t) % 2 == 0 ? p2 : p1);
          if (!m.ok()) {
            ++unexpected;
            ADD_FAILURE() << "move: " << m.ToString();
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int r = 0; r < kRounds; ++r) EXPECT_EQ(wins[r].load(), 1) << "k" << r;
  EXPECT_GT(updates.load(), 0);
  ExpectConverged(replicas);
  for (Db* r : replicas) {
    std::vector<std::string> problems;
    EXPECT_OK(r->CheckIntegrity(&problems));
    EXPECT_TRUE(problems.empty()) << problems.front();
  }
  // Writes were grouped: some log entries share one etcd transaction
  // (one modification revision).
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  std::vector<replication::EtcdKv> kvs;
  const std::string logs = prefix_ + "/log/";
  ASSERT_OK(etcd.Range(logs, replication::PrefixEnd(logs), 0, &kvs, nullptr, nullptr,
                       /*keys_only=*/true));
  std::set<int64_t> transactions;
  for (const auto& kv : kvs) transactions.insert(kv.mod_revision);
  EXPECT_EQ(kvs.size(), a->Revision());
  EXPECT_LT(transactions.size(), kvs.size()) << "no two writes shared an append";
  std::printf("%zu entries in %zu etcd transactions\n", kvs.size(), transactions.size());
  // No write here deletes an account: every lost group was undone in
  // memory, none copied the catalog back.
  for (Db* r : replicas) {
    auto undone = r->GetProperty("canopy.groups-undone");
    auto copied = r->GetProperty("canopy.groups-copied-back");
    ASSERT_OK(undone);
    ASSERT_OK(copied);
    EXPECT_EQ(*copied, "0");
    std::printf("lost groups undone: %s\n", undone->c_str());
  }
}

// Random writes of every kind from many threads on two replicas, over a
// few keys so that they collide: inside groups (each write built on the
// staged ones before it, read through the overlay), and across replicas
// (groups lost and built again). Whatever each call answers, every index
// stays right on both replicas (CheckIntegrity) and they hold the same
// state; no call fails with anything but a refusal.
TEST_F(ReplicaTest, RandomWritesFromManyThreadsKeepEveryIndexRight) {
  auto a = Replica("a");
  auto b = Replica("b");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  auto role = a->FindRole(kNoId, "viewer");
  ASSERT_OK(role);
  GroupSpec gs;
  gs.kind = GroupKind::kDevice;
  gs.name = "shared";
  gs.owner = root;
  auto group = a->CreateGroup(Actor::System(), gs);
  ASSERT_OK(group);
  ASSERT_OK(b->SyncWithLog(10000));
  std::vector<Db*> replicas = {a.get(), b.get()};
  std::atomic<int> ok{0}, unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Db* db = replicas[t % 2];
      std::mt19937 rng(1000 + t);
      auto pick = [&](int n) { return static_cast<int>(rng() % n); };
      for (int i = 0; i < 120; ++i) {
        const std::string k = std::to_string(pick(8));
        Status s;
        switch (pick(10)) {
          case 0:
          case 1: {
            EntitySpec spec;
            spec.key = "d" + k;
            spec.name = spec.key;
            spec.owner = root;
            spec.unit_id = "u" + std::to_string(pick(12));
            s = db->CreateEntity(Actor::System(), spec).status();
            break;
          }
          case 2: {
            auto d = db->FindEntity(EntityKind::kDevice, "d" + k);
            if (!d.ok()) break;
            EntityPatch patch;
            patch.unit_id = pick(3) == 0 ? "" : "u" + std::to_string(pick(12));
            patch.name = "n" + std::to_string(t);
            s = db->UpdateEntity(Actor::System(), d->id, patch);
            break;
          }
          case 3: {
            auto d = db->FindEntity(EntityKind::kDevice, "d" + k);
            if (d.ok()) s = db->DeleteEntity(Actor::System(), d->id);
            break;
          }
          case 4: {
            AccountSpec spec;
            spec.key = "acc" + k;
            spec.name = spec.key;
            spec.parent = root;
            s = db->CreateAccount(Actor::System(), spec).status();
            break;
          }
          case 5: {
            auto acc = db->FindAccount("acc" + k);
            auto d = db->FindEntity(EntityKind::kDevice, "d" + k);
            if (acc.ok() && d.ok()) {
              ReassignReport report;
              const std::vector<std::string> keys = {"d" + k};
              s = db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, keys,
                                       pick(2) == 0 ? acc->id : root, &report);
            } else if (acc.ok()) {
              s = db->DeleteAccount(Actor::System(), acc->id, root);
            }
            break;
          }
          case 6: {
            UserSpec spec;
            spec.login = "user" + k;
            spec.name = spec.login;
            spec.account = root;
            s = db->CreateUser(Actor::System(), spec).status();
            break;
          }
          case 7: {
            auto u = db->FindUser("user" + k);
            auto acc = db->FindAccount("acc" + std::to_string(pick(8)));
            if (u.ok() && acc.ok()) {
              s = pick(2) == 0 ? db->Invite(Actor::System(), u->id, acc->id, role->id)
                               : db->RemoveMembership(Actor::System(), u->id, acc->id);
            } else if (u.ok() && pick(4) == 0) {
              s = db->RemoveUser(Actor::System(), u->id);
            }
            break;
          }
          default: {
            auto d = db->FindEntity(EntityKind::kDevice, "d" + k);
            if (!d.ok()) break;
            const std::vector<uint64_t> ids = {d->id};
            s = pick(2) == 0 ? db->AddGroupMembers(Actor::System(), *group, ids, nullptr)
                             : db->RemoveGroupMembers(Actor::System(), *group, ids, nullptr);
            break;
          }
        }
        switch (s.code()) {
          case Code::kOk:
            ++ok;
            break;
          case Code::kAlreadyExists:
          case Code::kNotFound:
          case Code::kFailedPrecondition:
          case Code::kInvalidArgument:
          case Code::kPermissionDenied:  // a device moved out of the group's owner
            break;  // a refusal: another write got there first
          default:
            ++unexpected;
            ADD_FAILURE() << "thread " << t << " op " << i << ": " << s.ToString();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(ok.load(), 100);
  ExpectConverged(replicas);
  for (Db* r : replicas) {
    std::vector<std::string> problems;
    EXPECT_OK(r->CheckIntegrity(&problems));
    EXPECT_TRUE(problems.empty()) << problems.front();
  }
}

TEST_F(ReplicaTest, LargeImportIsChunkedThroughEtcd) {
  auto a = Replica("a");
  auto b = Replica("b");
  const std::string file = BigImport(30000);
  ASSERT_GT(std::filesystem::file_size(file), size_t{2} << 20);  // several etcd requests
  ImportReport rep;
  ASSERT_OK(a->Import(Actor::System(), file, ImportOptions(), &rep));
  EXPECT_EQ(rep.entities, 30000u);
  ExpectConverged({a.get(), b.get()});
  ExpectBigImported(b.get(), 30000);
  // A bad import is refused before anything reaches etcd.
  const uint64_t rev = a->Revision();
  const std::string bad = dir_.Sub("bad.jsonl");
  std::ofstream(bad) << R"({"type":"device","key":"x","name":"X","account":"nowhere"})" << "\n";
  Status refused = a->Import(Actor::System(), bad, ImportOptions(), nullptr);
  EXPECT_EQ(refused.code(), Code::kInvalidArgument);
  // Named as the caller named it, not by the replica's copy of it.
  EXPECT_EQ(refused.message().rfind("import '" + bad + "' line 1", 0), 0u) << refused.ToString();
  EXPECT_EQ(refused.message().find("replica-import"), std::string::npos) << refused.ToString();
  ASSERT_OK(b->SyncWithLog(10000));
  EXPECT_EQ(b->Revision(), rev);
}

// A large write on one replica (an import, built again after each lost
// race) while another replica appends small writes without pause: each
// small write took the revision during the import's rebuild, until the
// import gave up ("not appended after 19 attempts in 10.1 s"). Now the
// import claims the turn to append: the small writes wait for it, and
// both go in.
TEST_F(ReplicaTest, ALargeWriteIsNotStarvedBySmallOnes) {
  auto a = Replica("a");
  auto b = Replica("b");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  const std::string file = BigImport(20000);
  ASSERT_OK(b->SyncWithLog(10000));
  std::atomic<bool> stop{false};
  std::atomic<int> small{0};
  std::atomic<bool> gave_up{false};
  Status small_failed;  // (read once the writer has ended)
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      EntitySpec e;
      e.key = "small-" + std::to_string(i);
      e.name = e.key;
      e.owner = root;
      auto r = b->CreateEntity(Actor::System(), e);
      if (!r.ok()) {
        small_failed = r.status();
        gave_up = true;
        return;
      }
      ++small;
    }
  });
  // The small writes run before the import starts, and while it runs.
  while (small.load() < 20 && !gave_up.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ImportReport rep;
  const Status imported = a->Import(Actor::System(), file, ImportOptions(), &rep);
  const int during = small.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  writer.join();
  ASSERT_OK(imported);
  EXPECT_EQ(rep.entities, 20000u);
  EXPECT_OK(small_failed);
  EXPECT_GT(small.load(), during) << "the small writes did not go on after the import";
  ExpectConverged({a.get(), b.get()});
  ExpectBigImported(b.get(), 20000);
  auto smalls = a->CountOwned(root, EntityKind::kDevice);
  ASSERT_OK(smalls);
  EXPECT_EQ(smalls->direct, static_cast<uint64_t>(small.load()));
  // No turn is left behind.
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  std::vector<replication::EtcdKv> kvs;
  ASSERT_OK(etcd.Range(prefix_ + "/turn", "", 0, &kvs));
  EXPECT_TRUE(kvs.empty());
}

TEST_F(ReplicaTest, NewReplicaStartsFromACheckpointAndEtcdIsTrimmed) {
  Options o = ReplicaOptions();
  o.replication.checkpoint_dir = dir_.Sub("checkpoints");
  o.replication.checkpoint_every = 40;
  auto a = Replica("a", o);
  auto b = Replica("b", o);
  const AccountId root = testing::MakeAccount(a.get(), "root");
  for (int i = 0; i < 300; ++i) {
    Db* w = i % 2 == 0 ? a.get() : b.get();
    testing::MakeDevice(w, "dev-" + std::to_string(i), root);
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  // Housekeeping takes checkpoints every 40 revisions and trims below the
  // newest one and every live replica: etcd keeps a bounded tail.
  ASSERT_OK(a->SyncWithLog(10000));
  ASSERT_OK(b->SyncWithLog(10000));
  // Waits for what is asserted (a checkpoint past 200 and etcd trimmed
  // below it), not a fixed time: under a sanitizer on a loaded machine the
  // housekeeping's checkpoint and trim take seconds.
  auto st = a->GetReplicaStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (st.ok() && (st->checkpoint <= 200 || st->log_first <= 200) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = a->GetReplicaStatus();
  }
  ASSERT_OK(st);
  EXPECT_GT(st->checkpoint, 200u) << st->error;
  EXPECT_GT(st->log_first, 200u) << "etcd was not trimmed: " << st->error;
  EXPECT_LT(EtcdKeys(), 150u);
  // A new replica on an empty folder cannot replay from revision 1 any
  // more: it starts from the newest checkpoint and applies the tail.
  auto c = Replica("c", o);
  ASSERT_NE(c, nullptr);
  EXPECT_GE(c->Revision(), st->checkpoint);
  testing::MakeDevice(c.get(), "from-c", root);
  ExpectConverged({a.get(), b.get(), c.get()});
  EXPECT_EQ(testing::KeysIn(c.get(), root).size(), 301u);
}

// A backup written inside the replicas' checkpoint folder is not a
// checkpoint of theirs: it is never registered in etcd (under its scratch
// name, which the rename then takes away), so a new replica still starts.
TEST_F(ReplicaTest, ABackupInTheCheckpointFolderIsNotRegistered) {
  Options o = ReplicaOptions();
  o.replication.checkpoint_dir = dir_.Sub("checkpoints");
  o.replication.checkpoint_every = 0;  // on request only
  auto a = Replica("a", o);
  const AccountId root = testing::MakeAccount(a.get(), "root");
  testing::MakeDevice(a.get(), "dev-1", root);
  auto rev = a->Backup(dir_.Sub("checkpoints") + "/backup");
  ASSERT_OK(rev);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // housekeeping runs
  auto st = a->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_EQ(st->checkpoint, 0u);
  auto c = Replica("c", o);
  ExpectConverged({a.get(), c.get()});
  ASSERT_OK(Db::Restore(dir_.Sub("checkpoints") + "/backup", dir_.Sub("restored")));
}

TEST_F(ReplicaTest, AFarBehindReplicaIsToldToStartFromACheckpoint) {
  Options o = ReplicaOptions();
  o.replication.checkpoint_dir = dir_.Sub("checkpoints");
  o.replication.checkpoint_every = 0;  // on request only
  o.replication.lease_ttl_seconds = 2;
  auto a = Replica("a", o);
  auto b = Replica("b", o);
  const AccountId root = testing::MakeAccount(a.get(), "root");
  ASSERT_OK(b->SyncWithLog(10000));
  ASSERT_OK(b->Close());
  b.reset();
  for (int i = 0; i < 20; ++i) testing::MakeDevice(a.get(), "dev-" + std::to_string(i), root);
  auto cp = a->Checkpoint(dir_.Sub("checkpoints") + "/manual");
  ASSERT_OK(cp);
  EXPECT_EQ(*cp, a->Revision());
  // b's registration is gone, so etcd is trimmed up to the checkpoint.
  uint64_t first = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (first <= 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto st = a->GetReplicaStatus();
    ASSERT_OK(st);
    first = st->log_first;
  }
  ASSERT_GT(first, 2u);
  std::unique_ptr<Db> stale;
  Status s = Db::Open(o, dir_.Sub("b"), &stale);
  EXPECT_EQ(s.code(), Code::kCompacted) << s.ToString();
  EXPECT_NE(s.message().find("move this folder away and open again to start from the newest "
                             "checkpoint"),
            std::string::npos)
      << s.ToString();
  // A new folder without the checkpoint folder is told to give it, and is
  // left as it was (not made a database at revision 0 of no log).
  Options bare = ReplicaOptions();
  std::filesystem::create_directories(dir_.Sub("empty"));
  for (const std::string& name : {dir_.Sub("new"), dir_.Sub("empty")}) {
    s = Db::Open(bare, name, &stale);
    EXPECT_EQ(s.code(), Code::kCompacted) << s.ToString();
    EXPECT_NE(s.message().find("open it with the replicas' checkpoint folder (--checkpoints DIR"),
              std::string::npos)
        << s.ToString();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("new")));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Sub("empty")));
  auto started = Replica("new", o);
  ExpectConverged({a.get(), started.get()});
  ASSERT_OK(started->Close());
  // Moved away, the folder starts again from the checkpoint.
  std::filesystem::rename(dir_.Sub("b"), dir_.Sub("b.old"));
  auto fresh = Replica("b", o);
  ExpectConverged({a.get(), fresh.get()});
}

// A folder the log was trimmed past while it was closed (a replica driven
// by one-shot commands, say) opens again from the newest checkpoint, when
// the replicas' checkpoint folder is given and that checkpoint holds all
// the folder held: a later revision of the same log (its name carries the
// log's lineage). Otherwise the folder is refused and left as it was.
TEST_F(ReplicaTest, AFarBehindReplicaStartsAgainFromTheNewestCheckpoint) {
  Options o = ReplicaOptions();
  o.replication.checkpoint_dir = dir_.Sub("checkpoints");
  o.replication.checkpoint_every = 10;
  o.replication.lease_ttl_seconds = 2;
  // A folder of another log once kept under the same prefix, then deleted.
  {
    auto x = Replica("x", o);
    testing::MakeAccount(x.get(), "of-another-log");
    ASSERT_OK(x->Close());
  }
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  ASSERT_OK(etcd.DeleteRange(prefix_ + "/", replication::PrefixEnd(prefix_ + "/")));
  auto a = Replica("a", o);
  const AccountId root = testing::MakeAccount(a.get(), "root");
  auto b = Replica("b", o);
  testing::MakeDevice(b.get(), "from-b", root);
  const uint64_t b_rev = b->Revision();
  ASSERT_OK(b->Close());
  b.reset();
  for (int i = 0; i < 40; ++i) testing::MakeDevice(a.get(), "dev-" + std::to_string(i), root);
  // b's registration is gone: etcd is trimmed below the newest checkpoint.
  auto st = a->GetReplicaStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (st.ok() && (st->checkpoint <= b_rev || st->log_first <= b_rev + 1) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = a->GetReplicaStatus();
  }
  ASSERT_OK(st);
  ASSERT_GT(st->log_first, b_rev + 1) << "etcd was not trimmed: " << st->error;
  std::unique_ptr<Db> db;
  // Without the checkpoint folder: refused, and the folder is as it was.
  Status s = Db::Open(ReplicaOptions(), dir_.Sub("b"), &db);
  EXPECT_EQ(s.code(), Code::kCompacted) << s.ToString();
  {
    Options plain;
    auto kept = OpenDb(dir_.Sub("b"), plain);
    ASSERT_NE(kept, nullptr);
    EXPECT_EQ(kept->Revision(), b_rev);
  }
  // The folder of the other log: its checkpoint is not of that log, so the
  // folder is refused and kept, whatever it holds.
  s = Db::Open(o, dir_.Sub("x"), &db);
  EXPECT_EQ(s.code(), Code::kCompacted) << s.ToString();
  EXPECT_NE(s.message().find("is not named as a checkpoint of this folder's log"),
            std::string::npos)
      << s.ToString();
  {
    Options plain;
    auto kept = OpenDb(dir_.Sub("x"), plain);
    ASSERT_NE(kept, nullptr);
    EXPECT_EQ(kept->Revision(), 1u);
    EXPECT_TRUE(kept->FindAccount("of-another-log").ok());
  }
  // Nor through a symbolic link: the link would be replaced, not the
  // folder it names.
  std::filesystem::create_directory_symlink(dir_.Sub("b"), dir_.Sub("b-link"));
  s = Db::Open(o, dir_.Sub("b-link") + "/", &db);
  EXPECT_EQ(s.code(), Code::kCompacted) << s.ToString();
  EXPECT_NE(s.message().find("is a symbolic link"), std::string::npos) << s.ToString();
  EXPECT_TRUE(std::filesystem::is_symlink(dir_.Sub("b-link")));
  // With it: started again from the checkpoint, caught up, writing on
  // (the folder named with a trailing '/').
  auto again = OpenDb(dir_.Sub("b") + "/", o);
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("b") + "/.partial-"));
  EXPECT_GE(again->Revision(), st->checkpoint);
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos)
        << e.path() << " was left behind";
  }
  testing::MakeDevice(again.get(), "from-b-again", root);
  ExpectConverged({a.get(), again.get()});
  EXPECT_EQ(testing::KeysIn(again.get(), root).size(), 42u);
}

// A replica cut off from etcd while the revisions it had not read were
// trimmed (stopped past its lease, say) cannot go on: reading on from its
// revision finds it trimmed. Its follower keeps trying, but a waiter for
// its changes (canopy log --follow, Python's watch) is told, Compacted
// with the remedy, instead of waiting for revisions that will not come.
TEST_F(ReplicaTest, AWaiterIsToldWhenTheFollowerCannotGoOn) {
  if (std::getenv("CANOPY_ETCD_DIR") == nullptr) {
    GTEST_SKIP() << "CANOPY_ETCD_DIR is not set (the cluster's folder)";
  }
  ASSERT_GE(endpoints_.size(), 3u);
  auto a = Replica("a");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  Options lone = ReplicaOptions();
  lone.replication.etcd_endpoints = {endpoints_[0]};  // b reaches etcd through member 0 only
  auto b = Replica("b", lone);
  ASSERT_OK(b->SyncWithLog(10000));
  const uint64_t at = b->Revision();
  ASSERT_EQ(Cluster("kill", 0), 0);
  struct Restart {
    bool done = false;
    ~Restart() {
      if (!done) {
        EXPECT_EQ(Cluster("restart", 0), 0);
      }
    }
  } restart;
  for (int i = 0; i < 5; ++i) testing::MakeDevice(a.get(), "dev-" + std::to_string(i), root);
  replication::LogOptions lo;
  lo.etcd.endpoints = {endpoints_[1], endpoints_[2]};
  lo.prefix = prefix_;
  replication::EtcdLog log(lo);
  int64_t deleted = 0;
  ASSERT_OK(log.TrimUpTo(a->Revision() - 1, &deleted));
  EXPECT_GE(deleted, 5);
  restart.done = true;
  ASSERT_EQ(Cluster("restart", 0), 0);
  auto waited = b->WaitForChanges(at, 60000);
  EXPECT_EQ(waited.status().code(), Code::kCompacted) << waited.status().ToString();
  EXPECT_NE(waited.status().message().find("this replica stopped following the log in etcd (" +
                                           prefix_ + ") at revision " + std::to_string(at) +
                                           ": revision " + std::to_string(at + 1) +
                                           " was trimmed"),
            std::string::npos)
      << waited.status().ToString();
  EXPECT_NE(waited.status().message().find("open it again with the replicas' checkpoint folder"),
            std::string::npos)
      << waited.status().ToString();
  EXPECT_EQ(b->Revision(), at);
  // Its reads go on, at its revision; its status says why it stands still.
  auto found = b->FindAccount("root");
  EXPECT_OK(found.status());
  auto st = b->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_NE(st->error.find("trimmed"), std::string::npos) << st->error;
  auto behind = b->WaitForChanges(at - 1, 60000);
  ASSERT_OK(behind);
  EXPECT_EQ(*behind, at);
}

// An append the etcd client sent twice (its first member answered too
// late, so it asked the next one) finds its own entry where the compare
// failed: committed, not a race lost to another replica. (The replica then
// applied its own entry as another's, authorised the change again on the
// new state and refused it: "already exists" for a write that was made.)
TEST_F(ReplicaTest, AnAppendMadeTwiceIsCommittedOnce) {
  replication::LogOptions lo;
  lo.etcd.endpoints = endpoints_;
  lo.prefix = prefix_;
  replication::EtcdLog log(lo);
  // (Inline entries: a chunked one's value names chunks under a random id,
  // so only a resend of the same request, not a second call, repeats it.)
  for (const std::string& entry : {std::string("first entry"), std::string("second entry")}) {
    uint64_t head = 0, first = 0;
    ASSERT_OK(log.Bounds(&head, &first));
    bool committed = false;
    uint64_t now = 0;
    ASSERT_OK(log.Append(head, entry, &committed, &now));
    EXPECT_TRUE(committed);
    EXPECT_EQ(now, head + 1);
    // The same append again.
    committed = false;
    ASSERT_OK(log.Append(head, entry, &committed, &now));
    EXPECT_TRUE(committed) << "entry of " << entry.size() << " bytes";
    EXPECT_EQ(now, head + 1);
    // Another entry at the same place lost the race.
    ASSERT_OK(log.Append(head, entry + "!", &committed, &now));
    EXPECT_FALSE(committed);
    EXPECT_EQ(now, head + 1);
  }
  uint64_t head = 0, first = 0;
  ASSERT_OK(log.Bounds(&head, &first));
  EXPECT_EQ(head, 2u);
}

// The turn to append: while one writer holds it, another's append waits
// (it does not take the revision the holder builds for); the holder's
// append ends the turn, as does giving it back or its lease running out
// (a holder that went away).
TEST_F(ReplicaTest, ATurnHoldsOtherAppendsUntilItsHolderAppends) {
  replication::LogOptions lo;
  lo.etcd.endpoints = endpoints_;
  lo.prefix = prefix_;
  replication::EtcdLog a(lo), b(lo);
  bool committed = false, claimed = false;
  uint64_t now = 0, claim = 0;
  ASSERT_OK(a.Append(0, std::string_view("zero"), &committed, &now));
  ASSERT_TRUE(committed);
  ASSERT_OK(a.ClaimTurn(10, &claimed, &claim));
  EXPECT_TRUE(claimed);
  EXPECT_TRUE(a.HoldsTurn());
  bool other = true;
  uint64_t other_claim = 0;
  ASSERT_OK(b.ClaimTurn(10, &other, &other_claim));
  EXPECT_FALSE(other) << "two writers hold the turn";
  EXPECT_FALSE(b.HoldsTurn());
  // b's append at head 1 waits for a's, then finds the head moved.
  Status a_appended;
  bool a_committed = false;
  std::thread holder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    uint64_t h = 0;
    a_appended = a.Append(1, std::string_view("from a"), &a_committed, &h);
  });
  bool b_committed = true;
  uint64_t b_head = 0;
  std::vector<replication::LogEntryBytes> missed;
  ASSERT_OK(b.Append(1, std::vector<std::string_view>{"from b"}, &b_committed, &b_head, &missed));
  holder.join();
  ASSERT_OK(a_appended);
  EXPECT_TRUE(a_committed);
  EXPECT_FALSE(b_committed) << "b appended while a held the turn";
  EXPECT_EQ(b_head, 2u);
  // etcd's entry at b's head (revision 1, to compare with its own), then
  // what b missed.
  ASSERT_EQ(missed.size(), 2u);
  EXPECT_EQ(missed[0].revision, 1u);
  EXPECT_EQ(missed[1].revision, 2u);
  EXPECT_EQ(missed[1].bytes, "from a");
  EXPECT_FALSE(a.HoldsTurn()) << "a's append did not end its turn";
  replication::EtcdClient etcd(lo.etcd);
  auto turn_key = [&] {
    std::vector<replication::EtcdKv> kvs;
    EXPECT_OK(etcd.Range(prefix_ + "/turn", "", 0, &kvs));
    return kvs.size();
  };
  EXPECT_EQ(turn_key(), 0u);
  // A turn given back: b appends at once. (Giving back a claim its append
  // used, or an older one, leaves a newer claim alone.)
  ASSERT_OK(a.ReleaseTurn(claim));
  ASSERT_OK(a.ClaimTurn(10, &claimed, &claim));
  ASSERT_TRUE(claimed);
  ASSERT_OK(a.ReleaseTurn(claim - 1));
  EXPECT_TRUE(a.HoldsTurn());
  EXPECT_EQ(turn_key(), 1u);
  ASSERT_OK(a.ReleaseTurn(claim));
  EXPECT_FALSE(a.HoldsTurn());
  EXPECT_EQ(turn_key(), 0u);
  ASSERT_OK(b.Append(2, std::string_view("from b"), &b_committed, &b_head));
  EXPECT_TRUE(b_committed);
  // A holder that went away: its turn ends with its lease, and b goes on.
  ASSERT_OK(a.ClaimTurn(2, &claimed, &claim));
  ASSERT_TRUE(claimed);
  ASSERT_OK(b.Append(3, std::string_view("b after the lease"), &b_committed, &b_head));
  EXPECT_TRUE(b_committed);
  EXPECT_EQ(b_head, 4u);
  // a learns at its next append that its turn is over, and appends without it.
  ASSERT_OK(a.Append(4, std::string_view("a late"), &committed, &now));
  EXPECT_TRUE(committed);
  EXPECT_EQ(now, 5u);
  EXPECT_FALSE(a.HoldsTurn());
}

// A group of entries is one transaction: all appended, in order, or none;
// the same group sent again counts as committed (the client may resend
// it), another group at the same head lost the race. Entries over the
// inline size go in chunks inside a group too.
TEST_F(ReplicaTest, AGroupOfEntriesIsAppendedWholeOrNotAtAll) {
  replication::LogOptions lo;
  lo.etcd.endpoints = endpoints_;
  lo.prefix = prefix_;
  lo.inline_bytes = 16;
  lo.chunk_bytes = 10;
  replication::EtcdLog log(lo);
  bool committed = false;
  uint64_t now = 0;
  ASSERT_OK(log.Append(0, std::string_view("zero"), &committed, &now));
  ASSERT_TRUE(committed);
  const std::vector<std::string> group = {"one", "two is longer than sixteen bytes", "three"};
  const std::vector<std::string_view> views(group.begin(), group.end());
  ASSERT_OK(log.Append(1, views, &committed, &now));
  EXPECT_TRUE(committed);
  EXPECT_EQ(now, 4u);
  ASSERT_OK(log.Append(1, views, &committed, &now));
  EXPECT_TRUE(committed) << "the same group again";
  EXPECT_EQ(now, 4u);
  std::vector<std::string_view> other = views;
  other.back() = "three!";
  ASSERT_OK(log.Append(1, other, &committed, &now));
  EXPECT_FALSE(committed);
  EXPECT_EQ(now, 4u);
  // At a stale head, nothing of a group is written.
  ASSERT_OK(log.Append(2, views, &committed, &now));
  EXPECT_FALSE(committed);
  EXPECT_EQ(now, 4u);
  EXPECT_EQ(log.Append(4, std::vector<std::string_view>{}, &committed, &now).code(),
            Code::kInvalidArgument);
  std::vector<replication::LogEntryBytes> entries;
  int64_t er = 0;
  ASSERT_OK(log.Read(1, 10, &entries, &er));
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].bytes, "zero");
  for (size_t i = 0; i < group.size(); ++i) {
    EXPECT_EQ(entries[i + 1].revision, i + 2);
    EXPECT_EQ(entries[i + 1].bytes, group[i]);
  }
}

// The log in etcd deleted under a running replica, or replaced by another
// database's (a new replica started on the emptied prefix): the replica
// appends nothing to it, says why, and changes nothing locally; the new
// log's replicas are not disturbed.
TEST_F(ReplicaTest, AReplicaRefusesALogThatWasDeletedOrReplaced) {
  auto a = Replica("a");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  testing::MakeDevice(a.get(), "dev-1", root);
  const uint64_t at = a->Revision();
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  ASSERT_OK(etcd.DeleteRange(prefix_ + "/", replication::PrefixEnd(prefix_ + "/")));
  EntitySpec e;
  e.key = "dev-2";
  e.name = "dev-2";
  e.owner = root;
  Status s = a->CreateEntity(Actor::System(), e).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("etcd"), std::string::npos) << s.ToString();
  EXPECT_EQ(a->Revision(), at);
  // Another database starts on the emptied prefix.
  auto b = Replica("b");
  testing::MakeAccount(b.get(), "other");
  testing::MakeAccount(b.get(), "other-2");
  s = a->CreateEntity(Actor::System(), e).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("replaced"), std::string::npos) << s.ToString();
  EXPECT_EQ(a->Revision(), at);
  // Its status says so, and keeps saying it.
  auto st = a->GetReplicaStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (st.ok() && st->error.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    st = a->GetReplicaStatus();
  }
  ASSERT_OK(st);
  EXPECT_NE(st->error, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  st = a->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_NE(st->error, "") << "the error was cleared by a later contact with etcd";
  EXPECT_EQ(a->Revision(), at);
  // A waiter for a's changes is told that none will come (not left
  // waiting out its timeout); one behind a's revision gets it first. What
  // it is told is what a last learnt: the refused write found the log
  // replaced, though a housekeeping pass that read it before b began may
  // still say "gone" for one interval.
  auto waited = a->WaitForChanges(at, 60000);
  const auto told_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waited.status().message().find("replaced") == std::string::npos &&
         std::chrono::steady_clock::now() < told_by) {
    EXPECT_EQ(waited.status().code(), Code::kFailedPrecondition) << waited.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    waited = a->WaitForChanges(at, 60000);
  }
  EXPECT_EQ(waited.status().code(), Code::kFailedPrecondition) << waited.status().ToString();
  EXPECT_NE(waited.status().message().find("this replica stopped following the log in etcd ("),
            std::string::npos)
      << waited.status().ToString();
  EXPECT_NE(waited.status().message().find("replaced"), std::string::npos)
      << waited.status().ToString();
  auto behind = a->WaitForChanges(at - 1, 60000);
  ASSERT_OK(behind);
  EXPECT_EQ(*behind, at);
  // The new log goes on, with a second replica of its own.
  auto c = Replica("c");
  testing::MakeAccount(c.get(), "third");
  ExpectConverged({b.get(), c.get()});
  EXPECT_EQ(b->Revision(), 3u);
  // Registered there: b and c, never a (its applied revision would hold
  // back the new log's trimming).
  auto registered = [&] {
    std::vector<replication::EtcdKv> kvs;
    const std::string from = prefix_ + "/replicas/";
    EXPECT_OK(etcd.Range(from, replication::PrefixEnd(from), 0, &kvs));
    return kvs.size();
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (registered() != 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(registered(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a's housekeeping runs again
  EXPECT_EQ(registered(), 2u);
}

// The log in etcd ends before the revision a replica applied from it
// (etcd restored from an older backup, say: the head key is the same one,
// its value smaller). A waiter is told without any write, by
// housekeeping; a write is refused and changes nothing; the follower's
// reads, which find nothing past the head, do not clear it.
TEST_F(ReplicaTest, AReplicaWhoseLogEndsBehindItStops) {
  auto a = Replica("a");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  testing::MakeDevice(a.get(), "dev-1", root);
  testing::MakeDevice(a.get(), "dev-2", root);
  const uint64_t at = a->Revision();
  ASSERT_EQ(at, 3u);
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  ASSERT_OK(etcd.Put(prefix_ + "/head", "1"));
  auto waited = a->WaitForChanges(at, 60000);
  EXPECT_EQ(waited.status().code(), Code::kFailedPrecondition) << waited.status().ToString();
  EXPECT_NE(waited.status().message().find("ends at revision 1, behind this replica's 3"),
            std::string::npos)
      << waited.status().ToString();
  EntitySpec e;
  e.key = "dev-3";
  e.name = "dev-3";
  e.owner = root;
  Status s = a->CreateEntity(Actor::System(), e).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("ends at revision 1"), std::string::npos) << s.ToString();
  EXPECT_EQ(a->Revision(), at);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // housekeeping and reads go on
  waited = a->WaitForChanges(at, 0);
  EXPECT_EQ(waited.status().code(), Code::kFailedPrecondition) << waited.status().ToString();
  auto st = a->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_NE(st->error.find("behind this replica's 3"), std::string::npos) << st->error;
  auto behind = a->WaitForChanges(at - 1, 60000);
  ASSERT_OK(behind);
  EXPECT_EQ(*behind, at);
  // Another replica writes on from the shorter log (its entries after 1
  // gone too), past a's revision: a applies none of that other history,
  // stays stopped and refuses, though the head has passed it again.
  replication::LogOptions lo;
  lo.etcd.endpoints = endpoints_;
  lo.prefix = prefix_;
  replication::EtcdLog log(lo);
  ASSERT_OK(etcd.DeleteRange(log.EntryKey(2), log.EntryKey(100)));
  const testing::Dump before = testing::DumpReplicated(a.get());
  auto b = Replica("b");
  EXPECT_EQ(b->Revision(), 1u);
  for (const char* key : {"other-1", "other-2", "other-3", "other-4"}) {
    testing::MakeDevice(b.get(), key, root);
  }
  EXPECT_EQ(b->Revision(), 5u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a's follower and housekeeping
  EXPECT_EQ(a->Revision(), at);
  EXPECT_TRUE(testing::DumpReplicated(a.get()) == before);
  s = a->CreateEntity(Actor::System(), e).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(a->Revision(), at);
  waited = a->WaitForChanges(at, 0);
  EXPECT_EQ(waited.status().code(), Code::kFailedPrecondition) << waited.status().ToString();
  st = a->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_NE(st->error, "");
  // Reopened, it is refused: its revision 3 is not the log's.
  ASSERT_OK(a->Close());
  a.reset();
  std::unique_ptr<Db> again;
  s = Db::Open(ReplicaOptions(), dir_.Sub("a"), &again);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("revision 3 of this database differs from the log in etcd"),
            std::string::npos)
      << s.ToString();
}

// A replica that was not looking when etcd was restored from an older
// backup and written on past its revision (its follower cut off, then
// reading on): the first read compares the entry it applied last with
// etcd's, finds another history, and applies none of it.
TEST_F(ReplicaTest, AReplicaFindsAnotherHistoryAtItsRevision) {
  auto a = Replica("a");
  const AccountId root = testing::MakeAccount(a.get(), "root");
  testing::MakeDevice(a.get(), "dev-1", root);
  const uint64_t at = a->Revision();
  ASSERT_EQ(at, 2u);
  ASSERT_OK(a->Close());
  a.reset();
  // etcd "restored" to revision 1, and another replica writes 2 and 3.
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  replication::LogOptions lo;
  lo.etcd.endpoints = endpoints_;
  lo.prefix = prefix_;
  replication::EtcdLog log(lo);
  ASSERT_OK(etcd.Put(prefix_ + "/head", "1"));
  ASSERT_OK(etcd.DeleteRange(log.EntryKey(2), log.EntryKey(100)));
  auto b = Replica("b");
  testing::MakeDevice(b.get(), "other-1", root);
  testing::MakeDevice(b.get(), "other-2", root);
  EXPECT_EQ(b->Revision(), 3u);
  std::unique_ptr<Db> again;
  Status s = Db::Open(ReplicaOptions(), dir_.Sub("a"), &again);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  // The same while it runs: b's history rewritten underneath c (at b's
  // revision 3) in one transaction, by revisions 2 to 4 of a fork of it
  // from revision 1 (what a restore from an older backup and a writer on
  // it leave), so that the head is never behind c meanwhile.
  Options quiet = ReplicaOptions();  // no housekeeping pass to look first
  quiet.replication.housekeeping_interval_ms = 600000;
  auto c = Replica("c", quiet);
  ASSERT_EQ(c->Revision(), 3u);
  const testing::Dump c_before = testing::DumpReplicated(c.get());
  Impl(c.get())->TEST_PauseFollower(true);
  const std::string fork = prefix_ + "-fork";
  replication::LogOptions flo = lo;
  flo.prefix = fork;
  replication::EtcdLog fork_log(flo);
  std::vector<replication::EtcdKv> kvs;
  ASSERT_OK(etcd.Range(log.EntryKey(1), "", 0, &kvs));
  ASSERT_EQ(kvs.size(), 1u);
  ASSERT_OK(etcd.Put(fork_log.EntryKey(1), kvs[0].value));
  ASSERT_OK(etcd.Put(fork + "/head", "1"));
  Options on_fork = ReplicaOptions();
  on_fork.replication.prefix = fork;
  auto d = Replica("d", on_fork);
  for (const char* key : {"third-1", "third-2", "third-3"}) testing::MakeDevice(d.get(), key, root);
  EXPECT_EQ(d->Revision(), 4u);
  std::vector<replication::EtcdOp> rewrite;
  for (uint64_t rev = 2; rev <= 4; ++rev) {
    kvs.clear();
    ASSERT_OK(etcd.Range(fork_log.EntryKey(rev), "", 0, &kvs));
    ASSERT_EQ(kvs.size(), 1u);
    replication::EtcdOp put;
    put.type = replication::EtcdOp::Type::kPut;
    put.key = log.EntryKey(rev);
    put.value = kvs[0].value;
    rewrite.push_back(put);
  }
  replication::EtcdOp head;
  head.type = replication::EtcdOp::Type::kPut;
  head.key = prefix_ + "/head";
  head.value = "4";
  rewrite.push_back(head);
  replication::EtcdTxnResult done;
  ASSERT_OK(etcd.Txn({}, rewrite, {}, &done));
  ASSERT_OK(b->Close());
  b.reset();
  // A write of c's first, its follower still held: it loses the race for
  // the head, and what it would catch up with is that other history.
  EntitySpec e;
  e.key = "from-c";
  e.name = "from-c";
  e.owner = root;
  s = c->CreateEntity(Actor::System(), e).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("holds another entry at revision 3"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(c->Revision(), 3u);
  Impl(c.get())->TEST_PauseFollower(false);
  auto waited = c->WaitForChanges(3, 30000);
  EXPECT_EQ(waited.status().code(), Code::kFailedPrecondition) << waited.status().ToString();
  EXPECT_EQ(c->Revision(), 3u);
  EXPECT_TRUE(testing::DumpReplicated(c.get()) == c_before);
  s = c->CreateEntity(Actor::System(), e).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(c->Revision(), 3u);
  EXPECT_EQ(d->Revision(), 4u);
}

// A replica's status keeps a background activity's error while another
// activity succeeds (each contact with etcd used to clear it), and shows
// the registered checkpoint from the open on.
TEST_F(ReplicaTest, StatusKeepsEachActivitysError) {
  Options o = ReplicaOptions();
  o.replication.checkpoint_dir = dir_.Sub("checkpoints");
  o.replication.checkpoint_every = 0;
  auto a = Replica("a", o);
  const AccountId root = testing::MakeAccount(a.get(), "root");
  ASSERT_OK(a->Checkpoint(dir_.Sub("checkpoints") + "/manual"));
  const uint64_t registered = a->Revision();
  auto b = Replica("b", o);
  auto st = b->GetReplicaStatus();
  ASSERT_OK(st);
  EXPECT_EQ(st->checkpoint, registered);
  // A checkpoint folder that is a file: every checkpoint fails.
  Options broken = o;
  std::ofstream(dir_.Sub("not-a-folder")) << "x";
  broken.replication.checkpoint_dir = dir_.Sub("not-a-folder");
  broken.replication.checkpoint_every = 1;
  auto c = Replica("c", broken);
  for (int i = 0; i < 5; ++i) testing::MakeDevice(c.get(), "dev-" + std::to_string(i), root);
  st = c->GetReplicaStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (st.ok() && st->error.find("checkpoint") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    st = c->GetReplicaStatus();
  }
  ASSERT_OK(st);
  EXPECT_NE(st->error.find("checkpoint"), std::string::npos) << st->error;
  // Writes and reads of etcd go on meanwhile; the error stands.
  for (int i = 0; i < 10; ++i) {
    testing::MakeDevice(c.get(), "more-" + std::to_string(i), root);
    st = c->GetReplicaStatus();
    ASSERT_OK(st);
    EXPECT_NE(st->error.find("checkpoint"), std::string::npos)
        << "write " << i << ": " << st->error;
  }
}

// Databases sharing one checkpoint folder each remove only their own old
// checkpoints (one used to remove another's only registered checkpoint,
// after which that database could start no new replica).
TEST_F(ReplicaTest, ASharedCheckpointFolderKeepsEveryDatabasesCheckpoints) {
  Options one = ReplicaOptions();
  one.replication.checkpoint_dir = dir_.Sub("shared");
  one.replication.checkpoint_every = 0;
  Options two = one;
  two.replication.prefix = prefix_ + "-two";
  two.replication.checkpoint_every = 3;
  auto a = Replica("a", one);
  const AccountId root = testing::MakeAccount(a.get(), "root");
  testing::MakeDevice(a.get(), "dev", root);
  // Named as housekeeping names them, at an old revision.
  auto cp = a->Checkpoint(dir_.Sub("shared") + "/checkpoint-00000000000000000001-x-y-1-00000000");
  ASSERT_OK(cp);
  auto registered = a->GetReplicaStatus();
  ASSERT_OK(registered);
  ASSERT_EQ(registered->checkpoint, *cp);
  auto b = Replica("b", two);
  const AccountId other = testing::MakeAccount(b.get(), "other");
  for (int i = 0; i < 30; ++i) testing::MakeDevice(b.get(), "d-" + std::to_string(i), other);
  // b's housekeeping takes checkpoints every 3 revisions and removes its
  // older ones: wait until it has removed some. It takes one only once the
  // revision is 3 past the last, so the newest can stop short of the last
  // write (at 29 of 31, say): write on while waiting.
  auto own = [&] {
    size_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir_.Sub("shared"))) {
      if (f.path().filename().string().find(b->LogId()) != std::string::npos) ++n;
    }
    return n;
  };
  auto st = b->GetReplicaStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int i = 0; st.ok() && st->checkpoint < 30 && std::chrono::steady_clock::now() < deadline;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (i % 5 == 4) testing::MakeDevice(b.get(), "more-" + std::to_string(i), other);
    st = b->GetReplicaStatus();
  }
  ASSERT_OK(st);
  ASSERT_GE(st->checkpoint, 30u) << st->error;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a trim pass or two
  EXPECT_LE(own(), 3u);
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("shared") +
                                      "/checkpoint-00000000000000000001-x-y-1-00000000"));
  // a's log still starts a new replica from its checkpoint.
  auto c = Replica("c", one);
  ExpectConverged({a.get(), c.get()});
}

// A new replica whose copy of the newest checkpoint cannot be opened (the
// checkpoint is damaged) removes the copy again: the folder does not stay
// a damaged database that every later open refuses.
TEST_F(ReplicaTest, ADamagedCheckpointLeavesNoCopyBehind) {
  Options o = ReplicaOptions();
  o.replication.checkpoint_dir = dir_.Sub("checkpoints");
  o.replication.checkpoint_every = 0;
  auto a = Replica("a", o);
  testing::MakeAccount(a.get(), "root");
  const std::string cp = dir_.Sub("checkpoints") + "/manual";
  ASSERT_OK(a->Checkpoint(cp));
  std::string manifest;
  std::ifstream(cp + "/CURRENT") >> manifest;
  ASSERT_FALSE(manifest.empty());
  std::filesystem::resize_file(cp + "/" + manifest, 0);
  std::unique_ptr<Db> db;
  Status s = Db::Open(o, dir_.Sub("new"), &db);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(cp), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("new")));
}

TEST_F(ReplicaTest, ADatabaseOfItsOwnCannotJoinALog) {
  // A single-process database with history cannot become a replica of an
  // empty log (it would fork the history), nor of another one.
  {
    auto solo = OpenDb(dir_.Sub("solo"));
    testing::MakeAccount(solo.get(), "x");
  }
  std::unique_ptr<Db> db;
  Status s = Db::Open(ReplicaOptions(), dir_.Sub("solo"), &db);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  auto a = Replica("a");
  testing::MakeAccount(a.get(), "y");
  testing::MakeAccount(a.get(), "z");
  s = Db::Open(ReplicaOptions(), dir_.Sub("solo"), &db);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("another database"), std::string::npos) << s.ToString();
  // Replicas apply only their own log: ApplyChanges is refused.
  std::vector<std::string> entries;
  ASSERT_OK(a->ReadLogEntries(1, 10, &entries));
  EXPECT_EQ(a->ApplyChanges(entries, nullptr).code(), Code::kFailedPrecondition);
}

// A replica's folder changes only through its log. Opened without etcd it
// was written as a single-process database, silently: that revision was
// in no other replica, and the next replica open either refused the folder
// for good or, at the trim boundary or with etcd down, applied the log on
// top of the fork. Such a change is refused now (reads, export and
// checkpoints go on), and the folder opens as a replica of no other log.
TEST_F(ReplicaTest, AReplicasFolderChangesOnlyThroughItsLog) {
  {
    auto a = Replica("a");
    testing::MakeAccount(a.get(), "x");
  }
  {
    std::unique_ptr<Db> plain;
    Options o;
    o.sync = false;
    ASSERT_OK(Db::Open(o, dir_.Sub("a"), &plain));
    const uint64_t rev = plain->Revision();
    AccountSpec spec;
    spec.key = "y";
    spec.name = "Y";
    auto made = plain->CreateAccount(Actor::System(), spec);
    EXPECT_EQ(made.status().code(), Code::kFailedPrecondition) << made.status().ToString();
    EXPECT_NE(made.status().message().find("replica of the log in etcd under prefix '" + prefix_ +
                                           "'"),
              std::string::npos)
        << made.status().ToString();
    {
      std::ofstream f(dir_.Sub("one.jsonl"));
      f << R"({"type":"account","key":"z","name":"Z"})" << "\n";
    }
    EXPECT_EQ(plain->Import(Actor::System(), dir_.Sub("one.jsonl"), ImportOptions(), nullptr).code(),
              Code::kFailedPrecondition);
    EXPECT_EQ(plain->Revision(), rev);
    // Entries of its own log's lineage are no change of its own: applied
    // (here: already held, so skipped), not refused.
    std::vector<std::string> entries;
    ASSERT_OK(plain->ReadLogEntries(1, 10, &entries));
    ApplyReport report;
    EXPECT_OK(plain->ApplyChanges(entries, &report));
    EXPECT_EQ(report.skipped, entries.size());
    EXPECT_TRUE(plain->FindAccount("x").ok());
    EXPECT_FALSE(plain->FindAccount("y").ok());
    auto copied = plain->Checkpoint(dir_.Sub("copy"));
    EXPECT_OK(copied.status());
  }
  // Another prefix is refused, also where etcd does not answer.
  Options other = ReplicaOptions();
  other.replication.prefix = prefix_ + "-other";
  std::unique_ptr<Db> db;
  for (bool reachable : {true, false}) {
    if (!reachable) other.replication.etcd_endpoints = {"http://127.0.0.1:1"};
    Status s = Db::Open(other, dir_.Sub("a"), &db);
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("is a replica of the log in etcd under prefix '" + prefix_ +
                               "', not '" + prefix_ + "-other'"),
              std::string::npos)
        << s.ToString();
  }
  // Its own log: it opens and writes as before.
  auto again = Replica("a");
  testing::MakeAccount(again.get(), "y");
  EXPECT_TRUE(again->FindAccount("y").ok());
}

// A prefix nested in another names a database of its own, unless a part
// of it is one of the names every prefix's own keys use (P/head, P/log/...,
// P/blob/..., P/replicas/..., P/checkpoint): "P/log" would put its keys in
// P's log. Those are refused. And whatever foreign keys lie under P's key
// families (put there by hand, or by an older Canopy that took such a
// prefix), a replica of P neither reads them as its own nor trims them: a
// new replica of P used to stop at 'P/log/head', open as an empty database
// and say nothing.
TEST_F(ReplicaTest, KeysUnderAPrefixThatAreNotItsOwnAreLeftAlone) {
  for (const char* family : {"log", "replicas", "blob", "head", "checkpoint"}) {
    Options o = ReplicaOptions();
    o.replication.prefix = prefix_ + "/" + family + "/x";
    std::unique_ptr<Db> db;
    Status s = Db::Open(o, dir_.Sub(std::string("refused-") + family), &db);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(std::string("has a part named '") + family + "'"),
              std::string::npos)
        << s.ToString();
    EXPECT_FALSE(std::filesystem::exists(dir_.Sub(std::string("refused-") + family)));
  }
  // Foreign keys inside P's families, as a nested "P/log" or "P/replicas"
  // database would have written them.
  replication::EtcdOptions eo;
  eo.endpoints = endpoints_;
  replication::EtcdClient etcd(eo);
  const std::vector<std::pair<std::string, std::string>> foreign = {
      {prefix_ + "/log/head", "7"},
      {prefix_ + "/log/log/00000000000000000001", "Ixyz"},
      {prefix_ + "/log/-x/head", "3"},
      {prefix_ + "/blob/-x/head", "3"},
      {prefix_ + "/replicas/head", "5"},
  };
  for (const auto& [k, v] : foreign) ASSERT_OK(etcd.Put(k, v));
  auto a = Replica("a");
  const AccountId acme = testing::MakeAccount(a.get(), "acme");
  for (int i = 0; i < 5; ++i) testing::MakeDevice(a.get(), "dev-" + std::to_string(i), acme);
  auto b = Replica("b");  // new: replays P's whole log
  EXPECT_EQ(b->Revision(), a->Revision());
  EXPECT_EQ(b->GetReplicaStatus()->error, "");
  ExpectConverged({a.get(), b.get()});
  // A nested prefix of another name is a database of its own beside P.
  Options o = ReplicaOptions();
  o.replication.prefix = prefix_ + "/sub";
  auto n = Replica("nested", o);
  testing::MakeAccount(n.get(), "inside");
  EXPECT_EQ(n->Revision(), 1u);
  ASSERT_OK(a->SyncWithLog(10000));
  EXPECT_TRUE(a->FindAccount("inside").status().IsNotFound());
  // Trimming P deletes its own entries only; its live replicas are a and b.
  replication::LogOptions lo;
  lo.etcd = eo;
  lo.prefix = prefix_;
  replication::EtcdLog log(lo);
  int64_t deleted = 0;
  ASSERT_OK(log.TrimUpTo(a->Revision() - 1, &deleted));
  EXPECT_EQ(deleted, static_cast<int64_t>(a->Revision() - 1));
  for (const auto& [k, v] : foreign) {
    std::vector<replication::EtcdKv> kvs;
    ASSERT_OK(etcd.Range(k, "", 1, &kvs));
    EXPECT_EQ(kvs.size(), 1u) << k << " was deleted";
  }
  std::vector<replication::LiveReplica> live;
  ASSERT_OK(log.LiveReplicas(&live));
  for (const auto& r : live) EXPECT_NE(r.id, "head");
}

TEST_F(ReplicaTest, BadReplicationOptionsAreRefused) {
  std::unique_ptr<Db> db;
  Options o = ReplicaOptions();
  o.replication.prefix = "/bad";
  EXPECT_EQ(Db::Open(o, dir_.Sub("x"), &db).code(), Code::kInvalidArgument);
  o = ReplicaOptions();
  o.replication.prefix = "has space";
  EXPECT_EQ(Db::Open(o, dir_.Sub("x"), &db).code(), Code::kInvalidArgument);
  o = ReplicaOptions();
  o.replication.write_timeout_ms = 10;  // below request_timeout_ms
  EXPECT_EQ(Db::Open(o, dir_.Sub("x"), &db).code(), Code::kInvalidArgument);
  o = ReplicaOptions();
  o.replication.etcd_endpoints = {"127.0.0.1:2379"};
  Status s = Db::Open(o, dir_.Sub("x"), &db);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("127.0.0.1:2379"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("x")));
}

TEST_F(ReplicaTest, QuorumLostWritesFailCleanlyAndReadsGoOn) {
  Options o = ReplicaOptions();
  o.replication.write_timeout_ms = 3000;  // how long a write keeps trying
  auto a = Replica("a", o);
  const AccountId acme = testing::MakeAccount(a.get(), "acme");
  const testing::Dump before = testing::DumpReplicated(a.get());
  const uint64_t rev = a->Revision();
  // Two members of three down: no quorum (member 0 runs on, leaderless).
  ASSERT_EQ(Cluster("kill", 1), 0);
  ASSERT_EQ(Cluster("kill", 2), 0);
  EntitySpec spec;
  spec.key = "during-outage";
  spec.name = "x";
  spec.owner = acme;
  auto r = a->CreateEntity(Actor::System(), spec);
  const Status failed = r.status();
  // Reads go on, and say which revision they read.
  VisibleRequest req(Actor::System());
  VisiblePage page;
  Status read = a->Visible(req, &page);
  auto st = a->GetReplicaStatus();
  // Nothing was half-applied here.
  const uint64_t rev_during = a->Revision();
  const bool same_during = testing::DumpReplicated(a.get()) == before;
  // Both at once: each waits for the cluster to be healthy again.
  int restarted = -1;
  std::thread again([&] { restarted = Cluster("restart", 1); });
  ASSERT_EQ(Cluster("restart", 2), 0);
  again.join();
  ASSERT_EQ(restarted, 0);
  EXPECT_EQ(failed.code(), Code::kUnavailable) << failed.ToString();
  EXPECT_EQ(failed.message().rfind("etcd", 0), 0u) << failed.ToString();
  // The cause to act on is named: the member left up answers "no leader"
  // once it has noticed (an election timeout after the kills; on a
  // starved machine its last answer may still be a proposal timed out).
  EXPECT_TRUE(failed.message().find("no leader") != std::string::npos ||
              failed.message().find("timed out") != std::string::npos)
      << failed.ToString();
  ASSERT_OK(read);
  EXPECT_EQ(page.revision, rev);
  ASSERT_OK(st);
  int healthy = 0;
  for (const auto& m : st->members) healthy += m.reachable && m.has_leader;
  EXPECT_LT(healthy, 2);
  EXPECT_EQ(rev_during, rev);
  EXPECT_TRUE(same_during);
  // After recovery writes go on (once the cluster has a leader again). The
  // refused write's proposal may still have been committed by the member
  // that stayed up: then it is in the log (once), like any other write.
  Status s;
  for (int i = 0; i < 100; ++i) {
    spec.key = "after-outage";
    s = a->CreateEntity(Actor::System(), spec).status();
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_OK(s);
  auto b = Replica("b");
  ExpectConverged({a.get(), b.get()});
  const bool appeared = b->FindEntity(EntityKind::kDevice, "during-outage").ok();
  EXPECT_EQ(b->Revision(), rev + 1 + (appeared ? 1 : 0));
}

TEST_F(ReplicaTest, OneMemberDownWritesGoOn) {
  auto a = Replica("a");
  auto b = Replica("b");
  const AccountId acme = testing::MakeAccount(a.get(), "acme");
  ASSERT_EQ(Cluster("kill", 0), 0);
  for (int i = 0; i < 20; ++i) testing::MakeDevice(i % 2 ? a.get() : b.get(), "d" + std::to_string(i), acme);
  ExpectConverged({a.get(), b.get()});
  ASSERT_EQ(Cluster("restart", 0), 0);
  EXPECT_EQ(testing::KeysIn(b.get(), acme).size(), 20u);
}

// Starts a replica_writer process; returns its pid.
pid_t StartWriter(const std::string& db, const std::string& endpoints, const std::string& prefix,
                  int seed, int ops, const std::string& acks) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string seed_s = std::to_string(seed), ops_s = std::to_string(ops);
    execl(CANOPY_REPLICA_WRITER, CANOPY_REPLICA_WRITER, db.c_str(), endpoints.c_str(),
          prefix.c_str(), seed_s.c_str(), ops_s.c_str(), acks.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Three replica processes write at once; one of them and one etcd member are
// killed with SIGKILL mid-run and restarted. At the end every replica holds
// the same state, passes the integrity check, equals a database that
// replayed the whole log, and holds every acknowledged write.
TEST_F(ReplicaTest, ThreeWriterProcessesSurviveKills) {
  std::string endpoints;
  for (const auto& e : endpoints_) endpoints += (endpoints.empty() ? "" : ",") + e;
  {
    auto setup = Replica("setup");
    AccountSpec root;
    root.key = "root";
    root.name = "Root";
    root.settings.sub_account_management = true;
    ASSERT_OK(setup->CreateAccount(Actor::System(), root));
  }
  std::vector<pid_t> pids;
  for (int w = 0; w < 3; ++w) {
    pids.push_back(StartWriter(dir_.Sub("w" + std::to_string(w)), endpoints, prefix_, w + 1, 600,
                               dir_.Sub("acks" + std::to_string(w))));
  }
  // Kill writer 1 mid-run: once it has acknowledged 40 writes (of 600).
  auto acked_lines = [&](int w) {
    std::ifstream in(dir_.Sub("acks" + std::to_string(w)));
    size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  for (int i = 0; i < 3000 && acked_lines(1) < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(kill(pids[1], SIGKILL), 0);
  EXPECT_EQ(WaitExit(pids[1]), 128 + SIGKILL);
  ASSERT_EQ(Cluster("kill", 2), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  // The killed replica resumes on its folder (with new operations).
  pids[1] = StartWriter(dir_.Sub("w1"), endpoints, prefix_, 102, 150, dir_.Sub("acks1"));
  ASSERT_EQ(Cluster("restart", 2), 0);
  for (int w = 0; w < 3; ++w) EXPECT_EQ(WaitExit(pids[w]), 0) << "writer " << w;

  std::vector<std::unique_ptr<Db>> replicas;
  for (const char* name : {"setup", "w0", "w1", "w2"}) replicas.push_back(Replica(name));
  std::vector<Db*> all;
  for (auto& r : replicas) all.push_back(r.get());
  ExpectConverged(all);
  Db* any = all[0];
  // A database that replays the whole log holds the same.
  auto replay = OpenDb(dir_.Sub("replay"));
  for (uint64_t since = 1; since <= any->Revision();) {
    std::vector<std::string> entries;
    ASSERT_OK(any->ReadLogEntries(since, 500, &entries));
    ASSERT_FALSE(entries.empty());
    ASSERT_OK(replay->ApplyChanges(entries, nullptr));
    since += entries.size();
  }
  EXPECT_TRUE(testing::DumpReplicated(replay.get()) == testing::DumpReplicated(any));
  // Every acknowledged write is in the log, at the revision it was given.
  size_t acked = 0;
  std::set<uint64_t> revisions;
  for (int w = 0; w < 3; ++w) {
    std::ifstream in(dir_.Sub("acks" + std::to_string(w)));
    uint64_t rev;
    std::string op, key;
    size_t mine = 0;
    while (in >> rev >> op >> key) {
      ++mine;
      ASSERT_TRUE(revisions.insert(rev).second) << "revision " << rev << " acknowledged twice";
      ChangesRequest req;
      req.since = rev;
      req.limit = 1;
      ChangesPage page;
      ASSERT_OK(any->ReadChanges(req, &page));
      ASSERT_EQ(page.entries.size(), 1u) << "revision " << rev;
      ASSERT_EQ(page.entries[0].revision, rev);
      EXPECT_EQ(page.entries[0].operation, op) << "revision " << rev << " of writer " << w;
      std::string text = page.entries[0].arguments;
      for (const auto& c : page.entries[0].changes) text += c.before + c.after;
      EXPECT_NE(text.find(key), std::string::npos)
          << "revision " << rev << " should name " << key << ": " << text;
    }
    EXPECT_GT(mine, 20u) << "writer " << w << " acknowledged too little to prove anything";
    acked += mine;
  }
  EXPECT_LE(acked, any->Revision());
}

}  // namespace
}  // namespace canopy
