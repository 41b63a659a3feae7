// Copyright (c) Canopy authors.
//
// CatalogVersions: the writer's copy of a catalog replaced wholesale (at
// open, after an import) is made on a thread of its own; readers use the
// published copy meanwhile, and the writer waits for the copy, or makes it
// itself when the copy was stopped. Changes not published yet are taken
// back by undoing them, or by a copy.

#include "engine/catalog_versions.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "tests/test_util.h"

namespace canopy::engine {
namespace {

constexpr uint64_t kAccounts = 200000;

query::Catalog Big() {
  query::Catalog c;
  for (uint64_t id = 1; id <= kAccounts; ++id) {
    query::AccountNode n;
    n.id = AccountId(id);
    n.key = "account-with-a-long-key-" + std::to_string(id);
    n.label = std::string(1, static_cast<char>(id % 200));
    if (id > 1) n.parent = AccountId(1);
    n.members.push_back(UserId(id));
    c.accounts.emplace(id, std::move(n));
  }
  c.roots.push_back(AccountId(1));
  c.last_account_id = kAccounts;
  return c;
}

void ExpectWhole(const query::Catalog& c) {
  ASSERT_EQ(c.accounts.size(), kAccounts);
  EXPECT_EQ(c.roots.size(), 1u);
  EXPECT_EQ(c.last_account_id, kAccounts);
  for (uint64_t id : {uint64_t{1}, uint64_t{777}, kAccounts}) {
    const query::AccountNode* n = c.account(AccountId(id));
    ASSERT_NE(n, nullptr) << id;
    EXPECT_EQ(n->key, "account-with-a-long-key-" + std::to_string(id));
    ASSERT_EQ(n->members.size(), 1u);
    EXPECT_EQ(n->members[0], UserId(id));
  }
}

// The database's log, and the catalog of its state at `published_at`
// (replayed onto an empty one), published in `v` as a catalog loaded whole
// is.
void PublishLoggedState(testing::TempDir& dir, Db* db, uint64_t published_at,
                        std::vector<storage::LogEntry>* log, query::Catalog* at,
                        CatalogVersions* v) {
  ASSERT_OK(testing::ReadLog(db, log));
  ASSERT_OK(testing::EmptyCatalog(dir.Sub("empty"), at));
  for (const auto& entry : *log) {
    if (entry.revision <= published_at) ASSERT_OK(at->Apply(entry.changes));
  }
  v->LatestToReplace() = *at;
  v->NoteReplaced();
  ASSERT_OK(v->Publish(nullptr, published_at));
}

TEST(CatalogVersionsTest, TheWritersCopyIsMadeBesideReadersAndWaitedFor) {
  CatalogVersions v;
  v.latest() = Big();
  v.NoteReplaced();
  ASSERT_OK(v.Publish(nullptr, 1));
  // Readers on other threads use the published copy while it is copied.
  std::atomic<bool> done{false};
  std::atomic<uint64_t> seen{0}, missing{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto pin = v.Enter();
      const query::AccountNode* n = pin.catalog().account(AccountId(1 + seen % kAccounts));
      (n != nullptr && !n->key.empty() ? seen : missing).fetch_add(1);
    }
  });
  while (seen.load() == 0 && missing.load() == 0) std::this_thread::yield();
  ExpectWhole(v.latest());  // waits for the copy
  done = true;
  reader.join();
  EXPECT_GT(seen.load(), 0u);
  EXPECT_EQ(missing.load(), 0u);
  {
    auto pin = v.Enter();
    ExpectWhole(pin.catalog());
    EXPECT_EQ(pin.revision(), 1u);
  }
  // Publishing again (nothing pending) lets readers into the copy.
  ASSERT_OK(v.Publish(nullptr, 2));
  auto pin = v.Enter();
  EXPECT_EQ(pin.revision(), 2u);
  ExpectWhole(pin.catalog());
}

TEST(CatalogVersionsTest, PublishingRightAwayWaitsForTheCopy) {
  CatalogVersions v;
  v.latest() = Big();
  v.NoteReplaced();
  ASSERT_OK(v.Publish(nullptr, 1));
  ASSERT_OK(v.Publish(nullptr, 2));  // the copy becomes the published side
  auto pin = v.Enter();
  ExpectWhole(pin.catalog());
  pin.Release();
  ExpectWhole(v.latest());
}

