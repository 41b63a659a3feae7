// Copyright (c) Canopy authors.

#include <gtest/gtest.h>

#include "query/permissions.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::KeysIn;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::OpenDb;
using testing::TempDir;

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = OpenDb(dir_.Sub("db")); }

  // Runs `fn`, expects `code`, a message containing `text`, and no change.
  template <typename Fn>
  void ExpectRefused(Fn fn, Code code, const std::string& text) {
    auto before = DumpAll(db_.get());
    Status s = testing::StatusOf(fn());
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
    EXPECT_EQ(before, DumpAll(db_.get())) << "refused call changed the database: " << s.ToString();
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(AccountsTest, CreateGetFindUpdate) {
  AccountSpec spec;
  spec.key = "acme";
  spec.name = "ACME Corp";
  spec.attributes = {{"home_dashboard", "fleet"}};
  spec.settings.sub_account_management = true;
  auto id = db_->CreateAccount(Actor::System(), spec);
  ASSERT_OK(id);
  auto a = db_->GetAccount(*id);
  ASSERT_OK(a);
  EXPECT_EQ(a->key, "acme");
  EXPECT_EQ(a->name, "ACME Corp");
  EXPECT_EQ(a->depth, 1u);
  EXPECT_EQ(a->parent, kNoId);
  EXPECT_EQ(a->attributes.at("home_dashboard"), "fleet");
  EXPECT_GT(a->created_us, 0);
  AccountId child = MakeAccount(db_.get(), "acme-a", *id);
  auto c = db_->FindAccount("acme-a");
  ASSERT_OK(c);
  EXPECT_EQ(c->id, child);
  EXPECT_EQ(c->parent, *id);
  EXPECT_EQ(c->depth, 2u);

  AccountPatch patch;
  patch.name = "Nested customer A";
  patch.attributes = Attributes{{"address", "Main St 1"}};
  ASSERT_OK(db_->UpdateAccount(Actor::System(), child, patch));
  c = db_->GetAccount(child);
  EXPECT_EQ(c->name, "Nested customer A");
  EXPECT_EQ(c->attributes.size(), 1u);
  EXPECT_EQ(c->attributes.at("address"), "Main St 1");
  EXPECT_GE(c->updated_us, c->created_us);
  EXPECT_EQ(db_->Roots(), std::vector<AccountId>{*id});
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccountsTest, BadInputIsRefusedAndChangesNothing) {
  AccountId root = MakeAccount(db_.get(), "acme");
  auto create = [&](std::string key, std::string name, AccountId parent) {
    return [=, this] {
      AccountSpec s;
      s.key = key;
      s.name = name;
      s.parent = parent;
      return db_->CreateAccount(Actor::System(), s);
    };
  };
  ExpectRefused(create("", "x", root), Code::kInvalidArgument, "account key is empty");
  ExpectRefused(create("k", "", root), Code::kInvalidArgument, "account name is empty");
  ExpectRefused(create(std::string(257, 'k'), "x", root), Code::kInvalidArgument, "257 bytes");
  ExpectRefused(create("k", std::string(257, 'n'), root), Code::kInvalidArgument, "limit is 256");
  ExpectRefused(create("k\xff", "x", root), Code::kInvalidArgument, "not valid UTF-8");
  ExpectRefused(create("k", "\xc0\xaf", root), Code::kInvalidArgument, "not valid UTF-8");
  ExpectRefused(create("k", "\xed\xa0\x80", root), Code::kInvalidArgument, "not valid UTF-8");
  ExpectRefused(create(std::string("k\0x", 3), "x", root), Code::kInvalidArgument, "NUL");
  ExpectRefused(create("acme", "again", kNoId), Code::kAlreadyExists, "'acme' is taken");
  ExpectRefused(create("k", "x", 999), Code::kNotFound, "no account with id 999");
  ExpectRefused(
      [&] {
        AccountSpec s;
        s.key = "k";
        s.name = "x";
        s.attributes = {{"", "v"}};
        return db_->CreateAccount(Actor::System(), s);
      },
      Code::kInvalidArgument, "attribute name is empty");
  ExpectRefused([&] { return db_->UpdateAccount(Actor::System(), 999, AccountPatch{}); },
                Code::kNotFound, "999");
  ExpectRefused(
      [&] {
        AccountPatch p;
        p.name = std::string(300, 'x');
        return db_->UpdateAccount(Actor::System(), root, p);
      },
      Code::kInvalidArgument, "account name");
  // A valid UTF-8 name of exactly 256 bytes is fine.
  EXPECT_OK(create("k", std::string(254, 'a') + "\xc3\xa9", root)());
}

TEST_F(AccountsTest, DepthLimitIsEnforced) {
  Options o;
  o.max_depth = 3;
  auto db = OpenDb(dir_.Sub("shallow"), o);
  AccountId a = MakeAccount(db.get(), "a");
  AccountId b = MakeAccount(db.get(), "b", a);
  AccountId c = MakeAccount(db.get(), "c", b);
  AccountSpec s;
  s.key = "d";
  s.name = "d";
  s.parent = c;
  auto before = DumpAll(db.get());
  auto r = db->CreateAccount(Actor::System(), s);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("depth limit of 3"), std::string::npos);
  // A move that would pass it is refused too.
  AccountId x = MakeAccount(db.get(), "x");
  AccountId y = MakeAccount(db.get(), "y", x);
  MakeAccount(db.get(), "z", y);
  before = DumpAll(db.get());
  Status m = db->MoveAccount(Actor::System(), y, b);
  EXPECT_EQ(m.code(), Code::kFailedPrecondition) << m.ToString();
  EXPECT_EQ(before, DumpAll(db.get()));
  EXPECT_OK(db->MoveAccount(Actor::System(), y, a));  // depth 2..3: fits
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// A move past the depth limit tells the subtree's depth only to an actor
// that sees its deepest account: it says nothing of accounts out of sight.
TEST_F(AccountsTest, AMoveIsJudgedOnAllThatMovesBeforeItsDepth) {
  Options o;
  o.max_depth = 4;
  auto db = OpenDb(dir_.Sub("shallow"), o);
  AccountSpec open_spec;
  open_spec.key = "t";
  open_spec.name = "t";
  open_spec.settings.sub_account_management = true;
  AccountId t = *db->CreateAccount(Actor::System(), open_spec);
  auto child = [&](const std::string& key, AccountId parent) {
    AccountSpec s = open_spec;
    s.key = key;
    s.name = key;
    s.parent = parent;
    return *db->CreateAccount(Actor::System(), s);
  };
  AccountId a = child("a", t), a1 = child("a1", a);
  AccountId a1x = child("a1x", a1);
  AccountId b = child("b", t), b1 = child("b1", b);
  (void)b;
  RoleId mover = *db->CreateRole(Actor::System(), t, "mover", {"account.read", "account.move"});
  UserId u = testing::MakeUser(db.get(), "mover@t", t);
  for (AccountId on : {t, a, b1}) ASSERT_OK(db->Invite(Actor::System(), u, on, mover, false));
  auto before = DumpAll(db.get());
  // a1 and a1x would move too, out of the mover's sight: refused for
  // that, before the depth is measured, and without naming them.
  Status s = db->MoveAccount(Actor::User(u), a, b1);
  EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
  EXPECT_EQ(s.message(),
            "cannot move account 'a' with its sub-accounts: permission account.move missing on an "
            "account user 'mover@t' cannot see");
  // With account.move on each account that moves, it sees them all, and
  // is told how deep the subtree is.
  for (AccountId on : {a1, a1x}) ASSERT_OK(db->Invite(Actor::System(), u, on, mover, false));
  before = DumpAll(db.get());
  s = db->MoveAccount(Actor::User(u), a, b1);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message(),
            "moving account 'a' under 'b1' would put its subtree 3 levels deep below depth 3, past "
            "the depth limit of 4");
  s = db->MoveAccount(Actor::System(), a, b1);
  EXPECT_NE(s.message().find("its subtree 3 levels deep below depth"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(before, DumpAll(db.get()));
}

TEST_F(AccountsTest, MoveCarriesTheSubtreeAndItsDevices) {
  AccountId root = MakeAccount(db_.get(), "root");
  AccountId a = MakeAccount(db_.get(), "a", root);
  AccountId b = MakeAccount(db_.get(), "b", root);
  AccountId a1 = MakeAccount(db_.get(), "a1", a);
  MakeDevice(db_.get(), "d-a", a);
  MakeDevice(db_.get(), "d-a1", a1, "U-1");
  MakeDevice(db_.get(), "d-b", b);
  EXPECT_EQ(KeysIn(db_.get(), b).size(), 1u);
  ASSERT_OK(db_->MoveAccount(Actor::System(), a, b));
  EXPECT_EQ(db_->GetAccount(a)->parent, b);
  EXPECT_EQ(db_->GetAccount(a1)->depth, 4u);
  auto in_b = KeysIn(db_.get(), b);
  EXPECT_EQ(in_b, (std::vector<std::string>{"d-b", "d-a", "d-a1"}));
  EXPECT_EQ(KeysIn(db_.get(), a1), std::vector<std::string>{"d-a1"});
  EXPECT_EQ(db_->CountOwned(b, EntityKind::kDevice)->subtree, 3u);
  EXPECT_EQ(db_->CountOwned(b, EntityKind::kDevice)->direct, 1u);
  EXPECT_EQ(db_->CountOwned(root, EntityKind::kDevice)->subtree, 3u);
  EXPECT_EQ(db_->FindDeviceByUnitId("U-1")->owner, a1);
  auto anc = db_->Ancestors(a1);
  ASSERT_OK(anc);
  ASSERT_EQ(anc->size(), 3u);
  EXPECT_EQ((*anc)[0].key, "root");
  EXPECT_EQ((*anc)[1].key, "b");
  EXPECT_EQ((*anc)[2].key, "a");
  auto desc = db_->Descendants(root, 2);
  ASSERT_OK(desc);
  ASSERT_EQ(desc->size(), 2u);  // b (level 1), a under b (level 2); a1 is at level 3
  EXPECT_EQ((*desc)[0].key, "b");
  EXPECT_EQ((*desc)[1].key, "a");
  EXPECT_EQ(db_->Descendants(root, 0)->size(), 3u);
  // A huge level limit means "all" (it once wrapped around to nothing).
  EXPECT_EQ(db_->Descendants(root, UINT32_MAX)->size(), 3u);
  EXPECT_NE(db_->GraphJson(Actor::System(), root, UINT32_MAX)->find("\"a1\""), std::string::npos);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccountsTest, MoveRefusals) {
  AccountId root = MakeAccount(db_.get(), "root");
  AccountId a = MakeAccount(db_.get(), "a", root);
  AccountId a1 = MakeAccount(db_.get(), "a1", a);
  ExpectRefused([&] { return db_->MoveAccount(Actor::System(), a, a1); },
                Code::kFailedPrecondition, "inside the moved subtree");
  ExpectRefused([&] { return db_->MoveAccount(Actor::System(), a, a); },
                Code::kFailedPrecondition, "inside the moved subtree");
  ExpectRefused([&] { return db_->MoveAccount(Actor::System(), root, a); },
                Code::kFailedPrecondition, "root tenant");
  ExpectRefused([&] { return db_->MoveAccount(Actor::System(), a, 777); }, Code::kNotFound,
                "777");
  ExpectRefused([&] { return db_->MoveAccount(Actor::System(), 777, a); }, Code::kNotFound,
                "777");
  // Moving to the current parent is a no-op.
  auto before = DumpAll(db_.get());
  EXPECT_OK(db_->MoveAccount(Actor::System(), a1, a));
  EXPECT_EQ(before, DumpAll(db_.get()));
}

TEST_F(AccountsTest, DeleteRules) {
  AccountId root = MakeAccount(db_.get(), "root");
  AccountId a = MakeAccount(db_.get(), "a", root);
  AccountId a1 = MakeAccount(db_.get(), "a1", a);
  AccountId b = MakeAccount(db_.get(), "b", root);
  MakeDevice(db_.get(), "d1", a1);
  MakeDevice(db_.get(), "d2", a1);
  ExpectRefused([&] { return db_->DeleteAccount(Actor::System(), a, kNoId); },
                Code::kFailedPrecondition, "has sub-account 'a1'");
  ExpectRefused([&] { return db_->DeleteAccount(Actor::System(), a1, kNoId); },
                Code::kFailedPrecondition, "still has 2 devices");
  ExpectRefused([&] { return db_->DeleteAccount(Actor::System(), a1, a1); },
                Code::kInvalidArgument, "itself being deleted");
  ExpectRefused([&] { return db_->DeleteAccount(Actor::System(), a1, 4242); }, Code::kNotFound,
                "4242");
  // One unknown id in a batch: nothing is deleted.
  std::vector<AccountId> batch = {a1, a, 999};
  ExpectRefused([&] { return db_->DeleteAccounts(Actor::System(), batch, b); }, Code::kNotFound,
                "999");
  std::vector<AccountId> twice = {a1, a1};
  ExpectRefused([&] { return db_->DeleteAccounts(Actor::System(), twice, b); },
                Code::kInvalidArgument, "named twice");
  // The whole branch, parent given first: children go first.
  std::vector<AccountId> branch = {a, a1};
  ASSERT_OK(db_->DeleteAccounts(Actor::System(), branch, b));
  EXPECT_EQ(db_->GetAccount(a).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->GetAccount(a1).status().code(), Code::kNotFound);
  EXPECT_EQ(KeysIn(db_.get(), b), (std::vector<std::string>{"d1", "d2"}));
  EXPECT_EQ(db_->CountOwned(root, EntityKind::kDevice)->subtree, 2u);
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d1")->owner, b);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
  // A childless, empty account goes without a receiver; its key is free again.
  ASSERT_OK(db_->DeleteAccount(Actor::System(), b, root));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d1")->owner, root);
  MakeAccount(db_.get(), "b", root);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccountsTest, UpdateChangesNameAttributesAndSettingsAtomically) {
  AccountId root = MakeAccount(db_.get(), "root");
  AccountId a = MakeAccount(db_.get(), "a", root, /*sub_account_management=*/false);
  AccountPatch patch;
  patch.name = "Renamed";
  patch.attributes = Attributes{{"k", "v"}};
  patch.sub_account_management = true;
  patch.sub_account_access = SubAccountAccess::kDefaultOn;
  ASSERT_OK(db_->UpdateAccount(Actor::System(), a, patch));
  auto acc = db_->GetAccount(a);
  EXPECT_EQ(acc->name, "Renamed");
  EXPECT_EQ(acc->attributes.at("k"), "v");
  EXPECT_TRUE(acc->settings.sub_account_management);
  EXPECT_EQ(acc->settings.sub_account_access, SubAccountAccess::kDefaultOn);
  // A user allowed the rename but not the settings change: nothing changes.
  UserId u = testing::MakeUser(db_.get(), "u@x", a);
  auto role = db_->CreateRole(Actor::System(), root, "renamer", {"account.update"});
  ASSERT_OK(role);
  ASSERT_OK(db_->Invite(Actor::System(), u, a, *role, false));
  AccountPatch both;
  both.name = "Mine";
  both.sub_account_management = false;
  // The check is on the parent, which u cannot see: the refusal names no account.
  ExpectRefused([&] { return db_->UpdateAccount(Actor::User(u), a, both); },
                Code::kPermissionDenied,
                "permission account.manage_sub_accounts missing on an account user 'u@x' cannot see");
  AccountPatch bad;
  bad.name = "ok";
  bad.sub_account_access = static_cast<SubAccountAccess>(7);
  ExpectRefused([&] { return db_->UpdateAccount(Actor::System(), a, bad); },
                Code::kInvalidArgument, "unknown sub_account_access");
  AccountPatch rename;
  rename.name = "Mine";
  EXPECT_OK(db_->UpdateAccount(Actor::User(u), a, rename));
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccountsTest, UsersMoveOnlyUnderParentsWithSubAccountManagementOn) {
  AccountId root = MakeAccount(db_.get(), "root");
  AccountId open = MakeAccount(db_.get(), "open", root, /*sub_account_management=*/true);
  AccountId closed = MakeAccount(db_.get(), "closed", root, /*sub_account_management=*/false);
  AccountId a = MakeAccount(db_.get(), "a", open);
  UserId u = testing::MakeUser(db_.get(), "mover@root", root);
  ASSERT_OK(db_->Invite(Actor::System(), u, root, query::kRoleAccountAdmin, /*branch=*/true));
  // It holds account.move everywhere, but a move gives `closed` a
  // sub-account: the rule of creating one there.
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(u), a, closed); },
                Code::kFailedPrecondition,
                "sub-account management is off for account 'closed'; a parent account with "
                "account.manage_sub_accounts must turn it on");
  // As for creating: the same refusal, word for word.
  ExpectRefused([&] { return db_->CreateAccount(Actor::User(u), {.key = "x", .name = "X",
                                                                 .parent = closed}); },
                Code::kFailedPrecondition,
                "sub-account management is off for account 'closed'; a parent account with "
                "account.manage_sub_accounts must turn it on");
  // Moving under the current parent still commits nothing, whatever its setting.
  ASSERT_OK(db_->SetSubAccountManagement(Actor::System(), open, false));
  const uint64_t rev = db_->Revision();
  EXPECT_OK(db_->MoveAccount(Actor::User(u), a, open));
  EXPECT_EQ(db_->Revision(), rev);
  // The system actor may move under any account; a user once it is on.
  EXPECT_OK(db_->MoveAccount(Actor::System(), a, closed));
  EXPECT_EQ(db_->GetAccount(a)->parent, closed);
  ASSERT_OK(db_->SetSubAccountManagement(Actor::System(), open, true));
  EXPECT_OK(db_->MoveAccount(Actor::User(u), a, open));
  EXPECT_EQ(db_->GetAccount(a)->parent, open);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccountsTest, OnlyTheSystemActorDeletesARootTenant) {
  AccountId root = MakeAccount(db_.get(), "tenant");
  AccountId keep = MakeAccount(db_.get(), "keep", root);
  UserId u = testing::MakeUser(db_.get(), "owner@tenant", root);
  ASSERT_OK(db_->Invite(Actor::System(), u, root, query::kRoleAccountAdmin, /*branch=*/true));
  // u holds account.delete on the tenant and everything below it, yet only
  // the system actor deletes a root tenant (checked before the sub-accounts).
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(u), root, kNoId); },
                Code::kPermissionDenied, "only the system actor may delete a root tenant ('tenant')");
  const std::vector<AccountId> ids{root, keep};
  ExpectRefused([&] { return db_->DeleteAccounts(Actor::User(u), ids, kNoId); },
                Code::kPermissionDenied, "only the system actor may delete a root tenant ('tenant')");
  // A sub-account it may delete.
  AccountId sub = MakeAccount(db_.get(), "sub", root);
  EXPECT_OK(db_->DeleteAccount(Actor::User(u), sub, kNoId));
  const std::vector<AccountId> all{root, keep};
  ASSERT_OK(db_->RemoveUser(Actor::System(), u));
  EXPECT_OK(db_->DeleteAccounts(Actor::System(), all, kNoId));
  EXPECT_FALSE(db_->GetAccount(root).ok());
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccountsTest, NewSiblingsNeverRelabelAndStayInOrder) {
  AccountId root = MakeAccount(db_.get(), "root");
  std::vector<AccountId> kids;
  for (int i = 0; i < 300; ++i) kids.push_back(MakeAccount(db_.get(), "k" + std::to_string(i), root));
  auto desc = db_->Descendants(root, 1);
  ASSERT_OK(desc);
  ASSERT_EQ(desc->size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ((*desc)[i].id, kids[i]);  // creation order
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

}  // namespace
}  // namespace canopy
