// Copyright (c) Canopy authors.
//
// Followers (Options::follower): a writer and a follower on one folder in
// one process. The follower sees nothing new until it catches up, then
// exactly the writer's state; it refuses every mutation; it catches up
// after the writer trimmed its log, imported, or closed and reopened;
// readers on other threads never see a torn state while it catches up;
// it closes while catching up; bad options are refused by name.

#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "canopy/db.h"
#include "engine/db_impl.h"
#include "storage/coding.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

namespace fs = std::filesystem;
using testing::DumpAll;
using testing::KeysIn;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::MakeUser;
using testing::OpenDb;
using testing::TempDir;

Options FollowerOptions() {
  Options o;
  o.follower = true;
  return o;
}

std::unique_ptr<Db> OpenFollower(const std::string& path, Options o = FollowerOptions()) {
  std::unique_ptr<Db> db;
  Status s = Db::Open(o, path, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return db;
}

// Everything a reader can ask, as one text: the tree, every kind's
// visible pages (system viewer and `user`), counts, a check, properties.
std::string Signature(Db* db, UserId user) {
  std::string out = "revision " + std::to_string(db->Revision()) + "\n";
  for (AccountId root : db->Roots()) {
    auto g = db->GraphJson(Actor::System(), root, 0);
    out += g.ok() ? *g : g.status().ToString();
    out += "\n";
  }
  for (EntityKind kind : kAllEntityKinds) {
    for (Actor viewer : {Actor::System(), Actor::User(user)}) {
      VisibleRequest r(viewer);
      r.kind = kind;
      r.limit = 7;
      for (;;) {
        VisiblePage page;
        Status s = db->Visible(r, &page);
        if (!s.ok()) {
          out += s.ToString() + "\n";
          break;
        }
        for (const auto& it : page.items) {
          out += std::to_string(it.id) + " " + it.key + " " + it.name + " " + it.type + " " +
                 std::to_string(it.owner) + "\n";
        }
        if (page.next_cursor.empty()) break;
        r.cursor = page.next_cursor;
      }
      VisibleRequest c(viewer);
      c.kind = kind;
      auto n = db->Count(c);
      out += "count " + (n.ok() ? std::to_string(*n) : n.status().ToString()) + "\n";
    }
  }
  auto allowed = db->Check(user, "device.read", "d1");
  out += "check " + (allowed.ok() ? std::to_string(*allowed) : allowed.status().ToString()) + "\n";
  for (const char* p : {"canopy.revision", "canopy.accounts", "canopy.users", "canopy.roles",
                        "canopy.devices", "canopy.assets", "canopy.log-first-revision"}) {
    auto v = db->GetProperty(p);
    out += std::string(p) + " " + (v.ok() ? *v : v.status().ToString()) + "\n";
  }
  return out;
}

// A few mutations of every sort on `db`, with names made of `tag`.
void Mutate(Db* db, const std::string& tag, AccountId under, UserId user) {
  const AccountId a = MakeAccount(db, "acc-" + tag, under);
  const AccountId b = MakeAccount(db, "sub-" + tag, a);
  for (int i = 0; i < 5; ++i) MakeDevice(db, "dev-" + tag + "-" + std::to_string(i), b);
  EntitySpec asset;
  asset.kind = EntityKind::kAsset;
  asset.key = "asset-" + tag;
  asset.name = "Asset " + tag;
  asset.owner = a;
  ASSERT_OK(db->CreateEntity(Actor::System(), asset));
  ASSERT_OK(db->MoveAccount(Actor::System(), b, under));
  ASSERT_OK(db->UpdateAccount(Actor::System(), a, {.name = "Renamed " + tag}));
  const UserId u = MakeUser(db, "u-" + tag + "@x", a);
  ASSERT_OK(db->Invite(Actor::System(), user, a, db->FindRole(kNoId, "viewer")->id, true));
  auto d = db->FindEntity(EntityKind::kDevice, "dev-" + tag + "-0");
  ASSERT_OK(d);
  ASSERT_OK(db->DeleteEntity(Actor::System(), d->id));
  auto g = db->CreateGroup(Actor::System(), {.kind = GroupKind::kDevice, .name = "g-" + tag,
                                              .owner = under});
  ASSERT_OK(g);
  ASSERT_OK(db->RemoveUser(Actor::System(), u));
}

struct Fixture {
  TempDir dir;
  std::string path = dir.Sub("db");
  std::unique_ptr<Db> writer;
  AccountId acme = kNoId;
  UserId user = kNoId;

  Fixture(Options o = Options()) {
    writer = OpenDb(path, o);
    acme = MakeAccount(writer.get(), "acme");
    MakeDevice(writer.get(), "d1", acme);
    user = MakeUser(writer.get(), "viewer@acme", acme);
  }
};

TEST(Follower, SeesNothingNewUntilCatchUpThenExactlyTheWriters) {
  Fixture f;
  Mutate(f.writer.get(), "one", f.acme, f.user);
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  EXPECT_EQ(follower->Revision(), f.writer->Revision());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));

  const std::string before = Signature(follower.get(), f.user);
  const uint64_t rev_before = follower->Revision();
  Mutate(f.writer.get(), "two", f.acme, f.user);
  ASSERT_GT(f.writer->Revision(), rev_before);
  // Nothing new until it catches up.
  EXPECT_EQ(Signature(follower.get(), f.user), before);
  EXPECT_EQ(follower->Revision(), rev_before);

  auto rev = follower->CatchUp();
  ASSERT_OK(rev);
  EXPECT_EQ(*rev, f.writer->Revision());
  EXPECT_EQ(follower->Revision(), f.writer->Revision());
  EXPECT_EQ(*follower->GetProperty("canopy.revision"), std::to_string(*rev));
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  EXPECT_TRUE(DumpAll(follower.get()) == DumpAll(f.writer.get()));
  std::vector<std::string> problems;
  EXPECT_OK(follower->CheckIntegrity(&problems));
  // The change log reads the same.
  ChangesRequest cr;
  cr.since = rev_before + 1;
  ChangesPage a, b;
  ASSERT_OK(follower->ReadChanges(cr, &a));
  ASSERT_OK(f.writer->ReadChanges(cr, &b));
  ASSERT_EQ(a.entries.size(), b.entries.size());
  EXPECT_GT(a.entries.size(), 0u);

  // A catch-up with nothing new changes nothing.
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));

  // The writer closes (flushing its tables) and opens again; more writes.
  ASSERT_OK(f.writer->Close());
  f.writer = OpenDb(f.path);
  Mutate(f.writer.get(), "three", f.acme, f.user);
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  ASSERT_OK(follower->Close());
  ASSERT_OK(f.writer->Close());
}

