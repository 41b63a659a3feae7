// Copyright (c) Canopy authors.
//
// Simulated power loss (tests/fault_fs.h): writers mutate a database with
// Options::sync on while the power is cut at a random write of the file
// system — mid-mutation, mid-flush, mid-open; the disk then keeps only what
// was synced (creates, renames and deletes only once their folder was
// synced). After every reboot: every acknowledged mutation is there, the
// mutation in flight is wholly there or wholly absent, the integrity check
// passes and the change log agrees with the data.
//
// CANOPY_POWER_LOSS_ROUNDS=<n> runs more rounds (a soak); the default keeps
// the test to a few seconds.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::FaultFs;
using testing::TempDir;

// ---- One writer's world: a root tenant of its own ------------------------------

struct World {
  struct Acc {
    std::string parent;  // "" for the tenant
    std::string name;
    Attributes attrs;
    bool operator==(const Acc&) const = default;
  };
  struct Dev {
    std::string owner;
    std::string name;
    std::string unit_id;
    Attributes attrs;
    bool operator==(const Dev&) const = default;
  };
  std::map<std::string, Acc> accounts;
  std::map<std::string, Dev> devices;
  std::map<std::string, std::string> users;  // login -> home account
  std::map<std::pair<std::string, std::string>, std::string> memberships;  // -> role name
  bool operator==(const World&) const = default;

  bool InSubtree(std::string node, const std::string& root) const {
    while (!node.empty()) {
      if (node == root) return true;
      node = accounts.at(node).parent;
    }
    return false;
  }
  int Depth(std::string node) const {
    int d = 0;
    for (; !node.empty(); node = accounts.at(node).parent) ++d;
    return d;
  }
  int Height(const std::string& node) const {  // levels below, 0 for a leaf
    int h = 0;
    for (const auto& [k, a] : accounts) {
      if (a.parent == node) h = std::max(h, 1 + Height(k));
    }
    return h;
  }
  bool HasChildren(const std::string& node) const {
    for (const auto& [k, a] : accounts) {
      if (a.parent == node) return true;
    }
    return false;
  }

  // A short account of how `other` differs, for failure messages.
  std::string Diff(const World& other) const {
    std::string out;
    auto cmp = [&](const char* what, const auto& a, const auto& b) {
      for (const auto& [k, v] : a) {
        auto it = b.find(k);
        if (it == b.end()) out += std::string(" -") + what;
        else if (!(it->second == v)) out += std::string(" ~") + what;
      }
      for (const auto& [k, v] : b) {
        if (!a.count(k)) out += std::string(" +") + what;
      }
    };
    cmp("account", accounts, other.accounts);
    cmp("device", devices, other.devices);
    cmp("user", users, other.users);
    cmp("membership", memberships, other.memberships);
    return out.empty() ? "equal" : out;
  }
};

// Reads a tenant's world back from the database (the system's view).
StatusOr<World> ReadWorld(Db* db, const std::string& tenant) {
  World w;
  CANOPY_ASSIGN_OR_RETURN(Account root, db->FindAccount(tenant));
  std::map<AccountId, std::string> keys{{root.id, root.key}};
  w.accounts[root.key] = {"", root.name, root.attributes};
  CANOPY_ASSIGN_OR_RETURN(auto desc, db->Descendants(root.id, 0));
  for (const auto& a : desc) {
    keys[a.id] = a.key;
    w.accounts[a.key] = {keys.at(a.parent), a.name, a.attributes};
  }
  VisibleRequest req{Actor::System()};
  req.within = root.id;
  std::unique_ptr<VisibleIterator> it;
  CANOPY_RETURN_IF_ERROR(db->NewVisibleIterator(req, &it));
  for (; it->Valid(); it->Next()) {
    CANOPY_ASSIGN_OR_RETURN(Entity e, db->GetEntity(it->id()));
    w.devices[e.key] = {keys.at(e.owner), e.name, e.unit_id, e.attributes};
  }
  CANOPY_RETURN_IF_ERROR(it->status());
  it.reset();
  for (const auto& [id, key] : keys) {
    CANOPY_ASSIGN_OR_RETURN(auto users, db->UsersOf(id));
    for (const auto& u : users) {
      w.users[u.login] = key;
      CANOPY_ASSIGN_OR_RETURN(auto ms, db->MembershipsOf(u.id));
      for (const auto& m : ms) {
        CANOPY_ASSIGN_OR_RETURN(Role r, db->GetRole(m.role));
        w.memberships[{u.login, keys.at(m.account)}] = r.name;
      }
    }
  }
  return w;
}

