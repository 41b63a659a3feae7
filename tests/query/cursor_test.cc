// Copyright (c) Canopy authors.
//
// Paging cursors (query.h): refused when forged, truncated, altered, of
// another request or of another kind of query; a live cursor reads its
// snapshot; a cursor that is no longer live (expired, evicted, or across a
// close and reopen) resumes on the latest state just after its last key,
// never skipping or repeating an entity that stayed where it was.

#include "query/cursor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "storage/coding.h"
#include "tests/query/world.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::AllPages;
using testing::KeysOf;
using testing::OpenDb;
using testing::TempDir;
using testing::World;

class CursorTest : public ::testing::Test {
 protected:
  void Open(Options options = Options()) {
    options_ = options;
    db_ = OpenDb(dir_.Sub("db"), options);
    world_ = std::make_unique<World>(db_.get());
    world_->BuildStandard();
  }
  UserId U(const std::string& login) const { return world_->user(login); }
  AccountId A(const std::string& key) const { return world_->account(key); }

  // The first page of `r` with `limit`, which must have a cursor.
  VisiblePage FirstPage(VisibleRequest r, size_t limit) {
    r.limit = limit;
    r.cursor.clear();
    VisiblePage page;
    EXPECT_OK(db_->Visible(r, &page));
    EXPECT_FALSE(page.next_cursor.empty());
    return page;
  }

  // Expects the page request to be refused as InvalidArgument with no items.
  void ExpectBadCursor(VisibleRequest r, const std::string& cursor, const std::string& why) {
    r.cursor = cursor;
    VisiblePage page;
    page.items.push_back(VisibleItem{});  // must be cleared
    Status s = db_->Visible(r, &page);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << why << ": " << s.ToString();
    EXPECT_TRUE(page.items.empty()) << why;
  }

  // Pages through the rest of `r` from `cursor`.
  std::vector<std::string> Rest(VisibleRequest r, const std::string& cursor, size_t limit) {
    std::vector<std::string> keys;
    r.limit = limit;
    r.cursor = cursor;
    for (int guard = 0; guard < 10000 && !r.cursor.empty(); ++guard) {
      VisiblePage page;
      Status s = db_->Visible(r, &page);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok()) break;
      for (const auto& item : page.items) keys.push_back(item.key);
      r.cursor = page.next_cursor;
    }
    return keys;
  }

  // Every key of `stable` occurs exactly once in `got`.
  static void ExpectEachOnce(const std::vector<std::string>& got,
                             const std::set<std::string>& stable) {
    std::map<std::string, int> seen;
    for (const auto& k : got) seen[k]++;
    for (const auto& k : stable) EXPECT_EQ(seen[k], 1) << k;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<World> world_;
};

// The registry's expiry rules on their own (no snapshot needed): idle
// views expire after the TTL, views kept busy after four TTLs, and the
// least recently used one goes when over capacity.
TEST(ViewRegistry, ExpiresIdleOldAndLeastRecentlyUsedViews) {
  auto view = [] {
    return std::make_shared<query::ScanView>(nullptr, std::vector<query::Grant>{}, 1);
  };
  query::ViewRegistry lru(/*ttl_seconds=*/3600, /*capacity=*/2);
  uint64_t a = lru.Put(view()), b = lru.Put(view());
  EXPECT_NE(lru.Get(a), nullptr);  // a is now the most recently used
  uint64_t c = lru.Put(view());
  EXPECT_NE(lru.Get(a), nullptr);
  EXPECT_EQ(lru.Get(b), nullptr);
  EXPECT_NE(lru.Get(c), nullptr);

  query::ViewRegistry ttl(/*ttl_seconds=*/1, /*capacity=*/10);
  uint64_t idle = ttl.Put(view()), busy = ttl.Put(view());
  const auto start = std::chrono::steady_clock::now();
  // Keep `busy` in use every 200 ms for 2.5 s (well short of four TTLs).
  // Only uses that came in time are checked: a machine that stalls this
  // thread for a TTL lets the view expire, as it should.
  auto last = start;
  bool on_time = true;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2500)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto now = std::chrono::steady_clock::now();
    on_time = on_time && now - last < std::chrono::milliseconds(900) &&
              now - start < std::chrono::milliseconds(3900);
    const bool kept = ttl.Get(busy) != nullptr;
    if (on_time) {
      ASSERT_TRUE(kept) << "busy view expired before four TTLs";
    }
    last = now;
  }
  EXPECT_EQ(ttl.Get(idle), nullptr);  // idle for 2.5 s > TTL
  // Still used every 200 ms, it goes all the same once four TTLs old.
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto now = std::chrono::steady_clock::now();
    const bool used_lately = now - last < std::chrono::milliseconds(900);
    gone = ttl.Get(busy) == nullptr;
    // Gone while in use: only by its age (a stall may let it go idle).
    if (gone && used_lately) {
      EXPECT_GE(now - start, std::chrono::milliseconds(3800));
    }
    last = now;
  }
  EXPECT_TRUE(gone) << "over four TTLs old, however busy, and still kept";
}