std::vector<std::string> LogsIn(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".log") == 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What a writer does under a reader that is reading its newest log: an
// account (named `prefix` and a count) and a flush (a checkpoint flushes),
// then a wait until that log is deleted.
std::function<void()> WriteAndDropALog(Fixture* f, TempDir* scratch, std::string prefix) {
  auto n = std::make_shared<int>(0);
  return [f, scratch, prefix, n] {
    const std::vector<std::string> logs = LogsIn(f->path);
    MakeAccount(f->writer.get(), prefix + std::to_string(*n));
    const std::string cp = scratch->Sub("cp-" + prefix + std::to_string((*n)++));
    (void)f->writer->Checkpoint(cp);
    fs::remove_all(cp);
    for (int i = 0; i < 200 && !logs.empty(); ++i) {
      const std::vector<std::string> now = LogsIn(f->path);
      if (!std::binary_search(now.begin(), now.end(), logs.back())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
}

// A catch-up during which the writer deleted a write-ahead log may lack
// that log's writes; it is done again, and a follower whose every
// catch-up for 5 s lost a log serves no reads rather than a state with a
// hole, until a later catch-up ends whole. Here each listing of the
// follower's catch-up makes the writer write, then flush (a checkpoint
// flushes) and so delete the log the catch-up was reading.
TEST(Follower, AFollowerThatKeepsLosingALogServesNoHoleUntilACatchUpEndsWhole) {
  Fixture f;
  TempDir scratch;
  auto hook = std::make_shared<testing::ListingHook>(WriteAndDropALog(&f, &scratch, "k"));
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(hook);
  std::unique_ptr<Db> follower;
  Options fo = FollowerOptions();
  fo.follower_dir = scratch.Sub("follower");
  ASSERT_OK(testing::OpenDbWithEnv(fo, f.path, env.get(), &follower));
  hook->armed = true;
  const auto started = std::chrono::steady_clock::now();
  auto rev = follower->CatchUp();
  hook->armed = false;
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_GT(hook->calls.load(), 1);
  ASSERT_FALSE(rev.ok());
  EXPECT_EQ(rev.status().code(), Code::kUnavailable) << rev.status().ToString();
  EXPECT_NE(rev.status().message().find("a write-ahead log was deleted during each of"),
            std::string::npos)
      << rev.status().ToString();
  // It serves no reads, saying why...
  VisibleRequest r(Actor::System());
  auto count = follower->Count(r);
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), Code::kUnavailable) << count.status().ToString();
  EXPECT_NE(count.status().message().find("serves no reads until a catch-up succeeds"),
            std::string::npos)
      << count.status().ToString();
  auto account = follower->GetAccount(f.acme);
  EXPECT_EQ(account.status().code(), Code::kUnavailable) << account.status().ToString();
  // ...until a catch-up ends whole: with the writer quiet, it holds every write.
  rev = follower->CatchUp();
  ASSERT_OK(rev);
  EXPECT_EQ(*rev, f.writer->Revision());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  std::vector<std::string> problems;
  EXPECT_OK(follower->CheckIntegrity(&problems));
  ASSERT_OK(follower->Close());
  ASSERT_OK(f.writer->Close());
}

// Lists directories as RocksDB does; once armed by the read of a file
// whose path holds `after` (a secondary instance's open reads the
// MANIFEST from its start; a catch-up goes on reading the one it has
// open), runs `at` in every listing until disabled: an open, not a
// catch-up, that keeps losing a log.
class OpenRacer : public rocksdb::FileSystemWrapper {
 public:
  OpenRacer(std::function<void()> at, std::string after)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), at_(std::move(at)),
        after_(std::move(after)) {}
  static const char* kClassName() { return "OpenRacer"; }
  const char* Name() const override { return kClassName(); }
  rocksdb::IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* r,
                                      rocksdb::IODebugContext* d) override {
    if (enabled && f.find(after_) != std::string::npos) armed = true;
    return target()->NewSequentialFile(f, o, r, d);
  }
  rocksdb::IOStatus GetChildren(const std::string& dir, const rocksdb::IOOptions& o,
                                std::vector<std::string>* r, rocksdb::IODebugContext* d) override {
    if (enabled && armed) {
      ++calls;
      at_();
    }
    return target()->GetChildren(dir, o, r, d);
  }
  std::atomic<bool> enabled{false};
  std::atomic<bool> armed{false};
  std::atomic<int> calls{0};

 private:
  std::function<void()> at_;
  std::string after_;
};

// After the writer's flush a catch-up opens the follower's instance again;
// a writer that keeps deleting a log during that open makes it fail
// (Unavailable, "try again"). The follower then has no view to serve:
// reads are Unavailable, and the next catch-up opens it again and serves
// the writer's state. It is never stopped for good by one unlucky open.
TEST(Follower, AFailedOpenAgainAfterAFlushIsTriedAgainByTheNextCatchUp) {
  Fixture f;
  TempDir scratch;
  auto racer = std::make_shared<OpenRacer>(WriteAndDropALog(&f, &scratch, "r"), "/MANIFEST-");
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(racer);
  std::unique_ptr<Db> follower;
  Options fo = FollowerOptions();
  fo.follower_dir = scratch.Sub("follower");
  ASSERT_OK(testing::OpenDbWithEnv(fo, f.path, env.get(), &follower));
  // A write and a flush: the next catch-up opens the instance again.
  MakeDevice(f.writer.get(), "flushed", f.acme);
  ASSERT_OK(f.writer->Checkpoint(scratch.Sub("writer-copy")));
  racer->enabled = true;
  auto rev = follower->CatchUp();
  racer->enabled = false;
  racer->armed = false;
  EXPECT_GT(racer->calls.load(), 1);
  ASSERT_FALSE(rev.ok());
  EXPECT_EQ(rev.status().code(), Code::kUnavailable) << rev.status().ToString();
  EXPECT_NE(rev.status().message().find("cannot open the database again"), std::string::npos)
      << rev.status().ToString();
  EXPECT_NE(rev.status().message().find("try again"), std::string::npos)
      << rev.status().ToString();
  auto count = follower->Count(VisibleRequest(Actor::System()));
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), Code::kUnavailable) << count.status().ToString();
  auto hidden = follower->FindEntity(EntityKind::kDevice, "flushed");
  EXPECT_EQ(hidden.status().code(), Code::kUnavailable) << hidden.status().ToString();
  // The writer quiet, the next catch-up opens it again and serves.
  rev = follower->CatchUp();
  ASSERT_OK(rev);
  EXPECT_EQ(*rev, f.writer->Revision());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  auto found = follower->FindEntity(EntityKind::kDevice, "flushed");
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> problems;
  EXPECT_OK(follower->CheckIntegrity(&problems));
  EXPECT_EQ(problems, std::vector<std::string>{});
  // It closes while it has no view too.
  MakeDevice(f.writer.get(), "flushed-2", f.acme);
  ASSERT_OK(f.writer->Checkpoint(scratch.Sub("writer-copy-2")));
  racer->enabled = true;
  rev = follower->CatchUp();
  racer->enabled = false;
  EXPECT_EQ(rev.status().code(), Code::kUnavailable) << rev.status().ToString();
  ASSERT_OK(follower->Close());
  ASSERT_OK(f.writer->Close());
}

