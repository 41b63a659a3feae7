// Copyright (c) Canopy authors.
//
// The visibility-filtered scan and its companions (query.h,
// query.h): Visible with every filter and their combinations, other
// permissions and kinds, its order, paging and limits; Count, Check,
// Explain and WhoCan against the same oracle (tests/query/world.h); clear
// errors for bad input.

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>

#include "tests/query/world.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::AllPages;
using testing::Describe;
using testing::KeysOf;
using testing::OpenDb;
using testing::TempDir;
using testing::World;

class VisibleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb(dir_.Sub("db"));
    world_ = std::make_unique<World>(db_.get());
    world_->BuildStandard();
  }

  // True when the request's `within` is an account its viewer cannot see;
  // then checks that Visible and Count refuse it exactly as a missing one.
  bool ExpectWithinOutOfSight(const VisibleRequest& request) {
    if (request.within == kNoId || request.viewer.is_system() ||
        world_->SeesAccount(request.viewer.user(), request.within)) {
      return false;
    }
    const std::string missing = "within: no account with id " + std::to_string(request.within);
    VisiblePage page;
    Status s = db_->Visible(request, &page);
    EXPECT_EQ(s.code(), Code::kNotFound) << Describe(request) << ": " << s.ToString();
    EXPECT_EQ(s.message(), missing);
    auto n = db_->Count(request);
    EXPECT_EQ(n.status().code(), Code::kNotFound) << Describe(request);
    EXPECT_EQ(n.status().message(), missing);
    return true;
  }

  // One big page (the selection is far below the limit).
  std::vector<std::string> VisibleKeys(const VisibleRequest& request) {
    VisibleRequest r = request;
    r.limit = 10000;
    r.cursor.clear();
    VisiblePage page;
    Status s = db_->Visible(r, &page);
    EXPECT_TRUE(s.ok()) << Describe(r) << ": " << s.ToString();
    EXPECT_TRUE(page.next_cursor.empty()) << Describe(r);
    return KeysOf(page.items);
  }

  // Visible and Count against the oracle for one request.
  void ExpectMatchesOracle(const VisibleRequest& request) {
    if (ExpectWithinOutOfSight(request)) return;
    const auto want = world_->ExpectedVisible(request);
    EXPECT_EQ(VisibleKeys(request), want) << Describe(request);
    auto n = db_->Count(request);
    ASSERT_TRUE(n.ok()) << Describe(request) << ": " << n.status().ToString();
    EXPECT_EQ(*n, want.size()) << Describe(request);
  }

  UserId U(const std::string& login) const { return world_->user(login); }
  AccountId A(const std::string& key) const { return world_->account(key); }

  // The oracle's owner of a key of a kind.
  AccountId OwnerOf(EntityKind kind, const std::string& key) const {
    for (const auto& [id, e] : world_->entities()) {
      if (e.kind == kind && e.key == key) return e.owner;
    }
    ADD_FAILURE() << "no entity " << key;
    return kNoId;
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<World> world_;
};

// Every viewer, with each filter alone and in combination, against the
// oracle; Count must equal the number of items every time.
TEST_F(VisibleTest, FiltersAndCombinationsMatchTheOracle) {
  const std::vector<std::optional<std::string>> types = {std::nullopt, "tracker", ""};
  const std::vector<std::string> prefixes = {"", "Van", "Truck 1"};
  const std::vector<std::optional<AttributeFilter>> attributes = {std::nullopt,
                                                                  AttributeFilter{"color", "red"}};
  const std::vector<AccountId> withins = {kNoId, A("acme"), A("a"), A("a1"), A("b"), A("g1")};
  size_t requests = 0, non_empty = 0;
  for (UserId viewer : world_->viewers()) {
    for (const char* perm : {"", "device.assign"}) {
      for (const auto& type : types) {
        for (const auto& prefix : prefixes) {
          for (const auto& attribute : attributes) {
            for (AccountId within : withins) {
              for (bool direct_only : {false, true}) {
                // Direct-only for the system actor without `within` is not
                // defined by query.h (it holds no membership): skipped.
                if (viewer == kNoId && direct_only && within == kNoId) continue;
                VisibleRequest r{World::ActorOf(viewer)};
                r.permission = perm;
                r.type = type;
                r.name_prefix = prefix;
                r.attribute = attribute;
                r.within = within;
                r.direct_only = direct_only;
                ExpectMatchesOracle(r);
                ++requests;
                non_empty += !world_->ExpectedVisible(r).empty();
                if (HasFailure()) return;  // one clear failure, not thousands
              }
            }
          }
        }
      }
    }
  }
  // The grid must exercise real selections, not only empty ones.
  EXPECT_GT(non_empty, requests / 5);
}