// Expiry without a lock while nothing can have expired, and with it once
// something may have: an idle view goes on the first call after its TTL,
// whichever call that is. Views are dropped outside the registry's lock:
// a view's last reference releases its snapshot, and that release may
// take other locks (RocksDB's) or, here, call back into the registry,
// which would deadlock under the lock.
TEST(ViewRegistry, ExpiresOnTheFirstCallAfterTheTtlAndDropsViewsOutsideItsLock) {
  query::ViewRegistry reg(/*ttl_seconds=*/1, /*capacity=*/2);
  int released = 0;
  auto view = [&] {
    std::shared_ptr<const rocksdb::Snapshot> snapshot(nullptr, [&](const rocksdb::Snapshot*) {
      (void)reg.size();  // takes the registry's lock
      ++released;
    });
    return std::make_shared<query::ScanView>(std::move(snapshot), std::vector<query::Grant>{}, 1);
  };
  // Expire, after a Put.
  reg.Put(view());
  reg.Expire();
  EXPECT_EQ(reg.size(), 1u) << "expired before its TTL";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  reg.Expire();
  EXPECT_EQ(reg.size(), 0u) << "an idle view outlived its TTL";
  EXPECT_EQ(released, 1);
  reg.Expire();  // nothing left: the fast path, and nothing to release
  EXPECT_EQ(released, 1);
  // Get, on an id it never had; a Put over capacity; Erase; Clear.
  reg.Put(view());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(reg.Get(12345), nullptr);
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_EQ(released, 2);
  const uint64_t a = reg.Put(view());
  reg.Put(view());
  reg.Put(view());  // over capacity: a goes
  EXPECT_EQ(reg.Get(a), nullptr);
  EXPECT_EQ(released, 3);
  reg.Erase(reg.Put(view()));  // (evicting another over capacity first)
  EXPECT_EQ(released, 5);
  EXPECT_EQ(reg.size(), 1u);
  reg.Clear();
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_EQ(released, 6);
  // A view used since is not expired by a sweep its age alone would start.
  // (The check needs the sweep more than a TTL after the Put and less than
  // one after the use: a stall that breaks that timing skips it.)
  using Clock = std::chrono::steady_clock;
  const auto put_at = Clock::now();
  const uint64_t kept = reg.Put(view());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto used_at = Clock::now();
  const bool got = reg.Get(kept) != nullptr;
  if (!got) {  // only a stall past the TTL since the Put explains it
    ASSERT_GE(Clock::now() - put_at, std::chrono::seconds(1)) << "expired within its TTL";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  reg.Expire();
  const auto swept_at = Clock::now();
  if (got && swept_at - put_at > std::chrono::seconds(1) &&
      swept_at - used_at < std::chrono::milliseconds(900)) {
    EXPECT_EQ(reg.size(), 1u) << "expired though used within its TTL";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  reg.Expire();
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_EQ(released, 7);
}

TEST_F(CursorTest, ForgedTruncatedOrAlteredCursorsAreRefused) {
  Open();
  VisibleRequest r{Actor::User(U("root-viewer"))};
  r.limit = 5;
  const std::string c = FirstPage(r, 5).next_cursor;
  ASSERT_GT(c.size(), 8u);
  const std::vector<std::string> forged = {"x",
                                           "!!!!",
                                           "AAAA",
                                           std::string(64, 'A'),
                                           std::string(5000, 'A'),
                                           "\xff\xfe\x00",
                                           "cursor with spaces",
                                           c + "A",
                                           c + c,
                                           c.substr(1),
                                           c.substr(0, c.size() - 1),
                                           c.substr(0, c.size() / 2),
                                           c.substr(0, 4)};
  for (const auto& f : forged) ExpectBadCursor(r, f, "forged '" + f.substr(0, 40) + "'");
  // Every single-character change anywhere in the token is caught.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < c.size(); ++i) {
    for (char to :
         {alphabet[(alphabet.find(c[i]) + 1) % 64], alphabet[(alphabet.find(c[i]) + 33) % 64]}) {
      std::string altered = c;
      altered[i] = to;
      ExpectBadCursor(r, altered, "altered at " + std::to_string(i));
    }
  }
  // Other query kinds refuse them too.
  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "dev-00";
  WhoCanPage wp;
  TableRequest t{Actor::System()};
  TablePage tp;
  for (const auto& f : forged) {
    w.cursor = f;
    EXPECT_EQ(db_->WhoCan(w, &wp).code(), Code::kInvalidArgument) << f;
    t.cursor = f;
    EXPECT_EQ(db_->AccountsTable(t, &tp).code(), Code::kInvalidArgument) << f;
  }
  // The genuine cursor still works afterwards.
  r.cursor = c;
  VisiblePage page;
  EXPECT_OK(db_->Visible(r, &page));
  EXPECT_EQ(page.items.size(), 5u);
}

// A cursor is bound to its request: other filters, viewer, kind or
// permission are refused.
TEST_F(CursorTest, CursorIsBoundToItsRequest) {
  Open();
  VisibleRequest base{Actor::User(U("root-viewer"))};
  base.type = "tracker";
  base.within = A("acme");
  const std::string c = FirstPage(base, 2).next_cursor;
  std::vector<std::pair<std::string, VisibleRequest>> others;
  auto vary = [&](const std::string& what, auto change) {
    VisibleRequest o = base;
    change(o);
    others.emplace_back(what, o);
  };
  vary("viewer", [&](VisibleRequest& o) { o.viewer = Actor::User(U("a-admin")); });
  vary("system viewer", [&](VisibleRequest& o) { o.viewer = Actor::System(); });
  vary("kind", [&](VisibleRequest& o) { o.kind = EntityKind::kAsset; });
  vary("permission", [&](VisibleRequest& o) { o.permission = "device.assign"; });
  vary("type", [&](VisibleRequest& o) { o.type = "obd"; });
  vary("no type", [&](VisibleRequest& o) { o.type.reset(); });
  vary("empty type", [&](VisibleRequest& o) { o.type = ""; });
  vary("prefix", [&](VisibleRequest& o) { o.name_prefix = "Van"; });
  vary("attribute", [&](VisibleRequest& o) { o.attribute = AttributeFilter{"color", "red"}; });
  vary("within", [&](VisibleRequest& o) { o.within = A("a"); });
  vary("no within", [&](VisibleRequest& o) { o.within = kNoId; });
  vary("direct_only", [&](VisibleRequest& o) { o.direct_only = true; });
  for (const auto& [what, o] : others) ExpectBadCursor(o, c, what);
  // The same request continues.
  auto rest = Rest(base, c, 2);
  EXPECT_EQ(rest.size() + 2, world_->ExpectedVisible(base).size());
}

TEST_F(CursorTest, CursorsOfOtherQueryKindsAreRefused) {
  Open();
  VisibleRequest v{Actor::System()};
  const std::string visible_cursor = FirstPage(v, 1).next_cursor;
  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "dev-03";  // in a1x: several users may read it
  w.limit = 1;
  WhoCanPage wp;
  ASSERT_OK(db_->WhoCan(w, &wp));
  const std::string who_cursor = wp.next_cursor;
  ASSERT_FALSE(who_cursor.empty());
  TableRequest t{Actor::System()};
  t.limit = 1;
  TablePage tp;
  ASSERT_OK(db_->AccountsTable(t, &tp));
  const std::string table_cursor = tp.next_cursor;
  ASSERT_FALSE(table_cursor.empty());

  ExpectBadCursor(v, who_cursor, "who-can cursor in Visible");
  ExpectBadCursor(v, table_cursor, "table cursor in Visible");
  // A device listing's cursor in an asset listing: well formed, but of
  // another request, and said so (not "malformed").
  VisibleRequest assets = v;
  assets.kind = EntityKind::kAsset;
  assets.cursor = visible_cursor;
  VisiblePage other_kind;
  Status s = db_->Visible(assets, &other_kind);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("cursor belongs to another request"), std::string::npos)
      << s.ToString();
  w.cursor = visible_cursor;
  EXPECT_EQ(db_->WhoCan(w, &wp).code(), Code::kInvalidArgument);
  w.cursor = table_cursor;
  EXPECT_EQ(db_->WhoCan(w, &wp).code(), Code::kInvalidArgument);
  t.cursor = visible_cursor;
  EXPECT_EQ(db_->AccountsTable(t, &tp).code(), Code::kInvalidArgument);
  t.cursor = who_cursor;
  EXPECT_EQ(db_->AccountsTable(t, &tp).code(), Code::kInvalidArgument);
  // Cursors of the same kind but another request.
  WhoCanRequest other = w;
  other.entity_key = "dev-15";
  other.cursor = who_cursor;
  EXPECT_EQ(db_->WhoCan(other, &wp).code(), Code::kInvalidArgument);
  other = w;
  other.permission = "device.assign";
  other.entity_key = "dev-03";
  other.cursor = who_cursor;
  EXPECT_EQ(db_->WhoCan(other, &wp).code(), Code::kInvalidArgument);
  TableRequest t2 = t;
  t2.cursor = table_cursor;
  t2.sort = TableSort::kName;
  EXPECT_EQ(db_->AccountsTable(t2, &tp).code(), Code::kInvalidArgument);
  t2.sort = TableSort::kTree;
  t2.viewer = Actor::User(U("root-viewer"));
  EXPECT_EQ(db_->AccountsTable(t2, &tp).code(), Code::kInvalidArgument);
  t2.viewer = Actor::System();
  t2.descending = true;
  EXPECT_EQ(db_->AccountsTable(t2, &tp).code(), Code::kInvalidArgument);
}