// A file of one account `account` and `devices` devices in it ("<account>-<i>").
std::string ImportFile(const TempDir& dir, const std::string& account, uint64_t devices) {
  const std::string path = dir.Sub(account + ".jsonl");
  std::ofstream out(path);
  out << "{\"type\":\"account\",\"key\":\"" << account << "\",\"name\":\"Imported\"}\n";
  for (uint64_t i = 0; i < devices; ++i) {
    out << "{\"type\":\"device\",\"key\":\"" << account << "-" << i
        << "\",\"name\":\"D\",\"account\":\"" << account << "\"}\n";
  }
  return path;
}

// Enough devices for an import to be ingested as files rather than
// written as one logged batch.
constexpr uint64_t kIngestedDevices = 40000;

// An import's files are ingested without a log record. A reader that read
// RocksDB's MANIFEST before they were, and then the writer's next logged
// write from the log, would hold that write without the import (the
// import's revision missing, its devices too). The writer's write names
// the import, and a view that has the name without the import is read
// again: by a read-only open, and by a follower's catch-up.
TEST(Follower, AReaderNeverHoldsAWriteWithoutTheImportBeforeIt) {
  Fixture f;
  // One import (each into a new account: an import's keys must be new),
  // then a logged write.
  int round = 0;
  auto import_then_write = [&] {
    const std::string account = "imp" + std::to_string(round);
    const std::string file = ImportFile(f.dir, account, kIngestedDevices);
    ImportReport rep;
    EXPECT_OK(f.writer->Import(Actor::System(), file, ImportOptions(), &rep));
    EXPECT_EQ(rep.entities, kIngestedDevices);
    auto in_memory = f.writer->GetProperty("rocksdb.num-entries-active-mem-table@entities");
    EXPECT_OK(in_memory);
    if (in_memory.ok()) {
      EXPECT_EQ(*in_memory, "0") << "the import was written through the log, not ingested";
    }
    MakeDevice(f.writer.get(), "after-" + std::to_string(round), f.acme);
    ++round;
  };
  auto Devices = [](Db* db) -> uint64_t {
    auto n = db->Count(VisibleRequest(Actor::System()));
    EXPECT_OK(n);
    return n.ok() ? *n : 0;
  };
  // The writer reopened: its memtable is empty, so the ingestion flushes
  // nothing (a flush deletes a log, which readers tell already).
  auto reopen_writer = [&] {
    ASSERT_OK(f.writer->Close());
    f.writer = testing::OpenDb(f.path);
    ASSERT_NE(f.writer, nullptr);
  };
  reopen_writer();

  // A read-only open with `writes` run where RocksDB, having read the
  // MANIFEST and then IDENTITY, lists the logs to replay: it holds what
  // the writer holds.
  auto open_beside = [&](const std::function<void()>& writes) {
    auto hook = std::make_shared<testing::ListingHook>(writes, "/IDENTITY");
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(hook);
    Options ro;
    ro.read_only = true;
    std::unique_ptr<Db> reader;
    ASSERT_OK(testing::OpenDbWithEnv(ro, f.path, env.get(), &reader));
    ASSERT_EQ(hook->calls.load(), 1);
    EXPECT_EQ(reader->Revision(), f.writer->Revision());
    EXPECT_EQ(Devices(reader.get()), Devices(f.writer.get()));
    EXPECT_OK(reader->CheckIntegrity(nullptr));
    ASSERT_OK(reader->Close());
  };
  // An import and a write.
  open_beside(import_then_write);
  // A small import after the ingested one, and no other write: the small
  // import is written through the log, and names the ingested one.
  reopen_writer();
  open_beside([&] {
    const std::string big = "big" + std::to_string(round++);
    EXPECT_OK(f.writer->Import(Actor::System(), ImportFile(f.dir, big, kIngestedDevices),
                               ImportOptions(), nullptr));
    EXPECT_OK(f.writer->Import(Actor::System(), ImportFile(f.dir, big + "-small", 2),
                               ImportOptions(), nullptr));
  });

  // A follower's catch-up: the same, in the first listing of its logs.
  reopen_writer();
  {
    TempDir scratch;
    std::shared_ptr<testing::ListingHook> hook;
    hook = std::make_shared<testing::ListingHook>([&] {
      hook->armed = false;
      import_then_write();
    });
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(hook);
    Options fo = FollowerOptions();
    fo.follower_dir = scratch.Sub("follower");
    std::unique_ptr<Db> follower;
    ASSERT_OK(testing::OpenDbWithEnv(fo, f.path, env.get(), &follower));
    hook->armed = true;
    auto rev = follower->CatchUp();
    ASSERT_OK(rev);
    ASSERT_EQ(hook->calls.load(), 1);
    EXPECT_EQ(*rev, f.writer->Revision());
    EXPECT_TRUE(follower->FindEntity(EntityKind::kDevice, "imp2-39999").ok());
    EXPECT_EQ(Devices(follower.get()), Devices(f.writer.get()));
    EXPECT_OK(follower->CheckIntegrity(nullptr));
    ASSERT_OK(follower->Close());
  }
  ASSERT_OK(f.writer->Close());
}

