// Copyright (c) Canopy authors.
//
// The change log: revisions (gap-free, none for refusals or no-ops),
// entries and their record changes, paging and filters, retention and
// "compacted", consistency tokens, following (WaitForChanges), the audit
// view, and applying entries to another database with every bad input
// refused and nothing applied.

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/transaction_log.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>

#include "canopy/db.h"
#include "engine/db_impl.h"
#include "query/permissions.h"
#include "storage/changes.h"
#include "storage/records.h"
#include "storage/keys.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::MakeUser;
using testing::OpenDb;
using testing::TempDir;

std::vector<ChangeEntry> ReadAll(Db* db, ChangesRequest req = ChangesRequest()) {
  std::vector<ChangeEntry> out;
  req.since = 1;
  for (;;) {
    ChangesPage page;
    Status s = db->ReadChanges(req, &page);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) break;
    for (auto& e : page.entries) out.push_back(std::move(e));
    if (page.next > page.revision) break;
    req.since = page.next;
  }
  return out;
}

class ChangeLogTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = OpenDb(dir_.Sub("db"), options_); }
  TempDir dir_;
  Options options_;
  std::unique_ptr<Db> db_;
};

TEST_F(ChangeLogTest, EveryChangeCommitsOneRevisionAndRefusalsNone) {
  EXPECT_EQ(db_->Revision(), 0u);
  AccountId t = MakeAccount(db_.get(), "t");
  EXPECT_EQ(db_->Revision(), 1u);
  EXPECT_EQ(db_->LastCommittedRevision(), 1u);
  AccountId a = MakeAccount(db_.get(), "a", t);
  MakeDevice(db_.get(), "d1", a, "U1");
  EXPECT_EQ(db_->Revision(), 3u);

  // Refusals: unknown parent, duplicate key, denied actor.
  testing::Dump before = DumpAll(db_.get());
  AccountSpec bad;
  bad.key = "x";
  bad.name = "x";
  bad.parent = 999;
  EXPECT_EQ(db_->CreateAccount(Actor::System(), bad).status().code(), Code::kNotFound);
  bad.key = "a";
  bad.parent = t;
  EXPECT_EQ(db_->CreateAccount(Actor::System(), bad).status().code(), Code::kAlreadyExists);
  UserId u = MakeUser(db_.get(), "u@x", a);
  before = DumpAll(db_.get());
  const EntityId d1 = db_->FindEntity(EntityKind::kDevice, "d1")->id;
  // u holds nothing: the device looks missing to it.
  EXPECT_EQ(db_->DeleteEntity(Actor::User(u), d1).code(), Code::kNotFound);
  EXPECT_TRUE(before == DumpAll(db_.get())) << testing::DescribeDiff(before, DumpAll(db_.get()));
  EXPECT_EQ(db_->Revision(), 4u);

  // A call that changes nothing commits nothing either.
  ASSERT_OK(db_->MoveAccount(Actor::System(), a, t));
  ASSERT_OK(db_->SetUserDisabled(Actor::System(), u, false));
  AccountPatch same_name;
  same_name.name = db_->GetAccount(a)->name;
  ASSERT_OK(db_->UpdateAccount(Actor::System(), a, same_name));
  EntityPatch same_entity;
  same_entity.name = db_->GetEntity(d1)->name;
  same_entity.unit_id = "U1";
  ASSERT_OK(db_->UpdateEntity(Actor::System(), d1, same_entity));
  UserPatch same_user;
  same_user.name = db_->GetUser(u)->name;
  ASSERT_OK(db_->UpdateUser(Actor::System(), u, same_user));
  std::vector<std::string> refs{"d1"};
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, refs, a,
                                  nullptr));
  EXPECT_EQ(db_->Revision(), 4u);
  EXPECT_EQ(db_->LastCommittedRevision(), 4u);

  std::vector<ChangeEntry> all = ReadAll(db_.get());
  ASSERT_EQ(all.size(), 4u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].revision, i + 1);
  EXPECT_EQ(all[0].operation, "account.create");
  EXPECT_EQ(all[0].actor, "system");
  EXPECT_EQ(all[2].operation, "entity.create");
  EXPECT_NE(all[2].arguments.find("\"key\":\"d1\""), std::string::npos) << all[2].arguments;
  bool entity_seen = false;
  for (const auto& c : all[2].changes) {
    if (c.type != "entity") continue;
    entity_seen = true;
    EXPECT_EQ(c.action, "created");
    EXPECT_TRUE(c.before.empty());
    EXPECT_NE(c.after.find("\"unit_id\":\"U1\""), std::string::npos) << c.after;
  }
  EXPECT_TRUE(entity_seen);
}

TEST_F(ChangeLogTest, RevisionsAreKeptAcrossAReopenAndPerThread) {
  AccountId t = MakeAccount(db_.get(), "t");
  MakeAccount(db_.get(), "a", t);
  std::atomic<uint64_t> other{0};
  std::thread th([&] {
    MakeAccount(db_.get(), "b", t);
    other = db_->LastCommittedRevision();
  });
  th.join();
  EXPECT_EQ(other.load(), 3u);
  EXPECT_EQ(db_->LastCommittedRevision(), 2u);  // this thread's own
  ASSERT_OK(db_->Close());
  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_EQ(db_->Revision(), 3u);
  MakeAccount(db_.get(), "c", t);
  EXPECT_EQ(db_->Revision(), 4u);
  std::vector<ChangeEntry> all = ReadAll(db_.get());
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].revision, 4u);
}

// A thread's token is per database: writing to another one keeps it, and
// a database opened later (maybe at the freed one's address) has its own.
TEST_F(ChangeLogTest, AThreadsTokenIsKeptPerDatabase) {
  AccountId t = MakeAccount(db_.get(), "t");
  MakeAccount(db_.get(), "a", t);
  ASSERT_EQ(db_->LastCommittedRevision(), 2u);
  auto other = OpenDb(dir_.Sub("other"));
  EXPECT_EQ(other->LastCommittedRevision(), 0u);
  MakeAccount(other.get(), "x");
  EXPECT_EQ(other->LastCommittedRevision(), 1u);
  EXPECT_EQ(db_->LastCommittedRevision(), 2u);  // not erased by the other's write
  MakeAccount(db_.get(), "b", t);
  EXPECT_EQ(db_->LastCommittedRevision(), 3u);
  EXPECT_EQ(other->LastCommittedRevision(), 1u);
  MakeAccount(other.get(), "y");  // the thread's last write: on the Db freed next
  EXPECT_EQ(other->LastCommittedRevision(), 2u);
  ASSERT_OK(other->Close());
  other.reset();
  for (int i = 0; i < 3; ++i) {  // a freed Db's address may come back: no token of its
    auto fresh = OpenDb(dir_.Sub("fresh" + std::to_string(i)));
    EXPECT_EQ(fresh->LastCommittedRevision(), 0u);
    ASSERT_OK(fresh->Close());
  }
  EXPECT_EQ(db_->LastCommittedRevision(), 3u);
}