TEST(CatalogVersionsTest, AStoppedCopyIsMadeAgainWhenTheWriterWantsIt) {
  for (int round = 0; round < 3; ++round) {
    CatalogVersions v;
    v.latest() = Big();
    v.NoteReplaced();
    ASSERT_OK(v.Publish(nullptr, 1));
    v.StopCopy();  // most likely midway
    v.StopCopy();  // twice is harmless
    ExpectWhole(v.latest());
    auto pin = v.Enter();
    ExpectWhole(pin.catalog());
  }
  // Never wanted: destroyed while the copy is under way (the destructor
  // stops it; ASan and TSan see what it leaves), readers served meanwhile.
  CatalogVersions v;
  v.latest() = Big();
  v.NoteReplaced();
  ASSERT_OK(v.Publish(nullptr, 1));
  auto pin = v.Enter();
  ExpectWhole(pin.catalog());
}

// A catalog loaded again (after an import, a follower's reload) replaces
// the writer's copy: the copy under way is dropped, not waited for, and
// the new catalog is what readers see once it is published.
TEST(CatalogVersionsTest, ReplacingTheWritersCopyDropsTheCopyUnderWay) {
  CatalogVersions v;
  v.latest() = Big();
  v.NoteReplaced();
  ASSERT_OK(v.Publish(nullptr, 1));
  query::Catalog& next = v.LatestToReplace();
  next = query::Catalog();
  next.last_account_id = 42;
  v.NoteReplaced();
  ASSERT_OK(v.Publish(nullptr, 2));
  {
    auto pin = v.Enter();
    EXPECT_EQ(pin.revision(), 2u);
    EXPECT_EQ(pin.catalog().last_account_id, 42u);
    EXPECT_TRUE(pin.catalog().accounts.empty());
  }
  EXPECT_EQ(v.latest().last_account_id, 42u);
  EXPECT_TRUE(v.latest().accounts.empty());
}

TEST(CatalogVersionsTest, FreezingStopsTheCopyAndKeepsOneCatalog) {
  CatalogVersions v;
  v.latest() = Big();
  v.NoteReplaced();
  ASSERT_OK(v.Publish(nullptr, 1));
  v.Freeze(Big(), nullptr, 5);
  auto pin = v.Enter();
  EXPECT_EQ(pin.revision(), 5u);
  ExpectWhole(pin.catalog());
  pin.Release();
  // One catalog: the writer's copy is empty (and stays so).
  EXPECT_TRUE(v.latest().accounts.empty());
  EXPECT_EQ(v.latest().last_account_id, 0u);
}