// A token that passes the checksum (its algorithm is no secret: XXH3 over
// the bytes) but was built by hand must not let a viewer read through
// another viewer's live snapshot. Here a-direct (who may read a's six
// devices) points its own cursor at the live view of g-admin's listing.
TEST_F(CursorTest, ForgedCursorCannotBorrowAnotherViewersSnapshot) {
  Open();
  // The victim's first page leaves its snapshot registered (live).
  VisibleRequest victim{Actor::User(U("g-admin"))};
  FirstPage(victim, 1);
  VisibleRequest attacker{Actor::User(U("a-direct"))};
  const std::string own_cursor = FirstPage(attacker, 1).next_cursor;
  const auto allowed = world_->ExpectedVisible(attacker);
  const std::set<std::string> may_see(allowed.begin(), allowed.end());

  std::string payload;
  ASSERT_OK(query::DecodeToken(own_cursor, query::TokenType::kVisible, &payload));
  ASSERT_GE(payload.size(), 24u);
  std::set<std::string> leaked;
  for (uint64_t view_id = 1; view_id <= 64; ++view_id) {
    std::string forged_payload = payload.substr(0, 8);
    storage::PutFixed64BE(&forged_payload, view_id);
    forged_payload.append(payload.substr(16));
    VisibleRequest r = attacker;
    r.limit = 100;
    r.cursor = query::EncodeToken(query::TokenType::kVisible, forged_payload);
    VisiblePage page;
    Status s = db_->Visible(r, &page);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
      continue;
    }
    for (const auto& item : page.items) {
      if (!may_see.count(item.key)) leaked.insert(item.key);
    }
  }
  EXPECT_TRUE(leaked.empty()) << "a-direct read " << leaked.size()
                              << " devices it may not see, e.g. " << *leaked.begin();
  // Hand-built tokens with a damaged payload are refused, not obeyed.
  auto forge = [&](const std::string& p) {
    return query::EncodeToken(query::TokenType::kVisible, p);
  };
  ExpectBadCursor(attacker, forge(""), "empty payload");
  ExpectBadCursor(attacker, forge(payload.substr(0, 23)), "short payload");
  ExpectBadCursor(attacker, forge(payload.substr(0, 24)), "no resume key");
  std::string other_kind = payload;
  other_kind[24] = static_cast<char>(EntityKind::kAsset);
  ExpectBadCursor(attacker, forge(other_kind), "resume key of another kind");
  std::string other_request = payload;
  other_request[16] ^= 1;
  ExpectBadCursor(attacker, forge(other_request), "fingerprint of another request");
}