// A thread keeps tokens for the 64 databases it wrote to last: writing to
// 63 others keeps the first one's, a 64th other pushes it out (0, as db.h
// says), and writing to it again brings it back.
TEST_F(ChangeLogTest, AThreadKeepsTokensForItsLast64Databases) {
  MakeAccount(db_.get(), "t");
  ASSERT_EQ(db_->LastCommittedRevision(), 1u);
  std::vector<std::unique_ptr<Db>> others;
  Options quick;
  quick.sync = false;  // 64 databases: no fsync per write
  for (int i = 0; i < 64; ++i) {
    others.push_back(OpenDb(dir_.Sub("o" + std::to_string(i)), quick));
    MakeAccount(others.back().get(), "x");
    EXPECT_EQ(db_->LastCommittedRevision(), i < 63 ? 1u : 0u) << "after " << i + 1 << " others";
  }
  for (int i = 0; i < 64; ++i) EXPECT_EQ(others[i]->LastCommittedRevision(), 1u) << i;
  MakeAccount(db_.get(), "u");
  EXPECT_EQ(db_->LastCommittedRevision(), 2u);
  EXPECT_EQ(others[0]->LastCommittedRevision(), 0u);  // now the 65th most recent
  EXPECT_EQ(others[63]->LastCommittedRevision(), 1u);
  // Another thread never wrote to any of them.
  uint64_t seen = 1;
  std::thread th([&] { seen = db_->LastCommittedRevision(); });
  th.join();
  EXPECT_EQ(seen, 0u);
  for (auto& o : others) ASSERT_OK(o->Close());
}

TEST_F(ChangeLogTest, PagesFiltersAndBadRequests) {
  AccountId t = MakeAccount(db_.get(), "t");
  AccountId a = MakeAccount(db_.get(), "a", t);
  AccountId b = MakeAccount(db_.get(), "b", t);
  for (int i = 0; i < 10; ++i) MakeDevice(db_.get(), "a" + std::to_string(i), a);
  for (int i = 0; i < 5; ++i) MakeDevice(db_.get(), "b" + std::to_string(i), b);
  // Pages of 4 cover every revision once.
  ChangesRequest req;
  req.limit = 4;
  uint64_t next = 1;
  size_t n = 0;
  for (req.since = 1; req.since <= db_->Revision();) {
    ChangesPage page;
    ASSERT_OK(db_->ReadChanges(req, &page));
    ASSERT_LE(page.entries.size(), 4u);
    for (const auto& e : page.entries) ASSERT_EQ(e.revision, next++);
    n += page.entries.size();
    req.since = page.next;
  }
  EXPECT_EQ(n, 18u);
  // Within b's subtree: b's creation and its 5 devices.
  ChangesRequest within;
  within.account = b;
  EXPECT_EQ(ReadAll(db_.get(), within).size(), 6u);
  // Only account changes: the three creations (a and b also change t's
  // record: its next child ordinal).
  ChangesRequest types;
  types.types = {"account"};
  std::vector<ChangeEntry> acc = ReadAll(db_.get(), types);
  ASSERT_EQ(acc.size(), 3u);
  std::vector<ChangeEntry> all_entries = ReadAll(db_.get(), ChangesRequest());
  for (const auto& e : acc) {
    for (const auto& c : e.changes) EXPECT_EQ(c.type, "account");
    // A filter hides nothing from the system viewer: the call's arguments
    // stay (as in the whole log), as they do within an account.
    EXPECT_FALSE(e.arguments.empty()) << e.revision;
    EXPECT_EQ(e.arguments, all_entries[e.revision - 1].arguments);
  }
  for (const auto& e : ReadAll(db_.get(), within)) EXPECT_FALSE(e.arguments.empty()) << e.revision;
  // Bad requests.
  ChangesPage page;
  ChangesRequest bad;
  bad.since = 0;
  EXPECT_EQ(db_->ReadChanges(bad, &page).code(), Code::kInvalidArgument);
  bad = ChangesRequest();
  bad.limit = 0;
  EXPECT_EQ(db_->ReadChanges(bad, &page).code(), Code::kInvalidArgument);
  bad = ChangesRequest();
  bad.types = {"spaceship"};
  Status unknown_type = db_->ReadChanges(bad, &page);
  EXPECT_EQ(unknown_type.code(), Code::kInvalidArgument);
  // The refusal names the type and the ones there are.
  EXPECT_NE(unknown_type.message().find("'spaceship'"), std::string::npos);
  EXPECT_NE(unknown_type.message().find("account, entity, user"), std::string::npos)
      << unknown_type.message();
  EXPECT_NE(unknown_type.message().find("group_members"), std::string::npos);
  bad = ChangesRequest();
  bad.account = 4242;
  EXPECT_EQ(db_->ReadChanges(bad, &page).code(), Code::kNotFound);
  bad = ChangesRequest();
  bad.min_revision = db_->Revision() + 1;
  EXPECT_EQ(db_->ReadChanges(bad, &page).code(), Code::kFailedPrecondition);
  EXPECT_EQ(db_->ReadChanges(ChangesRequest(), nullptr).code(), Code::kInvalidArgument);
  // At the head + 1 (a reader that has seen everything): an empty page
  // that says so.
  const uint64_t head = db_->Revision();
  ChangesRequest caught_up;
  caught_up.since = head + 1;
  ASSERT_OK(db_->ReadChanges(caught_up, &page));
  EXPECT_TRUE(page.entries.empty());
  EXPECT_EQ(page.revision, head);
  EXPECT_EQ(page.next, head + 1);
  std::vector<std::string> raw;
  ASSERT_OK(db_->ReadLogEntries(head + 1, 10, &raw));
  EXPECT_TRUE(raw.empty());
  // Past it: no revision of this database, refused (read as "nothing new"
  // it would skip what is committed up to it), naming the head.
  for (uint64_t since : {head + 2, head + 5, std::numeric_limits<uint64_t>::max()}) {
    bad = ChangesRequest();
    bad.since = since;
    Status s = db_->ReadChanges(bad, &page);
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("revision " + std::to_string(since) +
                               " is past this database's head (revision " +
                               std::to_string(head)),
              std::string::npos)
        << s.ToString();
    EXPECT_TRUE(page.entries.empty());
    s = db_->ReadLogEntries(since, 10, &raw);
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_TRUE(raw.empty());
  }
  EXPECT_EQ(db_->Revision(), head);
}