// A few selections spelled out, so that the oracle itself is checked.
TEST_F(VisibleTest, SpelledOutSelections) {
  VisibleRequest r{Actor::User(U("a-direct"))};
  // a-direct: device_manager on a alone: a's devices (slots 1 and 10 of 12):
  // dev-01 "Truck 1" obd, dev-10 "Truck 10" "", dev-13 "Vanguard 13" "",
  // dev-22 "Vanguard 22" tracker, dev-25 "Van 25" tracker, dev-34 "Van 34"
  // tracker.
  EXPECT_EQ(VisibleKeys(r),
            (std::vector<std::string>{"dev-01", "dev-10", "dev-13", "dev-22", "dev-25", "dev-34"}));
  r.type = "obd";
  EXPECT_EQ(VisibleKeys(r), std::vector<std::string>{"dev-01"});
  r.type = "";  // an empty type is a type too
  EXPECT_EQ(VisibleKeys(r), (std::vector<std::string>{"dev-10", "dev-13"}));
  r.type.reset();
  r.name_prefix = "Vanguard";
  EXPECT_EQ(VisibleKeys(r), (std::vector<std::string>{"dev-13", "dev-22"}));
  r.name_prefix = "Van";  // "Van N" and "Vanguard N"
  EXPECT_EQ(VisibleKeys(r), (std::vector<std::string>{"dev-13", "dev-22", "dev-25", "dev-34"}));
  r.type = "tracker";
  EXPECT_EQ(VisibleKeys(r), (std::vector<std::string>{"dev-22", "dev-25", "dev-34"}));
  r.type.reset();
  r.name_prefix.clear();
  r.attribute = AttributeFilter{"serial", "S22"};
  EXPECT_EQ(VisibleKeys(r), std::vector<std::string>{"dev-22"});
  // The device twin of asset-0 is a device; asset-0 the asset is not.
  VisibleRequest mix{Actor::User(U("mix"))};
  mix.name_prefix = "Van twin";
  EXPECT_EQ(VisibleKeys(mix), std::vector<std::string>{});  // b1 is not in mix's reach
  VisibleRequest root{Actor::User(U("root-viewer"))};
  root.name_prefix = "Van twin";
  EXPECT_EQ(VisibleKeys(root), std::vector<std::string>{"asset-0"});
  // The items carry the index fields of the entity.
  VisibleRequest all{Actor::System()};
  all.limit = 10000;
  VisiblePage page;
  ASSERT_OK(db_->Visible(all, &page));
  ASSERT_EQ(page.items.size(), 37u);
  for (const VisibleItem& item : page.items) {
    const auto& e = world_->entities().at(item.id);
    EXPECT_EQ(item.key, e.key);
    EXPECT_EQ(item.name, e.name);
    EXPECT_EQ(item.type, e.type);
    EXPECT_EQ(item.owner, e.owner);
  }
}