// While live, a cursor reads the snapshot of its first page: later writes
// neither add, remove nor move anything in the rest of the listing.
TEST_F(CursorTest, LiveCursorReadsItsSnapshot) {
  Open();
  VisibleRequest r{Actor::User(U("root-viewer"))};
  const auto full = world_->ExpectedVisible(r);
  VisiblePage first = FirstPage(r, 10);
  ASSERT_EQ(KeysOf(first.items), std::vector<std::string>(full.begin(), full.begin() + 10));
  // Delete one not yet returned, create one, reassign one, move an account.
  world_->RemoveEntity(EntityKind::kDevice, full[20]);
  world_->AddEntity(EntityKind::kDevice, "late", "b", "Van late", "tracker");
  world_->Reassign(EntityKind::kDevice, full[25], "acme");
  world_->Move("c", "a1");
  auto rest = Rest(r, first.next_cursor, 7);
  std::vector<std::string> all = KeysOf(first.items);
  all.insert(all.end(), rest.begin(), rest.end());
  EXPECT_EQ(all, full);
  // A new listing sees the new state.
  EXPECT_EQ(KeysOf(AllPages(db_.get(), r, 7)), world_->ExpectedVisible(r));
}

// Access withdrawn between pages ends the snapshot: a live cursor of a
// viewer since disabled, or whose membership was removed, pages on the
// latest state instead of the access it had when the listing began.
TEST_F(CursorTest, LiveCursorEndsWhenAccessIsWithdrawn) {
  Open();
  VisibleRequest r{Actor::User(U("root-viewer"))};
  VisiblePage first = FirstPage(r, 10);
  world_->SetDisabled("root-viewer", true);
  EXPECT_TRUE(Rest(r, first.next_cursor, 7).empty());
  world_->SetDisabled("root-viewer", false);

  first = FirstPage(r, 10);
  ASSERT_OK(db_->RemoveMembership(Actor::System(), U("root-viewer"), A("acme")));
  EXPECT_TRUE(Rest(r, first.next_cursor, 7).empty());
  VisiblePage fresh;
  ASSERT_OK(db_->Visible(r, &fresh));
  EXPECT_TRUE(fresh.items.empty());
}