// A filter by an account that is deleted meanwhile: a reader behind the
// deletion reads the account's changes up to it, the deletion included
// (its devices leaving for the receiver), and nothing after; a reader past
// it is told when it was deleted. The same after a reopen (found in the
// log, not remembered), within a branch deleted at once, and in an audit
// view only where the viewer may audit.
TEST_F(ChangeLogTest, AFilterByADeletedAccountEndsWithItsDeletion) {
  AccountId t = MakeAccount(db_.get(), "t");
  AccountId a = MakeAccount(db_.get(), "a", t);
  AccountId a1 = MakeAccount(db_.get(), "a1", a);
  AccountId b = MakeAccount(db_.get(), "b", t);
  UserId root = MakeUser(db_.get(), "root@t", t);
  ASSERT_OK(db_->Invite(Actor::System(), root, t, query::kRoleAccountAdmin, true));
  UserId other = MakeUser(db_.get(), "admin@b", b);
  ASSERT_OK(db_->Invite(Actor::System(), other, b, query::kRoleAccountAdmin, true));
  MakeDevice(db_.get(), "da", a);
  MakeDevice(db_.get(), "da1", a1);
  MakeDevice(db_.get(), "db", b);
  // A follower of a1, caught up.
  ChangesRequest follow;
  follow.account = a1;
  follow.since = db_->Revision() + 1;
  ChangesPage page;
  ASSERT_OK(db_->ReadChanges(follow, &page));
  EXPECT_TRUE(page.entries.empty());
  // The branch goes at once; things of a's go on after.
  std::vector<AccountId> branch{a1, a};
  ASSERT_OK(db_->DeleteAccounts(Actor::System(), Span<AccountId>(branch), b));
  const uint64_t deleted_at = db_->Revision();
  MakeDevice(db_.get(), "db2", b);
  MakeAccount(db_.get(), "c", t);
  const uint64_t head = db_->Revision();
  // Also checks that a page says it ended exactly when it holds the
  // filter's deleted account's deletion (the read after it is refused).
  auto read_to_the_end = [&](Db* db, ChangesRequest req, std::vector<ChangeEntry>* seen) {
    bool ended = false;
    for (int pages = 0; pages < 100; ++pages) {
      ChangesPage p;
      Status s = db->ReadChanges(req, &p);
      EXPECT_TRUE(s.ok() || ended) << "a page before the end said: " << s.ToString();
      if (!s.ok()) return s;
      EXPECT_FALSE(ended) << "read on past a page that ended, at " << req.since;
      EXPECT_EQ(p.revision, db->Revision());
      const bool holds_deletion = !p.entries.empty() && p.entries.back().revision == deleted_at &&
                                  req.account != kNoId;
      EXPECT_EQ(p.ended, holds_deletion) << "page from " << req.since;
      ended = p.ended;
      for (auto& e : p.entries) seen->push_back(std::move(e));
      req.since = p.next;
      if (p.next > p.revision && !p.ended) return Status::Ok();
    }
    return Status::Internal("no end");
  };
  auto deleted_message = [&](AccountId id) {
    return "the account with id " + std::to_string(id) + " was deleted at revision " +
           std::to_string(deleted_at) + "; a reader past it has nothing more to read of it";
  };
  std::vector<ChangeEntry> seen;
  Status s = read_to_the_end(db_.get(), follow, &seen);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_EQ(s.message(), deleted_message(a1));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].revision, deleted_at);
  EXPECT_EQ(seen[0].operation, "account.delete");
  bool account_deleted = false, device_left = false;
  for (const auto& c : seen[0].changes) {
    if (c.type == "account" && c.action == "deleted") {
      account_deleted = true;
      EXPECT_EQ(c.id, std::to_string(a1));  // a's own deletion is outside a1
    }
    if (c.type == "entity") {
      device_left = true;
      EXPECT_NE(c.before.find("\"key\":\"da1\""), std::string::npos) << c.before;
      EXPECT_TRUE(c.after.empty()) << "b's side is outside a1: " << c.after;
    }
  }
  EXPECT_TRUE(account_deleted);
  EXPECT_TRUE(device_left);
  // Filtered by type too: the account's own deletion is listed all the
  // same (its watcher learns that the log ended), and nothing else of
  // another type.
  ChangesRequest entities_only = follow;
  entities_only.types = {"entity"};
  seen.clear();
  s = read_to_the_end(db_.get(), entities_only, &seen);
  EXPECT_EQ(s.message(), deleted_message(a1));
  ASSERT_EQ(seen.size(), 1u);
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const auto& c : seen[0].changes) kinds.emplace_back(c.type, c.action);
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::pair<std::string, std::string>>{{"account", "deleted"},
                                                                      {"entity", "changed"}}));
  // From the start, after a reopen, filtered by a: a's whole life, ending
  // at its deletion.
  ASSERT_OK(db_->Close());
  db_ = OpenDb(dir_.Sub("db"), options_);
  for (const Actor& viewer : {Actor::System(), Actor::User(root)}) {
    ChangesRequest life{viewer};
    life.account = a;
    life.since = 1;
    life.limit = 2;  // several pages, the deletion found for each
    seen.clear();
    s = read_to_the_end(db_.get(), life, &seen);
    EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
    EXPECT_EQ(s.message(), deleted_message(a));
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().revision, deleted_at);
    std::vector<std::string> operations;
    for (const auto& e : seen) operations.push_back(e.operation);
    EXPECT_EQ(operations, (std::vector<std::string>{"account.create", "account.create",
                                                    "entity.create", "entity.create",
                                                    "account.delete"}));
    for (const auto& e : seen) {
      for (const auto& c : e.changes) {
        EXPECT_EQ(c.before.find("\"key\":\"db"), std::string::npos) << "b's device leaked";
        EXPECT_EQ(c.after.find("\"key\":\"db"), std::string::npos) << "b's device leaked";
      }
    }
  }
  // Not there yet is said before any look-up of the account.
  ChangesRequest ahead;
  ahead.account = a;
  ahead.min_revision = head + 1;
  s = db_->ReadChanges(ahead, &page);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  ahead.account = 999999;
  s = db_->ReadChanges(ahead, &page);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  // An audit viewer outside a's place, and a user who may audit nothing:
  // as unknown as an account never made.
  UserId nobody = MakeUser(db_.get(), "nobody@t", t);
  for (UserId who : {other, nobody}) {
    ChangesRequest outside{Actor::User(who)};
    outside.account = a;
    outside.since = 1;
    s = db_->ReadChanges(outside, &page);
    EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
    EXPECT_EQ(s.message(), "no account with id " + std::to_string(a));
  }
  // A cursor past the deletion, before anything remembered it: the deletion
  // is not in what it reads, so only that the account is gone.
  ASSERT_OK(db_->Close());
  db_ = OpenDb(dir_.Sub("db"), options_);
  ChangesRequest late;
  late.account = a;
  late.since = deleted_at + 1;
  s = db_->ReadChanges(late, &page);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_EQ(s.message(), "no account with id " + std::to_string(a));
  // Asked again (a reader polling past the deletion), the same answer, from
  // the revisions looked through before and the ones since.
  MakeDevice(db_.get(), "db3", b);
  s = db_->ReadChanges(late, &page);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  late.since = 1;  // from before the deletion: found, the range before notwithstanding
  ASSERT_OK(db_->ReadChanges(late, &page));
  EXPECT_EQ(page.entries.back().revision, deleted_at);
  late.since = deleted_at + 1;
  s = db_->ReadChanges(late, &page);
  EXPECT_EQ(s.message(), deleted_message(a));
}

// A cursor taken from a database that was then restored from an older
// copy is past the restored head: refused, not an empty page that would
// hide the revisions committed after the restore up to the cursor.
TEST_F(ChangeLogTest, ACursorFromBeforeARestoreIsRefused) {
  AccountId t = MakeAccount(db_.get(), "t");
  auto copy = db_->Checkpoint(dir_.Sub("backup"));
  ASSERT_OK(copy.status());
  for (int i = 0; i < 5; ++i) MakeDevice(db_.get(), "d" + std::to_string(i), t);
  const uint64_t cursor = db_->Revision() + 1;
  ASSERT_OK(db_->Close());
  db_.reset();
  auto restored = OpenDb(dir_.Sub("backup"));
  ASSERT_EQ(restored->Revision(), *copy);
  ChangesRequest req;
  req.since = cursor;
  ChangesPage page;
  Status s = restored->ReadChanges(req, &page);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("restored"), std::string::npos) << s.ToString();
  // From its own head + 1 it reads on, and sees the next write.
  req.since = *copy + 1;
  ASSERT_OK(restored->ReadChanges(req, &page));
  EXPECT_TRUE(page.entries.empty());
  MakeDevice(restored.get(), "after", t);
  ASSERT_OK(restored->ReadChanges(req, &page));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].revision, *copy + 1);
}