// One mutation of a writer's world: applied to the model or run on a Db.
struct Op {
  enum Kind {
    kCreateAccount, kUpdateAccount, kMoveAccount, kDeleteAccount, kCreateDevice,
    kUpdateDevice, kReassignDevice, kDeleteDevice, kCreateUser, kInvite, kChangeRole,
    kRemoveMembership,
  } kind;
  std::string key;    // account / device key, or user login
  std::string other;  // parent, owner, target or account
  std::string name;   // name or role name
  Attributes attrs;

  void Apply(World* w) const {
    switch (kind) {
      case kCreateAccount: w->accounts[key] = {other, name, attrs}; break;
      case kUpdateAccount:
        w->accounts[key].name = name;
        w->accounts[key].attrs = attrs;
        break;
      case kMoveAccount: w->accounts[key].parent = other; break;
      case kDeleteAccount: {
        const std::string receiver = w->accounts[key].parent;
        for (auto& [k, d] : w->devices) {
          if (d.owner == key) d.owner = receiver;
        }
        for (auto it = w->memberships.begin(); it != w->memberships.end();) {
          it = it->first.second == key ? w->memberships.erase(it) : std::next(it);
        }
        w->accounts.erase(key);
        break;
      }
      case kCreateDevice: w->devices[key] = {other, name, key + "-unit", attrs}; break;
      case kUpdateDevice:
        w->devices[key].name = name;
        w->devices[key].attrs = attrs;
        break;
      case kReassignDevice: w->devices[key].owner = other; break;
      case kDeleteDevice: w->devices.erase(key); break;
      case kCreateUser: w->users[key] = other; break;
      case kInvite:
      case kChangeRole: w->memberships[{key, other}] = name; break;
      case kRemoveMembership: w->memberships.erase({key, other}); break;
    }
  }

  Status Run(Db* db) const {
    const Actor sys = Actor::System();
    auto account = [&](const std::string& k) -> StatusOr<AccountId> {
      CANOPY_ASSIGN_OR_RETURN(Account a, db->FindAccount(k));
      return a.id;
    };
    auto device = [&](const std::string& k) -> StatusOr<EntityId> {
      CANOPY_ASSIGN_OR_RETURN(Entity e, db->FindEntity(EntityKind::kDevice, k));
      return e.id;
    };
    auto user = [&](const std::string& login) -> StatusOr<UserId> {
      CANOPY_ASSIGN_OR_RETURN(User u, db->FindUser(login));
      return u.id;
    };
    switch (kind) {
      case kCreateAccount: {
        AccountSpec s{key, name};
        CANOPY_ASSIGN_OR_RETURN(s.parent, account(other));
        s.attributes = attrs;
        return db->CreateAccount(sys, s).status();
      }
      case kUpdateAccount: {
        CANOPY_ASSIGN_OR_RETURN(AccountId id, account(key));
        AccountPatch p;
        p.name = name;
        p.attributes = attrs;
        return db->UpdateAccount(sys, id, p);
      }
      case kMoveAccount: {
        CANOPY_ASSIGN_OR_RETURN(AccountId id, account(key));
        CANOPY_ASSIGN_OR_RETURN(AccountId to, account(other));
        return db->MoveAccount(sys, id, to);
      }
      case kDeleteAccount: {
        CANOPY_ASSIGN_OR_RETURN(Account a, db->FindAccount(key));
        return db->DeleteAccount(sys, a.id, a.parent);
      }
      case kCreateDevice: {
        EntitySpec s;
        s.key = key;
        s.unit_id = key + "-unit";
        s.name = name;
        s.type = "tracker";
        s.attributes = attrs;
        CANOPY_ASSIGN_OR_RETURN(s.owner, account(other));
        return db->CreateEntity(sys, s).status();
      }
      case kUpdateDevice: {
        CANOPY_ASSIGN_OR_RETURN(EntityId id, device(key));
        EntityPatch p;
        p.name = name;
        p.attributes = attrs;
        return db->UpdateEntity(sys, id, p);
      }
      case kReassignDevice: {
        CANOPY_ASSIGN_OR_RETURN(AccountId to, account(other));
        std::vector<std::string> refs{key};
        return db->ReassignEntities(sys, EntityKind::kDevice, EntityRef::kKey, refs, to, nullptr);
      }
      case kDeleteDevice: {
        CANOPY_ASSIGN_OR_RETURN(EntityId id, device(key));
        return db->DeleteEntity(sys, id);
      }
      case kCreateUser: {
        CANOPY_ASSIGN_OR_RETURN(AccountId home, account(other));
        return db->CreateUser(sys, UserSpec{key, "User " + key, home}).status();
      }
      case kInvite:
      case kChangeRole: {
        CANOPY_ASSIGN_OR_RETURN(UserId u, user(key));
        CANOPY_ASSIGN_OR_RETURN(AccountId a, account(other));
        CANOPY_ASSIGN_OR_RETURN(Role r, db->FindRole(a, name));
        if (kind == kInvite) return db->Invite(sys, u, a, r.id, false);
        return db->ChangeRole(sys, u, a, r.id);
      }
      case kRemoveMembership: {
        CANOPY_ASSIGN_OR_RETURN(UserId u, user(key));
        CANOPY_ASSIGN_OR_RETURN(AccountId a, account(other));
        return db->RemoveMembership(sys, u, a);
      }
    }
    return Status::Internal("unknown op");
  }
};

