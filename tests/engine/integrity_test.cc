// Copyright (c) Canopy authors.
//
// CheckIntegrity: online (writes go on while it runs, and it reports no
// damage they did not do), every kind of entity index damage named by
// entity id, cancellation, and the snapshot reads it is built on
// (query::Catalog::Load at a snapshot).

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <mutex>
#include <thread>

#include "engine/db_impl.h"
#include "query/catalog.h"
#include "storage/keys.h"
#include "storage/records.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::MakeUser;
using testing::OpenDb;
using testing::TempDir;

storage::Store* StoreOf(Db* db) { return static_cast<engine::DbImpl*>(db)->store(); }

std::string LabelOf(Db* db, AccountId id) {
  std::string v;
  EXPECT_OK(StoreOf(db)->Get(storage::kAccounts, storage::IdKey(id), &v));
  storage::AccountRecord r;
  EXPECT_OK(storage::DecodeAccount(v, &r));
  return r.label;
}

void Put(Db* db, int cf, const std::string& key, const std::string& value) {
  storage::Store* st = StoreOf(db);
  ASSERT_TRUE(st->db()->Put(rocksdb::WriteOptions(), st->cf(cf), key, value).ok());
}

void Delete(Db* db, int cf, const std::string& key) {
  storage::Store* st = StoreOf(db);
  ASSERT_TRUE(st->db()->Delete(rocksdb::WriteOptions(), st->cf(cf), key).ok());
}

std::string VisibilityValue(Db* db, EntityId id) {
  auto e = db->GetEntity(id);
  EXPECT_OK(e);
  std::string v;
  storage::EncodeIndexValue(&v, e->owner, e->key, e->name, e->type);
  return v;
}

// A file of `devices` devices (each with a unit id) under ten sub-accounts
// of "t", for Db::Import.
std::string BulkFile(const TempDir& dir, int devices) {
  std::string text = "{\"type\":\"account\",\"key\":\"t\",\"name\":\"T\"}\n";
  for (int a = 0; a < 10; ++a) {
    text += "{\"type\":\"account\",\"key\":\"t-" + std::to_string(a) +
            "\",\"name\":\"T\",\"parent\":\"t\",\"settings\":{\"sub_account_management\":true}}\n";
  }
  for (int i = 0; i < devices; ++i) {
    text += "{\"type\":\"device\",\"key\":\"dev-" + std::to_string(i) + "\",\"unit_id\":\"U-" +
            std::to_string(i) + "\",\"name\":\"Device\",\"account\":\"t-" +
            std::to_string(i % 10) + "\"}\n";
  }
  const std::string path = dir.Sub("bulk.jsonl");
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// ---- Catalog::Load at a snapshot ---------------------------------------------

TEST(Integrity, CatalogLoadsTheStateOfASnapshot) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId a = MakeAccount(db.get(), "a");
  storage::Store* st = StoreOf(db.get());
  const rocksdb::Snapshot* before = st->db()->GetSnapshot();
  MakeAccount(db.get(), "b");
  MakeDevice(db.get(), "d", a);

  query::Catalog then, now;
  ASSERT_OK(then.Load(*st, before));
  ASSERT_OK(now.Load(*st));
  EXPECT_EQ(then.accounts.size(), 1u);
  EXPECT_EQ(then.last_account_id, a);
  EXPECT_EQ(then.last_entity_id, 0u);
  EXPECT_EQ(then.account(a)->count(EntityKind::kDevice).direct, 0);
  EXPECT_EQ(now.accounts.size(), 2u);
  EXPECT_EQ(now.last_entity_id, 1u);
  EXPECT_EQ(now.account(a)->count(EntityKind::kDevice).direct, 1);

  // Damage written after a snapshot is not in it; a snapshot taken after
  // it loads as Corruption naming what is wrong.
  Put(db.get(), storage::kTree, "\x01\x7f", storage::IdKey(999));
  const rocksdb::Snapshot* damaged = st->db()->GetSnapshot();
  query::Catalog c;
  EXPECT_OK(c.Load(*st, before));
  Status s = c.Load(*st, damaged);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("tree entry for missing account 999"), std::string::npos)
      << s.ToString();
  st->db()->ReleaseSnapshot(damaged);
  st->db()->ReleaseSnapshot(before);
}