TEST_F(ChangeLogTest, RetentionByCountTrimsAndSaysCompacted) {
  ASSERT_OK(db_->Close());
  Options o;
  o.log_retention_count = 10;
  db_ = OpenDb(dir_.Sub("db2"), o);
  AccountId t = MakeAccount(db_.get(), "t");
  for (int i = 0; i < 40; ++i) MakeDevice(db_.get(), "d" + std::to_string(i), t);
  ChangesRequest req;
  req.since = 1;
  ChangesPage page;
  Status s = db_->ReadChanges(req, &page);
  ASSERT_EQ(s.code(), Code::kCompacted) << s.ToString();
  // The message names the oldest revision kept; reading from it works.
  const std::string msg = s.message();
  const size_t at = msg.rfind(' ');
  const uint64_t oldest = std::stoull(msg.substr(at + 1));
  EXPECT_GE(oldest, 41u - 10 - 10 / 16 - 1);
  EXPECT_LE(oldest, 41u - 10 + 1);
  req.since = oldest;
  ASSERT_OK(db_->ReadChanges(req, &page));
  EXPECT_EQ(page.entries.front().revision, oldest);
  EXPECT_EQ(page.entries.back().revision, 41u);
  std::vector<std::string> raw;
  EXPECT_EQ(db_->ReadLogEntries(1, 10, &raw).code(), Code::kCompacted);
  std::vector<std::string> problems;
  EXPECT_OK(db_->CheckIntegrity(&problems));
  for (const auto& p : problems) ADD_FAILURE() << p;
  // Retention survives a reopen.
  ASSERT_OK(db_->Close());
  db_ = OpenDb(dir_.Sub("db2"), o);
  EXPECT_EQ(db_->ReadChanges(ChangesRequest(), &page).code(), Code::kCompacted);
}

TEST_F(ChangeLogTest, RetentionByAge) {
  ASSERT_OK(db_->Close());
  Options o;
  o.log_retention_seconds = 1;
  o.log_retention_count = 0;
  db_ = OpenDb(dir_.Sub("db3"), o);
  AccountId t = MakeAccount(db_.get(), "t");
  for (int i = 0; i < 5; ++i) MakeDevice(db_.get(), "d" + std::to_string(i), t);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  MakeDevice(db_.get(), "late", t);
  ChangesPage page;
  EXPECT_EQ(db_->ReadChanges(ChangesRequest(), &page).code(), Code::kCompacted);
  ChangesRequest req;
  req.since = 7;
  ASSERT_OK(db_->ReadChanges(req, &page));
  ASSERT_EQ(page.entries.size(), 1u);
}

TEST_F(ChangeLogTest, ConsistencyTokens) {
  AccountId t = MakeAccount(db_.get(), "t");
  MakeDevice(db_.get(), "d", t);
  const uint64_t token = db_->LastCommittedRevision();
  VisibleRequest vr{Actor::System()};
  vr.min_revision = token;
  VisiblePage page;
  ASSERT_OK(db_->Visible(vr, &page));
  EXPECT_EQ(page.revision, token);
  ASSERT_EQ(page.items.size(), 1u);
  vr.min_revision = token + 1;
  Status s = db_->Visible(vr, &page);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("revision"), std::string::npos) << s.ToString();
  EXPECT_EQ(db_->Count(vr).status().code(), Code::kFailedPrecondition);
  TableRequest tr{Actor::System()};
  tr.min_revision = token + 1;
  TablePage tp;
  EXPECT_EQ(db_->AccountsTable(tr, &tp).code(), Code::kFailedPrecondition);
  tr.min_revision = token;
  ASSERT_OK(db_->AccountsTable(tr, &tp));
  EXPECT_EQ(tp.revision, token);
  WhoCanRequest wr;
  wr.permission = "device.read";
  wr.entity_key = "d";
  wr.min_revision = token + 1;
  WhoCanPage wp;
  EXPECT_EQ(db_->WhoCan(wr, &wp).code(), Code::kFailedPrecondition);
  // A live cursor keeps the revision of its first page.
  for (int i = 0; i < 5; ++i) MakeDevice(db_.get(), "e" + std::to_string(i), t);
  vr.min_revision = 0;
  vr.limit = 2;
  ASSERT_OK(db_->Visible(vr, &page));
  const uint64_t first = page.revision;
  MakeDevice(db_.get(), "late", t);
  vr.cursor = page.next_cursor;
  ASSERT_OK(db_->Visible(vr, &page));
  EXPECT_EQ(page.revision, first);
}

TEST_F(ChangeLogTest, WaitForChangesWakesOnACommit) {
  AccountId t = MakeAccount(db_.get(), "t");
  const uint64_t at = db_->Revision();
  auto timed_out = db_->WaitForChanges(at, 20);
  ASSERT_OK(timed_out);
  EXPECT_EQ(*timed_out, at);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    MakeDevice(db_.get(), "d", t);
  });
  auto woke = db_->WaitForChanges(at, 10000);
  writer.join();
  ASSERT_OK(woke);
  EXPECT_EQ(*woke, at + 1);
}

// Follow mode under load: two writer threads commit while a follower
// thread reads and waits; it receives every revision exactly once, in
// order, and each page's revision never goes back.
TEST_F(ChangeLogTest, AFollowerSeesEveryRevisionOnceWhileWritersCommit) {
  AccountId t = MakeAccount(db_.get(), "t");
  constexpr int kPerWriter = 300;
  std::atomic<int> writers_done{0};
  auto writer = [&](int w) {
    for (int i = 0; i < kPerWriter; ++i) {
      EntitySpec spec;
      spec.key = "w" + std::to_string(w) + "-" + std::to_string(i);
      spec.name = spec.key;
      spec.owner = t;
      EXPECT_OK(db_->CreateEntity(Actor::System(), spec));
    }
    writers_done++;
  };
  std::vector<uint64_t> seen;
  std::thread follower([&] {
    ChangesRequest req;
    req.limit = 7;
    uint64_t last_page_revision = 0;
    for (;;) {
      ChangesPage page;
      Status s = db_->ReadChanges(req, &page);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_GE(page.revision, last_page_revision);
      last_page_revision = page.revision;
      for (const auto& e : page.entries) seen.push_back(e.revision);
      req.since = page.next;
      if (page.next > page.revision) {
        if (writers_done.load() == 2 && db_->Revision() < req.since) break;
        auto r = db_->WaitForChanges(page.revision, 50);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
      }
    }
  });
  std::thread w1(writer, 1), w2(writer, 2);
  w1.join();
  w2.join();
  follower.join();
  ASSERT_EQ(seen.size(), 1u + 2 * kPerWriter);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
}