template <typename M>
const typename M::key_type& Pick(const M& m, std::mt19937_64& rng) {
  return std::next(m.begin(), static_cast<long>(rng() % m.size()))->first;
}

// A valid next mutation of `w` (never refused on the model's state).
Op Choose(const World& w, const std::string& prefix, uint64_t* seq, std::mt19937_64& rng) {
  const std::string n = std::to_string(++*seq);
  Attributes attrs{{"color", std::to_string(rng() % 5)}, {"seq", n}};
  const std::string& acc = Pick(w.accounts, rng);
  for (;;) {
    const int c = static_cast<int>(rng() % 100);
    if (c < 12 && w.Depth(acc) < 12) {
      return {Op::kCreateAccount, prefix + "a" + n, acc, "Account " + n, attrs};
    }
    if (c < 20) return {Op::kUpdateAccount, acc, "", "Renamed " + n, attrs};
    if (c < 28 && w.accounts.size() > 2) {
      const std::string& moved = Pick(w.accounts, rng);
      if (w.accounts.at(moved).parent.empty() || w.InSubtree(acc, moved) ||
          w.Depth(acc) + 1 + w.Height(moved) > 14) {
        continue;
      }
      return {Op::kMoveAccount, moved, acc, "", {}};
    }
    if (c < 33 && w.accounts.size() > 3) {
      const std::string& gone = Pick(w.accounts, rng);
      if (w.accounts.at(gone).parent.empty() || w.HasChildren(gone)) continue;
      return {Op::kDeleteAccount, gone, "", "", {}};
    }
    if (c < 58) return {Op::kCreateDevice, prefix + "d" + n, acc, "Device " + n, attrs};
    if (c < 66 && !w.devices.empty()) {
      return {Op::kUpdateDevice, Pick(w.devices, rng), "", "Device " + n, attrs};
    }
    if (c < 76 && !w.devices.empty()) return {Op::kReassignDevice, Pick(w.devices, rng), acc, "", {}};
    if (c < 83 && !w.devices.empty()) return {Op::kDeleteDevice, Pick(w.devices, rng), "", "", {}};
    if (c < 87) {
      // Users live in the tenant, so that moves inside it never take a
      // membership out of its user's reach.
      std::string tenant;
      for (const auto& [k, a] : w.accounts) {
        if (a.parent.empty()) tenant = k;
      }
      return {Op::kCreateUser, prefix + "u" + n, tenant, "", {}};
    }
    const char* role = rng() % 2 ? "viewer" : "device_manager";
    if (c < 95 && !w.users.empty()) {
      const std::string& login = Pick(w.users, rng);
      if (w.memberships.count({login, acc})) continue;
      return {Op::kInvite, login, acc, role, {}};
    }
    if (c < 98 && !w.memberships.empty()) {
      const auto& m = Pick(w.memberships, rng);
      const std::string other_role =
          w.memberships.at(m) == "viewer" ? "device_manager" : "viewer";
      return {Op::kChangeRole, m.first, m.second, other_role, {}};
    }
    if (!w.memberships.empty()) {
      const auto& m = Pick(w.memberships, rng);
      return {Op::kRemoveMembership, m.first, m.second, "", {}};
    }
  }
}

// ---- The test ---------------------------------------------------------------