// Catalog::Load reads on two threads (accounts, roles, tree and counters
// on one; users, their home accounts and memberships on the other): damage
// found by either names what is wrong, and damage found by the first while
// the second waits for it stops both (Load returns, nothing hangs).
TEST(Integrity, CatalogLoadNamesDamageFoundByEitherThread) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId a = MakeAccount(db.get(), "a");
  const AccountId b = MakeAccount(db.get(), "b", a);
  const UserId u = MakeUser(db.get(), "u@x", a);
  const UserId v = MakeUser(db.get(), "v@x", a);
  auto role = db->FindRole(a, "account_admin");
  ASSERT_OK(role);
  ASSERT_OK(db->Invite(Actor::System(), v, b, role->id));
  storage::Store* st = StoreOf(db.get());
  query::Catalog fine;
  ASSERT_OK(fine.Load(*st));
  ASSERT_NE(fine.user(v), nullptr);
  ASSERT_EQ(fine.user(v)->memberships.size(), 1u);
  EXPECT_EQ(fine.account(b)->members.size(), 1u);

  std::string user_u, user_v;
  ASSERT_OK(st->Get(storage::kUsers, storage::IdKey(u), &user_u));
  ASSERT_OK(st->Get(storage::kUsers, storage::IdKey(v), &user_v));
  User homeless;
  ASSERT_OK(storage::DecodeUser(user_u, &homeless));
  homeless.account = 999;

  struct Case {
    std::string name;
    std::function<void()> damage, repair;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"a damaged user record (second thread, before the accounts are in)",
       [&] { Put(db.get(), storage::kUsers, storage::IdKey(u), "\x01garbage"); },
       [&] { Put(db.get(), storage::kUsers, storage::IdKey(u), user_u); }, ""},
      {"a user whose home account is missing (second thread)",
       [&] { Put(db.get(), storage::kUsers, storage::IdKey(u), storage::EncodeUser(homeless)); },
       [&] { Put(db.get(), storage::kUsers, storage::IdKey(u), user_u); },
       "user 'u@x' in missing account"},
      {"a membership of a missing user (second thread)",
       [&] { Delete(db.get(), storage::kUsers, storage::IdKey(v)); },
       [&] { Put(db.get(), storage::kUsers, storage::IdKey(v), user_v); },
       "membership of user " + std::to_string(v) + " on account " + std::to_string(b) +
           " refers to something missing"},
      {"a tree entry of a missing account (first thread; the second stops at its gate)",
       [&] { Put(db.get(), storage::kTree, "\x01\x7f", storage::IdKey(999)); },
       [&] { Delete(db.get(), storage::kTree, "\x01\x7f"); }, "tree entry for missing account 999"},
      {"damage on both threads: the first thread's is named",
       [&] {
         Put(db.get(), storage::kTree, "\x01\x7f", storage::IdKey(999));
         Delete(db.get(), storage::kUsers, storage::IdKey(v));
       },
       [&] {
         Delete(db.get(), storage::kTree, "\x01\x7f");
         Put(db.get(), storage::kUsers, storage::IdKey(v), user_v);
       },
       "tree entry for missing account 999"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    c.damage();
    query::Catalog damaged;
    Status s = damaged.Load(*st);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    EXPECT_NE(s.message().find(c.expected), std::string::npos) << s.ToString();
    c.repair();
    query::Catalog repaired;
    EXPECT_OK(repaired.Load(*st));
  }
}

// ---- Online ------------------------------------------------------------------

// A writer keeps creating, renaming, moving and deleting while the check
// runs (durable or not): every check says OK, and writes complete while
// a check is under way.
class IntegrityOnline : public ::testing::TestWithParam<bool> {};

TEST_P(IntegrityOnline, WritesGoOnAndRaiseNoFalseProblems) {
  const bool durable = GetParam();
  TempDir dir("/dev/shm");  // durable writes: fsync costs nothing here
  Options options;
  options.sync = durable;
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(options, dir.Sub("db"), &db));
  ASSERT_OK(db->Import(Actor::System(), BulkFile(dir, 5000), ImportOptions(), nullptr));
  const AccountId t0 = db->FindAccount("t-0")->id;
  const AccountId t1 = db->FindAccount("t-1")->id;
  const AccountId mover = MakeAccount(db.get(), "mover", t0);
  for (int i = 0; i < 50; ++i) MakeDevice(db.get(), "m-" + std::to_string(i), mover);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::mutex errors_mu;
  std::vector<std::string> errors;
  std::thread writer([&] {
    uint64_t n = 0;
    while (!stop.load()) {
      Status s;
      const std::string key = "w-" + std::to_string(n);
      switch (n % 4) {
        case 0: {
          EntitySpec spec{.kind = EntityKind::kDevice, .key = key, .unit_id = "WU-" + key,
                          .name = "W", .owner = t0};
          s = db->CreateEntity(Actor::System(), spec).status();
          break;
        }
        case 1: {
          auto e = db->FindEntity(EntityKind::kDevice, "dev-" + std::to_string(n % 5000));
          s = e.ok() ? db->UpdateEntity(Actor::System(), e->id,
                                        EntityPatch{.name = "Renamed " + std::to_string(n)})
                     : e.status();
          break;
        }
        case 2:  // moves 50 devices' visibility entries under another label
          s = db->MoveAccount(Actor::System(), mover, (n / 4) % 2 == 0 ? t1 : t0);
          break;
        case 3: {
          auto e = db->FindEntity(EntityKind::kDevice, "w-" + std::to_string(n - 3));
          s = e.ok() ? db->DeleteEntity(Actor::System(), e->id) : e.status();
          break;
        }
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> g(errors_mu);
        errors.push_back(key + ": " + s.ToString());
      }
      ++n;
      writes.fetch_add(1);
    }
  });

  uint64_t during = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> problems;
    bool waited = false;
    uint64_t inside = 0;  // writes completed while the check was surely running
    // The last progress call comes before the check returns: the writer
    // must get writes through (and published) while the check waits there.
    Status s = db->CheckIntegrity(&problems, [&](uint64_t done, uint64_t total) {
      if (done == total && !waited) {
        waited = true;
        const uint64_t at = writes.load();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (writes.load() < at + 3 && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        inside = writes.load() - at;
      }
      return true;
    });
    EXPECT_OK(s);
    for (const auto& p : problems) ADD_FAILURE() << "round " << round << ": " << p;
    EXPECT_TRUE(waited);
    EXPECT_GE(inside, 3u) << "round " << round << ": the writer waited for the check";
    during += inside;
  }
  stop = true;
  writer.join();
  for (const auto& e : errors) ADD_FAILURE() << e;
  EXPECT_GT(during, 0u);
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