// A replica's group of writes that etcd refused is taken back: the
// writer's copy becomes equal to the published one again, by undoing the
// group's change sets (query::Catalog::Undo, at the cost of applying
// them) or, when a set deletes an account, by copying the published copy.
TEST(CatalogVersionsTest, ChangesNotPublishedAreUndoneOrCopiedBack) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  const Actor sys = Actor::System();
  const AccountId t = testing::MakeAccount(db.get(), "t");
  const AccountId a = testing::MakeAccount(db.get(), "a", t);
  const AccountId b = testing::MakeAccount(db.get(), "b", t);
  const AccountId other = testing::MakeAccount(db.get(), "other");  // another root tenant
  testing::MakeDevice(db.get(), "d1", a);
  const uint64_t published_at = db->Revision();
  // The group: every kind of change a replica may stage.
  const AccountId c = testing::MakeAccount(db.get(), "c", a);
  testing::MakeDevice(db.get(), "d2", c);
  const UserId x = testing::MakeUser(db.get(), "x", c);
  ASSERT_OK(db->Invite(sys, x, c, RoleId(3), true));  // the built-in viewer
  auto crew = db->CreateGroup(sys, GroupSpec{GroupKind::kUser, "crew", c});
  ASSERT_OK(crew);
  ASSERT_OK(db->AddGroupMembers(sys, *crew, std::vector<uint64_t>{x.value()}, nullptr));
  auto subs = db->CreateGroup(sys, GroupSpec{GroupKind::kAccount, "subs", t});
  ASSERT_OK(subs);
  ASSERT_OK(db->AddGroupMembers(sys, *subs, std::vector<uint64_t>{b.value()}, nullptr));
  ASSERT_OK(db->RenameGroup(sys, *subs, "branches"));
  ASSERT_OK(db->MoveAccount(sys, b, a));      // leaves the account group
  ASSERT_OK(db->MoveAccount(sys, a, other));  // to another root tenant, subtree and all
  const uint64_t undoable_to = db->Revision();
  const AccountId e = testing::MakeAccount(db.get(), "e", t);
  ASSERT_OK(db->DeleteAccount(sys, e));

  std::vector<storage::LogEntry> log;
  query::Catalog at_publication;
  CatalogVersions v;
  ASSERT_NO_FATAL_FAILURE(
      PublishLoggedState(dir, db.get(), published_at, &log, &at_publication, &v));
  auto stage = [&](uint64_t last) {
    for (const auto& entry : log) {
      if (entry.revision <= published_at || entry.revision > last) continue;
      ASSERT_OK(v.latest().Apply(entry.changes));
      v.NoteApplied(std::make_shared<const storage::ChangeSet>(entry.changes));
    }
  };
  auto expect_published = [&](const char* when) {
    std::vector<std::string> diffs;
    query::CompareCatalogs(v.latest(), v.Enter().catalog(),
                           [&](std::string d) { diffs.push_back(std::move(d)); });
    query::CompareCatalogs(v.latest(), at_publication,
                           [&](std::string d) { diffs.push_back(std::move(d)); });
    EXPECT_TRUE(diffs.empty()) << when << ": " << diffs.front();
  };

  stage(undoable_to);
  ASSERT_NE(v.latest().account(c), nullptr);
  ASSERT_OK(v.DiscardPending());
  EXPECT_EQ(v.undone(), 1u);
  EXPECT_EQ(v.copied_back(), 0u);
  EXPECT_EQ(v.latest().account(c), nullptr);
  expect_published("undone");

  // A set that does not fit the writer's copy (noted, never applied: its
  // undo deletes an account that is not there) is copied back too.
  for (const auto& entry : log) {
    if (entry.revision == published_at + 1) {
      v.NoteApplied(std::make_shared<const storage::ChangeSet>(entry.changes));
    }
  }
  ASSERT_OK(v.DiscardPending());
  EXPECT_EQ(v.undone(), 1u);
  EXPECT_EQ(v.copied_back(), 1u);
  expect_published("a failed undo copied back");

  stage(db->Revision());  // with the deletion: copied back
  ASSERT_OK(v.DiscardPending());
  EXPECT_EQ(v.undone(), 1u);
  EXPECT_EQ(v.copied_back(), 2u);
  expect_published("copied back");

  // Staged again and published, the copies hold the database's state.
  stage(db->Revision());
  ASSERT_OK(v.Publish(nullptr, db->Revision()));
  db.reset();
  query::Catalog stored;
  ASSERT_OK(testing::StoredCatalog(dir.Sub("db"), &stored));
  std::vector<std::string> diffs;
  query::CompareCatalogs(v.Enter().catalog(), stored, [&](std::string d) { diffs.push_back(d); });
  query::CompareCatalogs(v.latest(), stored, [&](std::string d) { diffs.push_back(d); });
  EXPECT_TRUE(diffs.empty()) << diffs.front();
}

