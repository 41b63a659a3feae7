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
  EXPECT_EQ(db->CheckIntegrity(nullptr, [&](uint64_t, uint64_t) { return left-- > 0; }).code(),
            Code::kOk);  // the last call (all done) comes too late to cancel
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

}  // namespace
}  // namespace canopy