INSTANTIATE_TEST_SUITE_P(Sync, IntegrityOnline, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "durable" : "not_durable"; });

// ---- Index damage --------------------------------------------------------------

// Three accounts and a few devices; each case damages one index entry
// through RocksDB directly, reopens (readers see tampering only after the
// next publication) and expects exactly the problems listed.
struct World {
  TempDir dir;
  std::unique_ptr<Db> db;
  AccountId root = kNoId, a = kNoId, b = kNoId;
  std::vector<EntityId> devices;  // in a: dev-0..dev-4 with unit ids U-0..U-4
  EntityId asset = kNoId;          // in b, no unit id

  World() {
    db = OpenDb(dir.Sub("db"));
    root = MakeAccount(db.get(), "root");
    a = MakeAccount(db.get(), "a", root);
    b = MakeAccount(db.get(), "b", root);
    for (int i = 0; i < 5; ++i) {
      devices.push_back(MakeDevice(db.get(), "dev-" + std::to_string(i), a,
                                   "U-" + std::to_string(i)));
    }
    auto r = db->CreateEntity(Actor::System(),
                              EntitySpec{.kind = EntityKind::kAsset, .key = "site", .name = "Site",
                                         .owner = b});
    EXPECT_OK(r);
    asset = r.ok() ? *r : kNoId;
  }
  void Reopen() {
    db.reset();
    db = OpenDb(dir.Sub("db"));
  }
  std::string VisKey(EntityId id, AccountId owner, EntityKind kind = EntityKind::kDevice) {
    return storage::IndexKey(static_cast<uint8_t>(kind), LabelOf(db.get(), owner), id);
  }
};

struct DamageCase {
  const char* name;
  std::function<void(World&)> damage;
  std::function<std::vector<std::string>(const World&)> expected;
};

std::string Id(uint64_t id) { return std::to_string(id); }