// Each kind with each of its permissions.
TEST_F(VisibleTest, OtherKindsAndPermissions) {
  for (UserId viewer : world_->viewers()) {
    for (EntityKind kind : kAllEntityKinds) {
      for (const char* action : {"read", "write", "assign", "delete"}) {
        VisibleRequest r{World::ActorOf(viewer)};
        r.kind = kind;
        r.permission = std::string(EntityKindName(kind)) + "." + action;
        ExpectMatchesOracle(r);
        r.within = A("a");
        ExpectMatchesOracle(r);
      }
    }
  }
  // Spelled out: the assigner may assign a's devices everywhere below a,
  // but read only a1x's (its viewer membership).
  VisibleRequest read{Actor::User(U("assigner"))};
  EXPECT_EQ(VisibleKeys(read), (std::vector<std::string>{"dev-03", "dev-15", "dev-27"}));
  read.permission = "device.assign";
  EXPECT_EQ(VisibleKeys(read).size(), 18u);  // a, a1, a1x, a2: 6 + 6 + 3 + 3
  VisibleRequest assets{Actor::User(U("a-direct"))};
  assets.kind = EntityKind::kAsset;
  EXPECT_EQ(VisibleKeys(assets), (std::vector<std::string>{"asset-1", "asset-6"}));
}

// Tree order of the owner, then id; the same on every call; after moves and
// reassigns too.
TEST_F(VisibleTest, OrderIsTreeOrderThenIdAndStable) {
  auto check_order = [&](const VisibleRequest& r) {
    std::vector<AccountId> tree = world_->TreeOrder();
    std::map<AccountId, size_t> pos;
    for (size_t i = 0; i < tree.size(); ++i) pos[tree[i]] = i;
    VisibleRequest big = r;
    big.limit = 10000;
    VisiblePage first, again;
    ASSERT_OK(db_->Visible(big, &first));
    ASSERT_OK(db_->Visible(big, &again));
    EXPECT_EQ(KeysOf(first.items), KeysOf(again.items));
    for (size_t i = 1; i < first.items.size(); ++i) {
      const auto& p = first.items[i - 1];
      const auto& q = first.items[i];
      EXPECT_TRUE(pos[p.owner] < pos[q.owner] || (p.owner == q.owner && p.id < q.id))
          << p.key << " before " << q.key;
    }
    EXPECT_EQ(KeysOf(first.items), world_->ExpectedVisible(r));
  };
  check_order(VisibleRequest{Actor::System()});
  check_order(VisibleRequest{Actor::User(U("root-viewer"))});
  // Creation order is not tree order: acme's dev-12 comes before a's dev-01,
  // and all of acme's tree (dev-35 in a1) before globex's dev-08.
  VisibleRequest sys{Actor::System()};
  auto keys = VisibleKeys(sys);
  auto at = [&](const char* key) {
    return std::find(keys.begin(), keys.end(), key) - keys.begin();
  };
  EXPECT_EQ(keys.front(), "dev-00");
  EXPECT_LT(at("dev-12"), at("dev-01"));
  EXPECT_LT(at("dev-35"), at("dev-08"));
  EXPECT_LT(at("dev-01"), at("dev-10"));  // same owner: id order

  world_->Move("c", "a1");
  world_->Move("b", "a2");
  world_->Reassign(EntityKind::kDevice, "dev-00", "g1");
  world_->AddEntity(EntityKind::kDevice, "late", "a", "Van late", "tracker");
  check_order(VisibleRequest{Actor::System()});
  check_order(VisibleRequest{Actor::User(U("a-admin"))});
  check_order(VisibleRequest{Actor::User(U("mix"))});
}

// Paging with every page size from 1 to N+1 yields the one-page sequence;
// every page but the last is full, and next_cursor is empty exactly on the
// last page (also when it is exactly full).
TEST_F(VisibleTest, EveryPageSizeGivesTheSameSequence) {
  std::vector<VisibleRequest> requests;
  requests.push_back(VisibleRequest{Actor::User(U("root-viewer"))});
  VisibleRequest mix{Actor::User(U("mix"))};
  mix.type = "tracker";
  requests.push_back(mix);
  VisibleRequest within{Actor::System()};
  within.within = A("a");
  within.name_prefix = "Van";
  requests.push_back(within);
  VisibleRequest assets{Actor::System()};
  assets.kind = EntityKind::kAsset;
  requests.push_back(assets);
  for (const VisibleRequest& r : requests) {
    const auto want = world_->ExpectedVisible(r);
    ASSERT_GE(want.size(), 3u) << Describe(r);
    for (size_t limit = 1; limit <= want.size() + 1; ++limit) {
      SCOPED_TRACE(Describe(r) + " limit " + std::to_string(limit));
      std::vector<size_t> pages;
      auto got = AllPages(db_.get(), r, limit, &pages);
      EXPECT_EQ(KeysOf(got), want);
      ASSERT_EQ(pages.size(), (want.size() + limit - 1) / limit);
      for (size_t i = 0; i + 1 < pages.size(); ++i) EXPECT_EQ(pages[i], limit);
    }
  }
  // An empty selection: one empty page, no cursor.
  VisibleRequest none{Actor::User(U("nobody"))};
  VisiblePage page;
  ASSERT_OK(db_->Visible(none, &page));
  EXPECT_TRUE(page.items.empty());
  EXPECT_TRUE(page.next_cursor.empty());
}