// The two copies share their account and user pages: a copy onto the
// other side copies page references, each write copies the pages it
// changes on the writer's side, and once the other side is level (by
// replay at publication, or by undo) the two share every page again. So a
// writing database holds one catalog, not two, between writes.
TEST(CatalogVersionsTest, TheCopiesShareTheirPagesOnceLevel) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  const Actor sys = Actor::System();
  // Several pages of accounts and users, a few levels deep.
  const AccountId t = testing::MakeAccount(db.get(), "t");
  std::vector<AccountId> accounts{t};
  std::vector<UserId> users;
  for (int i = 0; i < 400; ++i) {
    accounts.push_back(testing::MakeAccount(db.get(), "a" + std::to_string(i),
                                            accounts[static_cast<size_t>(i) / 4]));
    if (i % 2 == 0) {
      users.push_back(testing::MakeUser(db.get(), "u" + std::to_string(i), accounts.back()));
    }
  }
  const uint64_t published_at = db->Revision();
  // The writes that follow: every kind that touches accounts or users.
  testing::MakeDevice(db.get(), "d1", accounts[350]);  // counts up the ancestors
  const AccountId fresh = testing::MakeAccount(db.get(), "fresh", accounts[399]);
  ASSERT_OK(db->Invite(sys, users[10], accounts[85], RoleId(3), true));  // u20, below its home a20
  ASSERT_OK(db->MoveAccount(sys, accounts[300], accounts[2]));
  ASSERT_OK(db->SetUserDisabled(sys, users[20], true));
  auto crew = db->CreateGroup(sys, GroupSpec{GroupKind::kUser, "crew", accounts[0]});
  ASSERT_OK(crew);
  const UserId x = testing::MakeUser(db.get(), "x", accounts[0]);
  ASSERT_OK(db->AddGroupMembers(sys, *crew, std::vector<uint64_t>{x.value()}, nullptr));
  ASSERT_OK(db->DeleteAccount(sys, fresh));
  const uint64_t last = db->Revision();

  std::vector<storage::LogEntry> log;
  query::Catalog at_publication;
  CatalogVersions v;
  ASSERT_NO_FATAL_FAILURE(
      PublishLoggedState(dir, db.get(), published_at, &log, &at_publication, &v));
  ASSERT_GE(at_publication.accounts.pages(), 5u);
  auto expect_shared = [&](const std::string& when) {
    auto pin = v.Enter();
    const query::Catalog& w = v.latest();
    const query::Catalog& r = pin.catalog();
    EXPECT_EQ(w.accounts.SharedPages(r.accounts), r.accounts.pages()) << when;
    EXPECT_EQ(w.accounts.pages(), r.accounts.pages()) << when;
    EXPECT_EQ(w.users.SharedPages(r.users), r.users.pages()) << when;
    EXPECT_EQ(w.users.pages(), r.users.pages()) << when;
    std::vector<std::string> diffs;
    query::CompareCatalogs(w, r, [&](std::string d) { diffs.push_back(std::move(d)); });
    EXPECT_TRUE(diffs.empty()) << when << ": " << diffs.front();
  };
  expect_shared("after the copy at publication");

  // Each write alone: published, replayed onto the other side, shared.
  // A write taken back (a replica's refused group) is shared again too.
  for (const auto& entry : log) {
    if (entry.revision <= published_at) continue;
    const std::string when = "revision " + std::to_string(entry.revision);
    auto shared = [&] {
      auto pin = v.Enter();
      return v.latest().accounts.SharedPages(pin.catalog().accounts) +
             v.latest().users.SharedPages(pin.catalog().users);
    };
    const size_t before = shared();
    ASSERT_OK(v.latest().Apply(entry.changes));
    v.NoteApplied(std::make_shared<const storage::ChangeSet>(entry.changes));
    const size_t after = shared();  // the readers' copy is untouched by the write
    EXPECT_LT(after, before) << when;      // every write here changes a node
    EXPECT_GE(after + 8, before) << when;  // only the pages it wrote
    if (entry.revision % 2 == 0) {
      ASSERT_OK(v.DiscardPending());  // undone, or copied back (a deletion)
      expect_shared(when + ", taken back");
      ASSERT_OK(v.latest().Apply(entry.changes));
      v.NoteApplied(std::make_shared<const storage::ChangeSet>(entry.changes));
    }
    ASSERT_OK(v.Publish(nullptr, entry.revision));
    expect_shared(when);
  }
  EXPECT_GT(v.undone(), 0u);

  // And the copies hold the stored state.
  db.reset();
  query::Catalog stored;
  ASSERT_OK(testing::StoredCatalog(dir.Sub("db"), &stored));
  std::vector<std::string> diffs;
  query::CompareCatalogs(v.Enter().catalog(), stored, [&](std::string d) { diffs.push_back(d); });
  EXPECT_TRUE(diffs.empty()) << diffs.front();
  EXPECT_EQ(v.Enter().revision(), last);
}