// Close wakes a thread waiting for changes and waits for it to return.
TEST_F(ChangeLogTest, CloseWakesAWaiter) {
  MakeAccount(db_.get(), "t");
  std::atomic<bool> started{false}, returned{false};
  std::atomic<pid_t> tid{0};
  const uint64_t at = db_->Revision();
  std::thread waiter([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    started = true;
    // No timeout to speak of: a Close that failed to wake it would hang
    // (and ctest's timeout would say so), not pass when the wait ran out.
    auto r = db_->WaitForChanges(at, UINT32_MAX);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    returned = true;
  });
  // A waiter that came only after Close began would be refused: Close
  // once the waiter sleeps (its thread's state in /proc is S), however
  // slowly a loaded machine gets it there.
  while (!started.load()) std::this_thread::yield();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool asleep = false;
  std::string state;
  while (!asleep && std::chrono::steady_clock::now() < deadline) {
    std::ifstream stat("/proc/self/task/" + std::to_string(tid.load()) + "/stat");
    std::getline(stat, state);
    const size_t paren = state.rfind(')');
    asleep = paren != std::string::npos && paren + 2 < state.size() && state[paren + 2] == 'S';
    if (!asleep) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(asleep) << "the waiter never slept: " << state;
  ASSERT_OK(db_->Close());  // returns once the waiter has been woken and left
  waiter.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(db_->WaitForChanges(0, 10).status().code(), Code::kFailedPrecondition);
}

// An admin of an account without branch access sees nothing of what
// happens to the sub-accounts it cannot see: their creation, move and
// delete change only the parent's own bookkeeping, which its audit view
// does not list.
TEST_F(ChangeLogTest, AuditTellsNothingOfSubAccountsOutOfSight) {
  AccountId t = MakeAccount(db_.get(), "t");
  AccountId p = MakeAccount(db_.get(), "p", t);
  AccountId q = MakeAccount(db_.get(), "q", t);
  UserId admin = MakeUser(db_.get(), "admin@p", p);
  ASSERT_OK(db_->Invite(Actor::System(), admin, p, query::kRoleAccountAdmin, false));
  const ChangesRequest audit{Actor::User(admin)};
  const size_t before = ReadAll(db_.get(), audit).size();
  AccountId hidden = MakeAccount(db_.get(), "hidden", p);
  ASSERT_OK(db_->MoveAccount(Actor::System(), hidden, q));
  ASSERT_OK(db_->MoveAccount(Actor::System(), hidden, p));
  ASSERT_OK(db_->DeleteAccount(Actor::System(), hidden, kNoId));
  for (bool values : {true, false}) {
    ChangesRequest r = audit;
    r.values = values;
    const auto seen = ReadAll(db_.get(), r);
    EXPECT_EQ(seen.size(), before) << "values " << values;
    for (const auto& e : seen) {
      for (const auto& c : e.changes) {
        EXPECT_EQ(c.after.find("hidden"), std::string::npos) << c.after;
        EXPECT_NE(c.id, std::to_string(hidden.value()));
      }
    }
  }
  // A change it sees is still listed.
  AccountPatch rename;
  rename.name = "P2";
  ASSERT_OK(db_->UpdateAccount(Actor::System(), p, rename));
  EXPECT_EQ(ReadAll(db_.get(), audit).size(), before + 1);
}

TEST_F(ChangeLogTest, AuditShowsANestedAdminOnlyItsReach) {
  AccountId t1 = MakeAccount(db_.get(), "t1");
  AccountId t2 = MakeAccount(db_.get(), "t2");
  AccountId a = MakeAccount(db_.get(), "a", t1);
  AccountId b = MakeAccount(db_.get(), "b", t1);
  UserId admin = MakeUser(db_.get(), "admin@a", a);
  ASSERT_OK(db_->Invite(Actor::System(), admin, a, query::kRoleAccountAdmin, true));
  UserId viewer = MakeUser(db_.get(), "viewer@a", a);
  ASSERT_OK(db_->Invite(Actor::System(), viewer, a, query::kRoleViewer, true));
  UserId root = MakeUser(db_.get(), "root@t1", t1);
  ASSERT_OK(db_->Invite(Actor::System(), root, t1, query::kRoleAccountAdmin, true));
  MakeDevice(db_.get(), "da", a);
  MakeDevice(db_.get(), "db", b);
  MakeDevice(db_.get(), "dt2", t2);
  // The tenant admin moves a device from b into a: the nested admin sees
  // the entry, with the "after" side only.
  std::vector<std::string> refs{"db"};
  ASSERT_OK(db_->ReassignEntities(Actor::User(root), EntityKind::kDevice, EntityRef::kKey, refs,
                                  a, nullptr));
  ChangesRequest audit{Actor::User(admin)};
  std::vector<ChangeEntry> seen = ReadAll(db_.get(), audit);
  ASSERT_FALSE(seen.empty());
  bool saw_reassign = false;
  for (const auto& e : seen) {
    for (const auto& c : e.changes) {
      for (const std::string* side : {&c.before, &c.after}) {
        EXPECT_EQ(side->find("dt2"), std::string::npos) << "another tenant's device leaked";
        EXPECT_EQ(side->find("\"key\":\"b\""), std::string::npos) << "sibling account leaked";
        EXPECT_EQ(side->find("\"key\":\"t1\""), std::string::npos) << "parent account leaked";
      }
    }
    if (e.operation == "entity.reassign") {
      saw_reassign = true;
      ASSERT_EQ(e.changes.size(), 1u);
      EXPECT_TRUE(e.changes[0].before.empty()) << "the source side lies outside the reach";
      EXPECT_NE(e.changes[0].after.find("\"key\":\"db\""), std::string::npos);
      EXPECT_TRUE(e.arguments.empty()) << "arguments name what is hidden: " << e.arguments;
      EXPECT_EQ(e.actor, "") << "the tenant admin lives above the viewer's reach";
    }
  }
  EXPECT_TRUE(saw_reassign);
  // A creation inside the reach keeps its arguments (the id counter it
  // advances belongs to no account and does not hide them); one outside is
  // not listed at all.
  EntitySpec da2;
  da2.key = "da2";
  da2.name = "Da2";
  da2.owner = a;
  auto created_entity = db_->CreateEntity(Actor::User(admin), da2);
  ASSERT_OK(created_entity.status());
  AccountSpec sub;
  sub.key = "a-sub";
  sub.name = "A sub";
  sub.parent = a;
  auto created_account = db_->CreateAccount(Actor::User(admin), sub);
  ASSERT_OK(created_account.status());
  std::map<std::string, std::string> args_of;
  for (const auto& e : ReadAll(db_.get(), audit)) {
    if (e.operation == "entity.create" || e.operation == "account.create") {
      EXPECT_EQ(e.arguments.find("\"key\":\"db\""), std::string::npos) << e.arguments;
      EXPECT_EQ(e.arguments.find("\"key\":\"b\""), std::string::npos) << e.arguments;
      for (const auto& c : e.changes) {
        if (!c.after.empty() && c.before.empty()) args_of[c.after] = e.arguments;
      }
    }
  }
  size_t creations_with_arguments = 0;
  for (const auto& [after, arguments] : args_of) {
    for (const char* key : {"\"key\":\"da2\"", "\"key\":\"a-sub\"", "\"key\":\"da\""}) {
      if (after.find(key) != std::string::npos) {
        EXPECT_NE(arguments.find(key), std::string::npos) << after << " created with " << arguments;
        ++creations_with_arguments;
      }
    }
  }
  EXPECT_EQ(creations_with_arguments, 3u);
  // The creation of the top of the reach changed its parent's bookkeeping
  // too, which lies outside the reach (not listed): its arguments are empty.
  bool saw_top = false;
  for (const auto& e : ReadAll(db_.get(), audit)) {
    if (e.operation != "account.create") continue;
    for (const auto& c : e.changes) {
      if (c.before.empty() && c.after.find("\"key\":\"a\"") != std::string::npos) {
        saw_top = true;
        EXPECT_EQ(e.changes.size(), 1u) << "the parent's bookkeeping is not listed";
        EXPECT_TRUE(e.arguments.empty()) << e.arguments;
      }
    }
  }
  EXPECT_TRUE(saw_top);
  // The tenant admin sees both sides and its own name.
  ChangesRequest top{Actor::User(root)};
  for (const auto& e : ReadAll(db_.get(), top)) {
    if (e.operation != "entity.reassign") continue;
    ASSERT_EQ(e.changes.size(), 1u);
    EXPECT_FALSE(e.changes[0].before.empty());
    EXPECT_EQ(e.actor, "root@t1");
  }
  // Without audit.read anywhere: refused.
  ChangesPage page;
  Status s = db_->ReadChanges(ChangesRequest{Actor::User(viewer)}, &page);
  EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
  EXPECT_EQ(s.message(), "permission audit.read missing: user 'viewer@a' holds it on no account");
  // A filter by an account out of the viewer's sight is worded exactly as a
  // filter by one that does not exist, with or without audit.read.
  for (UserId who : {admin, viewer}) {
    for (AccountId hidden : {t2, t1, b}) {
      ChangesRequest outside{Actor::User(who)};
      outside.account = hidden;
      s = db_->ReadChanges(outside, &page);
      EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
      EXPECT_EQ(s.message(), "no account with id " + std::to_string(hidden));
    }
    ChangesRequest missing{Actor::User(who)};
    missing.account = 999999;
    s = db_->ReadChanges(missing, &page);
    EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
    EXPECT_EQ(s.message(), "no account with id 999999");
  }
  // A filter by an account it sees but may not audit names it.
  UserId mixed = MakeUser(db_.get(), "mixed@t1", t1);
  ASSERT_OK(db_->Invite(Actor::System(), mixed, a, query::kRoleAccountAdmin, false));
  ASSERT_OK(db_->Invite(Actor::System(), mixed, b, query::kRoleViewer, false));
  ChangesRequest unaudited{Actor::User(mixed)};
  unaudited.account = b;
  s = db_->ReadChanges(unaudited, &page);
  EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
  EXPECT_EQ(s.message(), "permission audit.read missing on account 'b'");
  unaudited.account = a;
  EXPECT_OK(db_->ReadChanges(unaudited, &page));
  ChangesRequest unknown{Actor::User(424242)};
  EXPECT_EQ(db_->ReadChanges(unknown, &page).code(), Code::kNotFound);
}

class ApplyTest : public ChangeLogTest {
 protected:
  void SetUp() override {
    ChangeLogTest::SetUp();
    follower_ = OpenDb(dir_.Sub("follower"));
    AccountId t = MakeAccount(db_.get(), "t");
    AccountId a = MakeAccount(db_.get(), "a", t);
    for (int i = 0; i < 5; ++i) MakeDevice(db_.get(), "d" + std::to_string(i), a);
    ASSERT_OK(db_->ReadLogEntries(1, 1000, &entries_));
    ASSERT_EQ(entries_.size(), 7u);
  }
  void ExpectFollowerUnchanged(const testing::Dump& before) {
    testing::Dump now = DumpAll(follower_.get());
    EXPECT_TRUE(before == now) << testing::DescribeDiff(before, now);
  }
  std::unique_ptr<Db> follower_;
  std::vector<std::string> entries_;
};

TEST_F(ApplyTest, AppliesInOrderAndSkipsRepeats) {
  ApplyReport r;
  ASSERT_OK(follower_->ApplyChanges({entries_.begin(), entries_.begin() + 3}, &r));
  EXPECT_EQ(r.applied, 3u);
  EXPECT_EQ(r.revision, 3u);
  ASSERT_OK(follower_->ApplyChanges(entries_, &r));  // 1..3 again, then 4..7
  EXPECT_EQ(r.skipped, 3u);
  EXPECT_EQ(r.applied, 4u);
  EXPECT_EQ(follower_->Revision(), 7u);
  // Nothing to apply still reports the revision afterwards.
  ASSERT_OK(follower_->ApplyChanges({}, &r));
  EXPECT_EQ(r.applied + r.skipped, 0u);
  EXPECT_EQ(r.revision, 7u);
  EXPECT_EQ(follower_->LogId(), db_->LogId());
  auto d = follower_->FindEntity(EntityKind::kDevice, "d4");
  ASSERT_OK(d);
  // The follower is a full database: its own log matches the source's.
  std::vector<std::string> again;
  ASSERT_OK(follower_->ReadLogEntries(1, 1000, &again));
  EXPECT_EQ(again, entries_);
  // And it survives a reopen at the same revision.
  ASSERT_OK(follower_->Close());
  follower_ = OpenDb(dir_.Sub("follower"));
  EXPECT_EQ(follower_->Revision(), 7u);
}

TEST_F(ApplyTest, RefusesGapsForeignEntriesAndDamage) {
  testing::Dump empty = DumpAll(follower_.get());
  // A gap: revision 2 first.
  Status s = follower_->ApplyChanges({entries_[1]}, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("gap"), std::string::npos) << s.ToString();
  ExpectFollowerUnchanged(empty);
  // Damage: a flipped byte, a truncated entry, garbage, an empty string.
  for (size_t at : {size_t{10}, entries_[0].size() / 2, entries_[0].size() - 1}) {
    std::string bad = entries_[0];
    bad[at] ^= 0x20;
    s = follower_->ApplyChanges({bad}, nullptr);
    EXPECT_TRUE(s.code() == Code::kCorruption) << at << ": " << s.ToString();
  }
  for (std::string bad : {entries_[0].substr(0, entries_[0].size() / 2), std::string("junk"),
                          std::string(), std::string(64, '\xff')}) {
    s = follower_->ApplyChanges({bad}, nullptr);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  }
  ExpectFollowerUnchanged(empty);
  // A whole batch stops at the first bad entry; the ones before it stay.
  std::string bad = entries_[2];
  bad[bad.size() - 3] ^= 1;
  ApplyReport r;
  s = follower_->ApplyChanges({entries_[0], entries_[1], bad, entries_[3]}, &r);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(r.applied, 2u);
  EXPECT_EQ(follower_->Revision(), 2u);
  // Entries of another database (another lineage) are refused.
  TempDir other_dir;
  auto other = OpenDb(other_dir.Sub("db"));
  MakeAccount(other.get(), "o1");
  MakeAccount(other.get(), "o2");
  MakeAccount(other.get(), "o3");
  std::vector<std::string> foreign;
  ASSERT_OK(other->ReadLogEntries(3, 10, &foreign));
  testing::Dump at2 = DumpAll(follower_.get());
  s = follower_->ApplyChanges(foreign, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("another database"), std::string::npos) << s.ToString();
  ExpectFollowerUnchanged(at2);
  // A repeat that differs from what was applied: the databases diverged.
  std::vector<std::string> other_first;
  ASSERT_OK(other->ReadLogEntries(1, 1, &other_first));
  s = follower_->ApplyChanges(other_first, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  ExpectFollowerUnchanged(at2);
  // A database with its own history cannot follow another one.
  s = other->ApplyChanges({entries_[0]}, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
}

TEST_F(ApplyTest, ImportsAndMovesReplay) {
  // A move of a subtree with devices and an import, replayed.
  AccountId t = db_->FindAccount("t")->id;
  AccountId a = db_->FindAccount("a")->id;
  AccountId b = MakeAccount(db_.get(), "b", t);
  ASSERT_OK(db_->MoveAccount(Actor::System(), a, b));
  const std::string file = dir_.Sub("in.jsonl");
  {
    std::ofstream out(file);
    out << "{\"type\":\"account\",\"key\":\"imp\",\"name\":\"Imported\",\"parent\":\"b\"}\n"
        << "{\"type\":\"user\",\"login\":\"i@x\",\"name\":\"I\",\"account\":\"imp\"}\n"
        << "{\"type\":\"membership\",\"login\":\"i@x\",\"account\":\"imp\",\"role\":\"viewer\"}\n"
        << "{\"type\":\"device\",\"key\":\"idev\",\"name\":\"D\",\"account\":\"imp\"}\n";
  }
  ImportReport rep;
  ASSERT_OK(db_->Import(Actor::System(), file, ImportOptions(), &rep));
  std::vector<std::string> all;
  ASSERT_OK(db_->ReadLogEntries(1, 1000, &all));
  ASSERT_OK(follower_->ApplyChanges(all, nullptr));
  testing::Dump want = testing::DumpReplicated(db_.get());
  testing::Dump got = testing::DumpReplicated(follower_.get());
  EXPECT_TRUE(want == got) << testing::DescribeDiff(want, got);
  std::vector<std::string> problems;
  EXPECT_OK(follower_->CheckIntegrity(&problems));
  for (const auto& p : problems) ADD_FAILURE() << p;
  // The import's entry names it and carries its counts.
  ChangesRequest req;
  req.since = db_->Revision();
  ChangesPage page;
  ASSERT_OK(db_->ReadChanges(req, &page));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].operation, "import");
  EXPECT_NE(page.entries[0].arguments.find("\"entities\":1,\"groups\":0,\"group_members\":0,"
                                           "\"group_grants\":0"),
            std::string::npos)
      << page.entries[0].arguments;
  // It lists no record changes, so every filter of the system view keeps
  // it (a filtered watcher learns that records may have come); a user's
  // audit view does not list imports.
  for (int filter = 0; filter < 3; ++filter) {
    ChangesRequest f = req;
    if (filter == 0) f.types = {"entity"};
    if (filter == 1) f.types = {"group_member"};
    if (filter == 2) f.account = t;
    ChangesPage filtered;
    ASSERT_OK(db_->ReadChanges(f, &filtered));
    ASSERT_EQ(filtered.entries.size(), 1u) << filter;
    EXPECT_EQ(filtered.entries[0].operation, "import");
    EXPECT_EQ(filtered.entries[0].arguments, page.entries[0].arguments);
  }
}

// An import larger than one log chunk (4 MiB): its input streams to its
// own file, in several chunks; the follower replays it to the same keys.
TEST_F(ApplyTest, ABigImportReplays) {
  const std::string file = dir_.Sub("big.jsonl");
  {
    std::ofstream out(file);
    const std::string pad(120, 'x');
    for (int i = 0; i < 50000; ++i) {
      out << "{\"type\":\"device\",\"key\":\"big-" << i << "\",\"name\":\"" << pad
          << "\",\"account\":\"a\",\"unit_id\":\"BU-" << i << "\"}\n";
    }
  }
  ASSERT_GT(std::filesystem::file_size(file), size_t{9} << 20);
  ASSERT_OK(db_->Import(Actor::System(), file, ImportOptions(), nullptr));
  std::vector<std::string> all;
  ASSERT_OK(db_->ReadLogEntries(1, 1000, &all));
  ASSERT_OK(follower_->ApplyChanges(all, nullptr));
  testing::Dump want = testing::DumpReplicated(db_.get());
  testing::Dump got = testing::DumpReplicated(follower_.get());
  size_t chunks = 0;
  for (const auto& [k, v] : want) {
    chunks += k.rfind("changes/", 0) == 0 && k.size() == std::string("changes/").size() + 12;
  }
  EXPECT_GE(chunks, 3u);
  EXPECT_TRUE(want == got) << testing::DescribeDiff(want, got);
  std::vector<std::string> problems;
  EXPECT_OK(follower_->CheckIntegrity(&problems));
  for (const auto& p : problems) ADD_FAILURE() << p;
  // A damaged chunk is caught by the leader's integrity check and refused
  // by a new follower.
  auto* impl = static_cast<engine::DbImpl*>(db_.get());
  const uint64_t rev = db_->Revision();
  rocksdb::WriteOptions wo;
  ASSERT_TRUE(impl->store()
                  ->db()
                  ->Put(wo, impl->store()->cf(storage::kChanges), storage::LogChunkKey(rev, 1),
                        "truncated")
                  .ok());
  // Readers read the published state: reopen to read what was written
  // behind the engine's back.
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"), options_);
  problems.clear();
  EXPECT_EQ(db_->CheckIntegrity(&problems).code(), Code::kCorruption);
  ASSERT_OK(db_->ReadLogEntries(1, 1000, &all));
  TempDir other;
  auto fresh = OpenDb(other.Sub("f"));
  Status s = fresh->ApplyChanges(all, nullptr);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_EQ(fresh->Revision(), rev - 1);
  // A page of changes passes over the import's input (it seeks past its
  // chunks, never reading them) to the entries after it.
  MakeDevice(db_.get(), "after-import", db_->FindAccount("a")->id);
  ChangesRequest req;
  req.since = rev;
  req.limit = 2;
  ChangesPage page;
  ASSERT_OK(db_->ReadChanges(req, &page));
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[0].operation, "import");
  EXPECT_EQ(page.entries[1].revision, rev + 1);
  EXPECT_EQ(page.entries[1].operation, "entity.create");
  req.values = false;
  ASSERT_OK(db_->ReadChanges(req, &page));
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[1].revision, rev + 1);
}