struct Writer {
  std::string tenant;
  World model;                    // after every acknowledged mutation
  std::optional<Op> in_flight;    // the one that failed with the power cut
  uint64_t seq = 0;
  uint64_t acked = 0;
  uint64_t max_acked_revision = 0;
  std::map<uint64_t, std::string> entries;  // acknowledged revision -> log entry
  std::string error;              // an unexpected failure
};

// Runs writers on `db` until the power is cut (or `max_ops` each), with a
// reader polling alongside; returns the largest revision the reader saw.
uint64_t RunRound(Db* db, FaultFs* fs, std::vector<Writer>* writers, uint64_t seed,
                  uint64_t max_ops) {
  std::atomic<int> running{static_cast<int>(writers->size())};
  std::atomic<uint64_t> reader_max{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < writers->size(); ++i) {
    threads.emplace_back([&, i] {
      Writer& w = (*writers)[i];
      std::mt19937_64 rng(seed * 131 + i);
      for (uint64_t k = 0; k < max_ops; ++k) {
        Op op = Choose(w.model, "w" + std::to_string(i) + "-", &w.seq, rng);
        Status s = op.Run(db);
        if (!s.ok()) {
          if (s.code() != Code::kIOError) {
            w.error = "op " + std::to_string(op.kind) + " on '" + op.key + "' failed with " +
                      s.ToString() + (fs->powered() ? "" : " (power cut)");
          }
          w.in_flight = op;
          break;
        }
        op.Apply(&w.model);
        ++w.acked;
        const uint64_t rev = db->LastCommittedRevision();
        w.max_acked_revision = std::max(w.max_acked_revision, rev);
        std::vector<std::string> e;
        if (db->ReadLogEntries(rev, 1, &e).ok() && e.size() == 1) w.entries[rev] = e[0];
      }
      --running;
    });
  }
  // The reader: every revision it sees must survive the power loss.
  threads.emplace_back([&] {
    VisibleRequest all{Actor::System()};
    while (running.load() > 0) {
      const uint64_t rev = db->Revision();
      (void)db->Count(all);
      reader_max = std::max(reader_max.load(), rev);
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  return reader_max.load();
}

// Checks the rebooted database against the writers' models; adopts each
// in-flight mutation that survived. Returns the revision.
uint64_t VerifyAfterReboot(const TempDir& dir, const std::string& path,
                           std::vector<Writer>* writers, int round) {
  SCOPED_TRACE("round " + std::to_string(round));
  std::unique_ptr<Db> db;
  Status s = Db::Open(Options(), path, &db);  // a plain file system
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return 0;
  std::vector<std::string> problems;
  EXPECT_OK(db->CheckIntegrity(&problems));
  for (const auto& p : problems) ADD_FAILURE() << p;
  // Nothing partial: the change log and the data agree.
  {
    auto follower = testing::OpenDb(dir.Sub("follower-" + std::to_string(round)));
    std::vector<std::string> entries;
    for (uint64_t since = 1; since <= db->Revision(); since += 10000) {
      std::vector<std::string> page;
      EXPECT_OK(db->ReadLogEntries(since, 10000, &page));
      entries.insert(entries.end(), page.begin(), page.end());
    }
    EXPECT_EQ(entries.size(), db->Revision());
    EXPECT_OK(follower->ApplyChanges(entries, nullptr));
    testing::Dump want = testing::DumpReplicated(db.get());
    testing::Dump got = testing::DumpReplicated(follower.get());
    EXPECT_TRUE(want == got) << testing::DescribeDiff(want, got);
  }
  const uint64_t rev = db->Revision();
  for (auto& w : *writers) {
    SCOPED_TRACE("writer of " + w.tenant);
    EXPECT_GE(rev, w.max_acked_revision) << "an acknowledged revision was lost";
    for (const auto& [r, bytes] : w.entries) {
      std::vector<std::string> e;
      EXPECT_OK(db->ReadLogEntries(r, 1, &e));
      EXPECT_TRUE(e.size() == 1 && e[0] == bytes) << "log entry " << r << " changed";
    }
    w.entries.clear();
    auto got = ReadWorld(db.get(), w.tenant);
    EXPECT_OK(got);
    if (!got.ok()) continue;
    if (*got == w.model) {
      w.in_flight.reset();
      continue;
    }
    World after = w.model;
    if (w.in_flight) w.in_flight->Apply(&after);
    EXPECT_TRUE(*got == after) << "neither the acknowledged state nor it plus the mutation in "
                                  "flight; vs acknowledged:"
                               << w.model.Diff(*got) << "; vs with it:" << after.Diff(*got);
    w.model = after;
    w.in_flight.reset();
  }
  EXPECT_OK(db->Close());
  return rev;
}

// The file system decides what is durable, so the real fsyncs may be free.
constexpr char kMemoryFolder[] = "/dev/shm";

TEST(PowerLoss, EveryAcknowledgedMutationSurvives) {
  TempDir dir(kMemoryFolder);
  const std::string path = dir.Sub("db");
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  Options options;
  ASSERT_TRUE(options.sync) << "sync is on by default";
  constexpr int kWriters = 2;
  std::vector<Writer> writers(kWriters);
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(options, path, env.get(), &db));
    for (int i = 0; i < kWriters; ++i) {
      Writer& w = writers[i];
      w.tenant = "tenant-" + std::to_string(i);
      ASSERT_OK(db->CreateAccount(Actor::System(), {.key = w.tenant, .name = w.tenant}));
      w.model.accounts[w.tenant] = {"", w.tenant, {}};
    }
    ASSERT_OK(db->Close());
  }
  int rounds = 12;
  if (const char* r = std::getenv("CANOPY_POWER_LOSS_ROUNDS")) rounds = std::max(1, std::atoi(r));
  uint64_t acked = 0, in_flight_kept = 0, in_flight_lost = 0, reader_gaps = 0, open_cuts = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::mt19937_64 rng(1000 + round);
    // Where the power goes: mid-stream, during the open (recovery flushes
    // the log into a table, writes a new MANIFEST and OPTIONS), or during
    // a clean close (a flush).
    const int mode = round % 3;
    uint64_t reader_max = 0;
    if (mode == 1) fs->CutPowerAfter(1 + rng() % 80);
    if (mode == 0) fs->CutPowerAfter(5 + rng() % 600);
    {
      std::unique_ptr<Db> db;
      Status s = testing::OpenDbWithEnv(options, path, env.get(), &db);
      if (!s.ok()) {
        ASSERT_FALSE(fs->powered()) << s.ToString();
        ++open_cuts;
      } else {
        const uint64_t max_ops = mode == 2 ? 20 + rng() % 100 : 100000;
        reader_max = RunRound(db.get(), fs.get(), &writers, 1000 + round, max_ops);
        if (mode == 2) {
          fs->CutPowerAfter(1 + rng() % 60);
          (void)db->Close();  // may be cut mid-flush
        }
        fs->CutPower();
        (void)db->Close();
      }
    }
    for (const auto& w : writers) ASSERT_EQ(w.error, "");
    for (const auto& w : writers) acked += w.acked;
    for (auto& w : writers) w.acked = 0;
    std::vector<bool> had_in_flight;
    for (const auto& w : writers) had_in_flight.push_back(w.in_flight.has_value());
    std::vector<World> before;
    for (const auto& w : writers) before.push_back(w.model);
    // Odd rounds keep a random part of what was not durable.
    rocksdb::IOStatus rebooted = fs->Reboot(round % 2 ? &rng : nullptr);
    ASSERT_TRUE(rebooted.ok()) << rebooted.ToString();
    const uint64_t rev = VerifyAfterReboot(dir, path, &writers, round);
    if (HasFailure()) {
      ADD_FAILURE() << "after " << fs->last_reboot().ToString();
      return;
    }
    for (size_t i = 0; i < writers.size(); ++i) {
      if (had_in_flight[i]) (writers[i].model == before[i] ? in_flight_lost : in_flight_kept)++;
    }
    if (reader_max > rev) ++reader_gaps;
    EXPECT_LE(reader_max, rev) << "round " << round << ": a reader saw revision " << reader_max
                               << ", the database came back at " << rev;
  }
  std::printf("power loss: %d rounds, %llu acknowledged mutations survived; in flight: %llu kept, "
              "%llu lost; %llu cuts during open; %llu rounds where a reader saw a revision "
              "that did not survive\n",
              rounds, static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(in_flight_kept),
              static_cast<unsigned long long>(in_flight_lost),
              static_cast<unsigned long long>(open_cuts),
              static_cast<unsigned long long>(reader_gaps));
}