// With a tenant of 1,100 sub-accounts (its page stays as two copies once
// written) and random writes, some taken back and applied again: after
// every publication both copies equal a catalog the writes were applied
// to alone, and copies taken from the published side earlier (as
// snapshots are) keep the state they were taken at.
TEST(CatalogVersionsTest, LongListsTakenBackWritesAndSnapshotsKeepTheirStates) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  const Actor sys = Actor::System();
  const AccountId t = testing::MakeAccount(db.get(), "t");
  std::vector<AccountId> kids;
  for (int i = 0; i < 1100; ++i) {
    kids.push_back(testing::MakeAccount(db.get(), "k" + std::to_string(i), t));
  }
  std::vector<UserId> users;
  for (int i = 0; i < 40; ++i) users.push_back(testing::MakeUser(db.get(), "u" + std::to_string(i), t));
  const uint64_t published_at = db->Revision();
  std::mt19937_64 rng(3);
  for (int i = 0; i < 60; ++i) {
    switch (i % 6) {
      case 0: testing::MakeAccount(db.get(), "n" + std::to_string(i), t); break;
      case 1: testing::MakeDevice(db.get(), "d" + std::to_string(i), kids[rng() % 1100]); break;
      case 2: ASSERT_OK(db->Invite(sys, users[rng() % 40], kids[rng() % 1100], RoleId(3), true)); break;
      case 3: ASSERT_OK(db->MoveAccount(sys, kids[100 + i], kids[200 + i])); break;
      case 4: ASSERT_OK(db->SetUserDisabled(sys, users[rng() % 40], (i / 6) % 2 == 0)); break;
      default: testing::MakeDevice(db.get(), "e" + std::to_string(i), t); break;
    }
  }
  std::vector<storage::LogEntry> log;
  query::Catalog at;
  CatalogVersions v;
  ASSERT_NO_FATAL_FAILURE(PublishLoggedState(dir, db.get(), published_at, &log, &at, &v));
  std::vector<std::pair<std::unique_ptr<query::Catalog>, std::unique_ptr<query::Catalog>>> snaps;
  query::Catalog model = at;  // the writes applied to it alone
  auto same = [&](const query::Catalog& a, const query::Catalog& b, const std::string& when) {
    std::vector<std::string> diffs;
    query::CompareCatalogs(a, b, [&](std::string d) { diffs.push_back(std::move(d)); });
    query::CompareCatalogs(b, a, [&](std::string d) { diffs.push_back(std::move(d)); });
    EXPECT_TRUE(diffs.empty()) << when << ": " << diffs.front();
  };
  for (const auto& entry : log) {
    if (entry.revision <= published_at) continue;
    const std::string when = "rev " + std::to_string(entry.revision);
    if (rng() % 3 == 0) {
      auto pin = v.Enter();
      snaps.emplace_back(std::make_unique<query::Catalog>(pin.catalog()),
                         std::make_unique<query::Catalog>(model));
    }
    ASSERT_OK(v.latest().Apply(entry.changes));
    v.NoteApplied(std::make_shared<const storage::ChangeSet>(entry.changes));
    if (rng() % 2 == 0) {
      ASSERT_OK(v.DiscardPending());
      same(v.latest(), v.Enter().catalog(), when + " undone");
      ASSERT_OK(v.latest().Apply(entry.changes));
      v.NoteApplied(std::make_shared<const storage::ChangeSet>(entry.changes));
    }
    ASSERT_OK(model.Apply(entry.changes));
    ASSERT_OK(v.Publish(nullptr, entry.revision));
    same(v.latest(), v.Enter().catalog(), when);
    same(v.latest(), model, when + " model");
    for (auto& [s, m] : snaps) same(*s, *m, when + " snapshot");
    if (snaps.size() > 4) snaps.erase(snaps.begin());
  }
  const auto* tn = v.Enter().catalog().account(t);
  EXPECT_GE(tn->children.size(), 1100u);
  // The tenant's page is apart, the others shared.
  EXPECT_EQ(v.latest().accounts.SharedPages(v.Enter().catalog().accounts) + 1,
            v.latest().accounts.pages());
  db.reset();
  query::Catalog stored;
  ASSERT_OK(testing::StoredCatalog(dir.Sub("db"), &stored));
  same(v.Enter().catalog(), stored, "stored");
  same(v.latest(), stored, "stored latest");
}
}  // namespace
}  // namespace canopy::engine