TEST(Integrity, EveryKindOfIndexDamageIsNamed) {
  const uint8_t device = static_cast<uint8_t>(EntityKind::kDevice);
  const std::vector<DamageCase> cases = {
      {"missing visibility entry",
       [](World& w) { Delete(w.db.get(), storage::kVisibility, w.VisKey(w.devices[1], w.a)); },
       [](const World& w) {
         return std::vector<std::string>{
             "visibility index has 5 entries for 6 entities",
             "visibility index entry of entity " + Id(w.devices[1]) + " is missing or stale"};
       }},
      {"missing key entry",
       [&](World& w) {
         Delete(w.db.get(), storage::kEntityKeys, storage::EntityKeyKey(device, "dev-2"));
       },
       [](const World& w) {
         return std::vector<std::string>{
             "entity key index size differs from the entity count",
             "key index entry of entity " + Id(w.devices[2]) + " is missing or stale"};
       }},
      {"missing unit id entry",
       [](World& w) { Delete(w.db.get(), storage::kUnitIds, "U-3"); },
       [](const World& w) {
         return std::vector<std::string>{
             "unit id index size differs from the devices with one",
             "unit id index entry of entity " + Id(w.devices[3]) + " is missing or stale"};
       }},
      {"stale visibility value",
       [](World& w) {
         std::string v;
         storage::EncodeIndexValue(&v, w.a, "dev-0", "Another name", "tracker");
         Put(w.db.get(), storage::kVisibility, w.VisKey(w.devices[0], w.a), v);
       },
       [](const World& w) {
         return std::vector<std::string>{"visibility index entry of entity " + Id(w.devices[0]) +
                                         " is missing or stale"};
       }},
      {"stale key value (another owner)",
       [&](World& w) {
         Put(w.db.get(), storage::kEntityKeys, storage::EntityKeyKey(device, "dev-4"),
             storage::EntityKeyValue(w.devices[4], w.b));
       },
       [](const World& w) {
         return std::vector<std::string>{"key index entry of entity " + Id(w.devices[4]) +
                                         " is missing or stale"};
       }},
      {"stale unit id value (another entity)",
       [](World& w) { Put(w.db.get(), storage::kUnitIds, "U-0", storage::IdKey(w.devices[1])); },
       [](const World& w) {
         return std::vector<std::string>{
             "unit id index entry of entity " + Id(w.devices[0]) + " is missing or stale",
             "unit id index entry of entity " + Id(w.devices[1]) +
                 " belongs to no entity: entity " + Id(w.devices[1]) +
                 " has another unit id or none"};
       }},
      {"visibility entry of no entity",
       [](World& w) {
         std::string v;
         storage::EncodeIndexValue(&v, w.a, "ghost", "Ghost", "tracker");
         Put(w.db.get(), storage::kVisibility, w.VisKey(777, w.a), v);
       },
       [](const World&) {
         return std::vector<std::string>{
             "visibility index has 7 entries for 6 entities",
             "visibility index entry of entity 777 belongs to no entity: there is no entity 777"};
       }},
      {"visibility entry under another owner's label",
       [](World& w) {
         Put(w.db.get(), storage::kVisibility, w.VisKey(w.devices[2], w.b),
             VisibilityValue(w.db.get(), w.devices[2]));
       },
       [](const World& w) {
         return std::vector<std::string>{
             "visibility index has 7 entries for 6 entities",
             "visibility index entry of entity " + Id(w.devices[2]) +
                 " belongs to no entity: entity " + Id(w.devices[2]) +
                 " is owned elsewhere or of another kind"};
       }},
      {"visibility entry under no account's label",
       [](World& w) {
         Put(w.db.get(), storage::kVisibility,
             storage::IndexKey(device, LabelOf(w.db.get(), w.a) + "\x05", w.devices[3]),
             VisibilityValue(w.db.get(), w.devices[3]));
       },
       [](const World& w) {
         return std::vector<std::string>{
             "visibility index has 7 entries for 6 entities",
             "visibility index entry under no account's label (entity " + Id(w.devices[3]) + ")"};
       }},
      {"key entry of no entity",
       [&](World& w) {
         Put(w.db.get(), storage::kEntityKeys, storage::EntityKeyKey(device, "ghost"),
             storage::EntityKeyValue(888, w.a));
       },
       [](const World&) {
         return std::vector<std::string>{
             "entity key index size differs from the entity count",
             "key index entry of entity 888 belongs to no entity: there is no entity 888"};
       }},
      {"key entry naming an entity by another key",
       [&](World& w) {
         Put(w.db.get(), storage::kEntityKeys, storage::EntityKeyKey(device, "alias"),
             storage::EntityKeyValue(w.devices[0], w.a));
       },
       [](const World& w) {
         return std::vector<std::string>{
             "entity key index size differs from the entity count",
             "key index entry of entity " + Id(w.devices[0]) + " belongs to no entity: entity " +
                 Id(w.devices[0]) + " has another kind or key"};
       }},
      {"unit id entry of no entity",
       [](World& w) { Put(w.db.get(), storage::kUnitIds, "U-GHOST", storage::IdKey(999)); },
       [](const World&) {
         return std::vector<std::string>{
             "unit id index size differs from the devices with one",
             "unit id index entry of entity 999 belongs to no entity: there is no entity 999"};
       }},
      {"unit id entry of an entity without one",
       [](World& w) { Put(w.db.get(), storage::kUnitIds, "U-SITE", storage::IdKey(w.asset)); },
       [](const World& w) {
         return std::vector<std::string>{
             "unit id index size differs from the devices with one",
             "unit id index entry of entity " + Id(w.asset) + " belongs to no entity: entity " +
                 Id(w.asset) + " has another unit id or none"};
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    World w;
    ASSERT_OK(w.db->CheckIntegrity(nullptr));
    c.damage(w);
    w.Reopen();
    const testing::Dump before = DumpAll(w.db.get());
    std::vector<std::string> problems;
    Status s = w.db->CheckIntegrity(&problems);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    std::vector<std::string> want = c.expected(w);
    std::sort(want.begin(), want.end());
    std::sort(problems.begin(), problems.end());
    EXPECT_EQ(problems, want);
    EXPECT_EQ(s.message(), Id(want.size()) + " problem(s) found");
    EXPECT_EQ(DumpAll(w.db.get()), before) << "the check changed the database";
  }
}

// The import marks (a reader's test for a view that holds a write without
// the import before it) are checked: a write naming an import the store
// lacks, and an import marked past the database's revision.
TEST(Integrity, ImportMarksOutOfOrderAreNamed) {
  TempDir dir;
  for (const bool past : {false, true}) {
    SCOPED_TRACE(past ? "marked past the revision" : "named without the import");
    const std::string path = dir.Sub(past ? "past" : "named");
    std::unique_ptr<Db> db = OpenDb(path);
    ASSERT_NE(db, nullptr);
    const AccountId a = MakeAccount(db.get(), "a");
    // A small import (written through the log: it marks nothing).
    ASSERT_OK(db->Import(Actor::System(), BulkFile(dir, 3), ImportOptions(), nullptr));
    MakeDevice(db.get(), "after", a);
    ASSERT_OK(db->CheckIntegrity(nullptr));
    const uint64_t rev = db->Revision();
    if (past) {
      Put(db.get(), storage::kMeta, std::string(storage::kMetaIngested), storage::Fixed64BE(rev + 7));
      Put(db.get(), storage::kMeta, std::string(storage::kMetaIngestSeen), storage::Fixed64BE(rev + 7));
    } else {
      Put(db.get(), storage::kMeta, std::string(storage::kMetaIngestSeen), storage::Fixed64BE(rev));
    }
    // Reopened: the check reads the published state's snapshot.
    ASSERT_OK(db->Close());
    db = OpenDb(path);
    ASSERT_NE(db, nullptr);
    std::vector<std::string> problems;
    Status s = db->CheckIntegrity(&problems);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    const std::vector<std::string> want = {
        past ? "the last import is marked as revision " + Id(rev + 7) +
                   ", past the database's revision " + Id(rev)
             : "a write names the import of revision " + Id(rev) +
                   ", but the last import stored is of revision " + Id(0) +
                   " (ingest.seen above ingest.last: a write without the import before it)"};
    EXPECT_EQ(problems, want);
    ASSERT_OK(db->Close());
    // A reader opens such a folder (what it holds is no race with a
    // writer: the same table files say so again), and names it too.
    Options ro;
    ro.read_only = true;
    ASSERT_OK(Db::Open(ro, path, &db));
    problems.clear();
    EXPECT_EQ(db->CheckIntegrity(&problems).code(), Code::kCorruption);
    EXPECT_EQ(problems, want);
    ASSERT_OK(db->Close());
  }
}

// The change log's end marker (log.last) is written with every large
// entry, every import (a small one, one batch; a large one, table files)
// and every kLogMarkEvery-th revision; the revision read at open is the
// last entry's whichever the marker is: a few small entries after it,
// more than the marker leaves (a build before it wrote them), or none.
// One past the last key is named by the check.
TEST(Integrity, TheLogsEndMarkerLeavesOnlyAFewSmallEntriesAfterIt) {
  TempDir dir;
  auto marked = [](Db* db) {
    uint64_t m = 0;
    EXPECT_OK(StoreOf(db)->ReadSequence(storage::kMetaLogLast, &m));
    return m;
  };
  auto ingested = [](Db* db) {
    uint64_t m = 0;
    EXPECT_OK(StoreOf(db)->ReadSequence(storage::kMetaIngested, &m));
    return m;
  };
  const std::string path = dir.Sub("db");
  std::unique_ptr<Db> db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  auto reopened_revision = [&] {
    const uint64_t before = db->Revision();
    EXPECT_OK(db->Close());
    db = OpenDb(path);
    EXPECT_NE(db, nullptr);
    EXPECT_EQ(db->Revision(), before);
    EXPECT_OK(db->CheckIntegrity(nullptr));
  };
  // A large import, ingested as table files (it marks ingest.last).
  ASSERT_OK(db->Import(Actor::System(), BulkFile(dir, 30000), ImportOptions(), nullptr));
  EXPECT_EQ(ingested(db.get()), db->Revision());
  EXPECT_EQ(marked(db.get()), db->Revision());
  // A small mutation leaves the marker where it was.
  const uint64_t import_rev = db->Revision();
  const AccountId a = MakeAccount(db.get(), "a");
  EXPECT_EQ(marked(db.get()), import_rev);
  reopened_revision();
  // A small import, written as one batch (no ingest.last of its own).
  {
    const std::string small = dir.Sub("small.jsonl");
    std::ofstream(small) << "{\"type\":\"device\",\"key\":\"s-1\",\"name\":\"S\","
                            "\"account\":\"a\"}\n";
    ASSERT_OK(db->Import(Actor::System(), small, ImportOptions(), nullptr));
  }
  EXPECT_LT(ingested(db.get()), db->Revision());
  EXPECT_EQ(marked(db.get()), db->Revision());
  // A large entry (a reassign of 1,000 devices) marks.
  {
    std::vector<std::string> keys;
    for (int i = 0; i < 1000; ++i) keys.push_back("dev-" + std::to_string(i));
    ReassignReport rep;
    ASSERT_OK(db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, keys, a,
                                   &rep));
  }
  EXPECT_EQ(marked(db.get()), db->Revision());
  // Small mutations up to a kLogMarkEvery-th revision: it marks.
  const uint64_t every = storage::kLogMarkEvery;
  while ((db->Revision() + 1) % every != 0) {
    MakeDevice(db.get(), "x-" + std::to_string(db->Revision()), a);
    EXPECT_LT(marked(db.get()), db->Revision());
  }
  reopened_revision();  // kLogMarkEvery - 1 small entries after the marker at most
  MakeDevice(db.get(), "x-marked", a);
  EXPECT_EQ(db->Revision() % every, 0u);
  EXPECT_EQ(marked(db.get()), db->Revision());
  const uint64_t rev = db->Revision();

  // Far behind (more than the marker leaves after it): the last key's.
  Put(db.get(), storage::kMeta, std::string(storage::kMetaLogLast), storage::Fixed64BE(1));
  reopened_revision();
  MakeDevice(db.get(), "after", a);
  EXPECT_EQ(db->Revision(), rev + 1);

  // Past the last key: named (with the revision it misled the open into).
  Put(db.get(), storage::kMeta, std::string(storage::kMetaLogLast), storage::Fixed64BE(rev + 7));
  ASSERT_OK(db->Close());
  db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  std::vector<std::string> problems;
  EXPECT_EQ(db->CheckIntegrity(&problems).code(), Code::kCorruption);
  std::sort(problems.begin(), problems.end());
  const std::vector<std::string> want = {
      "stored revision " + Id(rev + 1) + " differs from the in-memory " + Id(rev + 7),
      "the change log's end is marked as revision " + Id(rev + 7) +
          " (log.last), past its last key's " + Id(rev + 1)};
  EXPECT_EQ(problems, want);
  ASSERT_OK(db->Close());
}

// The entity records are checked in chunks of ids up to the entity
// sequence; a damaged, huge sequence still makes a bounded number of them
// (else this check would not end), and every record is still checked.
TEST(Integrity, AHugeEntitySequenceStillChecksEveryRecord) {
  World w;
  Put(w.db.get(), storage::kMeta, std::string(storage::kSeqEntity), storage::Fixed64BE(1ull << 62));
  w.Reopen();
  uint64_t checked = 0;
  std::vector<std::string> problems;
  EXPECT_OK(w.db->CheckIntegrity(&problems, [&](uint64_t done, uint64_t) {
    checked = done;
    return true;
  }));
  for (const auto& p : problems) ADD_FAILURE() << p;
  EXPECT_EQ(checked, w.devices.size() + 1);
  // Damage is still found.
  Delete(w.db.get(), storage::kUnitIds, "U-4");
  w.Reopen();
  EXPECT_EQ(w.db->CheckIntegrity(&problems).code(), Code::kCorruption);
  EXPECT_NE(std::find(problems.begin(), problems.end(),
                      "unit id index entry of entity " + Id(w.devices[4]) + " is missing or stale"),
            problems.end());
}

// ---- Progress and cancelling ---------------------------------------------------

// Progress is asked every 64k entities, in the hash pass and again in the
// precise pass (when an index differs); either call may cancel.
TEST(Integrity, ProgressAndCancellingInBothPasses) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const int n = 70000;
  ASSERT_OK(db->Import(Actor::System(), BulkFile(dir, n), ImportOptions(), nullptr));

  std::vector<std::pair<uint64_t, uint64_t>> calls;
  auto record = [&](uint64_t done, uint64_t total) {
    calls.emplace_back(done, total);
    return true;
  };
  // The hash pass counts on two threads: its call comes once 64k are done
  // (more, the other thread's, may be counted by then: up to all of them).
  auto hash_pass_call = [&](const std::pair<uint64_t, uint64_t>& call) {
    EXPECT_GE(call.first, 65536u);
    EXPECT_LE(call.first, static_cast<uint64_t>(n));
    EXPECT_EQ(call.second, static_cast<uint64_t>(n));
  };
  ASSERT_OK(db->CheckIntegrity(nullptr, record));
  ASSERT_EQ(calls.size(), 2u);
  hash_pass_call(calls[0]);
  EXPECT_EQ(calls[1], std::make_pair(uint64_t{n}, uint64_t{n}));
  int left = 1;
  // The last call (all done) may cancel too, as at every other call.
  EXPECT_EQ(db->CheckIntegrity(nullptr, [&](uint64_t, uint64_t) { return left-- > 0; }).code(),
            Code::kAborted);
  left = 0;
  std::vector<std::string> problems;
  Status s = db->CheckIntegrity(&problems, [&](uint64_t, uint64_t) { return left-- > 0; });
  EXPECT_EQ(s.code(), Code::kAborted) << s.ToString();
  EXPECT_NE(s.message().find("cancelled"), std::string::npos) << s.ToString();

  // A damaged index: the precise pass reports progress again.
  Delete(db.get(), storage::kUnitIds, "U-12");
  db.reset();
  db = OpenDb(dir.Sub("db"));
  calls.clear();
  EXPECT_EQ(db->CheckIntegrity(&problems, record).code(), Code::kCorruption);
  ASSERT_EQ(calls.size(), 3u);
  hash_pass_call(calls[0]);
  EXPECT_EQ(calls[1], std::make_pair(uint64_t{65536}, uint64_t{n}));  // the precise pass
  EXPECT_EQ(calls[2], std::make_pair(uint64_t{n}, uint64_t{n}));
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(std::find_if(problems.begin(), problems.end(),
                         [](const std::string& p) {
                           return p.find("unit id index entry of entity") == 0 &&
                                  p.find("is missing or stale") != std::string::npos;
                         }),
            problems.end());
  left = 1;  // the hash pass goes on, the precise pass is cancelled
  s = db->CheckIntegrity(&problems, [&](uint64_t, uint64_t) { return left-- > 0; });
  EXPECT_EQ(s.code(), Code::kAborted) << s.ToString();
}