// A call too large for one change-log entry is refused, naming its size,
// and changes nothing: a reassign as soon as the entities it has judged
// pass the bound (before it reads the rest), an account delete and a group
// add once their records do. A call that fits goes through.
TEST_F(ChangeLogTest, ACallTooLargeForOneEntryIsRefusedEarlyAndChangesNothing) {
  const AccountId a = MakeAccount(db_.get(), "a");
  const AccountId b = MakeAccount(db_.get(), "b");
  const int n = 3000;
  {
    std::ofstream out(dir_.Sub("devices.jsonl"));
    const std::string pad(200, 'x');
    for (int i = 0; i < n; ++i) {
      out << "{\"type\":\"device\",\"key\":\"dev-" << i
          << "\",\"name\":\"Device\",\"account\":\"a\",\"attributes\":{\"pad\":\"" << pad
          << "\"}}\n";
    }
  }
  ASSERT_OK(db_->Import(Actor::System(), dir_.Sub("devices.jsonl"), ImportOptions(), nullptr));
  auto* impl = static_cast<engine::DbImpl*>(db_.get());
  impl->SetMaxCallBytesForTesting(512 << 10);
  const testing::Dump before = DumpAll(db_.get());
  const uint64_t rev = db_->Revision();
  auto refused = [&](const Status& s, const std::string& operation) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.message().rfind(operation + " would change ", 0), 0u) << s.ToString();
    EXPECT_NE(s.message().find(" or more records at once, at least "), std::string::npos)
        << s.ToString();
    EXPECT_NE(s.message().find("; one call may write at most 512 KiB: split it into smaller "
                               "calls (nothing was changed)"),
              std::string::npos)
        << s.ToString();
    EXPECT_EQ(db_->Revision(), rev);
    EXPECT_TRUE(before == DumpAll(db_.get()));
  };
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back("dev-" + std::to_string(i));
  ReassignReport rep;
  const Status big =
      db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, keys, b, &rep);
  refused(big, "entity.reassign");
  // Each move takes over 500 bytes (the record before and after): the
  // bound passed after about a thousand, and the rest were never judged;
  // the refusal counts the ones judged.
  EXPECT_GT(rep.items.size(), 500u);
  EXPECT_LT(rep.items.size(), 1500u);
  EXPECT_EQ(rep.moved, rep.items.size());
  EXPECT_EQ(big.message().rfind("entity.reassign would change " +
                                    std::to_string(rep.items.size()) + " or more records",
                                0),
            0u)
      << big.ToString();
  refused(db_->DeleteAccount(Actor::System(), a, b), "account.delete");
  // A group add's members are one record: 3,000 ids (24 KB) where 16 KiB
  // are left beside the entry's own 64.
  auto g = db_->CreateGroup(Actor::System(), {.kind = GroupKind::kDevice, .name = "all", .owner = a});
  ASSERT_OK(g.status());
  std::vector<uint64_t> ids;
  for (const std::string& k : keys) ids.push_back(db_->FindEntity(EntityKind::kDevice, k)->id);
  impl->SetMaxCallBytesForTesting(80 << 10);
  const testing::Dump with_group = DumpAll(db_.get());
  Status s = db_->AddGroupMembers(Actor::System(), *g, ids, nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message().rfind("group.add would change ", 0), 0u) << s.ToString();
  EXPECT_TRUE(with_group == DumpAll(db_.get()));
  // Calls that fit go through.
  impl->SetMaxCallBytesForTesting(512 << 10);
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey,
                                  std::vector<std::string>(keys.begin(), keys.begin() + 100), b,
                                  &rep));
  EXPECT_EQ(rep.moved, 100u);
  EXPECT_EQ(db_->CountOwned(b, EntityKind::kDevice)->direct, 100u);
  ASSERT_OK(db_->AddGroupMembers(Actor::System(), *g,
                                 std::vector<uint64_t>(ids.begin() + 100, ids.begin() + 1100),
                                 nullptr));
}