// A large import goes through SST ingestion (tables written beside the
// database, then hard-linked in): acknowledged, it survives a power loss
// right after it returns; cut anywhere inside, it is all there or absent.
TEST(PowerLoss, AnImportIsWholeOrAbsentAndSurvivesOnceReturned) {
  TempDir dir(kMemoryFolder);
  constexpr int kDevices = 30000;  // over the import's batch limit: ingestion
  const std::string input = dir.Sub("import.jsonl");
  {
    std::ofstream out(input);
    out << R"({"type":"account","key":"imp","name":"Imported"})" << "\n";
    for (int i = 0; i < kDevices; ++i) {
      out << R"({"type":"device","key":"imp-)" << i << R"(","unit_id":"u-)" << i
          << R"(","name":"Device","device_type":"tracker","account":"imp"})" << "\n";
    }
  }
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  std::mt19937_64 rng(42);
  uint64_t import_ops = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    const std::string path = dir.Sub("db-" + std::to_string(attempt));
    bool acknowledged = false;
    bool said_nothing = false;  // the refusal said "nothing was imported"
    {
      std::unique_ptr<Db> db;
      ASSERT_OK(testing::OpenDbWithEnv(Options(), path, env.get(), &db));
      ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "other", .name = "Other"}));
      const uint64_t before = fs->write_ops();
      // The first attempt runs whole and measures; the others cut inside.
      if (attempt > 0) fs->CutPowerAfter(1 + rng() % import_ops);
      ImportReport report;
      Status s = db->Import(Actor::System(), input, ImportOptions(), &report);
      acknowledged = s.ok();
      if (attempt == 0) {
        ASSERT_OK(s);
        import_ops = fs->write_ops() - before;
      } else if (!s.ok()) {
        EXPECT_FALSE(fs->powered()) << s.ToString();
        said_nothing = s.message().find("nothing was imported") != std::string::npos;
      }
      fs->CutPower();
      (void)db->Close();
    }
    rocksdb::IOStatus rebooted = fs->Reboot();
    ASSERT_TRUE(rebooted.ok()) << rebooted.ToString();
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(Options(), path, &db));
    std::vector<std::string> problems;
    EXPECT_OK(db->CheckIntegrity(&problems));
    for (const auto& p : problems) ADD_FAILURE() << p;
    EXPECT_OK(db->FindAccount("other"));
    auto imp = db->FindAccount("imp");
    if (acknowledged) ASSERT_OK(imp);
    // A refusal that said so imported nothing, even after the reboot.
    if (said_nothing) {
      EXPECT_EQ(imp.status().code(), Code::kNotFound);
    }
    if (imp.ok()) {
      EXPECT_EQ(testing::KeysIn(db.get(), imp->id).size(), static_cast<size_t>(kDevices));
      EXPECT_OK(db->FindDeviceByUnitId("u-" + std::to_string(kDevices - 1)));
    } else {
      EXPECT_EQ(imp.status().code(), Code::kNotFound);
      EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "imp-0").status().code(), Code::kNotFound);
    }
    std::printf("import attempt %d: %s, %s; after the reboot: %s\n", attempt,
                attempt == 0 ? ("ran whole in " + std::to_string(import_ops) + " writes").c_str()
                             : "power cut inside",
                acknowledged ? "acknowledged" : "failed", imp.ok() ? "all there" : "absent");
    ASSERT_OK(db->Close());
  }
}

