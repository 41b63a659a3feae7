// Copyright (c) Canopy authors.
//
// Db::OpenSnapshot: a read-only Db fixed at one revision, whatever is
// written to the Db that opened it meanwhile.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "canopy/db.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::TempDir;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.sync = false;
    ASSERT_OK(Db::Open(o, dir_.Sub("db"), &db_));
    AccountSpec t{.key = "t", .name = "Tenant"};
    t.settings.sub_account_management = true;
    t_ = *db_->CreateAccount(sys_, t);
    a_ = *db_->CreateAccount(sys_, {.key = "a", .name = "Customer A", .parent = t_});
    user_ = *db_->CreateUser(sys_, {"u@a", "U", a_});
    ASSERT_OK(db_->Invite(sys_, user_, a_, db_->FindRole(t_, "account_admin")->id, true));
    for (int i = 0; i < 10; ++i) AddDevice(i % 2 ? a_ : t_, "d" + std::to_string(i));
  }

  EntityId AddDevice(AccountId owner, const std::string& key) {
    EntitySpec e;
    e.key = key;
    e.name = key;
    e.owner = owner;
    auto id = db_->CreateEntity(sys_, e);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : EntityId(kNoId);
  }

  static uint64_t CountOf(const Db& db, Actor viewer) {
    auto n = db.Count(VisibleRequest(viewer));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }

  // Every key of the viewer's devices, page by page (small pages).
  static std::vector<std::string> Keys(const Db& db, Actor viewer) {
    std::vector<std::string> keys;
    VisibleRequest req(viewer);
    req.limit = 3;
    for (;;) {
      VisiblePage page;
      Status s = db.Visible(req, &page);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok()) break;
      for (const auto& item : page.items) keys.push_back(item.key);
      if (page.next_cursor.empty()) break;
      req.cursor = page.next_cursor;
    }
    return keys;
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  const Actor sys_ = Actor::System();
  AccountId t_, a_;
  UserId user_;
};

TEST_F(SnapshotTest, ReadsStayAtTheRevisionItWasOpenedAt) {
  const uint64_t rev = db_->Revision();
  const std::vector<std::string> keys = Keys(*db_, sys_);
  const std::vector<std::string> user_keys = Keys(*db_, Actor::User(user_));
  auto snap = db_->OpenSnapshot();
  ASSERT_OK(snap.status());
  Db& s = **snap;
  EXPECT_EQ(s.Revision(), rev);

  // The Db moves on: new devices, a rename, a deletion, a disabled user.
  const EntityId later = AddDevice(a_, "later");
  ASSERT_OK(db_->UpdateAccount(sys_, a_, {.name = std::string("Renamed")}));
  ASSERT_OK(db_->DeleteEntity(sys_, db_->FindEntity(EntityKind::kDevice, "d1")->id));
  ASSERT_OK(db_->SetUserDisabled(sys_, user_, true));
  ASSERT_GT(db_->Revision(), rev);

  EXPECT_EQ(s.Revision(), rev);
  EXPECT_EQ(CountOf(s, sys_), 10u);
  EXPECT_EQ(Keys(s, sys_), keys);
  EXPECT_EQ(Keys(s, Actor::User(user_)), user_keys);  // still enabled there
  EXPECT_EQ(CountOf(s, Actor::User(user_)), user_keys.size());
  EXPECT_EQ(s.GetAccount(a_)->name, "Customer A");
  EXPECT_EQ(s.GetEntity(later).status().code(), Code::kNotFound);
  EXPECT_TRUE(s.FindEntity(EntityKind::kDevice, "d1").ok());
  EXPECT_EQ(s.CountOwned(a_, EntityKind::kDevice)->direct, 5u);
  auto summary = s.Summary(Actor::User(user_), a_);
  ASSERT_OK(summary.status());
  EXPECT_EQ(summary->devices_direct, 5u);
  ChangesRequest cr;
  cr.since = 1;
  ChangesPage changes;
  ASSERT_OK(s.ReadChanges(cr, &changes));
  EXPECT_EQ(changes.revision, rev);  // the log as it was, too
  std::vector<std::string> problems;
  EXPECT_OK(s.CheckIntegrity(&problems, {}));  // the stored state of that revision
  EXPECT_TRUE(problems.empty());

  // The live Db sees the new state.
  EXPECT_EQ(CountOf(*db_, sys_), 10u);  // one added, one deleted
  EXPECT_EQ(db_->GetAccount(a_)->name, "Renamed");
  EXPECT_EQ(CountOf(*db_, Actor::User(user_)), 0u);  // disabled: holds nothing

  // A snapshot of the snapshot is at the same revision.
  auto again = s.OpenSnapshot();
  ASSERT_OK(again.status());
  EXPECT_EQ((*again)->Revision(), rev);
  EXPECT_EQ(Keys(**again, sys_), keys);
}