// ---- Groups ------------------------------------------------------------------

// t (root) > s; devices d1 (s), d2 (t); asset a1 (s); users u (s), v (t).
// Groups of s: device group "fleet" {d1}, user group "ops" {u}; of t:
// account group "subs" {s}, user group "staff". ops holds viewer on fleet.
struct GroupDamage {
  std::unique_ptr<Db> db;
  AccountId t, s;
  EntityId d1, d2, a1;
  UserId u, v;
  GroupId fleet, ops, subs, staff;
  RoleId viewer;

  explicit GroupDamage(const std::string& path) : db(OpenDb(path)) {
    t = MakeAccount(db.get(), "t");
    s = MakeAccount(db.get(), "s", t);
    d1 = MakeDevice(db.get(), "d1", s);
    d2 = MakeDevice(db.get(), "d2", t);
    a1 = *db->CreateEntity(Actor::System(),
                           EntitySpec{.kind = EntityKind::kAsset, .key = "a1", .name = "A", .owner = s});
    u = testing::MakeUser(db.get(), "u@s", s);
    v = testing::MakeUser(db.get(), "v@t", t);
    const auto roles = db->ListRoles(Actor::System(), kNoId);
    EXPECT_OK(roles);
    for (const Role& r : *roles) {
      if (r.name == "viewer") viewer = r.id;
    }
    fleet = *db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "fleet", s});
    ops = *db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kUser, "ops", s});
    subs = *db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kAccount, "subs", t});
    staff = *db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kUser, "staff", t});
    EXPECT_OK(db->AddGroupMembers(Actor::System(), fleet, std::vector<uint64_t>{d1}, nullptr));
    EXPECT_OK(db->AddGroupMembers(Actor::System(), ops, std::vector<uint64_t>{u}, nullptr));
    EXPECT_OK(db->AddGroupMembers(Actor::System(), subs, std::vector<uint64_t>{s}, nullptr));
    EXPECT_OK(db->GrantGroup(Actor::System(), GroupGrant{ops, viewer, fleet, false}));
    EXPECT_OK(db->CheckIntegrity(nullptr));
  }
  // Writes a member link behind the engine's back (both directions unless
  // told otherwise), and the group's record with `size`.
  void Link(GroupId g, GroupKind kind, uint64_t member, bool reverse = true) {
    storage::GroupMemberRecord m;
    m.group = g;
    m.member = member;
    m.kind = kind;
    m.created_us = 1;
    Put(db.get(), storage::kGroups, storage::GroupMemberKey(g, member), storage::EncodeGroupMember(m));
    if (reverse) {
      Put(db.get(), storage::kGroups,
          storage::MemberGroupKey(storage::MemberClassOf(static_cast<uint8_t>(kind)), member, g), "");
    }
  }
  void Resize(GroupId g, uint64_t size, std::optional<uint64_t> overlap = std::nullopt) {
    std::string bytes;
    ASSERT_OK(StoreOf(db.get())->Get(storage::kGroups, storage::GroupKey(g), &bytes));
    Group rec;
    ASSERT_OK(storage::DecodeGroup(bytes, &rec));
    rec.size = size;
    if (overlap) rec.overlap = *overlap;
    Put(db.get(), storage::kGroups, storage::GroupKey(g), storage::EncodeGroup(rec));
  }
  void GrantRaw(GroupId user_group, RoleId role, GroupId target, bool branch) {
    GroupGrant x{user_group, role, target, branch, 1};
    Put(db.get(), storage::kGroups, storage::GroupGrantKey(user_group, role, target),
        storage::EncodeGroupGrant(x));
  }
};