// A change that leaves the viewer's grants as they were keeps the snapshot.
TEST_F(CursorTest, LiveCursorSurvivesChangesThatKeepItsGrants) {
  Open();
  VisibleRequest r{Actor::User(U("root-viewer"))};
  const auto full = world_->ExpectedVisible(r);
  VisiblePage first = FirstPage(r, 10);
  world_->SetDisabled("a-admin", true);  // somebody else
  world_->RemoveEntity(EntityKind::kDevice, full[20]);
  auto rest = Rest(r, first.next_cursor, 7);
  std::vector<std::string> all = KeysOf(first.items);
  all.insert(all.end(), rest.begin(), rest.end());
  EXPECT_EQ(all, full);  // still the snapshot, full[20] included
}

// With cursor_ttl_seconds = 0 no cursor stays live: each page resumes on
// the latest state just after the last key returned.
TEST_F(CursorTest, ExpiredCursorResumesOnLatestState) {
  Options o;
  o.cursor_ttl_seconds = 0;
  Open(o);
  VisibleRequest r{Actor::User(U("root-viewer"))};
  const auto full = world_->ExpectedVisible(r);
  std::set<std::string> stable(full.begin(), full.end());
  VisiblePage first = FirstPage(r, 10);
  std::vector<std::string> got = KeysOf(first.items);
  // Changes on both sides of the cursor; the entities changed are not
  // "stable" any more.
  for (const std::string& k : {full[3], full[20]}) {
    world_->RemoveEntity(EntityKind::kDevice, k);
    stable.erase(k);
  }
  world_->Reassign(EntityKind::kDevice, full[25], "acme");  // from after to before
  world_->Reassign(EntityKind::kDevice, full[1], "b1");     // from before to after
  stable.erase(full[25]);
  stable.erase(full[1]);
  world_->AddEntity(EntityKind::kDevice, "new-early", "acme", "Van", "tracker");
  world_->AddEntity(EntityKind::kDevice, "new-late", "c", "Van", "tracker");
  auto rest = Rest(r, first.next_cursor, 4);
  got.insert(got.end(), rest.begin(), rest.end());
  ExpectEachOnce(got, stable);
}