TEST_F(SnapshotTest, RefusesEveryWriteAndChangesNothing) {
  auto snap = db_->OpenSnapshot();
  ASSERT_OK(snap.status());
  Db& s = **snap;
  const uint64_t rev = db_->Revision();
  auto expect_refused = [&](const Status& st) {
    EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
    EXPECT_NE(st.ToString().find("a snapshot is read-only"), std::string::npos) << st.ToString();
  };
  expect_refused(s.CreateAccount(sys_, {.key = "x", .name = "X", .parent = t_}).status());
  EntitySpec e;
  e.key = "x";
  e.name = "x";
  e.owner = a_;
  expect_refused(s.CreateEntity(sys_, e).status());
  expect_refused(s.UpdateAccount(sys_, a_, {.name = std::string("No")}));
  expect_refused(s.SetUserDisabled(sys_, user_, true));
  expect_refused(s.Checkpoint(dir_.Sub("cp")).status());
  EXPECT_EQ(db_->Revision(), rev);
  EXPECT_EQ(s.Revision(), rev);
  EXPECT_EQ(db_->GetAccount(a_)->name, "Customer A");
  EXPECT_FALSE(db_->FindAccount("x").ok());
}

TEST_F(SnapshotTest, CloseWaitsForSnapshotsToBeDestroyed) {
  auto snap = db_->OpenSnapshot();
  ASSERT_OK(snap.status());
  Status st = db_->Close();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.ToString().find("1 snapshot(s) still open"), std::string::npos) << st.ToString();
  // Nothing was closed: both still work.
  EXPECT_EQ(CountOf(*db_, sys_), 10u);
  EXPECT_EQ(CountOf(**snap, sys_), 10u);
  AddDevice(a_, "after-refused-close");
  std::thread waiter([&] {  // a WaitForChanges on the snapshot does not hold up its Close
    auto r = (*snap)->WaitForChanges((*snap)->Revision(), 60000);
    EXPECT_FALSE(r.ok() && *r > (*snap)->Revision());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_OK((*snap)->Close());
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  ASSERT_OK((*snap)->Close());  // idempotent
  EXPECT_EQ((*snap)->Count(VisibleRequest(sys_)).status().code(), Code::kFailedPrecondition);
  ASSERT_OK(db_->Close());
  EXPECT_EQ(db_->OpenSnapshot().status().code(), Code::kFailedPrecondition);
}

TEST_F(SnapshotTest, OutlivesTheDbObjectThatOpenedIt) {
  auto snap = db_->OpenSnapshot();
  ASSERT_OK(snap.status());
  db_.reset();  // the destructor's Close is refused; the store stays open for the snapshot
  EXPECT_EQ(CountOf(**snap, sys_), 10u);
  EXPECT_EQ(Keys(**snap, sys_).size(), 10u);
  snap->reset();  // closes the store
  Options o;
  ASSERT_OK(Db::Open(o, dir_.Sub("db"), &db_));  // the folder is free again
  EXPECT_EQ(CountOf(*db_, sys_), 10u);
}

TEST_F(SnapshotTest, ReadersOnASnapshotNeverSeeConcurrentWrites) {
  auto snap = db_->OpenSnapshot();
  ASSERT_OK(snap.status());
  const Db& s = **snap;
  const std::vector<std::string> keys = Keys(s, sys_);
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      AddDevice(i % 2 ? a_ : t_, "w" + std::to_string(i));
      written++;
    }
  });
  std::atomic<int> mismatches{0}, reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      // At least 40 reads each, and on until the writer has written (on a
      // loaded machine its first write may come late).
      for (int i = 0; i < 40 || (written.load() == 0 && i < 1000000); ++i) {
        if (CountOf(s, sys_) != 10u || Keys(s, sys_) != keys ||
            CountOf(s, Actor::User(user_)) != 5u) {
          mismatches++;
        }
        reads++;
      }
    });
  }
  for (auto& t : readers) t.join();
  stop = true;
  writer.join();
  EXPECT_GT(written.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(CountOf(*db_, sys_), 10u + static_cast<uint64_t>(written.load()));
  EXPECT_EQ(CountOf(s, sys_), 10u);
}

}  // namespace
}  // namespace canopy