// Every refusal of an import says that it imported nothing, a failed write
// of its files as much as a bad line: here the disk fails at the import's
// first write (as a full disk would).
TEST(PowerLoss, AnImportWhoseFilesCannotBeWrittenSaysNothingWasImported) {
  TempDir dir(kMemoryFolder);
  const std::string input = dir.Sub("import.jsonl");
  {
    std::ofstream out(input);
    out << R"({"type":"account","key":"imp","name":"Imported"})" << "\n";
    for (int i = 0; i < 30000; ++i) {  // over the batch limit: table files
      out << R"({"type":"device","key":"imp-)" << i << R"(","unit_id":"u-)" << i
          << R"(","name":"Device","device_type":"tracker","account":"imp"})" << "\n";
    }
  }
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  const std::string path = dir.Sub("db");
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(Options(), path, env.get(), &db));
    ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "other", .name = "Other"}));
    fs->CutPowerAfter(1);
    Status s = db->Import(Actor::System(), input, ImportOptions(), nullptr);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("nothing was imported"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("simulated power loss"), std::string::npos) << s.ToString();
    // Said once, not twice.
    EXPECT_EQ(s.message().find("nothing was imported"), s.message().rfind("nothing was imported"))
        << s.ToString();
    (void)db->Close();
  }
  ASSERT_TRUE(fs->Reboot().ok());
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(Options(), path, &db));
  EXPECT_OK(db->FindAccount("other"));
  EXPECT_EQ(db->FindAccount("imp").status().code(), Code::kNotFound);
  ASSERT_OK(db->Close());
}