TEST_F(VisibleTest, LimitIsBounded) {
  VisibleRequest r{Actor::System()};
  VisiblePage page;
  for (size_t bad : {size_t{0}, size_t{10001}, size_t{1} << 40}) {
    r.limit = bad;
    Status s = db_->Visible(r, &page);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("limit"), std::string::npos) << s.ToString();
  }
  r.limit = 10000;
  ASSERT_OK(db_->Visible(r, &page));
  EXPECT_EQ(page.items.size(), 37u);
  r.limit = 1;
  ASSERT_OK(db_->Visible(r, &page));
  EXPECT_EQ(page.items.size(), 1u);
  EXPECT_FALSE(page.next_cursor.empty());

  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "dev-00";
  WhoCanPage wp;
  for (size_t bad : {size_t{0}, size_t{10001}}) {
    w.limit = bad;
    EXPECT_EQ(db_->WhoCan(w, &wp).code(), Code::kInvalidArgument) << bad;
  }
  TableRequest t{Actor::System()};
  TablePage tp;
  for (size_t bad : {size_t{0}, size_t{10001}}) {
    t.limit = bad;
    EXPECT_EQ(db_->AccountsTable(t, &tp).code(), Code::kInvalidArgument) << bad;
  }
}

// The stream gives the whole selection; it ignores limit and cursor.
TEST_F(VisibleTest, IteratorStreamsTheSameSelection) {
  for (UserId viewer : world_->viewers()) {
    for (AccountId within : {AccountId(), A("a")}) {
      VisibleRequest r{World::ActorOf(viewer)};
      r.within = within;
      r.limit = 0;
      r.cursor = "not a cursor";
      std::unique_ptr<VisibleIterator> it;
      if (within != kNoId && !world_->SeesAccount(viewer, within)) {
        // Out of sight: as a missing account.
        Status s = db_->NewVisibleIterator(r, &it);
        EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
        EXPECT_EQ(s.message(), "within: no account with id " + std::to_string(within));
        continue;
      }
      ASSERT_OK(db_->NewVisibleIterator(r, &it));
      std::vector<std::string> keys;
      for (; it->Valid(); it->Next()) {
        keys.emplace_back(it->key());
        const auto& e = world_->entities().at(it->id());
        EXPECT_EQ(it->name(), e.name);
        EXPECT_EQ(it->type(), e.type);
        EXPECT_EQ(it->owner(), e.owner);
      }
      EXPECT_OK(it->status());
      EXPECT_EQ(keys, world_->ExpectedVisible(r)) << Describe(r);
    }
  }
}