// The writer's side of the rule above: an import's files carry its
// revision (ingest.last), and the next logged write names it (ingest.seen)
// - in the same process, or after the writer closed and opened again in
// between; a small import, written through the log, is such a write.
TEST(Follower, AnImportIsNamedByTheWritersNextLoggedWrite) {
  Fixture f;
  auto marks = [&] {
    storage::StoreOptions o;
    o.read_only = true;
    std::unique_ptr<storage::Store> store;
    Status st = storage::Store::Open(o, f.path, &store);
    EXPECT_OK(st);
    std::pair<uint64_t, uint64_t> out{0, 0};
    if (st.ok()) {
      EXPECT_OK(store->ReadSequence(storage::kMetaIngested, &out.first));
      EXPECT_OK(store->ReadSequence(storage::kMetaIngestSeen, &out.second));
    }
    return out;
  };
  using Marks = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(marks(), Marks(0, 0));
  // An import ingested as files; its revision.
  auto ingest = [&](const std::string& account) -> uint64_t {
    EXPECT_OK(f.writer->Import(Actor::System(), ImportFile(f.dir, account, kIngestedDevices),
                               ImportOptions(), nullptr));
    return f.writer->Revision();
  };
  const uint64_t first = ingest("a");
  EXPECT_EQ(marks(), Marks(first, 0));
  MakeDevice(f.writer.get(), "w1", f.acme);
  EXPECT_EQ(marks(), Marks(first, first));
  MakeDevice(f.writer.get(), "w2", f.acme);
  EXPECT_EQ(marks(), Marks(first, first));

  // Imported, closed, opened again: the first write of the new writer.
  const uint64_t second = ingest("b");
  ASSERT_OK(f.writer->Close());
  f.writer = testing::OpenDb(f.path);
  ASSERT_NE(f.writer, nullptr);
  EXPECT_EQ(marks(), Marks(second, first));
  MakeDevice(f.writer.get(), "w3", f.acme);
  EXPECT_EQ(marks(), Marks(second, second));

  // A small import is one logged batch: it carries no mark of its own,
  // and names the ingested import before it.
  const uint64_t third = ingest("c");
  EXPECT_EQ(marks(), Marks(third, second));
  ASSERT_OK(f.writer->Import(Actor::System(), ImportFile(f.dir, "d", 2), ImportOptions(),
                             nullptr));
  EXPECT_EQ(marks(), Marks(third, third));
  MakeDevice(f.writer.get(), "w4", f.acme);
  EXPECT_EQ(marks(), Marks(third, third));
  ASSERT_OK(f.writer->Close());
}

// A folder whose import marks are out of order (damage, which check-db
// names) is no race with a writer: it still opens read-only, and a
// follower still catches up, beside a writer that flushes every few
// milliseconds (only a view whose import mark grew since the last torn
// one is read again; a flush or compaction does not count).
TEST(Follower, AFolderWithImportMarksOutOfOrderOpensBesideABusyWriter) {
  Fixture f;
  ASSERT_OK(f.writer->Import(Actor::System(), ImportFile(f.dir, "a", kIngestedDevices),
                             ImportOptions(), nullptr));
  MakeDevice(f.writer.get(), "named", f.acme);
  storage::Store* st = static_cast<engine::DbImpl*>(f.writer.get())->store();
  ASSERT_TRUE(st->db()
                  ->Put(rocksdb::WriteOptions(), st->cf(storage::kMeta),
                        std::string(storage::kMetaIngestSeen),
                        storage::Fixed64BE(f.writer->Revision()))
                  .ok());
  TempDir scratch;
  Options fo = FollowerOptions();
  fo.follower_dir = scratch.Sub("follower");
  std::unique_ptr<Db> follower = OpenFollower(f.path, fo);
  ASSERT_NE(follower, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> pause_ms{10};
  std::thread busy([&] {
    for (int i = 0; !stop.load(); ++i) {
      MakeDevice(f.writer.get(), "busy-" + std::to_string(i), f.acme);
      (void)st->db()->Flush(rocksdb::FlushOptions(), st->cf(storage::kMeta));
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms.load()));
    }
  });
  // A writer that replaces table files faster than a slow build opens
  // them may still make an open busy ("try again"): never for the marks.
  int opened = 0;
  auto fine = [&](const Status& s) {
    if (s.ok()) return true;
    EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
    EXPECT_EQ(s.message().find("import"), std::string::npos) << s.ToString();
    return false;
  };
  // Ten tries beside the writer flushing every 10 ms; on a machine slow
  // enough (a sanitizer, a loaded CI host) that each open outlasts that,
  // up to twenty more beside it flushing every 200 ms.
  for (int i = 0; i < 10 || (opened == 0 && i < 30); ++i) {
    if (i == 10) pause_ms = 200;
    Options ro;
    ro.read_only = true;
    std::unique_ptr<Db> reader;
    if (fine(Db::Open(ro, f.path, &reader))) {
      ++opened;
      EXPECT_OK(reader->Close());
    }
    EXPECT_OK(follower->CatchUp());
  }
  stop = true;
  busy.join();
  EXPECT_GT(opened, 0);
  std::vector<std::string> problems;
  EXPECT_EQ(follower->CheckIntegrity(&problems).code(), Code::kCorruption);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("ingest.seen above ingest.last"), std::string::npos) << problems[0];
  ASSERT_OK(follower->Close());
  ASSERT_OK(f.writer->Close());
}

// A writer that closes and opens the database again starts a new session
// (a new MANIFEST). RocksDB 7.8's secondary instance follows it but keeps
// what it had replayed from the old session's log, which the close
// flushed to table files: counters (merges) counted twice, older values
// hiding newer ones. The follower opens its instance again instead, and
// after every catch-up answers as a fresh read-only open does.
TEST(Follower, FollowsAWriterThatClosesAndOpensBetweenWrites) {
  Fixture f;
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  const AccountId b = MakeAccount(f.writer.get(), "b", f.acme);
  const AccountId c = MakeAccount(f.writer.get(), "c", f.acme);
  const AccountId x = MakeAccount(f.writer.get(), "x", b);
  auto same_as_fresh = [&](const std::string& step) {
    SCOPED_TRACE(step);
    auto rev = follower->CatchUp();
    ASSERT_OK(rev);
    EXPECT_EQ(*rev, f.writer->Revision());
    Options ro;
    ro.read_only = true;
    std::unique_ptr<Db> fresh;
    ASSERT_OK(Db::Open(ro, f.path, &fresh));
    EXPECT_EQ(Signature(follower.get(), f.user), Signature(fresh.get(), f.user));
    auto acc = follower->GetAccount(x);
    ASSERT_OK(acc);
    EXPECT_EQ(acc->parent, fresh->GetAccount(x)->parent);
    std::vector<std::string> problems;
    EXPECT_OK(follower->CheckIntegrity(&problems));
    ASSERT_OK(fresh->Close());
  };
  for (int round = 0; round < 3; ++round) {
    const std::string r = std::to_string(round);
    // A small import (written through the log: counter merges in it).
    ASSERT_OK(f.writer->Import(Actor::System(), ImportFile(f.dir, "s" + r, 20), ImportOptions(),
                               nullptr));
    MakeDevice(f.writer.get(), "dev-" + r, x);
    same_as_fresh("round " + r + ", writer open");
    ASSERT_OK(f.writer->Close());
    f.writer = OpenDb(f.path);
    ASSERT_NE(f.writer, nullptr);
    ASSERT_OK(f.writer->MoveAccount(Actor::System(), x, round % 2 == 0 ? c : b));
    same_as_fresh("round " + r + ", writer reopened");
  }
  ASSERT_OK(follower->Close());
  ASSERT_OK(f.writer->Close());
}