// A checkpoint (an online backup; what new replicas start from, and what
// lets etcd trim its log) is there after a power loss once it returned.
TEST(PowerLoss, ACheckpointSurvivesOnceReturned) {
  TempDir dir(kMemoryFolder);
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  const std::string checkpoint = dir.Sub("checkpoints/one");
  uint64_t revision = 0;
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(Options(), dir.Sub("db"), env.get(), &db));
    AccountId root = testing::MakeAccount(db.get(), "acme");
    for (int i = 0; i < 20; ++i) testing::MakeDevice(db.get(), "d" + std::to_string(i), root);
    auto r = db->Checkpoint(checkpoint);
    ASSERT_OK(r);
    revision = *r;
    fs->CutPower();
    (void)db->Close();
  }
  ASSERT_TRUE(fs->Reboot().ok());
  std::unique_ptr<Db> db;
  Options o;
  o.create_if_missing = false;
  Status s = Db::Open(o, checkpoint, &db);
  ASSERT_TRUE(s.ok()) << s.ToString() << " after " << fs->last_reboot().ToString();
  EXPECT_EQ(db->Revision(), revision);
  EXPECT_EQ(testing::KeysIn(db.get(), db->FindAccount("acme")->id).size(), 20u);
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// KNOWN GAP (disabled until the engine syncs before it publishes): with
// Options::sync, Commit applies a mutation to the in-memory catalog and
// publishes its revision, so readers see it, and only then syncs the
// write-ahead log (DbImpl::Mutate -> Commit -> SyncOrPoison). A power loss
// in between loses a change a reader already saw (and may have acted on).
// This test holds the log sync, reads the new account from another thread,
// cuts the power and shows the account gone after the reboot. Run it with
// --gtest_also_run_disabled_tests; it fails today.
TEST(PowerLoss, ReadersNeverSeeAChangeThatDoesNotSurvive) {
  TempDir dir(kMemoryFolder);
  const std::string path = dir.Sub("db");
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false, held = false, released = false;
  bool reader_saw = false;
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(Options(), path, env.get(), &db));
    ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "before", .name = "Before"}));
    fs->SetSyncHook(".log", [&](const std::string&) {
      std::unique_lock<std::mutex> l(mu);
      if (!armed || held) return;
      held = true;
      cv.notify_all();
      cv.wait(l, [&] { return released; });
    });
    {
      std::lock_guard<std::mutex> l(mu);
      armed = true;
    }
    Status write;
    std::thread writer([&] {
      write = db->CreateAccount(Actor::System(), {.key = "seen", .name = "Seen"}).status();
    });
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return held; });
    }
    // The write is in RocksDB's memtable and its log, not yet synced.
    reader_saw = db->FindAccount("seen").ok();
    fs->CutPower();
    {
      std::lock_guard<std::mutex> l(mu);
      released = true;
    }
    cv.notify_all();
    writer.join();
    EXPECT_EQ(write.code(), Code::kIOError) << write.ToString();  // never acknowledged
    fs->SetSyncHook("", nullptr);
    (void)db->Close();
  }
  ASSERT_TRUE(fs->Reboot().ok());
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(Options(), path, &db));
  EXPECT_OK(db->FindAccount("before"));
  const bool survived = db->FindAccount("seen").ok();
  EXPECT_TRUE(!reader_saw || survived)
      << "a reader saw account 'seen' before its write-ahead log was synced, and the power "
         "loss took it away";
}