// Count stays exact (with and without filters, within, direct_only) after
// moves, reassigns, deletes, membership changes and account deletes.
TEST_F(VisibleTest, CountAndVisibleFollowMutations) {
  world_->Move("b", "a2");
  world_->Move("a1x", "a2");  // stays below 'a', where its member 'assigner' was created
  world_->Reassign(EntityKind::kDevice, "dev-00", "a1x");
  world_->Reassign(EntityKind::kDevice, "dev-09", "b1");
  world_->RemoveEntity(EntityKind::kDevice, "dev-13");
  world_->AddEntity(EntityKind::kDevice, "new-1", "a2", "Truck new", "obd");
  world_->AddAccount("a3", "a");
  world_->AddEntity(EntityKind::kDevice, "new-2", "a3", "Van new", "tracker");
  world_->AddMember("nobody", "b", "viewer", true);
  world_->SetDisabled("mix", true);
  world_->SetDisabled("disabled", false);
  world_->RemoveAccount("a1", "a2");  // a leaf now that a1x moved
  world_->RemoveAccount("g1", "globex");
  ASSERT_OK(db_->CheckIntegrity(nullptr));
  const std::vector<AccountId> withins = {kNoId, A("acme"), A("a"), A("a2"), A("c")};
  for (UserId viewer : world_->viewers()) {
    for (AccountId within : withins) {
      for (bool direct_only : {false, true}) {
        if (viewer == kNoId && direct_only && within == kNoId) continue;
        for (const auto& type : {std::optional<std::string>(), std::optional<std::string>("obd")}) {
          VisibleRequest r{World::ActorOf(viewer)};
          r.within = within;
          r.direct_only = direct_only;
          r.type = type;
          ExpectMatchesOracle(r);
          r.kind = EntityKind::kAsset;
          ExpectMatchesOracle(r);
          if (HasFailure()) return;
        }
      }
    }
  }
}

TEST_F(VisibleTest, CheckAgreesWithVisibleAndTheOracle) {
  for (UserId viewer : world_->viewers()) {
    if (viewer == kNoId) continue;
    for (const char* perm : {"device.read", "device.assign", "device.delete"}) {
      VisibleRequest r{Actor::User(viewer)};
      r.permission = perm;
      auto visible = VisibleKeys(r);
      std::set<std::string> seen(visible.begin(), visible.end());
      for (const auto& [id, e] : world_->entities()) {
        if (e.kind != EntityKind::kDevice) continue;
        const bool c = testing::Allowed(*db_, viewer, perm, e.key);
        EXPECT_EQ(c, seen.count(e.key) > 0) << perm << " " << e.key << " user " << viewer;
        EXPECT_EQ(c, world_->Allows(viewer, perm, e.owner)) << perm << " " << e.key;
      }
    }
    // Another kind: the permission names it.
    EXPECT_EQ(testing::Allowed(*db_, viewer, "asset.read", "asset-0"),
              world_->Allows(viewer, "asset.read", OwnerOf(EntityKind::kAsset, "asset-0")));
  }
}