// A flush by a writer that stays open (a checkpoint, and its close
// without opening again) moves what the follower had replayed from the
// write-ahead log into a table file. The follower must then read the
// table's newer values, not the ones it had replayed, and count each
// counter update once: point reads, counts, the integrity check and a
// checkpoint of the follower all agree with a fresh open.
TEST(Follower, FollowsAWriterThatFlushesWithinOneSession) {
  Fixture f;
  const auto d1 = f.writer->FindEntity(EntityKind::kDevice, "d1");
  ASSERT_OK(d1);
  for (int i = 0; i < 20; ++i) MakeDevice(f.writer.get(), "pre-" + std::to_string(i), f.acme);
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  auto same_as_fresh = [&](const std::string& step, const std::string& device_name,
                           const std::string& account_name) {
    SCOPED_TRACE(step);
    auto rev = follower->CatchUp();
    ASSERT_OK(rev);
    Options ro;
    ro.read_only = true;
    std::unique_ptr<Db> fresh;
    ASSERT_OK(Db::Open(ro, f.path, &fresh));
    EXPECT_EQ(*rev, fresh->Revision());
    EXPECT_EQ(Signature(follower.get(), f.user), Signature(fresh.get(), f.user));
    auto by_id = follower->GetEntity(d1->id);
    ASSERT_OK(by_id);
    EXPECT_EQ(by_id->name, device_name);
    auto by_key = follower->FindEntity(EntityKind::kDevice, "d1");
    ASSERT_OK(by_key);
    EXPECT_EQ(by_key->name, device_name);
    auto acc = follower->GetAccount(f.acme);
    ASSERT_OK(acc);
    EXPECT_EQ(acc->name, account_name);
    std::vector<std::string> problems;
    EXPECT_OK(follower->CheckIntegrity(&problems));
    EXPECT_EQ(problems, std::vector<std::string>{});
    // A copy taken by the follower holds what it serves.
    const std::string copy = f.dir.Sub("copy-" + std::to_string(*rev));
    ASSERT_OK(follower->Checkpoint(copy));
    std::unique_ptr<Db> copied;
    ASSERT_OK(Db::Open(ro, copy, &copied));
    EXPECT_EQ(Signature(copied.get(), f.user), Signature(fresh.get(), f.user));
    problems.clear();
    EXPECT_OK(copied->CheckIntegrity(&problems));
    EXPECT_EQ(problems, std::vector<std::string>{});
    ASSERT_OK(copied->Close());
    ASSERT_OK(fresh->Close());
  };
  // Renames and counter updates the follower replays from the log...
  ASSERT_OK(f.writer->UpdateEntity(Actor::System(), d1->id, {.name = "first name"}));
  ASSERT_OK(f.writer->UpdateAccount(Actor::System(), f.acme, {.name = "First"}));
  for (int i = 0; i < 10; ++i) MakeDevice(f.writer.get(), "a-" + std::to_string(i), f.acme);
  same_as_fresh("replayed from the log", "first name", "First");
  // ...then newer ones, flushed by a checkpoint while the writer stays open.
  ASSERT_OK(f.writer->UpdateEntity(Actor::System(), d1->id, {.name = "second name"}));
  ASSERT_OK(f.writer->UpdateAccount(Actor::System(), f.acme, {.name = "Second"}));
  for (int i = 0; i < 10; ++i) MakeDevice(f.writer.get(), "b-" + std::to_string(i), f.acme);
  ASSERT_OK(f.writer->Checkpoint(f.dir.Sub("writer-copy")));
  same_as_fresh("flushed by a checkpoint", "second name", "Second");
  // Written after that flush and flushed by the writer's close.
  ASSERT_OK(f.writer->UpdateEntity(Actor::System(), d1->id, {.name = "third name"}));
  ASSERT_OK(f.writer->UpdateAccount(Actor::System(), f.acme, {.name = "Third"}));
  for (int i = 0; i < 10; ++i) MakeDevice(f.writer.get(), "c-" + std::to_string(i), f.acme);
  same_as_fresh("replayed again", "third name", "Third");
  ASSERT_OK(f.writer->UpdateEntity(Actor::System(), d1->id, {.name = "fourth name"}));
  for (int i = 0; i < 10; ++i) MakeDevice(f.writer.get(), "e-" + std::to_string(i), f.acme);
  ASSERT_OK(f.writer->Close());
  f.writer.reset();
  same_as_fresh("flushed by the writer's close", "fourth name", "Third");
  auto n = follower->Count(VisibleRequest(Actor::System()));
  ASSERT_OK(n);
  EXPECT_EQ(*n, 61u);
  ASSERT_OK(follower->Close());
}

TEST(Follower, RefusesEveryMutationNamingTheMode) {
  Fixture f;
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  const auto before = DumpAll(f.writer.get());
  auto refused = [](const Status& s) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("follower"), std::string::npos) << s.ToString();
  };
  refused(follower->CreateAccount(Actor::System(), {.key = "x", .name = "X"}).status());
  refused(follower->CreateEntity(Actor::System(), {.key = "d2", .name = "D2", .owner = f.acme})
              .status());
  refused(follower->SetUserDisabled(Actor::System(), f.user, true));
  refused(follower->DeleteAccount(Actor::System(), f.acme, kNoId));
  std::ofstream(f.dir.Sub("in.jsonl")) << "{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\"}\n";
  refused(follower->Import(Actor::System(), f.dir.Sub("in.jsonl"), ImportOptions(), nullptr));
  std::vector<std::string> entries;
  ASSERT_OK(f.writer->ReadLogEntries(1, 10, &entries));
  ApplyReport report;
  refused(follower->ApplyChanges(entries, &report));
  EXPECT_TRUE(before == DumpAll(f.writer.get()));
  ASSERT_OK(follower->CatchUp());
  EXPECT_TRUE(before == DumpAll(follower.get()));
  ASSERT_OK(follower->Close());
}