// A write that fails (the disk refuses it: here, the power is cut) stops
// writes until the database is reopened, not reads: they go on from the
// state last published, which holds every acknowledged write and nothing
// of the failed one. Closing then succeeds, and the reopened database
// holds the acknowledged writes only.
TEST(PowerLoss, AFailedWriteStopsWritesButNotReads) {
  TempDir dir(kMemoryFolder);
  const std::string path = dir.Sub("db");
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  const Actor sys = Actor::System();
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(Options(), path, env.get(), &db));
    const AccountId a = testing::MakeAccount(db.get(), "a");
    testing::MakeDevice(db.get(), "d1", a);
    fs->CutPower();
    auto lost = db->CreateAccount(sys, {.key = "lost", .name = "Lost"});
    const Status failed = lost.status();
    ASSERT_EQ(failed.code(), Code::kIOError) << failed.ToString();
    EXPECT_NE(failed.message().find("close and reopen the database"), std::string::npos)
        << failed.ToString();
    // Writes stay refused, saying why...
    auto later = db->CreateAccount(sys, {.key = "later", .name = "Later"});
    const Status again = later.status();
    EXPECT_EQ(again.code(), Code::kIOError);
    EXPECT_EQ(again.message(), failed.message());
    // ... reads go on.
    EXPECT_OK(db->FindAccount("a"));
    EXPECT_FALSE(db->FindAccount("lost").ok());
    auto count = db->Count(VisibleRequest{sys});
    ASSERT_OK(count.status());
    EXPECT_EQ(*count, 1u);
    auto checked = db->Check(kNoId, "device.read", "d1");
    ASSERT_OK(checked.status());
    EXPECT_TRUE(*checked);
    {
      auto snapshot = db->OpenSnapshot();
      ASSERT_OK(snapshot.status());
      EXPECT_OK((*snapshot)->FindAccount("a"));
    }
    std::vector<std::string> problems;
    EXPECT_OK(db->CheckIntegrity(&problems));
    for (const auto& p : problems) ADD_FAILURE() << p;
    ChangesRequest req;
    req.since = 1;
    ChangesPage page;
    ASSERT_OK(db->ReadChanges(req, &page));
    EXPECT_EQ(page.entries.size(), 2u);  // the account and the device
    // No revision will follow: a change feed is told why.
    auto waited = db->WaitForChanges(db->Revision(), 10);
    EXPECT_EQ(waited.status().code(), Code::kIOError);
    EXPECT_OK(db->Close());
  }
  ASSERT_TRUE(fs->Reboot().ok());
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(Options(), path, &db));
  EXPECT_OK(db->FindAccount("a"));
  EXPECT_OK(db->FindEntity(EntityKind::kDevice, "d1"));
  EXPECT_FALSE(db->FindAccount("lost").ok());
  EXPECT_FALSE(db->FindAccount("later").ok());
}

// Group commit: threads writing durably at once share syncs of the
// write-ahead log, and every mutation acknowledged to any of them survives
// a power loss right after the last one returns.
TEST(PowerLoss, ConcurrentDurableWritesShareSyncsAndAllSurvive) {
  TempDir dir(kMemoryFolder);
  const std::string path = dir.Sub("db");
  auto fs = std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = FaultFs::NewEnv(fs);
  constexpr int kThreads = 8, kEach = 40;
  std::atomic<uint64_t> log_syncs{0};
  std::vector<std::vector<std::string>> acked(kThreads);
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(Options(), path, env.get(), &db));  // sync on
    auto t = db->CreateAccount(Actor::System(), {.key = "t", .name = "T"});
    ASSERT_OK(t.status());
    // A sync takes a disk's time (the test folder is in memory).
    fs->SetSyncHook(".log", [&](const std::string&) {
      log_syncs++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        for (int j = 0; j < kEach; ++j) {
          EntitySpec e;
          e.key = "d-" + std::to_string(i) + "-" + std::to_string(j);
          e.name = e.key;
          e.owner = *t;
          if (db->CreateEntity(Actor::System(), e).ok()) acked[i].push_back(e.key);
        }
      });
    }
    for (auto& th : threads) th.join();
    fs->CutPower();
    fs->SetSyncHook("", nullptr);
    (void)db->Close();
  }
  ASSERT_TRUE(fs->Reboot().ok());
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(Options(), path, &db));
  size_t n = 0;
  for (const auto& keys : acked) {
    for (const auto& k : keys) {
      Status found = db->FindEntity(EntityKind::kDevice, k).status();
      EXPECT_TRUE(found.ok()) << k << " was acknowledged: " << found.ToString();
      ++n;
    }
  }
  EXPECT_EQ(n, size_t{kThreads * kEach});
  // One sync per mutation would be kThreads * kEach; groups share them
  // (with 8 writers and 1 ms syncs, groups hold several mutations each).
  EXPECT_LE(log_syncs.load(), uint64_t{kThreads * kEach / 2});
  std::printf("group commit: %zu durable mutations from %d threads, %llu log syncs\n", n, kThreads,
              static_cast<unsigned long long>(log_syncs.load()));
}

}  // namespace
}  // namespace canopy