// With max_open_cursors = 1, interleaved listings evict each other's
// snapshots; each still lists every unchanged entity exactly once.
TEST_F(CursorTest, EvictedCursorsResumeWithoutSkipsOrRepeats) {
  Options o;
  o.max_open_cursors = 1;
  Open(o);
  std::vector<VisibleRequest> listings = {VisibleRequest{Actor::User(U("root-viewer"))},
                                          VisibleRequest{Actor::User(U("a-admin"))},
                                          VisibleRequest{Actor::System()}};
  listings[2].kind = EntityKind::kAsset;
  std::vector<std::set<std::string>> stable;
  std::vector<std::vector<std::string>> got(listings.size());
  std::vector<std::string> cursors(listings.size());
  for (auto& l : listings) {
    auto keys = world_->ExpectedVisible(l);
    stable.emplace_back(keys.begin(), keys.end());
    l.limit = 3;
  }
  int churn = 0;
  bool more = true;
  for (int round = 0; more && round < 100; ++round) {
    more = false;
    for (size_t i = 0; i < listings.size(); ++i) {
      if (round > 0 && cursors[i].empty()) continue;
      VisibleRequest r = listings[i];
      r.cursor = cursors[i];
      VisiblePage page;
      ASSERT_OK(db_->Visible(r, &page));
      for (const auto& item : page.items) got[i].push_back(item.key);
      cursors[i] = page.next_cursor;
      more |= !cursors[i].empty();
      // Churn in the listed accounts (none of it stable) during the first
      // rounds; listings must still end.
      if (round < 4) {
        world_->AddEntity(EntityKind::kDevice, "churn-" + std::to_string(churn++), "a1", "Van");
        world_->AddEntity(EntityKind::kAsset, "churn-" + std::to_string(churn++), "a", "Site");
      }
    }
  }
  EXPECT_FALSE(more) << "listings did not end";
  for (size_t i = 0; i < listings.size(); ++i) {
    SCOPED_TRACE("listing " + std::to_string(i));
    ExpectEachOnce(got[i], stable[i]);
  }
}