TEST(Follower, CatchesUpAfterTheWriterTrimmedItsLogOrImported) {
  Options o;
  o.log_retention_count = 4;
  Fixture f(o);
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  const uint64_t at = follower->Revision();
  for (int i = 0; i < 40; ++i) MakeDevice(f.writer.get(), "t" + std::to_string(i), f.acme);
  auto first = f.writer->GetProperty("canopy.log-first-revision");
  ASSERT_OK(first);
  ASSERT_GT(std::stoull(*first), at + 1) << "the log must be trimmed past the follower";
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(follower->Revision(), f.writer->Revision());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  EXPECT_EQ(*follower->GetProperty("canopy.log-first-revision"), *first);
  // Reading a trimmed revision is Compacted there too.
  ChangesRequest cr;
  cr.since = 1;
  ChangesPage page;
  EXPECT_EQ(follower->ReadChanges(cr, &page).code(), Code::kCompacted);

  // An import is one revision carrying its input: the follower loads.
  std::ofstream(f.dir.Sub("in.jsonl"))
      << "{\"type\":\"account\",\"key\":\"imp\",\"name\":\"Imported\"}\n"
      << "{\"type\":\"device\",\"key\":\"imp-d\",\"name\":\"D\",\"account\":\"imp\"}\n";
  ImportReport rep;
  ASSERT_OK(f.writer->Import(Actor::System(), f.dir.Sub("in.jsonl"), ImportOptions(), &rep));
  MakeDevice(f.writer.get(), "after-import", f.acme);
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  EXPECT_TRUE(follower->FindEntity(EntityKind::kDevice, "imp-d").ok());
  ASSERT_OK(follower->Close());
}