TEST_F(VisibleTest, ExplainNamesTheGrantingMembership) {
  // a-admin on a device of a1x: account_admin on a, branch, path a/a1/a1x.
  Explanation e;
  ASSERT_OK(db_->Explain(U("a-admin"), "device.read", "dev-03", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.entity, db_->FindEntity(EntityKind::kDevice, "dev-03")->id);
  EXPECT_EQ(e.owner, A("a1x"));
  EXPECT_EQ(e.via_account, A("a"));
  EXPECT_EQ(e.via_role_name, "account_admin");
  EXPECT_EQ(e.via_role, db_->FindRole(A("acme"), "account_admin")->id);
  EXPECT_TRUE(e.via_branch);
  EXPECT_EQ(e.path, (std::vector<std::string>{"a", "a1", "a1x"}));
  EXPECT_NE(e.reason.find("account_admin"), std::string::npos) << e.reason;
  // The assigner reads dev-03 through its own viewer membership on a1x, but
  // assigns it through the custom role on a.
  ASSERT_OK(db_->Explain(U("assigner"), "device.read", "dev-03", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.via_account, A("a1x"));
  EXPECT_EQ(e.via_role_name, "viewer");
  EXPECT_FALSE(e.via_branch);
  EXPECT_EQ(e.path, std::vector<std::string>{"a1x"});
  ASSERT_OK(db_->Explain(U("assigner"), "device.assign", "dev-03", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.via_account, A("a"));
  EXPECT_EQ(e.via_role_name, "assigner");
  EXPECT_EQ(e.path, (std::vector<std::string>{"a", "a1", "a1x"}));
  // What the user cannot see is "no such device", worded exactly as a key
  // that names nothing: neither check nor explain tells the two apart.
  Status hidden = db_->Explain(U("a-direct"), "device.read", "dev-02", &e);  // in a1
  EXPECT_EQ(hidden.code(), Code::kNotFound);
  EXPECT_EQ(hidden.message(), "no device with key 'dev-02'");
  EXPECT_EQ(db_->Check(U("a-direct"), "device.read", "dev-02").status().message(),
            "no device with key 'dev-02'");
  EXPECT_EQ(db_->Check(U("a-direct"), "device.read", "dev-nope").status().message(),
            "no device with key 'dev-nope'");
  EXPECT_EQ(db_->Explain(U("nobody"), "device.read", "dev-02", &e).code(), Code::kNotFound);
  // Denials of what the user sees say why.
  ASSERT_OK(db_->Explain(U("disabled"), "device.read", "dev-00", &e));
  EXPECT_FALSE(e.allowed);
  EXPECT_NE(e.reason.find("disabled"), std::string::npos) << e.reason;
  ASSERT_OK(db_->Explain(U("assigner"), "device.delete", "dev-03", &e));
  EXPECT_FALSE(e.allowed);
  EXPECT_NE(e.reason.find("lacks device.delete"), std::string::npos) << e.reason;

  // For everyone and everything: Explain agrees with Check, and an allowed
  // answer names a real membership that grants it, with its path.
  for (UserId viewer : world_->viewers()) {
    if (viewer == kNoId) continue;
    const auto& memberships = world_->users().at(viewer).memberships;
    for (const char* perm : {"device.read", "device.assign"}) {
      for (const auto& [id, ent] : world_->entities()) {
        if (ent.kind != EntityKind::kDevice) continue;
        SCOPED_TRACE(std::string(perm) + " " + ent.key + " user " + std::to_string(viewer));
        Status x = db_->Explain(viewer, perm, ent.key, &e);
        if (x.IsNotFound()) {  // out of the viewer's sight: check says so too
          EXPECT_EQ(db_->Check(viewer, perm, ent.key).status().message(), x.message());
          EXPECT_FALSE(world_->Allows(viewer, perm, ent.owner));
          continue;
        }
        ASSERT_OK(x);
        EXPECT_EQ(e.allowed, testing::Allowed(*db_, viewer, perm, ent.key));
        // A disabled user is denied everything, without a word about the key.
        if (e.reason.find("is disabled") != std::string::npos) {
          EXPECT_FALSE(e.allowed);
          EXPECT_EQ(e.entity, kNoId);
          continue;
        }
        EXPECT_EQ(e.owner, ent.owner);
        EXPECT_EQ(e.entity, id);
        EXPECT_FALSE(e.reason.empty());
        if (!e.allowed) continue;
        auto m = memberships.find(e.via_account);
        ASSERT_TRUE(m != memberships.end()) << "no membership on " << e.via_account;
        EXPECT_EQ(m->second.role, e.via_role_name);
        EXPECT_EQ(m->second.branch, e.via_branch);
        EXPECT_TRUE(world_->RoleHas(e.via_role_name, perm));
        EXPECT_TRUE(e.via_account == ent.owner ||
                    (e.via_branch && world_->IsAncestor(e.via_account, ent.owner)));
        ASSERT_FALSE(e.path.empty());
        EXPECT_EQ(e.path.front(), world_->account_key(e.via_account));
        EXPECT_EQ(e.path.back(), world_->account_key(ent.owner));
        EXPECT_EQ(e.path.size(), world_->Depth(ent.owner) - world_->Depth(e.via_account) + 1);
      }
    }
  }
}

// who_can lists exactly the users for whom Check is true, in user id
// order, whatever the page size.
TEST_F(VisibleTest, WhoCanAgreesWithCheck) {
  size_t listed = 0;
  for (const auto& [id, ent] : world_->entities()) {
    if (ent.kind != EntityKind::kDevice && ent.kind != EntityKind::kAsset) continue;
    const std::string kind = EntityKindName(ent.kind);
    for (const std::string& perm : {kind + ".read", kind + ".assign"}) {
      std::vector<UserId> want;
      for (const auto& [uid, u] : world_->users()) {
        const bool c = testing::Allowed(*db_, uid, perm, ent.key);
        if (c) want.push_back(uid);
        EXPECT_EQ(c, world_->Allows(uid, perm, ent.owner)) << perm << " " << ent.key;
      }
      for (size_t limit : {1, 2, 3, 100}) {
        SCOPED_TRACE(perm + " " + ent.key + " limit " + std::to_string(limit));
        WhoCanRequest r;
        r.permission = perm;
        r.entity_key = ent.key;
        r.limit = limit;
        std::vector<UserId> got;
        for (int guard = 0; guard < 100; ++guard) {
          WhoCanPage page;
          ASSERT_OK(db_->WhoCan(r, &page));
          EXPECT_LE(page.items.size(), limit);
          if (!page.next_cursor.empty()) {
            EXPECT_EQ(page.items.size(), limit);
          }
          for (const WhoCanItem& item : page.items) {
            got.push_back(item.user);
            const auto& u = world_->users().at(item.user);
            EXPECT_EQ(item.login, u.login);
            auto m = u.memberships.find(item.via_account);
            ASSERT_TRUE(m != u.memberships.end()) << "no membership on " << item.via_account;
            EXPECT_EQ(m->second.branch, item.branch);
            EXPECT_EQ(db_->GetRole(item.role)->name, m->second.role);
            EXPECT_TRUE(world_->RoleHas(m->second.role, perm));
          }
          if (page.next_cursor.empty()) break;
          r.cursor = page.next_cursor;
        }
        EXPECT_EQ(got, want);
        listed += got.size();
      }
    }
  }
  EXPECT_GT(listed, 100u);
}

TEST_F(VisibleTest, BadInputGetsClearErrors) {
  auto expect = [](const Status& s, Code code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
  };
  VisiblePage page;
  VisibleRequest r{Actor::User(424242)};
  expect(db_->Visible(r, &page), Code::kNotFound, "no user with id 424242");
  expect(db_->Count(r).status(), Code::kNotFound, "no user with id 424242");
  std::unique_ptr<VisibleIterator> it;
  expect(db_->NewVisibleIterator(r, &it), Code::kNotFound, "no user with id 424242");
  EXPECT_EQ(it, nullptr);

  r = VisibleRequest{Actor::User(U("a-admin"))};
  r.permission = "device.fly";
  expect(db_->Visible(r, &page), Code::kInvalidArgument, "unknown permission 'device.fly'");
  expect(db_->Count(r).status(), Code::kInvalidArgument, "unknown permission 'device.fly'");
  r.permission = "asset.read";  // another kind's permission
  expect(db_->Visible(r, &page), Code::kInvalidArgument, "is not a permission on device");
  expect(db_->Count(r).status(), Code::kInvalidArgument, "is not a permission on device");
  expect(db_->NewVisibleIterator(r, &it), Code::kInvalidArgument, "is not a permission");
  r.permission = "account.read";  // not an entity permission
  expect(db_->Visible(r, &page), Code::kInvalidArgument, "is not a permission on device");
  r.permission.clear();
  r.kind = static_cast<EntityKind>(9);
  expect(db_->Visible(r, &page), Code::kInvalidArgument, "unknown entity kind");
  expect(db_->Count(r).status(), Code::kInvalidArgument, "unknown entity kind");
  r.kind = EntityKind::kDevice;
  r.within = 777777;
  expect(db_->Visible(r, &page), Code::kNotFound, "777777");
  expect(db_->Count(r).status(), Code::kNotFound, "777777");
  r.within = kNoId;
  r.name_prefix = "\xff";
  expect(db_->Visible(r, &page), Code::kInvalidArgument, "UTF-8");
  r.name_prefix.clear();
  expect(db_->Visible(r, nullptr), Code::kInvalidArgument, "null");
  expect(db_->NewVisibleIterator(r, nullptr), Code::kInvalidArgument, "null");

  expect(db_->Check(424242, "device.read", "dev-00").status(), Code::kNotFound, "424242");
  expect(db_->Check(U("a-admin"), "device.read", "no-such-device").status(), Code::kNotFound,
         "no device with key 'no-such-device'");
  // The key exists, but as an asset: the kind follows the permission.
  expect(db_->Check(U("a-admin"), "asset.read", "dev-00").status(), Code::kNotFound,
         "no asset with key 'dev-00'");
  expect(db_->Check(U("a-admin"), "device.fly", "dev-00").status(), Code::kInvalidArgument,
         "unknown permission");
  // An account-level permission names an account.
  expect(db_->Check(U("a-admin"), "account.read", "dev-00").status(), Code::kNotFound,
         "no account with key 'dev-00'");
  expect(db_->Check(U("a-admin"), "", "dev-00").status(), Code::kInvalidArgument,
         "unknown permission");

  Explanation e;
  expect(db_->Explain(U("a-admin"), "device.read", "dev-00", nullptr), Code::kInvalidArgument,
         "null");
  expect(db_->Explain(424242, "device.read", "dev-00", &e), Code::kNotFound, "424242");
  expect(db_->Explain(U("a-admin"), "device.read", "nope", &e), Code::kNotFound, "nope");
  expect(db_->Explain(U("a-admin"), "user.read", "dev-00", &e), Code::kNotFound,
         "no account with key 'dev-00'");

  WhoCanRequest w;
  w.permission = "device.read";
  w.entity_key = "nope";
  WhoCanPage wp;
  expect(db_->WhoCan(w, &wp), Code::kNotFound, "no device with key 'nope'");
  w.entity_key = "dev-00";
  expect(db_->WhoCan(w, nullptr), Code::kInvalidArgument, "null");
  w.permission = "account.read";  // names an account
  expect(db_->WhoCan(w, &wp), Code::kNotFound, "no account with key 'dev-00'");

  TableRequest t{Actor::User(424242)};
  TablePage tp;
  expect(db_->AccountsTable(t, &tp), Code::kNotFound, "424242");
  expect(db_->AccountsTable(TableRequest{Actor::System()}, nullptr), Code::kInvalidArgument,
         "null");
  t = TableRequest{Actor::System()};
  t.root = 777777;
  expect(db_->AccountsTable(t, &tp), Code::kNotFound, "777777");
  t.root = kNoId;
  t.sort = static_cast<TableSort>(42);
  expect(db_->AccountsTable(t, &tp), Code::kInvalidArgument, "sort");
  expect(db_->Summary(777777).status(), Code::kNotFound, "777777");
  expect(db_->GraphJson(Actor::User(424242), kNoId, 0).status(), Code::kNotFound, "424242");
  expect(db_->GraphDot(Actor::System(), 777777, 0).status(), Code::kNotFound, "777777");
  expect(db_->Ancestors(777777).status(), Code::kNotFound, "777777");
  expect(db_->Descendants(777777, 0).status(), Code::kNotFound, "777777");
  // Nothing above changed anything.
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

// A disabled viewer sees nothing, counts zero, is never listed by who_can;
// switched back on it sees its branch again.
TEST_F(VisibleTest, DisabledViewerHoldsNothing) {
  const UserId d = U("disabled");
  VisibleRequest r{Actor::User(d)};
  EXPECT_TRUE(VisibleKeys(r).empty());
  EXPECT_EQ(*db_->Count(r), 0u);
  EXPECT_FALSE(testing::Allowed(*db_, d, "device.read", "dev-00"));
  TableRequest t{Actor::User(d)};
  TablePage tp;
  EXPECT_EQ(db_->AccountsTable(t, &tp).code(), Code::kPermissionDenied);  // as reads as it
  world_->SetDisabled("disabled", false);
  EXPECT_EQ(VisibleKeys(r).size(), 31u);  // acme's whole tree
  EXPECT_EQ(*db_->Count(r), 31u);
  ExpectMatchesOracle(r);
}

}  // namespace
}  // namespace canopy