// A cursor crosses a close and reopen: it resumes on the reopened state.
TEST_F(CursorTest, CursorSurvivesCloseAndReopen) {
  Open();
  VisibleRequest r{Actor::User(U("root-viewer"))};
  r.type = "tracker";
  const auto full = world_->ExpectedVisible(r);
  ASSERT_GE(full.size(), 8u);
  VisiblePage first = FirstPage(r, 4);
  ASSERT_OK(db_->Close());
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"), options_);
  world_->set_db(db_.get());
  auto rest = Rest(r, first.next_cursor, 3);
  std::vector<std::string> all = KeysOf(first.items);
  all.insert(all.end(), rest.begin(), rest.end());
  EXPECT_EQ(all, full);
  // ... also with changes made after the reopen, and with a who-can and a
  // table cursor.
  VisiblePage again = FirstPage(r, 4);
  ASSERT_OK(db_->Close());
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"), options_);
  world_->set_db(db_.get());
  world_->AddEntity(EntityKind::kDevice, "after-reopen", "c", "Van", "tracker");
  std::set<std::string> stable(full.begin(), full.end());
  auto got = KeysOf(again.items);
  rest = Rest(r, again.next_cursor, 5);
  got.insert(got.end(), rest.begin(), rest.end());
  ExpectEachOnce(got, stable);
}

TEST_F(CursorTest, WhoCanAndTableCursorsSurviveReopen) {
  Open();
  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "dev-03";
  w.limit = 2;
  WhoCanPage wp;
  ASSERT_OK(db_->WhoCan(w, &wp));
  ASSERT_FALSE(wp.next_cursor.empty());
  std::vector<UserId> who;
  for (const auto& i : wp.items) who.push_back(i.user);
  TableRequest t{Actor::System()};
  t.limit = 4;
  TablePage tp;
  ASSERT_OK(db_->AccountsTable(t, &tp));
  std::vector<AccountId> rows;
  for (const auto& row : tp.rows) rows.push_back(row.id);
  ASSERT_OK(db_->Close());
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"), options_);
  world_->set_db(db_.get());
  for (w.cursor = wp.next_cursor; !w.cursor.empty(); w.cursor = wp.next_cursor) {
    ASSERT_OK(db_->WhoCan(w, &wp));
    for (const auto& i : wp.items) who.push_back(i.user);
  }
  std::vector<UserId> want;
  for (const auto& [uid, u] : world_->users()) {
    if (world_->Allows(uid, "device.read", A("a1x"))) want.push_back(uid);
  }
  EXPECT_EQ(who, want);
  for (t.cursor = tp.next_cursor; !t.cursor.empty(); t.cursor = tp.next_cursor) {
    ASSERT_OK(db_->AccountsTable(t, &tp));
    for (const auto& row : tp.rows) rows.push_back(row.id);
  }
  EXPECT_EQ(rows, world_->TreeOrder());
}

// Who-can's later pages come from the answer the first page worked out
// (paging N users one page at a time cost N squared / page before), but
// only at the revision it was worked out at: after a write, the next page
// is of the new state, as a page without the kept answer would be.
TEST_F(CursorTest, WhoCanPagesReuseTheirAnswerOnlyAtItsRevision) {
  Open();
  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "dev-03";
  auto all_at_once = [&] {
    WhoCanRequest r = w;
    r.limit = 1000;
    r.cursor.clear();
    WhoCanPage p;
    EXPECT_OK(db_->WhoCan(r, &p));
    EXPECT_TRUE(p.next_cursor.empty());
    std::vector<UserId> ids;
    for (const auto& i : p.items) ids.push_back(i.user);
    return ids;
  };
  const std::vector<UserId> want = all_at_once();
  ASSERT_GE(want.size(), 3u);
  // One user per page: the same users, in order, each once.
  w.limit = 1;
  std::vector<UserId> paged;
  WhoCanPage p;
  for (w.cursor.clear();;) {
    ASSERT_OK(db_->WhoCan(w, &p));
    for (const auto& i : p.items) paged.push_back(i.user);
    if (p.next_cursor.empty()) break;
    w.cursor = p.next_cursor;
  }
  EXPECT_EQ(paged, want);
  // A write between two pages: the rest is of the new state (a new user
  // that may read the device shows, as it would with a fresh answer).
  w.cursor.clear();
  ASSERT_OK(db_->WhoCan(w, &p));
  ASSERT_FALSE(p.next_cursor.empty());
  std::vector<UserId> after_write = {p.items[0].user};
  const UserId late = world_->AddUser("late-reader", "acme");
  world_->AddMember("late-reader", "acme", "viewer", true);
  for (w.cursor = p.next_cursor; !w.cursor.empty(); w.cursor = p.next_cursor) {
    ASSERT_OK(db_->WhoCan(w, &p));
    for (const auto& i : p.items) after_write.push_back(i.user);
  }
  EXPECT_EQ(after_write, all_at_once());
  EXPECT_EQ(after_write.back(), late);
}