// A backup beside the writer, through a follower: a verified copy of the
// follower's revision, taken while the writer goes on writing (catch-ups
// wait for it).
TEST(Follower, BacksUpBesideTheWriter) {
  Fixture f;
  Mutate(f.writer.get(), "one", f.acme, f.user);
  Options o = FollowerOptions();
  o.follower_catch_up_ms = 1;
  std::unique_ptr<Db> follower = OpenFollower(f.path, o);
  ASSERT_NE(follower, nullptr);
  auto devices = [](Db* db) {
    auto n = db->Count(VisibleRequest(Actor::System()));
    EXPECT_OK(n);
    return n.ok() ? *n : 0;
  };
  const uint64_t base_rev = f.writer->Revision();
  const uint64_t base_devices = devices(f.writer.get());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      MakeDevice(f.writer.get(), "b" + std::to_string(i), f.acme);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::vector<uint64_t> revisions;
  for (int i = 0; i < 3; ++i) {
    const std::string dest = f.dir.Sub("backup" + std::to_string(i));
    auto rev = follower->Backup(dest);
    ASSERT_OK(rev);
    revisions.push_back(*rev);
    std::unique_ptr<Db> copy = OpenDb(dest);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(copy->Revision(), *rev);
    // Exactly the devices of that revision: one per revision since.
    EXPECT_EQ(devices(copy.get()), base_devices + (*rev - base_rev));
    std::vector<std::string> problems;
    EXPECT_OK(copy->CheckIntegrity(&problems));
    EXPECT_EQ(copy->LogId(), f.writer->LogId());
    ASSERT_OK(copy->Close());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  writer.join();
  EXPECT_LT(revisions.front(), f.writer->Revision());
  // With the writer quiet: the copy is the writer's database key by key.
  ASSERT_OK(follower->CatchUp());
  ASSERT_OK(follower->Backup(f.dir.Sub("quiet")));
  std::unique_ptr<Db> copy = OpenDb(f.dir.Sub("quiet"));
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(DumpAll(copy.get()) == DumpAll(f.writer.get()));
  EXPECT_EQ(Signature(copy.get(), f.user), Signature(f.writer.get(), f.user));
  ASSERT_OK(copy->Close());
  EXPECT_EQ(follower->Backup(f.dir.Sub("quiet")).status().code(), Code::kAlreadyExists);
  ASSERT_OK(follower->Close());
}

// Readers on threads while the writer writes and the follower catches up:
// every page's items match the revision it reports (the catalog copy and
// the RocksDB state are of one revision), counts never go back.
TEST(Follower, ReadersNeverSeeATornStateWhileItCatchesUp) {
  Fixture f;
  // One device per revision from here on, all in `pool`.
  const AccountId pool = MakeAccount(f.writer.get(), "pool");
  const uint64_t base = f.writer->Revision();
  Options o = FollowerOptions();
  o.follower_catch_up_ms = 2;  // the automatic catch-up, besides explicit calls
  std::unique_ptr<Db> follower = OpenFollower(f.path, o);
  ASSERT_NE(follower, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> pages{0}, catch_ups{0}, bad{0};
  std::thread writer([&] {
    for (int i = 0; i < 400 && !stop; ++i) {
      MakeDevice(f.writer.get(), "p" + std::to_string(i), pool);
      std::this_thread::sleep_for(std::chrono::microseconds(300));  // catch-ups in between
    }
    stop = true;
  });
  std::thread catcher([&] {
    while (!stop) {
      if (follower->CatchUp().ok()) ++catch_ups;
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      uint64_t last_count = 0;
      while (!stop) {
        VisibleRequest r(Actor::System());
        r.within = pool;
        r.limit = 10000;
        VisiblePage page;
        Status s = follower->Visible(r, &page);
        if (!s.ok()) {
          ADD_FAILURE() << s.ToString();
          ++bad;
          return;
        }
        ++pages;
        if (page.revision < base || page.items.size() != page.revision - base) {
          ADD_FAILURE() << "torn read: revision " << page.revision << " with "
                        << page.items.size() << " devices (thread " << t << ")";
          ++bad;
          return;
        }
        VisibleRequest c(Actor::System());
        c.within = pool;
        auto n = follower->Count(c);
        if (!n.ok() || *n < last_count || *n < page.items.size()) {
          ADD_FAILURE() << "count went back or behind the page: " << (n.ok() ? *n : 0) << " after "
                        << last_count;
          ++bad;
          return;
        }
        last_count = *n;
      }
    });
  }
  writer.join();
  catcher.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(pages.load(), 0);
  EXPECT_GT(catch_ups.load(), 0);
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(KeysIn(follower.get(), pool).size(), 400u);
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  ASSERT_OK(follower->Close());
}

// A paging cursor across a catch-up: its next page reads the new state
// (as after a cursor expired); a streaming iterator holds the state, so a
// catch-up waits for it and gives up (changing nothing) if it stays.
TEST(Follower, CursorsAndIteratorsAcrossACatchUp) {
  Fixture f;
  for (int i = 0; i < 9; ++i) MakeDevice(f.writer.get(), "c" + std::to_string(i), f.acme);
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  VisibleRequest r(Actor::System());
  r.limit = 5;
  VisiblePage first;
  ASSERT_OK(follower->Visible(r, &first));
  ASSERT_FALSE(first.next_cursor.empty());
  EXPECT_EQ(*follower->GetProperty("canopy.open-cursors"), "1");
  MakeDevice(f.writer.get(), "zz-new", f.acme);
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(*follower->GetProperty("canopy.open-cursors"), "0");
  EXPECT_EQ(follower->Revision(), f.writer->Revision());
  std::string seen;
  for (const auto& i : first.items) seen += i.key + " ";
  r.cursor = first.next_cursor;
  while (!r.cursor.empty()) {
    VisiblePage next;
    ASSERT_OK(follower->Visible(r, &next));
    EXPECT_EQ(next.revision, follower->Revision());
    for (const auto& i : next.items) seen += i.key + " ";
    r.cursor = next.next_cursor;
  }
  EXPECT_EQ(seen, "d1 c0 c1 c2 c3 c4 c5 c6 c7 c8 zz-new ");

  std::unique_ptr<VisibleIterator> it;
  ASSERT_OK(follower->NewVisibleIterator(VisibleRequest(Actor::System()), &it));
  const uint64_t at = follower->Revision();
  MakeDevice(f.writer.get(), "held-off", f.acme);
  auto started = std::chrono::steady_clock::now();
  auto caught = follower->CatchUp();
  EXPECT_EQ(caught.status().code(), Code::kAborted) << caught.status().ToString();
  EXPECT_NE(caught.status().message().find("iterator"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  EXPECT_EQ(follower->Revision(), at);
  size_t n = 0;
  for (; it->Valid(); it->Next()) ++n;
  EXPECT_OK(it->status());
  EXPECT_EQ(n, 11u);
  it.reset();
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(follower->Revision(), f.writer->Revision());
  ASSERT_OK(follower->Close());
}

// A snapshot of a follower stays at its revision: it holds the
// follower's state, so a catch-up waits for it (and gives up while it
// stays open); once it is closed the follower catches up.
TEST(Follower, SnapshotOfAFollowerHoldsItsState) {
  Fixture f;
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  auto snap = follower->OpenSnapshot();
  ASSERT_OK(snap);
  const std::string before = Signature(snap->get(), f.user);
  const uint64_t at = follower->Revision();
  MakeDevice(f.writer.get(), "later", f.acme);
  // While the catch-up waits for the snapshot, the follower's own reads
  // go on: they all end before it gives up (they used to wait for it).
  std::atomic<bool> waiting{true};
  StatusOr<uint64_t> caught = Status::Ok();
  std::thread catching([&] {
    caught = follower->CatchUp();
    waiting = false;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // it waits by now
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(follower->FindAccount("acme").ok());
    ASSERT_TRUE(follower->Count(VisibleRequest(Actor::User(f.user))).ok());
  }
  EXPECT_TRUE(waiting.load()) << "the reads waited for the catch-up";
  catching.join();
  EXPECT_EQ(caught.status().code(), Code::kAborted) << caught.status().ToString();
  EXPECT_NE(caught.status().message().find("snapshot(s) or visible iterator(s)"),
            std::string::npos)
      << caught.status().ToString();
  EXPECT_EQ(follower->Revision(), at);
  EXPECT_EQ(Signature(snap->get(), f.user), before);
  EXPECT_EQ((*snap)->CatchUp().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ((*snap)->CreateAccount(Actor::System(), {.key = "x", .name = "X"}).status().code(),
            Code::kFailedPrecondition);
  ASSERT_OK((*snap)->Close());
  snap->reset();
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Signature(follower.get(), f.user), Signature(f.writer.get(), f.user));
  ASSERT_OK(follower->Close());
}

// A catch-up asked from inside a progress callback of the follower's own
// read (an export, an integrity check), which holds the state until it
// returns, is refused at once, naming the callback (it waited 5 s for
// itself and blamed an iterator).
TEST(Follower, CatchUpFromItsOwnReadsCallbackIsRefusedAtOnce) {
  Fixture f;
  for (int i = 0; i < 3; ++i) MakeDevice(f.writer.get(), "cb" + std::to_string(i), f.acme);
  std::unique_ptr<Db> follower = OpenFollower(f.path);
  ASSERT_NE(follower, nullptr);
  MakeDevice(f.writer.get(), "later", f.acme);
  Status inside;
  auto try_catch_up = [&](uint64_t, uint64_t) {
    if (inside.ok()) inside = follower->CatchUp().status();
    return true;
  };
  ASSERT_OK(follower->Export(f.dir.Sub("e.jsonl"), try_catch_up, nullptr));
  EXPECT_EQ(inside.code(), Code::kFailedPrecondition) << inside.ToString();
  EXPECT_NE(inside.message().find("progress callback of export"), std::string::npos)
      << inside.ToString();
  inside = Status::Ok();
  std::vector<std::string> problems;
  ASSERT_OK(follower->CheckIntegrity(&problems, try_catch_up));
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(inside.code(), Code::kFailedPrecondition) << inside.ToString();
  EXPECT_NE(inside.message().find("progress callback of integrity check"), std::string::npos)
      << inside.ToString();
  // Outside them it catches up.
  ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(follower->Revision(), f.writer->Revision());
  ASSERT_OK(follower->Close());
}

// A snapshot may outlive the follower Db object that opened it: the
// follower's catch-up thread stops, and the snapshot's hold on the
// follower's state stays valid until it goes.
TEST(Follower, SnapshotOutlivesTheFollowerObject) {
  Fixture f;
  Options o = FollowerOptions();
  o.follower_catch_up_ms = 1;
  std::unique_ptr<Db> follower = OpenFollower(f.path, o);
  ASSERT_NE(follower, nullptr);
  auto snap = follower->OpenSnapshot();
  ASSERT_OK(snap);
  const std::string before = Signature(snap->get(), f.user);
  MakeDevice(f.writer.get(), "later-2", f.acme);
  EXPECT_EQ(follower->Close().code(), Code::kFailedPrecondition);
  follower.reset();
  EXPECT_EQ(Signature(snap->get(), f.user), before);
  snap->reset();
}

TEST(Follower, ClosesWhileCatchingUp) {
  Fixture f;
  Options o = FollowerOptions();
  o.follower_catch_up_ms = 1;
  for (int round = 0; round < 5; ++round) {
    std::unique_ptr<Db> follower = OpenFollower(f.path, o);
    ASSERT_NE(follower, nullptr);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      for (int i = 0; !stop; ++i) {
        MakeDevice(f.writer.get(), "w" + std::to_string(round) + "-" + std::to_string(i), f.acme);
      }
    });
    std::thread catcher([&] {
      for (;;) {
        auto r = follower->CatchUp();
        if (!r.ok()) {
          // Refused once Close has begun ("closing"), or after ("closed").
          EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
          EXPECT_NE(r.status().message().find("the database is clos"), std::string::npos)
              << r.status().ToString();
          return;
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + 10 * round));
    EXPECT_OK(follower->Close());
    catcher.join();
    stop = true;
    writer.join();
    EXPECT_EQ(follower->CatchUp().status().code(), Code::kFailedPrecondition);
  }
  ASSERT_OK(f.writer->Close());
}

// A Close refused because an iterator or a snapshot is open leaves the
// follower following: Close refuses new ones once it has begun, so it never
// refuses after it stopped the catch-up thread. Here a thread keeps opening
// both while Close is tried again and again.
TEST(Follower, ARefusedCloseLeavesItFollowing) {
  Fixture f;
  Options o = FollowerOptions();
  o.follower_catch_up_ms = 1;
  std::unique_ptr<Db> follower = OpenFollower(f.path, o);
  ASSERT_NE(follower, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> opened{0}, refused_opens{0};
  std::thread opener([&] {
    while (!stop) {
      std::unique_ptr<VisibleIterator> it;
      Status s = follower->NewVisibleIterator(VisibleRequest{Actor::System()}, &it);
      auto snap = follower->OpenSnapshot();
      if (s.ok() && snap.ok()) {
        ++opened;
      } else {
        const Status& bad = s.ok() ? snap.status() : s;
        EXPECT_EQ(bad.code(), Code::kFailedPrecondition) << bad.ToString();
        EXPECT_NE(bad.message().find("clos"), std::string::npos) << bad.ToString();  // closing, closed
        ++refused_opens;
      }
    }
  });
  while (opened.load() < 3) std::this_thread::yield();
  int refusals = 0;
  for (int i = 0; i < 200 && refusals < 20; ++i) {
    Status s = follower->Close();
    if (s.ok()) break;
    ASSERT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    ++refusals;
    // Still following: a write of the writer shows up on its own.
    const std::string key = "after-refusal-" + std::to_string(i);
    MakeDevice(f.writer.get(), key, f.acme);
    bool seen = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!seen && std::chrono::steady_clock::now() < deadline) {
      seen = follower->FindEntity(EntityKind::kDevice, key).ok();
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(seen) << "the follower stopped catching up after Close was refused (" << i << ")";
  }
  stop = true;
  opener.join();
  EXPECT_OK(follower->Close());
  std::cout << refusals << " refused Close calls, " << opened.load() << " iterator and snapshot "
            << "pairs, " << refused_opens.load() << " refused opens\n";
}

TEST(Follower, BadInputs) {
  TempDir dir;
  std::unique_ptr<Db> db;
  // No database: nothing is created.
  Status s = Db::Open(FollowerOptions(), dir.Sub("none"), &db);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("follower"), std::string::npos) << s.ToString();
  EXPECT_FALSE(fs::exists(dir.Sub("none")));
  // A folder of other files.
  fs::create_directories(dir.Sub("other"));
  std::ofstream(dir.Sub("other/notes.txt")) << "hello";
  s = Db::Open(FollowerOptions(), dir.Sub("other"), &db);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_EQ(fs::directory_iterator(dir.Sub("other"))->path().filename(), "notes.txt");

  std::unique_ptr<Db> writer = OpenDb(dir.Sub("db"));
  auto refused = [&](Options o, const std::string& words) {
    std::unique_ptr<Db> d;
    Status st = Db::Open(o, dir.Sub("db"), &d);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(words), std::string::npos) << st.ToString();
    EXPECT_EQ(d, nullptr);
  };
  Options both = FollowerOptions();
  both.read_only = true;
  refused(both, "read_only and follower exclude each other");
  Options replica = FollowerOptions();
  replica.replication.etcd_endpoints = {"http://127.0.0.1:1"};
  refused(replica, "replica");
  Options files = FollowerOptions();
  files.max_open_files = 100;
  refused(files, "max_open_files");
  Options inside = FollowerOptions();
  inside.follower_dir = dir.Sub("db/mine");
  refused(inside, "inside the database folder");
  EXPECT_FALSE(fs::exists(dir.Sub("db/mine")));
  std::ofstream(dir.Sub("afile")) << "x";
  Options file = FollowerOptions();
  file.follower_dir = dir.Sub("afile");
  refused(file, "not a folder");
  Options not_follower;
  not_follower.follower_dir = dir.Sub("f");
  refused(not_follower, "Options::follower is off");
  not_follower.follower_dir.clear();
  not_follower.follower_catch_up_ms = 5;
  refused(not_follower, "Options::follower is off");

  // CatchUp on a database that is not a follower.
  auto c = writer->CatchUp();
  EXPECT_EQ(c.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("not open as a follower"), std::string::npos);

  // A folder of its own: kept; without one, the scratch folder goes on Close.
  Options own = FollowerOptions();
  own.follower_dir = dir.Sub("own");
  std::unique_ptr<Db> follower;
  ASSERT_OK(Db::Open(own, dir.Sub("db"), &follower));
  ASSERT_OK(follower->Close());
  EXPECT_TRUE(fs::is_directory(dir.Sub("own")));
  // Scratch folders go into the system's temporary folder: this test's own.
  fs::create_directories(dir.Sub("tmp"));
  const char* old_tmp = std::getenv("TMPDIR");
  const std::string saved = old_tmp != nullptr ? old_tmp : "";
  ::setenv("TMPDIR", dir.Sub("tmp").c_str(), 1);
  auto scratch_folders = [&] {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir.Sub("tmp"))) {
      n += e.path().filename().string().rfind("canopy-follower-", 0) == 0;
    }
    return n;
  };
  // A killed follower's folder (its pid in the name, no longer running)
  // goes at the next follower's open; a live process's stays.
  long pid_max = 4194304;  // no process has this pid (pids stay below it)
  std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
  const std::string dead = dir.Sub("tmp/canopy-follower-" + std::to_string(pid_max) + "-5");
  const std::string live = dir.Sub("tmp/canopy-follower-1-6");  // init's
  for (const std::string& d : {dead, live}) {
    fs::create_directories(d);
    std::ofstream(d + "/LOG") << "a follower's log";
  }
  ASSERT_OK(Db::Open(FollowerOptions(), dir.Sub("db"), &follower));
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  fs::remove_all(live);
  EXPECT_EQ(scratch_folders(), 1u);
  const std::string mine = "canopy-follower-" + std::to_string(::getpid()) + "-";
  EXPECT_EQ(fs::directory_iterator(dir.Sub("tmp"))->path().filename().string().rfind(mine, 0), 0u);
  ASSERT_OK(follower->Close());
  EXPECT_EQ(scratch_folders(), 0u);
  // A failed open leaves none either.
  EXPECT_FALSE(Db::Open(FollowerOptions(), dir.Sub("none"), &follower).ok());
  EXPECT_EQ(scratch_folders(), 0u);
  if (old_tmp != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  ASSERT_OK(writer->Close());
}

}  // namespace
}  // namespace canopy