// Finding the log's end reads its end marker, never the last entry itself:
// after a large call (a reassign of 20k devices: an entry of 6 MB, about
// 600 KB compressed in a table file), opening the database reads a small
// part of the log's table bytes (it read that entry twice per open, and a
// follower read it at every catch-up). And the call is flushed to table
// files at once, so that a reader opening beside the writer does not
// replay it from the write-ahead log.
TEST_F(ChangeLogTest, FindingTheLogsEndReadsNoLargeEntry) {
  MakeAccount(db_.get(), "a");  // the devices' owner, named in the file
  const AccountId b = MakeAccount(db_.get(), "b");
  const int n = 20000;
  {
    std::ofstream out(dir_.Sub("devices.jsonl"));
    for (int i = 0; i < n; ++i) {
      out << "{\"type\":\"device\",\"key\":\"dev-" << i
          << "\",\"name\":\"Device\",\"account\":\"a\"}\n";
    }
  }
  ASSERT_OK(db_->Import(Actor::System(), dir_.Sub("devices.jsonl"), ImportOptions(), nullptr));
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back("dev-" + std::to_string(i));
  ReassignReport rep;
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, keys, b,
                                  &rep));
  ASSERT_EQ(rep.moved, static_cast<size_t>(n));
  const uint64_t rev = db_->Revision();
  auto* impl = static_cast<engine::DbImpl*>(db_.get());
  std::string entry;
  ASSERT_OK(impl->store()->Get(storage::kChanges, storage::LogKey(rev), &entry));
  ASSERT_GT(entry.size(), 1000000u);
  // Such a write is flushed at once, in the background: the live
  // write-ahead log soon no longer holds it (else every reader opening
  // beside the writer replays it into memory).
  uint64_t wal_bytes = 0;
  for (int i = 0; i < 1000; ++i) {
    rocksdb::VectorLogPtr wals;
    ASSERT_TRUE(impl->store()->db()->GetSortedWalFiles(wals).ok());
    wal_bytes = 0;
    for (const auto& w : wals) {
      if (w->Type() == rocksdb::kAliveLogFile) wal_bytes += w->SizeFileBytes();
    }
    if (wal_bytes < entry.size() / 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LT(wal_bytes, entry.size() / 4) << "the live write-ahead log still holds the entry";
  // In a table file (not replayed from the write-ahead log into memory).
  ASSERT_TRUE(impl->store()
                  ->db()
                  ->Flush(rocksdb::FlushOptions(), impl->store()->cf(storage::kChanges))
                  .ok());
  rocksdb::ColumnFamilyMetaData log_files;
  impl->store()->db()->GetColumnFamilyMetaData(impl->store()->cf(storage::kChanges), &log_files);
  ASSERT_GT(log_files.size, 100000u);
  db_.reset();
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  db_ = OpenDb(dir_.Sub("db"), options_);
  ASSERT_NE(db_, nullptr);
  EXPECT_EQ(db_->Revision(), rev);
  const uint64_t read = rocksdb::get_perf_context()->block_read_byte;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  EXPECT_LT(read, log_files.size / 4)
      << "opening read " << read << " bytes of table blocks; the log's files hold "
      << log_files.size;
}

TEST_F(ChangeLogTest, DamagedLogIsCorruptionNotACrash) {
  AccountId t = MakeAccount(db_.get(), "t");
  MakeDevice(db_.get(), "d", t);
  auto* impl = static_cast<engine::DbImpl*>(db_.get());
  rocksdb::WriteOptions wo;
  ASSERT_TRUE(impl->store()
                  ->db()
                  ->Put(wo, impl->store()->cf(storage::kChanges), storage::LogKey(2), "garbage")
                  .ok());
  // Readers read the published state: reopen to read what was written
  // behind the engine's back.
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"), options_);
  ChangesPage page;
  EXPECT_EQ(db_->ReadChanges(ChangesRequest(), &page).code(), Code::kCorruption);
  std::vector<std::string> problems;
  EXPECT_EQ(db_->CheckIntegrity(&problems).code(), Code::kCorruption);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("revision 2"), std::string::npos) << problems[0];
}

}  // namespace
}  // namespace canopy