// A cursor is bound to the database that gave it (its change log's id), as
// well as to its request: one from another database with the same shape is
// refused, not resumed at a position that means nothing there (a listing
// there could end early, or skip what it holds). Visible, who-can and the
// accounts table alike. A copy of the database (same log) takes it.
TEST(CursorScope, ACursorOfAnotherDatabaseIsRefused) {
  TempDir dir;
  auto build = [&](const std::string& name, int n) {
    std::unique_ptr<Db> db = OpenDb(dir.Sub(name));
    const AccountId acme = testing::MakeAccount(db.get(), "acme");
    const RoleId viewer = db->FindRole(acme, "viewer")->id;
    for (int i = 0; i < n; ++i) {
      const std::string k = std::to_string(100 + i);
      testing::MakeAccount(db.get(), "c" + k, acme);
      testing::MakeDevice(db.get(), "d" + k, acme);
      const UserId u = testing::MakeUser(db.get(), "u" + k, acme);
      EXPECT_OK(db->Invite(Actor::System(), u, acme, viewer));
    }
    return db;
  };
  std::unique_ptr<Db> a = build("a", 6);
  std::unique_ptr<Db> b = build("b", 12);

  VisibleRequest v{Actor::System()};
  v.limit = 5;
  VisiblePage vp;
  ASSERT_OK(b->Visible(v, &vp));
  ASSERT_FALSE(vp.next_cursor.empty());
  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "d100";
  w.limit = 5;
  WhoCanPage wp;
  ASSERT_OK(b->WhoCan(w, &wp));
  ASSERT_FALSE(wp.next_cursor.empty());
  TableRequest t{Actor::System()};
  t.limit = 5;
  TablePage tp;
  ASSERT_OK(b->AccountsTable(t, &tp));
  ASSERT_FALSE(tp.next_cursor.empty());

  v.cursor = vp.next_cursor;
  w.cursor = wp.next_cursor;
  t.cursor = tp.next_cursor;
  auto refused = [](const Status& s, const char* what) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << what << ": " << s.ToString();
    EXPECT_NE(s.message().find("another database"), std::string::npos) << s.ToString();
  };
  refused(a->Visible(v, &vp), "visible");
  refused(a->WhoCan(w, &wp), "who-can");
  refused(a->AccountsTable(t, &tp), "table");
  // On its own database, and on a checkpoint of it, it resumes.
  EXPECT_OK(b->Visible(v, &vp));
  EXPECT_OK(b->WhoCan(w, &wp));
  EXPECT_OK(b->AccountsTable(t, &tp));
  ASSERT_OK(b->Checkpoint(dir.Sub("b-copy")));
  std::unique_ptr<Db> copy = OpenDb(dir.Sub("b-copy"));
  EXPECT_OK(copy->Visible(v, &vp));
  EXPECT_EQ(vp.items.size(), 5u);
  EXPECT_OK(copy->WhoCan(w, &wp));
  EXPECT_OK(copy->AccountsTable(t, &tp));
}

}  // namespace
}  // namespace canopy