TEST(Integrity, EveryKindOfGroupDamageIsReported) {
  struct Case {
    std::string name;
    std::function<void(GroupDamage&)> damage;
    std::function<std::vector<std::string>(const GroupDamage&)> expected;
  };
  const std::vector<Case> cases = {
      {"entity member missing",
       [](GroupDamage& w) {
         w.Link(w.fleet, GroupKind::kDevice, 999);
         w.Resize(w.fleet, 2);
       },
       [](const GroupDamage&) { return std::vector<std::string>{"holds missing entity 999"}; }},
      {"entity of another account",
       [](GroupDamage& w) {
         w.Link(w.fleet, GroupKind::kDevice, w.d2);
         w.Resize(w.fleet, 2);
       },
       [](const GroupDamage&) {
         return std::vector<std::string>{"device group " + Id(1) + " ('fleet') of account 's' holds device 'd2' of another account"};
       }},
      {"entity of another kind",
       [](GroupDamage& w) {
         w.Link(w.fleet, GroupKind::kDevice, w.a1);
         w.Resize(w.fleet, 2);
       },
       [](const GroupDamage&) { return std::vector<std::string>{"holds asset 'a1'"}; }},
      {"user created in another account",
       [](GroupDamage& w) {
         w.Link(w.ops, GroupKind::kUser, w.v);
         w.Resize(w.ops, 2);
       },
       [](const GroupDamage&) {
         return std::vector<std::string>{"holds user 'v@t', who was created in another account"};
       }},
      {"account not a direct sub-account",
       [](GroupDamage& w) {
         w.Link(w.subs, GroupKind::kAccount, w.t);
         w.Resize(w.subs, 2);
       },
       [](const GroupDamage&) {
         return std::vector<std::string>{
             "holds account 't', which is not one of its owner's direct sub-accounts"};
       }},
      {"user group member missing (the load refuses it)",
       [](GroupDamage& w) {
         w.Link(w.ops, GroupKind::kUser, 4242);
         w.Resize(w.ops, 2);
       },
       [](const GroupDamage&) {
         return std::vector<std::string>{"does not load", "holds missing user 4242"};
       }},
      {"member record of another kind",
       [](GroupDamage& w) {
         storage::GroupMemberRecord m;
         m.kind = GroupKind::kAsset;
         Put(w.db.get(), storage::kGroups, storage::GroupMemberKey(w.fleet, w.d1),
             storage::EncodeGroupMember(m));
       },
       [](const GroupDamage& w) {
         return std::vector<std::string>{"member " + Id(w.d1) +
                                         " of device group 1 ('fleet') of account 's' is recorded "
                                         "as of a asset group"};
       }},
      {"missing reverse link",
       [](GroupDamage& w) {
         Delete(w.db.get(), storage::kGroups,
                storage::MemberGroupKey(storage::kMemberEntity, w.d1, w.fleet));
       },
       [](const GroupDamage& w) {
         return std::vector<std::string>{"member " + Id(w.d1) + " of device group 1 ('fleet') "
                                         "of account 's' lacks its reverse link",
                                         "group member links (3) and reverse links (2) differ"};
       }},
      {"reverse link without its member",
       [](GroupDamage& w) {
         Put(w.db.get(), storage::kGroups,
             storage::MemberGroupKey(storage::kMemberEntity, w.d2, w.fleet), "");
       },
       [](const GroupDamage& w) {
         return std::vector<std::string>{"reverse link of member " + Id(w.d2) +
                                         " to group 1 without its member entry"};
       }},
      {"size differs from the members",
       [](GroupDamage& w) { w.Resize(w.fleet, 5); },
       [](const GroupDamage&) {
         return std::vector<std::string>{"device group 1 ('fleet') of account 's' records 5 "
                                         "members but holds 1"};
       }},
      {"overlap differs from the members other groups hold",
       [](GroupDamage& w) { w.Resize(w.fleet, 1, 1); },
       [](const GroupDamage&) {
         return std::vector<std::string>{"device group 1 ('fleet') of account 's' records 1 "
                                         "members also held by another group but has 0"};
       }},
      {"member of a group that does not exist",
       [](GroupDamage& w) { w.Link(GroupId(777), GroupKind::kDevice, w.d1, false); },
       [](const GroupDamage& w) {
         return std::vector<std::string>{"member " + Id(w.d1) + " of group 777, which does not exist"};
       }},
      {"two groups of one name, beyond the sequence",
       [](GroupDamage& w) {
         Group g{GroupId(50), GroupKind::kDevice, "fleet", w.s, 0, 1, 1};
         Put(w.db.get(), storage::kGroups, storage::GroupKey(50), storage::EncodeGroup(g));
       },
       [](const GroupDamage& w) {
         return std::vector<std::string>{"group id 50 beyond the sequence",
                                         "two device groups named 'fleet' in account " + Id(w.s)};
       }},
      {"grant of a missing role (the load refuses it)",
       [](GroupDamage& w) { w.GrantRaw(w.ops, RoleId(9999), kNoId, false); },
       [](const GroupDamage&) {
         return std::vector<std::string>{"does not load",
                                         "group grant of a missing user group or role"};
       }},
      {"grant onto a group below the user group's owner",
       [](GroupDamage& w) { w.GrantRaw(w.staff, w.viewer, w.fleet, false); },
       [](const GroupDamage&) {
         return std::vector<std::string>{
             "grant of role 'viewer' to user group 4 ('staff') of account 't' onto device group 1 "
             "('fleet') of account 's', which is neither its owner's nor one of its ancestors'"};
       }},
      {"branch onto an entity group",
       [](GroupDamage& w) { w.GrantRaw(w.ops, w.viewer, w.fleet, true); },
       [](const GroupDamage&) {
         return std::vector<std::string>{"has branch, which only account groups take"};
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    GroupDamage w(dir.Sub("db"));
    c.damage(w);
    // Readers see the tampering from the next publication on (a reopen
    // would refuse the cases the catalog's load refuses).
    MakeAccount(w.db.get(), "published", w.t);
    std::vector<std::string> problems;
    Status s = w.db->CheckIntegrity(&problems);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    std::string all;
    for (const std::string& p : problems) all += p + "\n";
    for (const std::string& want : c.expected(w)) {
      EXPECT_NE(all.find(want), std::string::npos) << "missing \"" << want << "\" in:\n" << all;
    }
  }
}

}  // namespace
}  // namespace canopy