namespace canopy {
namespace {

// A database of storage format 1 (before the change log: no "changes" key
// space, no revision) opens, is upgraded to format 2, keeps its data, and
// its log starts at the next mutation.
TEST(ChangeLogUpgrade, AFormatOneDatabaseIsUpgradedOnOpen) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  {
    auto db = OpenDb(path);
    AccountId t = MakeAccount(db.get(), "t");
    MakeDevice(db.get(), "d", t);
    ASSERT_OK(db->Close());
  }
  {
    // Turn it into what format 1 wrote.
    rocksdb::DBOptions o;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const auto& n : names) descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, path, descs, &handles, &raw).ok());
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "meta") meta = handles[i];
      if (names[i] == "changes" || names[i] == "groups") {
        ASSERT_TRUE(raw->DropColumnFamily(handles[i]).ok());
      }
    }
    ASSERT_NE(meta, nullptr);
    std::string bytes;
    ASSERT_TRUE(raw->Get(rocksdb::ReadOptions(), meta, "format", &bytes).ok());
    storage::FormatRecord f;
    ASSERT_OK(storage::DecodeFormat(bytes, &f));
    f.version = 1;
    rocksdb::WriteOptions wo;
    ASSERT_TRUE(raw->Put(wo, meta, "format", storage::EncodeFormat(f)).ok());
    ASSERT_TRUE(raw->Delete(wo, meta, std::string(storage::kMetaLogId)).ok());
    ASSERT_TRUE(raw->Delete(wo, meta, std::string(storage::kMetaLogLast)).ok());
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(raw->Close().ok());
    delete raw;
  }
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  auto* impl = static_cast<engine::DbImpl*>(db.get());
  EXPECT_EQ(impl->store()->format().version, 3u);
  EXPECT_EQ(db->Revision(), 0u);
  EXPECT_FALSE(db->LogId().empty());
  ASSERT_OK(db->FindEntity(EntityKind::kDevice, "d"));
  std::vector<std::string> problems;
  EXPECT_OK(db->CheckIntegrity(&problems));
  for (const auto& p : problems) ADD_FAILURE() << p;
  MakeDevice(db.get(), "e", db->FindAccount("t")->id);
  EXPECT_EQ(db->Revision(), 1u);
  std::vector<ChangeEntry> all = ReadAll(db.get());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].operation, "entity.create");
  EXPECT_OK(db->CheckIntegrity(&problems));
  // Its history before the upgrade is not in the log: an empty follower
  // cannot start from revision 1 (the device's owner is unknown to it), and
  // the refusal applies nothing.
  TempDir fdir;
  auto follower = OpenDb(fdir.Sub("f"));
  std::vector<std::string> entries;
  ASSERT_OK(db->ReadLogEntries(1, 10, &entries));
  testing::Dump before = DumpAll(follower.get());
  Status s = follower->ApplyChanges(entries, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(follower->Revision(), 0u);
  EXPECT_TRUE(before == DumpAll(follower.get())) << s.ToString();
}

}  // namespace
}  // namespace canopy
