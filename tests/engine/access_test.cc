// Copyright (c) Canopy authors.
//
// Authorised mutations (docs/index.md's rules, db.h's per-call permission
// notes): for every mutation of db.h, who may call it and who is refused,
// with the error code, the message and an unchanged database checked for
// every refusal; escalation attempts; Frontegg's sub_account_access
// semantics; Frontegg permission names in custom roles.
//
// The fixture's tree and cast (every user is created in the account it is
// a member of, unless said otherwise):
//
//   acme                 root-admin (account_admin, branch)
//   |                    root-viewer (viewer, branch)
//   |                    disabled (account_admin, branch; disabled)
//   |_ acme-a            a-admin (account_admin, branch), a-viewer (viewer, branch)
//   |  |_ acme-a1        a1-admin (account_admin, branch)
//   |_ acme-b            b-admin (account_admin, branch)
//   globex               globex-admin (account_admin, branch)
//
// One device in each account: d-acme, d-a, d-a1 (unit U-A1), d-b, d-globex.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::MakeUser;
using testing::OpenDb;
using testing::TempDir;

constexpr UserId kUnknownUser = 987654;

// One actor that must be refused, and how.
struct Refusal {
  std::string who;  // for failure messages
  Actor actor;
  Code code;
  std::string text;  // expected inside the message
};

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb(dir_.Sub("db"));
    acme_ = MakeAccount(db_.get(), "acme");
    a_ = MakeAccount(db_.get(), "acme-a", acme_);
    a1_ = MakeAccount(db_.get(), "acme-a1", a_);
    b_ = MakeAccount(db_.get(), "acme-b", acme_);
    globex_ = MakeAccount(db_.get(), "globex");
    admin_role_ = RoleNamed("account_admin");
    manager_role_ = RoleNamed("device_manager");
    viewer_role_ = RoleNamed("viewer");

    root_admin_ = Member("root-admin@acme", acme_, admin_role_, true);
    root_viewer_ = Member("root-viewer@acme", acme_, viewer_role_, true);
    disabled_ = Member("disabled@acme", acme_, admin_role_, true);
    ASSERT_OK(db_->SetUserDisabled(Actor::System(), disabled_, true));
    a_admin_ = Member("a-admin@acme", a_, admin_role_, true);
    a_viewer_ = Member("a-viewer@acme", a_, viewer_role_, true);
    a1_admin_ = Member("a1-admin@acme", a1_, admin_role_, true);
    b_admin_ = Member("b-admin@acme", b_, admin_role_, true);
    globex_admin_ = Member("globex-admin@globex", globex_, admin_role_, true);

    MakeDevice(db_.get(), "d-acme", acme_);
    MakeDevice(db_.get(), "d-a", a_);
    MakeDevice(db_.get(), "d-a1", a1_, "U-A1");
    MakeDevice(db_.get(), "d-b", b_);
    MakeDevice(db_.get(), "d-globex", globex_);
  }

  RoleId RoleNamed(const std::string& name, AccountId tenant = kNoId) {
    auto r = db_->FindRole(tenant == kNoId ? acme_ : tenant, name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    return r.ok() ? r->id : kNoId;
  }

  // Creates a user in `account` and makes it a member there (system actor).
  UserId Member(const std::string& login, AccountId account, RoleId role, bool branch) {
    UserId u = MakeUser(db_.get(), login, account);
    EXPECT_OK(db_->Invite(Actor::System(), u, account, role, branch));
    return u;
  }

  // A custom role of acme, defined by the system actor.
  RoleId CustomRole(const std::string& name, const std::vector<std::string>& perms,
                    AccountId tenant = kNoId) {
    auto r = db_->CreateRole(Actor::System(), tenant == kNoId ? acme_ : tenant, name, perms);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    return r.ok() ? *r : kNoId;
  }

  EntityId DeviceId(const std::string& key) {
    auto e = db_->FindEntity(EntityKind::kDevice, key);
    EXPECT_TRUE(e.ok()) << key << ": " << e.status().ToString();
    return e.ok() ? e->id : kNoId;
  }

  std::optional<Membership> MembershipOn(UserId user, AccountId account) {
    auto ms = db_->MembershipsOf(user);
    EXPECT_TRUE(ms.ok()) << ms.status().ToString();
    if (!ms.ok()) return std::nullopt;
    for (const Membership& m : *ms) {
      if (m.account == account) return m;
    }
    return std::nullopt;
  }

  bool Sees(UserId user, const std::string& device_key) {
    return testing::Allowed(*db_, user, "device.read", device_key);
  }

  // The device keys `user` may read, in scan order.
  std::vector<std::string> Visible(UserId user) {
    VisibleRequest req{Actor::User(user)};
    req.limit = 10000;
    VisiblePage page;
    EXPECT_OK(db_->Visible(req, &page));
    std::vector<std::string> keys;
    for (const auto& item : page.items) keys.push_back(item.key);
    return keys;
  }

  // Refusals that name a missing permission on an account.
  static Refusal Lacks(const std::string& who, UserId user, const std::string& perm,
                       const std::string& account_key) {
    return {who, Actor::User(user), Code::kPermissionDenied,
            "permission " + perm + " missing on account '" + account_key + "'"};
  }
  // Refusals of a permission missing on an account the user holds nothing
  // on, so cannot see: the account is not named.
  static Refusal LacksUnseen(const std::string& who, UserId user, const std::string& perm,
                             const std::string& login) {
    return {who, Actor::User(user), Code::kPermissionDenied,
            "permission " + perm + " missing on an account user '" + login + "' cannot see"};
  }
  Refusal Disabled() const {
    return {"disabled admin", Actor::User(disabled_), Code::kPermissionDenied,
            "user 'disabled@acme' is disabled"};
  }
  static Refusal Unknown() {
    return {"unknown user id", Actor::User(kUnknownUser), Code::kNotFound,
            "no user with id " + std::to_string(kUnknownUser)};
  }

  // What an actor cannot see looks missing (docs/index.md, "What an actor
  // can see"): NotFound with `text`, the message of a missing one.
  static Refusal Hidden(const std::string& who, UserId user, const std::string& text) {
    return {who, Actor::User(user), Code::kNotFound, text};
  }

  // The standard outsiders of a call on acme-a that needs `perm` there: a
  // user of a sibling account and a user of a child account acting on its
  // parent (neither sees the object: `hidden` is the missing object's
  // message), a viewer, a disabled user and an unknown user id.
  std::vector<Refusal> OutsidersOfA(const std::string& perm,
                                    const std::string& hidden = "no account with id") {
    return {Hidden("sibling acme-b's admin", b_admin_, hidden),
            Hidden("child acme-a1's admin", a1_admin_, hidden),
            Lacks("viewer of acme-a", a_viewer_, perm, "acme-a"), Disabled(), Unknown()};
  }
  // The same for a call on the root tenant acme.
  std::vector<Refusal> OutsidersOfAcme(const std::string& perm,
                                       const std::string& hidden = "no account with id") {
    return {Hidden("other tenant's admin", globex_admin_, hidden),
            Hidden("child acme-a's admin", a_admin_, hidden),
            Lacks("viewer of acme", root_viewer_, perm, "acme"), Disabled(), Unknown()};
  }

  // Runs op(actor) for every refusal: expects its code, its text in the
  // message, and no change at all to the stored state.
  template <typename Op>
  void ExpectRefusedFor(const std::vector<Refusal>& refusals, Op op) {
    for (const Refusal& r : refusals) {
      SCOPED_TRACE("actor: " + r.who);
      ExpectRefused([&] { return op(r.actor); }, r.code, r.text);
    }
  }

  template <typename Fn>
  void ExpectRefused(Fn fn, Code code, const std::string& text) {
    auto before = DumpAll(db_.get());
    Status s = testing::StatusOf(fn());
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(text), std::string::npos)
        << "expected \"" << text << "\" in: " << s.ToString();
    auto after = DumpAll(db_.get());
    EXPECT_TRUE(before == after) << "refused call changed the database: " << s.ToString() << "\n"
                                 << testing::DescribeDiff(before, after);
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  AccountId acme_ = kNoId, a_ = kNoId, a1_ = kNoId, b_ = kNoId, globex_ = kNoId;
  RoleId admin_role_ = kNoId, manager_role_ = kNoId, viewer_role_ = kNoId;
  UserId root_admin_ = kNoId, root_viewer_ = kNoId, disabled_ = kNoId, a_admin_ = kNoId,
         a_viewer_ = kNoId, a1_admin_ = kNoId, b_admin_ = kNoId, globex_admin_ = kNoId;
};

// ---- The matrix: every mutation of db.h ------------------------------------

TEST_F(AccessTest, CreateAccount) {
  auto create = [this](AccountId parent, const std::string& key, bool management = false,
                       SubAccountAccess access = SubAccountAccess::kDefaultOff) {
    return [=, this](const Actor& actor) {
      AccountSpec s;
      s.key = key;
      s.name = "New " + key;
      s.parent = parent;
      s.settings.sub_account_management = management;
      s.settings.sub_account_access = access;
      return db_->CreateAccount(actor, s);
    };
  };
  ExpectRefusedFor(OutsidersOfA("account.create"), create(a_, "acme-a-new"));
  ExpectRefusedFor(OutsidersOfAcme("account.create"), create(acme_, "acme-new"));
  // Only the system actor creates root tenants, whatever the user holds.
  ExpectRefused([&] { return create(kNoId, "rogue")(Actor::User(root_admin_)); },
                Code::kPermissionDenied, "only the system actor may create a root tenant");

  // account.create alone: no sub-account management, no non-default access.
  RoleId creator = CustomRole("creator", {"account.read", "account.create"});
  UserId c = Member("creator@acme", a_, creator, true);
  ExpectRefused([&] { return create(a_, "x", true)(Actor::User(c)); }, Code::kPermissionDenied,
                "permission account.manage_sub_accounts missing on account 'acme-a'");
  ExpectRefused(
      [&] { return create(a_, "x", false, SubAccountAccess::kDefaultOn)(Actor::User(c)); },
      Code::kPermissionDenied, "permission access.grant missing on account 'acme-a'");
  auto made = create(a_, "by-creator")(Actor::User(c));
  ASSERT_OK(made);
  EXPECT_FALSE(db_->GetAccount(*made)->settings.sub_account_management);

  // A parent whose sub-account management is off refuses users, not the system.
  AccountId closed = MakeAccount(db_.get(), "acme-closed", acme_, /*management=*/false);
  ExpectRefused([&] { return create(closed, "x")(Actor::User(root_admin_)); },
                Code::kFailedPrecondition, "sub-account management is off for account");
  EXPECT_OK(create(closed, "by-system")(Actor::System()));

  // Allowed: the admin of acme-a (branch) anywhere in its subtree.
  auto under_a =
      create(a_, "acme-a-new", true, SubAccountAccess::kDefaultOn)(Actor::User(a_admin_));
  ASSERT_OK(under_a);
  auto under_a1 = create(a1_, "acme-a1-new")(Actor::User(a_admin_));
  ASSERT_OK(under_a1);
  auto acc = db_->GetAccount(*under_a1);
  ASSERT_OK(acc);
  EXPECT_EQ(acc->parent, a1_);
  EXPECT_EQ(acc->depth, 4u);
  EXPECT_EQ(db_->GetAccount(*under_a)->settings.sub_account_access, SubAccountAccess::kDefaultOn);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, UpdateAccount) {
  auto rename = [this](AccountId id, const std::string& name) {
    return [=, this](const Actor& actor) {
      AccountPatch p;
      p.name = name;
      return db_->UpdateAccount(actor, id, p);
    };
  };
  ExpectRefusedFor(OutsidersOfA("account.update"), rename(a_, "Renamed"));
  ExpectRefusedFor(OutsidersOfAcme("account.update"), rename(acme_, "Renamed"));
  ASSERT_OK(rename(a_, "A by its admin")(Actor::User(a_admin_)));
  EXPECT_EQ(db_->GetAccount(a_)->name, "A by its admin");
  ASSERT_OK(rename(a1_, "A1 by its own admin")(Actor::User(a1_admin_)));
  ASSERT_OK(rename(a1_, "A1 by the parent's admin")(Actor::User(a_admin_)));
  EXPECT_EQ(db_->GetAccount(a1_)->name, "A1 by the parent's admin");
}

TEST_F(AccessTest, SetSubAccountManagement) {
  // Switching acme-a1 needs account.manage_sub_accounts on its parent acme-a:
  // acme-a1's own admin is refused on its own account.
  auto set = [this](AccountId id, bool on) {
    return [=, this](const Actor& actor) { return db_->SetSubAccountManagement(actor, id, on); };
  };
  // The sibling's admin sees neither acme-a1 nor its parent; acme-a1's
  // admin sees its own account but not its parent, which is not named.
  ExpectRefusedFor({Hidden("sibling acme-b's admin", b_admin_, "no account with id"),
                    LacksUnseen("acme-a1's own admin", a1_admin_, "account.manage_sub_accounts",
                                "a1-admin@acme"),
                    Lacks("viewer of acme-a", a_viewer_, "account.manage_sub_accounts", "acme-a"),
                    Disabled(), Unknown()},
                   set(a1_, false));
  ExpectRefused([&] { return set(a_, false)(Actor::User(a_admin_)); }, Code::kPermissionDenied,
                "permission account.manage_sub_accounts missing on an account user 'a-admin@acme' "
                "cannot see");
  ExpectRefused([&] { return set(acme_, false)(Actor::User(root_admin_)); },
                Code::kPermissionDenied, "only the system actor may switch sub-account management");
  ASSERT_OK(set(a1_, false)(Actor::User(a_admin_)));
  EXPECT_FALSE(db_->GetAccount(a1_)->settings.sub_account_management);
  ASSERT_OK(set(a_, false)(Actor::User(root_admin_)));
  EXPECT_FALSE(db_->GetAccount(a_)->settings.sub_account_management);
  ASSERT_OK(set(acme_, false)(Actor::System()));
  EXPECT_FALSE(db_->GetAccount(acme_)->settings.sub_account_management);
  // Off means users can no longer create sub-accounts there.
  AccountSpec s;
  s.key = "under-a1";
  s.name = "x";
  s.parent = a1_;
  ExpectRefused([&] { return db_->CreateAccount(Actor::User(a1_admin_), s); },
                Code::kFailedPrecondition, "sub-account management is off for account 'acme-a1'");
}

TEST_F(AccessTest, SetSubAccountAccess) {
  auto set = [this](AccountId id, SubAccountAccess access) {
    return [=, this](const Actor& actor) { return db_->SetSubAccountAccess(actor, id, access); };
  };
  ExpectRefusedFor(OutsidersOfA("access.grant"), set(a_, SubAccountAccess::kDefaultOn));
  ExpectRefusedFor(OutsidersOfAcme("access.grant"), set(acme_, SubAccountAccess::kAlwaysOn));
  ExpectRefused([&] { return set(a_, static_cast<SubAccountAccess>(7))(Actor::System()); },
                Code::kInvalidArgument, "sub_account_access");
  ASSERT_OK(set(a_, SubAccountAccess::kDefaultOn)(Actor::User(a_admin_)));
  EXPECT_EQ(db_->GetAccount(a_)->settings.sub_account_access, SubAccountAccess::kDefaultOn);
  ASSERT_OK(set(a1_, SubAccountAccess::kAlwaysOn)(Actor::User(a1_admin_)));
  EXPECT_EQ(db_->GetAccount(a1_)->settings.sub_account_access, SubAccountAccess::kAlwaysOn);
}

TEST_F(AccessTest, MoveAccount) {
  // Moving acme-a1 under acme-b needs account.move on acme-a1, on its parent
  // acme-a and on acme-b; each actor is refused on the first it lacks.
  auto move = [this](const Actor& actor) { return db_->MoveAccount(actor, a1_, b_); };
  ExpectRefusedFor(
      {Hidden("sibling acme-b's admin", b_admin_, "account: no account with id"),
       Hidden("acme-a1's own admin", a1_admin_, "new parent: no account with id"),
       Hidden("acme-a's admin", a_admin_, "new parent: no account with id"),
       Hidden("viewer of acme-a", a_viewer_, "new parent: no account with id"),
       Lacks("viewer of acme", root_viewer_, "account.move", "acme-a1"), Disabled(), Unknown()},
      move);
  EXPECT_TRUE(Sees(a_admin_, "d-a1"));
  EXPECT_FALSE(Sees(b_admin_, "d-a1"));
  ASSERT_OK(move(Actor::User(root_admin_)));
  EXPECT_EQ(db_->GetAccount(a1_)->parent, b_);
  // Visibility follows the move at once.
  EXPECT_FALSE(Sees(a_admin_, "d-a1"));
  EXPECT_TRUE(Sees(b_admin_, "d-a1"));
  EXPECT_TRUE(Sees(a1_admin_, "d-a1"));
  // An admin of both ends may move it back.
  UserId both = Member("both@acme", acme_, viewer_role_, false);
  ASSERT_OK(db_->Invite(Actor::System(), both, a_, admin_role_, true));
  ASSERT_OK(db_->Invite(Actor::System(), both, b_, admin_role_, true));
  ASSERT_OK(db_->MoveAccount(Actor::User(both), a1_, a_));
  EXPECT_EQ(db_->GetAccount(a1_)->parent, a_);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, DeleteAccount) {
  // acme-a1 owns d-a1 and is the home of a1-admin: deleting it hands both
  // to the receiver acme-a.
  auto del = [this](const Actor& actor) { return db_->DeleteAccount(actor, a1_, a_); };
  ExpectRefusedFor(
      {Hidden("sibling acme-b's admin", b_admin_, "delete: no account with id"),
       Hidden("acme-a1's own admin", a1_admin_, "receiver: no account with id"),
       Lacks("viewer of acme-a", a_viewer_, "account.delete", "acme-a1"), Disabled(), Unknown()},
      del);
  // The receiver must be within reach too.
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(a_admin_), a1_, b_); },
                Code::kNotFound, "receiver: no account with id");
  ASSERT_OK(del(Actor::User(a_admin_)));
  EXPECT_EQ(db_->GetAccount(a1_).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a1")->owner, a_);
  EXPECT_EQ(db_->GetUser(a1_admin_)->account, a_);
  EXPECT_FALSE(MembershipOn(a1_admin_, a1_).has_value());
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

// db.h: "device.assign (per kind) plus user.invite on both accounts when
// things move to the receiver". An actor that may delete acme-a1 and assign
// its devices, but may not invite users there, must not hand acme-a1's
// users to another account.
TEST_F(AccessTest, DeleteAccountNeedsUserInviteOnTheDeletedAccountToo) {
  RoleId deleter = CustomRole("deleter", {"account.read", "account.delete", "device.assign"});
  // Created in the root so that it may hold roles on both acme-a1 and acme-b.
  UserId d = MakeUser(db_.get(), "deleter@acme", acme_);
  ASSERT_OK(db_->Invite(Actor::System(), d, b_, admin_role_, true));
  ASSERT_OK(db_->Invite(Actor::System(), d, a1_, deleter, false));
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(d), a1_, b_); },
                Code::kPermissionDenied, "permission user.invite missing on account 'acme-a1'");
}

// Deleting with a receiver needs <kind>.assign for every kind the account
// owns; the refusal never names a kind of entity the actor does not see
// there (it used to say "permission asset.assign missing", telling that
// the account holds assets).
TEST_F(AccessTest, DeleteWithAReceiverNamesNoKindOutOfSight) {
  RoleId accounts_only = CustomRole("accounts-only", {"account.read", "account.delete"});
  UserId d = MakeUser(db_.get(), "del@acme", acme_);
  ASSERT_OK(db_->Invite(Actor::System(), d, a1_, accounts_only, false));
  ASSERT_OK(db_->Invite(Actor::System(), d, b_, manager_role_, true));
  EntitySpec asset;
  asset.kind = EntityKind::kAsset;
  asset.key = "hidden-asset";
  asset.name = "Hidden";
  asset.owner = a1_;
  ASSERT_OK(db_->CreateEntity(Actor::System(), asset));
  const auto before = DumpAll(db_.get());
  Status s = db_->DeleteAccount(Actor::User(d), a1_, b_);
  EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
  for (const char* kind : {"device", "asset"}) {
    EXPECT_EQ(s.message().find(kind), std::string::npos) << s.ToString();
  }
  EXPECT_NE(s.message().find("out of the actor's sight"), std::string::npos) << s.ToString();
  EXPECT_EQ(DumpAll(db_.get()), before);
}

TEST_F(AccessTest, DeleteAccounts) {
  std::vector<AccountId> branch = {a_, a1_};
  auto del = [&](AccountId receiver) {
    return [=, this](const Actor& actor) { return db_->DeleteAccounts(actor, branch, receiver); };
  };
  ExpectRefusedFor(
      {Hidden("sibling acme-b's admin", b_admin_, "delete: no account with id"),
       Hidden("child acme-a1's admin", a1_admin_, "delete: no account with id"),
       Hidden("acme-a's admin", a_admin_, "receiver: no account with id"),
       Hidden("viewer of acme-a", a_viewer_, "receiver: no account with id"), Disabled(), Unknown()},
      del(acme_));
  ExpectRefused([&] { return del(b_)(Actor::User(a_admin_)); }, Code::kNotFound,
                "receiver: no account with id");
  // A set that leaves a sub-account behind is refused whoever asks.
  std::vector<AccountId> parent_only = {a_};
  ExpectRefused([&] { return db_->DeleteAccounts(Actor::User(root_admin_), parent_only, b_); },
                Code::kFailedPrecondition, "has sub-account 'acme-a1'");
  ASSERT_OK(del(b_)(Actor::User(root_admin_)));
  EXPECT_EQ(db_->GetAccount(a_).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->GetAccount(a1_).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a")->owner, b_);
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a1")->owner, b_);
  EXPECT_EQ(db_->GetUser(a_admin_)->account, b_);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, CreateEntity) {
  auto create = [this](EntityKind kind, const std::string& key, AccountId owner) {
    return [=, this](const Actor& actor) {
      EntitySpec s;
      s.kind = kind;
      s.key = key;
      s.name = "New " + key;
      s.owner = owner;
      return db_->CreateEntity(actor, s);
    };
  };
  ExpectRefusedFor(OutsidersOfA("device.write"), create(EntityKind::kDevice, "new", a_));
  ExpectRefusedFor(OutsidersOfA("asset.write"), create(EntityKind::kAsset, "new", a_));
  ExpectRefusedFor(OutsidersOfAcme("dashboard.write"), create(EntityKind::kDashboard, "n", acme_));
  ASSERT_OK(create(EntityKind::kDevice, "by-admin", a1_)(Actor::User(a_admin_)));
  UserId manager = Member("manager@acme", a_, manager_role_, false);
  ASSERT_OK(create(EntityKind::kEntityView, "by-manager", a_)(Actor::User(manager)));
  // A non-branch membership does not reach the sub-account.
  ExpectRefused([&] { return create(EntityKind::kDevice, "x", a1_)(Actor::User(manager)); },
                Code::kNotFound, "owner: no account with id");
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "by-admin")->owner, a1_);
  EXPECT_EQ(db_->FindEntity(EntityKind::kEntityView, "by-manager")->owner, a_);
}

TEST_F(AccessTest, UpdateEntity) {
  auto rename = [this](EntityId id, const std::string& name) {
    return [=, this](const Actor& actor) {
      EntityPatch p;
      p.name = name;
      return db_->UpdateEntity(actor, id, p);
    };
  };
  ExpectRefusedFor(OutsidersOfA("device.write", "no entity with id"), rename(DeviceId("d-a"), "x"));
  ExpectRefusedFor(OutsidersOfAcme("device.write", "no entity with id"), rename(DeviceId("d-acme"), "x"));
  ASSERT_OK(rename(DeviceId("d-a"), "Renamed by admin")(Actor::User(a_admin_)));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a")->name, "Renamed by admin");
}

TEST_F(AccessTest, DeleteEntity) {
  auto del = [this](EntityId id) {
    return [=, this](const Actor& actor) { return db_->DeleteEntity(actor, id); };
  };
  ExpectRefusedFor(OutsidersOfA("device.delete", "no entity with id"), del(DeviceId("d-a")));
  // device.write is not device.delete.
  RoleId writer = CustomRole("writer", {"device.read", "device.write"});
  UserId w = Member("writer@acme", a_, writer, true);
  ExpectRefused([&] { return del(DeviceId("d-a"))(Actor::User(w)); }, Code::kPermissionDenied,
                "permission device.delete missing on account 'acme-a'");
  ASSERT_OK(del(DeviceId("d-a"))(Actor::User(a_admin_)));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a").status().code(), Code::kNotFound);
}

TEST_F(AccessTest, ReassignEntities) {
  // d-a1 from acme-a1 to acme-a: device.assign on both.
  std::vector<std::string> refs = {"d-a1"};
  auto move = [&](AccountId target, EntityRef by = EntityRef::kKey) {
    return [=, this](const Actor& actor) {
      ReassignReport report;
      std::vector<std::string> r = by == EntityRef::kKey ? refs : std::vector<std::string>{"U-A1"};
      return db_->ReassignEntities(actor, EntityKind::kDevice, by, r, target, &report);
    };
  };
  // Neither the sibling's admin nor acme-a1's own see the target acme-a.
  ExpectRefusedFor({Hidden("sibling acme-b's admin", b_admin_, "target: no account with id"),
                    Hidden("acme-a1's own admin", a1_admin_, "target: no account with id"),
                    Lacks("viewer of acme-a", a_viewer_, "device.assign", "acme-a"),
                    {"disabled admin", Actor::User(disabled_), Code::kPermissionDenied, "disabled"},
                    Unknown()},
                   move(a_));
  // The sibling's admin cannot even see d-a1: it is reported as unknown,
  // exactly like a missing device, so the refusal reveals nothing.
  ExpectRefused([&] { return move(b_)(Actor::User(b_admin_)); }, Code::kNotFound,
                "no device with key 'd-a1'");
  // The per-item report says who was denied and why, and nothing moved.
  ReassignReport report;
  Status s = db_->ReassignEntities(Actor::User(a_viewer_), EntityKind::kDevice, EntityRef::kKey,
                                   refs, a_, &report);
  EXPECT_TRUE(s.IsPermissionDenied()) << s.ToString();
  ASSERT_EQ(report.items.size(), 1u);
  EXPECT_EQ(report.items[0].outcome, ReassignItem::Outcome::kDenied);
  EXPECT_EQ(report.items[0].previous_owner, a1_);
  EXPECT_EQ(report.denied, 1u);
  EXPECT_EQ(report.moved, 0u);

  ASSERT_OK(move(a_, EntityRef::kUnitId)(Actor::User(a_admin_)));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a1")->owner, a_);
  ASSERT_OK(move(a1_)(Actor::User(a_admin_)));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a1")->owner, a1_);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, CreateUser) {
  auto create = [this](AccountId account, const std::string& login) {
    return [=, this](const Actor& actor) {
      return db_->CreateUser(actor, UserSpec{login, "New user", account});
    };
  };
  ExpectRefusedFor(OutsidersOfA("user.invite"), create(a_, "new@acme"));
  ExpectRefusedFor(OutsidersOfAcme("user.invite"), create(acme_, "new@acme"));
  auto u = create(a1_, "new@acme")(Actor::User(a_admin_));
  ASSERT_OK(u);
  EXPECT_EQ(db_->GetUser(*u)->account, a1_);
  EXPECT_TRUE(db_->MembershipsOf(*u)->empty());  // creating grants nothing by itself
}

TEST_F(AccessTest, UpdateUser) {
  // a-viewer lives in acme-a: user.update on acme-a.
  auto rename = [this](UserId id) {
    return [=, this](const Actor& actor) {
      UserPatch p;
      p.name = "Renamed";
      return db_->UpdateUser(actor, id, p);
    };
  };
  ExpectRefusedFor(OutsidersOfA("user.update", "no user with id"), rename(a_viewer_));
  ExpectRefusedFor(OutsidersOfAcme("user.update", "no user with id"), rename(root_admin_));
  ASSERT_OK(rename(a_viewer_)(Actor::User(a_admin_)));
  EXPECT_EQ(db_->GetUser(a_viewer_)->name, "Renamed");
}

TEST_F(AccessTest, SetUserDisabled) {
  auto disable = [this](UserId id, bool disabled) {
    return [=, this](const Actor& actor) { return db_->SetUserDisabled(actor, id, disabled); };
  };
  ExpectRefusedFor(OutsidersOfA("user.update", "no user with id"), disable(a_viewer_, true));
  // An admin of a sub-account cannot switch off the admin above it.
  ExpectRefusedFor(OutsidersOfAcme("user.update", "no user with id"), disable(root_admin_, true));
  // A disabled user cannot switch itself back on.
  ExpectRefused([&] { return disable(disabled_, false)(Actor::User(disabled_)); },
                Code::kPermissionDenied, "is disabled");
  ASSERT_OK(disable(a_viewer_, true)(Actor::User(a_admin_)));
  EXPECT_TRUE(db_->GetUser(a_viewer_)->disabled);
  EXPECT_FALSE(Sees(a_viewer_, "d-a"));
  ASSERT_OK(disable(a_viewer_, false)(Actor::User(a_admin_)));
  EXPECT_TRUE(Sees(a_viewer_, "d-a"));
}

TEST_F(AccessTest, RemoveUser) {
  auto remove = [this](UserId id) {
    return [=, this](const Actor& actor) { return db_->RemoveUser(actor, id); };
  };
  ExpectRefusedFor(OutsidersOfA("user.remove", "no user with id"), remove(a_viewer_));
  ExpectRefusedFor(OutsidersOfAcme("user.remove", "no user with id"), remove(root_viewer_));
  ASSERT_OK(remove(a_viewer_)(Actor::User(a_admin_)));
  EXPECT_EQ(db_->GetUser(a_viewer_).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->FindUser("a-viewer@acme").status().code(), Code::kNotFound);
  auto members = db_->MembersOf(a_);
  ASSERT_OK(members);
  for (const Membership& m : *members) EXPECT_NE(m.user, a_viewer_);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, Invite) {
  UserId n = MakeUser(db_.get(), "new@acme", a_);
  auto invite = [this](UserId user, AccountId account, RoleId role) {
    return [=, this](const Actor& actor) { return db_->Invite(actor, user, account, role); };
  };
  ExpectRefusedFor(OutsidersOfA("user.invite", "no user with id"), invite(n, a_, viewer_role_));
  ExpectRefusedFor({Hidden("other tenant's admin", globex_admin_, "no user with id"),
                    Hidden("child acme-a's admin", a_admin_, "invite: no account with id"),
                    Lacks("viewer of acme", root_viewer_, "user.invite", "acme"), Disabled(),
                    Unknown()},
                   invite(n, acme_, viewer_role_));
  ASSERT_OK(invite(n, a_, viewer_role_)(Actor::User(a_admin_)));
  auto m = MembershipOn(n, a_);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->role, viewer_role_);
  EXPECT_FALSE(m->branch);  // acme-a is default_off
  ExpectRefused([&] { return invite(n, a_, admin_role_)(Actor::User(a_admin_)); },
                Code::kAlreadyExists, "already a member");
}

TEST_F(AccessTest, ChangeRole) {
  auto change = [this](UserId user, AccountId account, RoleId role) {
    return [=, this](const Actor& actor) { return db_->ChangeRole(actor, user, account, role); };
  };
  ExpectRefusedFor(OutsidersOfA("user.invite", "no user with id"), change(a_viewer_, a_, manager_role_));
  ExpectRefusedFor(OutsidersOfAcme("user.invite", "no user with id"), change(root_viewer_, acme_, manager_role_));
  ASSERT_OK(change(a_viewer_, a_, manager_role_)(Actor::User(a_admin_)));
  EXPECT_EQ(MembershipOn(a_viewer_, a_)->role, manager_role_);
  EXPECT_TRUE(MembershipOn(a_viewer_, a_)->branch);  // unchanged
}

TEST_F(AccessTest, SetBranchAccess) {
  UserId n = Member("new@acme", a_, viewer_role_, false);
  auto set = [this](UserId user, bool branch) {
    return [=, this](const Actor& actor) { return db_->SetBranchAccess(actor, user, a_, branch); };
  };
  ExpectRefusedFor(OutsidersOfA("access.grant", "no user with id"), set(n, true));
  ExpectRefusedFor(OutsidersOfA("access.grant", "no user with id"), set(a_viewer_, false));
  EXPECT_FALSE(Sees(n, "d-a1"));
  ASSERT_OK(set(n, true)(Actor::User(a_admin_)));
  EXPECT_TRUE(MembershipOn(n, a_)->branch);
  EXPECT_TRUE(Sees(n, "d-a1"));
}

TEST_F(AccessTest, RemoveMembership) {
  auto remove = [this](UserId user, AccountId account) {
    return [=, this](const Actor& actor) { return db_->RemoveMembership(actor, user, account); };
  };
  ExpectRefusedFor(OutsidersOfA("user.remove", "no user with id"), remove(a_viewer_, a_));
  ExpectRefusedFor(OutsidersOfAcme("user.remove", "no user with id"), remove(root_viewer_, acme_));
  ExpectRefused([&] { return remove(a_viewer_, b_)(Actor::User(root_admin_)); }, Code::kNotFound,
                "is not a member of account 'acme-b'");
  ASSERT_OK(remove(a_viewer_, a_)(Actor::User(a_admin_)));
  EXPECT_FALSE(MembershipOn(a_viewer_, a_).has_value());
  EXPECT_FALSE(Sees(a_viewer_, "d-a"));
  EXPECT_OK(db_->GetUser(a_viewer_));  // the user itself stays
}

TEST_F(AccessTest, CreateRole) {
  auto create = [this](AccountId tenant, const std::string& name) {
    return [=, this](const Actor& actor) {
      return db_->CreateRole(actor, tenant, name, {"device.read", "account.read"});
    };
  };
  ExpectRefusedFor(OutsidersOfAcme("role.manage"), create(acme_, "auditor"));
  ExpectRefused([&] { return create(globex_, "auditor")(Actor::User(root_admin_)); },
                Code::kNotFound, "role tenant: no account with id");
  // Custom roles belong to root tenants only.
  ExpectRefused([&] { return create(a_, "auditor")(Actor::User(root_admin_)); },
                Code::kInvalidArgument, "root tenant");
  auto id = create(acme_, "auditor")(Actor::User(root_admin_));
  ASSERT_OK(id);
  auto role = db_->GetRole(*id);
  ASSERT_OK(role);
  EXPECT_EQ(role->tenant, acme_);
  EXPECT_FALSE(role->builtin);
  EXPECT_EQ(db_->FindRole(a1_, "auditor")->id, *id);  // usable in the whole tree
  EXPECT_EQ(db_->FindRole(globex_, "auditor").status().code(), Code::kNotFound);
  // kNoId asks for a built-in role; an unknown tenant is NotFound, even
  // for a built-in name (as ListRoles has it).
  EXPECT_EQ(db_->FindRole(kNoId, "viewer")->id, db_->FindRole(acme_, "viewer")->id);
  EXPECT_EQ(db_->FindRole(kNoId, "auditor").status().code(), Code::kNotFound);
  for (AccountId unknown : {AccountId{uint64_t{1} << 62}, AccountId{~uint64_t{0}}}) {
    for (const char* name : {"viewer", "auditor"}) {
      auto r = db_->FindRole(unknown, name);
      EXPECT_EQ(r.status().code(), Code::kNotFound) << name;
      EXPECT_NE(r.status().message().find("no account with id"), std::string::npos)
          << r.status().ToString();
    }
  }
  ExpectRefused([&] { return create(acme_, "auditor")(Actor::User(root_admin_)); },
                Code::kAlreadyExists, "already has a role named 'auditor'");
  ExpectRefused([&] { return create(acme_, "viewer")(Actor::System()); }, Code::kAlreadyExists,
                "built-in");
}

TEST_F(AccessTest, UpdateRole) {
  RoleId auditor = CustomRole("auditor", {"device.read"});
  auto update = [&](RoleId id) {
    return [=, this](const Actor& actor) {
      return db_->UpdateRole(actor, id, {"device.read", "asset.read"});
    };
  };
  ExpectRefusedFor(OutsidersOfAcme("role.manage", "no role with id"), update(auditor));
  ExpectRefused([&] { return update(viewer_role_)(Actor::System()); }, Code::kFailedPrecondition,
                "built-in role 'viewer' cannot be changed");
  ASSERT_OK(update(auditor)(Actor::User(root_admin_)));
  auto perms = db_->GetRole(auditor)->permissions;
  std::sort(perms.begin(), perms.end());
  EXPECT_EQ(perms, (std::vector<std::string>{"asset.read", "device.read"}));
}

// db.h does not say what DeleteRole needs; like CreateRole and UpdateRole
// it is taken to need role.manage on the role's tenant.
TEST_F(AccessTest, DeleteRole) {
  RoleId auditor = CustomRole("auditor", {"device.read"});
  auto del = [&](RoleId id) {
    return [=, this](const Actor& actor) { return db_->DeleteRole(actor, id); };
  };
  ExpectRefusedFor(OutsidersOfAcme("role.manage", "no role with id"), del(auditor));
  ExpectRefused([&] { return del(admin_role_)(Actor::System()); }, Code::kFailedPrecondition,
                "built-in role 'account_admin' cannot be deleted");
  UserId u = Member("auditor@acme", a_, auditor, false);
  ExpectRefused([&] { return del(auditor)(Actor::User(root_admin_)); }, Code::kFailedPrecondition,
                "is used by 1 membership");
  ASSERT_OK(db_->RemoveMembership(Actor::System(), u, a_));
  ASSERT_OK(del(auditor)(Actor::User(root_admin_)));
  EXPECT_EQ(db_->GetRole(auditor).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->FindRole(acme_, "auditor").status().code(), Code::kNotFound);
}

// ---- Escalation attempts ---------------------------------------------------

// A device manager that may also invite (a custom role) cannot hand out,
// or take, a role holding more than it holds itself.
TEST_F(AccessTest, EscalationThroughInviteAndChangeRoleIsRefused) {
  // device_manager's permissions (every entity permission, account.read,
  // user.read) plus user.invite.
  std::vector<std::string> perms = {"account.read", "user.read", "user.invite"};
  for (EntityKind kind : kAllEntityKinds) {
    for (const char* action : {".read", ".write", ".assign", ".delete"}) {
      perms.push_back(std::string(EntityKindName(kind)) + action);
    }
  }
  RoleId dm_invite = CustomRole("dm-invite", perms);
  UserId d = Member("dm@acme", a_, dm_invite, true);
  // Itself, as account_admin, on a sub-account or (via ChangeRole) in place.
  ExpectRefused([&] { return db_->Invite(Actor::User(d), d, a1_, admin_role_); },
                Code::kPermissionDenied, "cannot grant role account_admin");
  ExpectRefused([&] { return db_->Invite(Actor::User(d), d, a1_, admin_role_); },
                Code::kPermissionDenied, "does not itself hold access.grant, account.create");
  ExpectRefused([&] { return db_->ChangeRole(Actor::User(d), d, a_, admin_role_); },
                Code::kPermissionDenied, "cannot grant role account_admin");
  // A fresh user it creates, as account_admin, branch or not.
  auto fresh = db_->CreateUser(Actor::User(d), UserSpec{"fresh@acme", "Fresh", a_});
  ASSERT_OK(fresh);
  ExpectRefused([&] { return db_->Invite(Actor::User(d), *fresh, a_, admin_role_, false); },
                Code::kPermissionDenied, "on account 'acme-a'");
  ExpectRefused([&] { return db_->Invite(Actor::User(d), *fresh, a_, admin_role_, true); },
                Code::kPermissionDenied, "and all its sub-accounts");
  // Lowering someone above it is refused as well (it would need the old role).
  ExpectRefused([&] { return db_->ChangeRole(Actor::User(d), a_admin_, a_, viewer_role_); },
                Code::kPermissionDenied, "cannot change role account_admin");
  // What it holds itself it may hand on.
  EXPECT_OK(db_->Invite(Actor::User(d), *fresh, a_, manager_role_, true));
  EXPECT_OK(db_->Invite(Actor::User(d), *fresh, a1_, viewer_role_));
}

// db.h: the inviter must hold the role's permissions "on the whole branch
// when branch is given" — also when branch comes from a default_on account.
TEST_F(AccessTest, BranchWideInviteNeedsBranchWidePermissions) {
  UserId flat = Member("flat@acme", a_, admin_role_, false);  // acme-a alone
  UserId n = MakeUser(db_.get(), "n@acme", a_);
  ExpectRefused([&] { return db_->Invite(Actor::User(flat), n, a_, viewer_role_, true); },
                Code::kPermissionDenied, "and all its sub-accounts");
  ASSERT_OK(db_->SetSubAccountAccess(Actor::System(), a_, SubAccountAccess::kDefaultOn));
  ExpectRefused([&] { return db_->Invite(Actor::User(flat), n, a_, viewer_role_); },
                Code::kPermissionDenied, "and all its sub-accounts");
  ASSERT_OK(db_->Invite(Actor::User(flat), n, a_, viewer_role_, false));
  EXPECT_FALSE(Sees(n, "d-a1"));
  EXPECT_TRUE(Sees(n, "d-a"));
}

// A user with access.grant but not the role's permissions branch-wide
// cannot widen someone's membership to the sub-accounts.
TEST_F(AccessTest, EscalationThroughBranchAccessIsRefused) {
  RoleId granter = CustomRole("granter", {"account.read", "access.grant"});
  UserId g = Member("granter@acme", a_, granter, true);
  UserId n = Member("new@acme", a_, admin_role_, false);
  ExpectRefused([&] { return db_->SetBranchAccess(Actor::User(g), n, a_, true); },
                Code::kPermissionDenied,
                "cannot change the branch access of a member with role account_admin");
  // A member whose role it holds it may not widen beyond its own reach.
  UserId v = Member("new-viewer@acme", a_, CustomRole("reader", {"account.read"}), false);
  ExpectRefused([&] { return db_->SetBranchAccess(Actor::User(g), v, a1_, true); },
                Code::kNotFound, "is not a member");
  EXPECT_OK(db_->SetBranchAccess(Actor::User(g), v, a_, true));
  // Nor by switching the account to always_on, which widens every member.
  ExpectRefused(
      [&] { return db_->SetSubAccountAccess(Actor::User(g), a_, SubAccountAccess::kAlwaysOn); },
      Code::kPermissionDenied, "always_on gives role account_admin branch-wide");
  EXPECT_FALSE(Sees(n, "d-a1"));
  // Its own role it may widen, and default_on changes no current membership.
  EXPECT_OK(db_->SetSubAccountAccess(Actor::User(g), a_, SubAccountAccess::kDefaultOn));
  EXPECT_FALSE(MembershipOn(n, a_)->branch);
}

// Acting on a user (docs/index.md, "Acting on users"): the actor must reach
// and hold at least what the user holds. An admin of acme-a without branch
// access may not touch a user created in acme-a who holds a role on acme-a1
// (out of its reach), nor a branch-wide admin of acme-a (who holds more).
TEST_F(AccessTest, ActingOnAUserNeedsWhatTheUserHolds) {
  UserId flat = Member("flat@acme", a_, admin_role_, false);
  UserId below = MakeUser(db_.get(), "below@acme", a_);
  ASSERT_OK(db_->Invite(Actor::System(), below, a1_, viewer_role_, false));
  const Actor f = Actor::User(flat);
  UserPatch rename;
  rename.name = "Renamed";
  for (UserId target : {below, a_admin_}) {
    SCOPED_TRACE("target " + db_->GetUser(target)->login);
    ExpectRefused([&] { return db_->UpdateUser(f, target, rename); }, Code::kPermissionDenied,
                  "cannot update user");
    ExpectRefused([&] { return db_->SetUserDisabled(f, target, true); },
                  Code::kPermissionDenied, "cannot disable user");
    ExpectRefused([&] { return db_->RemoveUser(f, target); }, Code::kPermissionDenied,
                  "cannot remove user");
  }
  // acme-a1 is out of its reach: the refusal does not name it.
  Status s = db_->SetUserDisabled(f, below, true);
  EXPECT_NE(s.message().find("holds a role on an account outside the reach of user 'flat@acme'"),
            std::string::npos)
      << s.ToString();
  EXPECT_EQ(s.message().find("acme-a1"), std::string::npos) << s.ToString();
  // Nor the membership of the branch-wide admin: not its branch access,
  // not its role, not the membership itself.
  ExpectRefused([&] { return db_->SetBranchAccess(f, a_admin_, a_, false); },
                Code::kPermissionDenied,
                "cannot change the branch access of a member with role account_admin");
  ExpectRefused([&] { return db_->ChangeRole(f, a_admin_, a_, viewer_role_); },
                Code::kPermissionDenied, "cannot change role account_admin");
  ExpectRefused([&] { return db_->RemoveMembership(f, a_admin_, a_); }, Code::kPermissionDenied,
                "cannot remove a member with role account_admin");
  // A disabled user gets nothing back from someone who could not give it.
  ASSERT_OK(db_->SetUserDisabled(Actor::System(), a_admin_, true));
  ExpectRefused([&] { return db_->SetUserDisabled(f, a_admin_, false); },
                Code::kPermissionDenied, "cannot enable user 'a-admin@acme'");
  // Who reaches and holds it all may act.
  const Actor root = Actor::User(root_admin_);
  EXPECT_OK(db_->SetUserDisabled(root, a_admin_, false));
  EXPECT_OK(db_->UpdateUser(root, below, rename));
  EXPECT_OK(db_->SetUserDisabled(root, below, true));
  EXPECT_OK(db_->RemoveUser(root, below));
  EXPECT_OK(db_->SetBranchAccess(root, a_admin_, a_, false));
  // A user with no memberships needs only the permission on its account.
  UserId bare = MakeUser(db_.get(), "bare@acme", a_);
  EXPECT_OK(db_->SetUserDisabled(f, bare, true));
  EXPECT_OK(db_->RemoveUser(f, bare));
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

// The same rule with a custom role: user.update and user.remove without the
// target's entity permissions are not enough.
TEST_F(AccessTest, UserManagersCannotActOnUsersHoldingMoreThanThem) {
  RoleId hr = CustomRole("hr", {"account.read", "user.read", "user.update", "user.remove"});
  UserId h = Member("hr@acme", a_, hr, true);
  UserId v = Member("v@acme", a_, viewer_role_, false);
  ExpectRefused([&] { return db_->SetUserDisabled(Actor::User(h), v, true); },
                Code::kPermissionDenied, "does not itself hold asset.read, dashboard.read, device.read");
  ExpectRefused([&] { return db_->RemoveUser(Actor::User(h), v); }, Code::kPermissionDenied,
                "cannot remove user 'v@acme' (it has role viewer on account 'acme-a')");
  // Deleting the account would remove the membership: the same rule.
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(a1_admin_), a1_, kNoId); },
                Code::kFailedPrecondition, "still has");
  UserId peer = Member("peer@acme", a1_, admin_role_, true);
  (void)peer;
  RoleId deleter = CustomRole("deleter", {"account.read", "account.delete", "device.assign",
                                          "user.invite", "user.remove"});
  UserId d = Member("deleter@acme", a_, deleter, true);
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(d), a1_, a_); },
                Code::kPermissionDenied, "and with it the membership of user");
}

// What an actor cannot see is refused exactly like something missing
// (docs/index.md, "What an actor can see"): an account, an entity, a user, a
// custom role, and a membership on an account where it holds no user.*
// permission — so refusals cannot be used to probe what exists.
TEST_F(AccessTest, WhatAnActorCannotSeeLooksMissing) {
  const Actor b = Actor::User(b_admin_);
  auto message = [](const Status& s) { return s.ToString(); };
  auto same = [&](const Status& hidden, const Status& missing, const std::string& hidden_id,
                  const std::string& missing_id) {
    EXPECT_EQ(hidden.code(), Code::kNotFound) << hidden.ToString();
    std::string h = message(hidden), m = message(missing);
    h.replace(h.rfind(hidden_id), hidden_id.size(), "N");
    m.replace(m.rfind(missing_id), missing_id.size(), "N");
    EXPECT_EQ(h, m);
  };
  const EntityId d = DeviceId("d-a");
  const EntityId gone = 999999;
  EntityPatch p;
  p.name = "x";
  same(db_->UpdateEntity(b, d, p), db_->UpdateEntity(b, gone, p), std::to_string(d), "999999");
  same(db_->DeleteEntity(b, d), db_->DeleteEntity(b, gone), std::to_string(d), "999999");
  same(db_->SetUserDisabled(b, a_viewer_, true), db_->SetUserDisabled(b, kUnknownUser, true),
       std::to_string(a_viewer_), std::to_string(kUnknownUser));
  AccountPatch ap;
  ap.name = "x";
  same(db_->UpdateAccount(b, a_, ap), db_->UpdateAccount(b, 424242, ap), std::to_string(a_),
       "424242");
  RoleId foreign = CustomRole("foreign", {"device.read"}, globex_);
  same(db_->DeleteRole(b, foreign), db_->DeleteRole(b, 424242), std::to_string(foreign), "424242");
  // Membership probing: p sees acme's users and reads acme-b, but holds no
  // user.* permission on acme-b: a member there and a non-member look alike.
  UserId probe = MakeUser(db_.get(), "probe@acme", acme_);
  ASSERT_OK(db_->Invite(Actor::System(), probe, acme_, viewer_role_, false));
  ASSERT_OK(db_->Invite(Actor::System(), probe, b_, CustomRole("reader", {"account.read"}), false));
  UserId member = MakeUser(db_.get(), "member@acme", acme_);
  ASSERT_OK(db_->Invite(Actor::System(), member, b_, viewer_role_, false));
  UserId stranger = MakeUser(db_.get(), "stranger@acme", acme_);
  const Actor pa = Actor::User(probe);
  Status s1 = db_->RemoveMembership(pa, member, b_);
  Status s2 = db_->RemoveMembership(pa, stranger, b_);
  EXPECT_EQ(s1.code(), Code::kNotFound) << s1.ToString();
  EXPECT_EQ(s1.ToString().substr(s1.ToString().find("' is not")),
            s2.ToString().substr(s2.ToString().find("' is not")));
  EXPECT_TRUE(MembershipOn(member, b_).has_value());
  // Where the actor can see the thing, the missing permission is named.
  ExpectRefused([&] { return db_->UpdateEntity(Actor::User(a_viewer_), d, p); },
                Code::kPermissionDenied, "permission device.write missing on account 'acme-a'");
}

// A refusal says why, but names an account or user the call did not name
// itself only when the actor sees it: a hidden sub-account, a member's
// home above the actor, stay unnamed (the system actor gets the names).
TEST_F(AccessTest, RefusalsNameOnlyWhatTheActorSees) {
  const Actor system = Actor::System();
  // Deleting an account with a sub-account the actor cannot see.
  UserId deleter = MakeUser(db_.get(), "deleter@acme", acme_);
  ASSERT_OK(db_->Invite(system, deleter, a_, admin_role_, false));
  testing::Dump before = DumpAll(db_.get());
  Status s = db_->DeleteAccount(Actor::User(deleter), a_);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message().find("acme-a1"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("has sub-account an account you cannot see"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(DumpAll(db_.get()), before);
  s = db_->DeleteAccount(system, a_);
  EXPECT_NE(s.message().find("has sub-account 'acme-a1'"), std::string::npos) << s.ToString();

  // Moving an account would carry a membership out of its user's home,
  // an account above the actor.
  AccountId deep = MakeAccount(db_.get(), "acme-a1x", a1_);
  UserId hidden = MakeUser(db_.get(), "hidden@acme", a_);
  ASSERT_OK(db_->Invite(system, hidden, deep, viewer_role_, false));
  ASSERT_OK(db_->SetSubAccountManagement(system, b_, true));
  UserId shuffler = MakeUser(db_.get(), "shuffler@acme", acme_);
  for (AccountId on : {deep, a1_, b_}) {
    ASSERT_OK(db_->Invite(system, shuffler, on, admin_role_, false));
  }
  before = DumpAll(db_.get());
  s = db_->MoveAccount(Actor::User(shuffler), deep, b_);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message().find("'acme-a'"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("outside an account you cannot see"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(DumpAll(db_.get()), before);
  s = db_->MoveAccount(system, deep, b_);
  EXPECT_NE(s.message().find("outside 'acme-a'"), std::string::npos) << s.ToString();

  // Inviting a user the actor sees into an account outside the user's
  // home, which the actor does not see.
  AccountId b1 = MakeAccount(db_.get(), "acme-b1", b_);
  UserId b_user = MakeUser(db_.get(), "b-user@acme", b_);
  ASSERT_OK(db_->Invite(system, b_user, b1, viewer_role_, false));
  UserId inviter = MakeUser(db_.get(), "inviter@acme", acme_);
  ASSERT_OK(db_->Invite(system, inviter, a_, admin_role_, false));
  ASSERT_OK(db_->Invite(system, inviter, b1, admin_role_, false));
  before = DumpAll(db_.get());
  s = db_->Invite(Actor::User(inviter), b_user, a_, viewer_role_, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message().find("'acme-b'"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("(an account you cannot see)"), std::string::npos) << s.ToString();
  EXPECT_EQ(DumpAll(db_.get()), before);
  s = db_->Invite(system, b_user, a_, viewer_role_, false);
  EXPECT_NE(s.message().find("('acme-b')"), std::string::npos) << s.ToString();
}

// ---- Reads as a viewer (db.h) ----------------------------------------------

// The point reads by id as a viewer: what is out of sight is worded exactly
// as a missing id, and the system actor reads everything.
TEST_F(AccessTest, PointReadsByIdAsAViewer) {
  const Actor a = Actor::User(a_admin_);
  const Actor system = Actor::System();
  // Replaces the id in a message, to compare "hidden" with "missing".
  auto shape = [](Status s, uint64_t id) {
    std::string m = s.ToString();
    const std::string n = std::to_string(id);
    const size_t at = m.rfind(n);
    return at == std::string::npos ? m : m.replace(at, n.size(), "N");
  };
  constexpr uint64_t kMissing = 999999;

  EXPECT_EQ(db_->GetAccount(a, a1_)->key, "acme-a1");
  EXPECT_EQ(db_->GetAccount(system, acme_)->key, "acme");
  for (AccountId hidden : {acme_, b_, globex_}) {
    Status s = db_->GetAccount(a, hidden).status();
    EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
    EXPECT_EQ(shape(s, hidden), shape(db_->GetAccount(a, kMissing).status(), kMissing));
    EXPECT_EQ(shape(db_->Ancestors(a, hidden).status(), hidden),
              shape(db_->Ancestors(a, kMissing).status(), kMissing));
  }
  // Ancestors: only those the viewer sees (acme is above acme-a's admin).
  auto anc = db_->Ancestors(a, a1_);
  ASSERT_OK(anc.status());
  ASSERT_EQ(anc->size(), 1u);
  EXPECT_EQ((*anc)[0].key, "acme-a");
  EXPECT_EQ(db_->Ancestors(system, a1_)->size(), 2u);

  const EntityId d_a1 = DeviceId("d-a1");
  const EntityId d_b = DeviceId("d-b");
  EXPECT_EQ(db_->GetEntity(a, d_a1)->key, "d-a1");
  Status hidden_entity = db_->GetEntity(a, d_b).status();
  EXPECT_EQ(hidden_entity.code(), Code::kNotFound);
  EXPECT_EQ(shape(hidden_entity, d_b), shape(db_->GetEntity(a, kMissing).status(), kMissing));

  EXPECT_EQ(db_->GetUser(a, a_viewer_)->login, "a-viewer@acme");
  EXPECT_EQ(db_->GetUser(a, a_admin_)->login, "a-admin@acme");  // itself
  Status hidden_user = db_->GetUser(a, root_admin_).status();
  EXPECT_EQ(hidden_user.code(), Code::kNotFound);
  EXPECT_EQ(shape(hidden_user, root_admin_), shape(db_->GetUser(a, kMissing).status(), kMissing));

  // Roles: built-ins always, a custom role when its tenant is in sight.
  RoleId acme_role = CustomRole("acme-reader", {"device.read"});
  RoleId globex_role = CustomRole("globex-reader", {"device.read"}, globex_);
  EXPECT_EQ(db_->GetRole(a, viewer_role_)->name, "viewer");
  // acme-a's admin does not see the root tenant acme itself, so acme's
  // custom roles stay out of its sight too (as for Invite).
  EXPECT_EQ(db_->GetRole(a, acme_role).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->GetRole(Actor::User(root_admin_), acme_role)->name, "acme-reader");
  Status hidden_role = db_->GetRole(Actor::User(root_admin_), globex_role).status();
  EXPECT_EQ(hidden_role.code(), Code::kNotFound);
  EXPECT_EQ(shape(hidden_role, globex_role),
            shape(db_->GetRole(Actor::User(root_admin_), kMissing).status(), kMissing));
  auto roles = db_->ListRoles(Actor::User(root_admin_), acme_);
  ASSERT_OK(roles.status());
  EXPECT_EQ(roles->size(), db_->ListRoles(acme_)->size());
  EXPECT_EQ(db_->ListRoles(Actor::User(root_admin_), globex_).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->ListRoles(a, kNoId)->size(), db_->ListRoles(kNoId)->size());
  // acme-a is in a's sight, its root tenant is not: the built-ins only.
  auto below = db_->ListRoles(a, a_);
  ASSERT_OK(below.status());
  EXPECT_EQ(below->size(), db_->ListRoles(kNoId)->size());
  for (const Role& r : *below) EXPECT_TRUE(r.builtin) << r.name;
  // A user holding acme-reader on acme-a sees its own role (and lists it);
  // acme-a's admin, which sees that membership but not acme, is told of
  // it as kHidden: in an explanation and in a refusal.
  const UserId reader = Member("reader@acme", a_, acme_role, false);
  EXPECT_EQ(db_->GetRole(Actor::User(reader), acme_role)->name, "acme-reader");
  auto held = db_->ListRoles(Actor::User(reader), a_);
  ASSERT_OK(held.status());
  EXPECT_EQ(held->back().name, "acme-reader");
  Explanation own, told;
  ASSERT_OK(db_->Explain(Actor::User(reader), reader, "device.read", "d-a", &own));
  EXPECT_EQ(own.via_role_name, "acme-reader");
  ASSERT_OK(db_->Explain(a, reader, "device.read", "d-a", &told));
  EXPECT_TRUE(told.allowed);
  EXPECT_EQ(told.via_role, acme_role);
  EXPECT_EQ(told.via_role_name, kHidden);
  EXPECT_EQ(told.reason.find("acme-reader"), std::string::npos) << told.reason;
  // A user the asker does not see is unknown to it, as a missing one.
  Status unseen = db_->Explain(a, root_admin_, "device.read", "d-a", &told);
  EXPECT_EQ(unseen.code(), Code::kNotFound);
  EXPECT_EQ(unseen.message(), "no user with id " + std::to_string(root_admin_));

  // Ids are not hidden (docs/model.md, "What an actor can see"): acme-a1's
  // admin reads acme-a1's parent id and its own home's, but reading the
  // parent by that id is NotFound, worded as a missing one.
  const Actor a1_admin = Actor::User(a1_admin_);
  auto a1 = db_->GetAccount(a1_admin, a1_);
  ASSERT_OK(a1.status());
  EXPECT_EQ(a1->parent, a_);
  EXPECT_EQ(db_->GetUser(a1_admin, a1_admin_)->account, a1_);
  Status parent = db_->GetAccount(a1_admin, a_).status();
  EXPECT_EQ(parent.code(), Code::kNotFound);
  EXPECT_EQ(parent.message(), "no account with id " + std::to_string(a_));

  // An unknown viewer is NotFound, a disabled one PermissionDenied.
  EXPECT_EQ(db_->GetAccount(Actor::User(kUnknownUser), a_).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->GetEntity(Actor::User(disabled_), d_a1).status().code(),
            Code::kPermissionDenied);
}


// Explain asked by another user names only the memberships that asker
// sees, as MembershipsOf lists them: the one it cannot see is neither named
// (nor its role), in a denial's "falls short" list or as the route that allows.
TEST_F(AccessTest, ExplainToAnotherUserNamesOnlyTheMembershipsItSees) {
  const AccountId a2 = MakeAccount(db_.get(), "acme-a2", a_);
  // w: a viewer on acme-a1 and on acme-a2. q administers acme-a1 only: it
  // sees w through the acme-a1 membership, not the acme-a2 one.
  const UserId w = MakeUser(db_.get(), "w@acme", a_);
  ASSERT_OK(db_->Invite(Actor::System(), w, a1_, viewer_role_, false));
  ASSERT_OK(db_->Invite(Actor::System(), w, a2, viewer_role_, false));
  const UserId q = Member("q@acme", a1_, admin_role_, false);
  const Actor as_q = Actor::User(q);
  auto seen = db_->MembershipsOf(as_q, w);
  ASSERT_OK(seen.status());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->front().account, a1_);

  Explanation told, own;
  ASSERT_OK(db_->Explain(as_q, w, "device.write", "d-a1", &told));
  EXPECT_FALSE(told.allowed);
  EXPECT_NE(told.reason.find("viewer on 'acme-a1': role lacks device.write"), std::string::npos)
      << told.reason;
  EXPECT_EQ(told.reason.find("(hidden)"), std::string::npos) << told.reason;
  EXPECT_EQ(told.reason.find("acme-a2"), std::string::npos) << told.reason;
  // The user itself and the operator are told of both.
  ASSERT_OK(db_->Explain(Actor::User(w), w, "device.write", "d-a1", &own));
  EXPECT_NE(own.reason.find("viewer on 'acme-a2'"), std::string::npos) << own.reason;
  ASSERT_OK(db_->Explain(Actor::System(), w, "device.write", "d-a1", &own));
  EXPECT_NE(own.reason.find("viewer on 'acme-a2'"), std::string::npos) << own.reason;

  // A user whose only membership q does not see (q sees it as a user of
  // acme-a1, its home; the membership is on a sub-account of acme-a1, out
  // of q's reach): no membership is named, worded as for none at all.
  const AccountId a11 = MakeAccount(db_.get(), "acme-a11", a1_);
  const UserId v = MakeUser(db_.get(), "v@acme", a1_);
  ASSERT_OK(db_->Invite(Actor::System(), v, a11, viewer_role_, false));
  MakeDevice(db_.get(), "d-a11", a11);
  ASSERT_OK(db_->Explain(as_q, v, "device.write", "d-a11", &told));
  EXPECT_FALSE(told.allowed);
  EXPECT_EQ(told.reason,
            "no membership or group of user 'v@acme' grants device.write on account (hidden) (no "
            "membership of the user in the asker's sight)");

  // Allowed only through a membership q does not see (device_manager
  // branch-wide on acme-a): the verdict, with no role, account or path.
  ASSERT_OK(db_->Invite(Actor::System(), w, a_, manager_role_, true));
  ASSERT_OK(db_->Explain(as_q, w, "device.write", "d-a1", &told));
  EXPECT_TRUE(told.allowed);
  EXPECT_EQ(told.reason,
            "user 'w@acme' holds device.write on account 'acme-a1' through a membership out of "
            "the asker's sight");
  EXPECT_EQ(told.via_account, kNoId);
  EXPECT_EQ(told.via_role, kNoId);
  EXPECT_EQ(told.via_role_name, kHidden);
  EXPECT_TRUE(told.path.empty());
  ASSERT_OK(db_->Explain(Actor::System(), w, "device.write", "d-a1", &own));
  EXPECT_EQ(own.via_account, a_);
  EXPECT_EQ(own.via_role_name, "device_manager");
  // Once q sees a granting membership, that one is named: a device_manager
  // membership on acme-a1 itself.
  ASSERT_OK(db_->ChangeRole(Actor::System(), w, a1_, manager_role_));
  ASSERT_OK(db_->Explain(as_q, w, "device.write", "d-a1", &told));
  EXPECT_TRUE(told.allowed);
  EXPECT_EQ(told.via_account, a1_);
  EXPECT_EQ(told.via_role_name, "device_manager");
}

TEST_F(AccessTest, ReadsAsAViewerShowOnlyWhatItSees) {
  auto keys = [](const std::vector<Account>& as) {
    std::vector<std::string> out;
    for (const auto& a : as) out.push_back(a.key);
    return out;
  };
  auto logins = [&](const std::vector<Membership>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(db_->GetUser(m.user)->login);
    std::sort(out.begin(), out.end());
    return out;
  };
  const Actor a = Actor::User(a_admin_);
  // A non-branch admin of acme-a: acme-a alone.
  UserId flat = Member("flat@acme", a_, admin_role_, false);
  const Actor f = Actor::User(flat);

  EXPECT_EQ(*db_->Roots(Actor::System()), (std::vector<AccountId>{acme_, globex_}));
  EXPECT_EQ(*db_->Roots(a), std::vector<AccountId>{a_});
  EXPECT_EQ(*db_->Roots(f), std::vector<AccountId>{a_});
  EXPECT_EQ(*db_->Roots(Actor::User(root_admin_)), std::vector<AccountId>{acme_});
  EXPECT_EQ(keys(*db_->Descendants(a, a_, 0)), std::vector<std::string>{"acme-a1"});
  EXPECT_TRUE(db_->Descendants(f, a_, 0)->empty());
  EXPECT_EQ(keys(*db_->Descendants(Actor::User(root_admin_), acme_, 1)),
            (std::vector<std::string>{"acme-a", "acme-b"}));
  // Out of sight: worded as missing.
  for (AccountId hidden : {acme_, b_, globex_}) {
    Status s = db_->Descendants(a, hidden, 0).status();
    EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
    EXPECT_EQ(s.message(), "descendants: no account with id " + std::to_string(hidden));
    EXPECT_EQ(db_->UsersOf(a, hidden).status().code(), Code::kNotFound);
    EXPECT_EQ(db_->MembersOf(a, hidden).status().code(), Code::kNotFound);
    EXPECT_EQ(db_->Summary(a, hidden).status().code(), Code::kNotFound);
  }

  // A device by unit id: out of sight it is worded as a missing one.
  auto by_unit = db_->FindDeviceByUnitId(a, "U-A1");
  EXPECT_OK(by_unit.status());
  std::string hidden_unit = db_->FindDeviceByUnitId(Actor::User(b_admin_), "U-A1").status().ToString();
  std::string missing_unit = db_->FindDeviceByUnitId(Actor::User(b_admin_), "U-NO").status().ToString();
  EXPECT_EQ(hidden_unit.replace(hidden_unit.find("U-A1"), 4, "X"),
            missing_unit.replace(missing_unit.find("U-NO"), 4, "X"));

  // Users and memberships: the root admin is out of acme-a's admin's sight.
  std::vector<std::string> users;
  auto of_a = db_->UsersOf(a, a_);
  ASSERT_OK(of_a.status());
  for (const auto& u : *of_a) users.push_back(u.login);
  std::sort(users.begin(), users.end());
  EXPECT_EQ(users, (std::vector<std::string>{"a-admin@acme", "a-viewer@acme", "flat@acme"}));
  EXPECT_EQ(db_->UsersOf(Actor::System(), acme_)->size(), 3u);
  EXPECT_EQ(db_->MembershipsOf(a, root_admin_).status().code(), Code::kNotFound);
  EXPECT_EQ(logins(*db_->MembersOf(a, a_)),
            (std::vector<std::string>{"a-admin@acme", "a-viewer@acme", "flat@acme"}));
  // A user with memberships in two branches: the viewer sees only its own.
  UserId both = Member("both@acme", acme_, viewer_role_, false);
  ASSERT_OK(db_->Invite(Actor::System(), both, a_, viewer_role_, false));
  ASSERT_OK(db_->Invite(Actor::System(), both, b_, viewer_role_, false));
  auto ms = db_->MembershipsOf(a, both);
  ASSERT_OK(ms.status());
  ASSERT_EQ(ms->size(), 1u);
  EXPECT_EQ((*ms)[0].account, a_);
  EXPECT_EQ(db_->MembershipsOf(Actor::System(), both)->size(), 3u);

  // Summary: totals and path only of what it sees.
  auto full = db_->Summary(Actor::System(), a_);
  ASSERT_OK(full.status());
  EXPECT_EQ(full->path, (std::vector<std::string>{"acme", "acme-a"}));
  EXPECT_EQ(full->path_names, (std::vector<std::string>{"Account acme", "Account acme-a"}));
  EXPECT_EQ((std::pair{full->sub_accounts, full->devices_subtree}), (std::pair{uint64_t{1}, uint64_t{2}}));
  auto mine = db_->Summary(f, a_);
  ASSERT_OK(mine.status());
  EXPECT_EQ(mine->path, std::vector<std::string>{"acme-a"});
  EXPECT_EQ(mine->path_names, std::vector<std::string>{"Account acme-a"});
  EXPECT_EQ((std::pair{mine->sub_accounts, mine->devices_subtree}), (std::pair{uint64_t{0}, uint64_t{1}}));
  auto branch = db_->Summary(a, a_);
  EXPECT_EQ((std::pair{branch->sub_accounts, branch->devices_subtree}), (std::pair{uint64_t{1}, uint64_t{2}}));
  // CountOwned as a viewer follows the summary's rule, for every kind.
  for (EntityKind kind : kAllEntityKinds) {
    auto all = db_->CountOwned(a_, kind);
    auto flat = db_->CountOwned(f, a_, kind);
    auto wide = db_->CountOwned(a, a_, kind);
    ASSERT_OK(all.status());
    ASSERT_OK(flat.status());
    ASSERT_OK(wide.status());
    EXPECT_EQ(flat->direct, all->direct) << EntityKindName(kind);
    EXPECT_EQ(flat->subtree, flat->direct) << EntityKindName(kind);  // sees no sub-account
    EXPECT_EQ((std::pair{wide->direct, wide->subtree}), (std::pair{all->direct, all->subtree}));
  }
  EXPECT_EQ(db_->CountOwned(f, a_, EntityKind::kDevice)->subtree, mine->devices_subtree);
  EXPECT_EQ(db_->CountOwned(f, acme_, EntityKind::kDevice).status().code(), Code::kNotFound);
  // Out of sight reads as missing.
  EXPECT_NE(db_->CountOwned(f, acme_, EntityKind::kDevice).status().ToString().find(
                "no account with id " + std::to_string(acme_)),
            std::string::npos);
  EXPECT_EQ(db_->CountOwned(Actor::User(987654), a_, EntityKind::kDevice).status().code(),
            Code::kNotFound);

  // who-can as a viewer: only what it sees, only users it sees.
  WhoCanRequest req;
  req.permission = "device.read";
  req.entity_key = "d-a";
  req.viewer = a;
  WhoCanPage page;
  ASSERT_OK(db_->WhoCan(req, &page));
  std::vector<std::string> who;
  for (const auto& item : page.items) who.push_back(item.login);
  std::sort(who.begin(), who.end());
  EXPECT_EQ(who, (std::vector<std::string>{"a-admin@acme", "a-viewer@acme", "both@acme",
                                           "flat@acme"}));
  req.entity_key = "d-b";
  Status hidden = db_->WhoCan(req, &page);
  req.entity_key = "d-nope";
  Status missing = db_->WhoCan(req, &page);
  EXPECT_EQ(hidden.code(), Code::kNotFound);
  EXPECT_EQ(hidden.ToString().replace(hidden.ToString().find("d-b"), 3, "X"),
            missing.ToString().replace(missing.ToString().find("d-nope"), 6, "X"));

  // A disabled viewer reads nothing; an unknown one is unknown.
  for (const Actor& bad : {Actor::User(disabled_), Actor::User(kUnknownUser)}) {
    const Code want = bad.user() == disabled_ ? Code::kPermissionDenied : Code::kNotFound;
    EXPECT_EQ(db_->Roots(bad).status().code(), want);
    EXPECT_EQ(db_->Descendants(bad, acme_, 0).status().code(), want);
    EXPECT_EQ(db_->UsersOf(bad, acme_).status().code(), want);
    EXPECT_EQ(db_->MembersOf(bad, acme_).status().code(), want);
    EXPECT_EQ(db_->MembershipsOf(bad, root_admin_).status().code(), want);
    EXPECT_EQ(db_->Summary(bad, acme_).status().code(), want);
    EXPECT_EQ(db_->FindAccount(bad, "acme").status().code(), want);
    EXPECT_EQ(db_->FindUser(bad, "root-admin@acme").status().code(), want);
    EXPECT_EQ(db_->FindEntity(bad, EntityKind::kDevice, "d-acme").status().code(), want);
    EXPECT_EQ(db_->FindDeviceByUnitId(bad, "U-A1").status().code(), want);
    req.viewer = bad;
    req.entity_key = "d-acme";
    EXPECT_EQ(db_->WhoCan(req, &page).code(), want);
  }
}

TEST_F(AccessTest, InvitingIntoAnAncestorOrASiblingIsRefused) {
  UserId mine = MakeUser(db_.get(), "mine@acme", a_);
  // Accounts above or beside its own it does not even see.
  ExpectRefused([&] { return db_->Invite(Actor::User(a_admin_), mine, acme_, viewer_role_); },
                Code::kNotFound, "invite: no account with id");
  ExpectRefused([&] { return db_->Invite(Actor::User(a_admin_), mine, b_, viewer_role_); },
                Code::kNotFound, "invite: no account with id");
  ExpectRefused([&] { return db_->Invite(Actor::User(a_admin_), a_admin_, acme_, admin_role_); },
                Code::kNotFound, "invite: no account with id");
  ExpectRefused([&] { return db_->Invite(Actor::User(a1_admin_), a1_admin_, a_, admin_role_); },
                Code::kNotFound, "invite: no account with id");
  // Where it can read the account but not invite, the permission is named.
  ExpectRefused([&] { return db_->Invite(Actor::User(root_viewer_), mine, a_, viewer_role_); },
                Code::kPermissionDenied, "permission user.invite missing on account 'acme-a'");
  // Nor may it create users up there.
  ExpectRefused(
      [&] {
        return db_->CreateUser(Actor::User(a_admin_), UserSpec{"up@acme", "Up", acme_});
      },
      Code::kNotFound, "user account: no account with id");
  // A custom role of another tenant cannot be used here, whoever asks.
  RoleId foreign = CustomRole("foreign", {"device.read"}, globex_);
  ExpectRefused([&] { return db_->Invite(Actor::System(), mine, a_, foreign); },
                Code::kFailedPrecondition, "belongs to another root tenant");
}

TEST_F(AccessTest, MovingOnesOwnAccountToWidenReachIsRefused) {
  // acme-a's admin moving acme-a itself (it does not even see acme-b).
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(a_admin_), a_, b_); },
                Code::kNotFound, "new parent: no account with id");
  // ... or moving a sibling's account into its own subtree to see its devices.
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(a_admin_), b_, a_); },
                Code::kNotFound, "account: no account with id");
  // Under an account it sees, it still lacks account.move on its parent,
  // which it cannot see: the refusal does not name it.
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(a_admin_), a_, a1_); },
                Code::kPermissionDenied,
                "permission account.move missing on an account user 'a-admin@acme' cannot see");
  EXPECT_FALSE(Sees(a_admin_, "d-b"));
  // ... or acme-a1's admin pulling its own account up under the root.
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(a1_admin_), a1_, acme_); },
                Code::kNotFound, "new parent: no account with id");
  // ... or an admin of acme-a who can only read acme-b moving a sub-account
  // of acme-a there.
  UserId mover = MakeUser(db_.get(), "mover@acme", acme_);
  ASSERT_OK(db_->Invite(Actor::System(), mover, a_, admin_role_, true));
  ASSERT_OK(db_->Invite(Actor::System(), mover, b_, viewer_role_, true));
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(mover), a1_, b_); },
                Code::kPermissionDenied, "permission account.move missing on account 'acme-b'");
  EXPECT_EQ(db_->GetAccount(a1_)->parent, a_);
}

TEST_F(AccessTest, MovingAnAccountNeedsAccountMoveOnEachSubAccountItCarries) {
  // A move hands the whole subtree to the new parent's branch members:
  // the mover needs account.move on all that moves, as a reassign needs
  // device.assign over each device. Here acme-a carries acme-a1 along.
  const Actor system = Actor::System();
  ASSERT_OK(db_->SetSubAccountManagement(system, b_, true));
  ASSERT_OK(db_->SetSubAccountManagement(system, acme_, true));
  UserId mover = MakeUser(db_.get(), "mover@acme", acme_);
  for (AccountId on : {a_, acme_, b_}) {
    ASSERT_OK(db_->Invite(system, mover, on, admin_role_, false));  // no branch
  }
  ASSERT_FALSE(Sees(b_admin_, "d-a1"));
  auto before = DumpAll(db_.get());
  Status s = db_->MoveAccount(Actor::User(mover), a_, b_);
  EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
  EXPECT_EQ(s.message(),
            "cannot move account 'acme-a' with its sub-accounts: permission account.move missing "
            "on an account user 'mover@acme' cannot see");
  EXPECT_TRUE(DumpAll(db_.get()) == before);
  EXPECT_FALSE(Sees(b_admin_, "d-a1"));
  // Seeing acme-a1 without account.move there: named.
  ASSERT_OK(db_->Invite(system, mover, a1_, viewer_role_, false));
  before = DumpAll(db_.get());
  ExpectRefused([&] { return db_->MoveAccount(Actor::User(mover), a_, b_); },
                Code::kPermissionDenied,
                "cannot move account 'acme-a' with its sub-accounts: permission account.move "
                "missing on account 'acme-a1' (user 'mover@acme')");
  EXPECT_TRUE(DumpAll(db_.get()) == before);
  // With account.move on each account that moves, it may.
  ASSERT_OK(db_->ChangeRole(system, mover, a1_, admin_role_));
  ASSERT_OK(db_->MoveAccount(Actor::User(mover), a_, b_));
  EXPECT_EQ(db_->GetAccount(a_)->parent, b_);
  EXPECT_TRUE(Sees(b_admin_, "d-a1"));
  // A branch-wide account.move on the account covers its sub-accounts,
  // whatever it holds on each.
  UserId brancher = MakeUser(db_.get(), "brancher@acme", acme_);
  ASSERT_OK(db_->Invite(system, brancher, a_, admin_role_, true));
  ASSERT_OK(db_->Invite(system, brancher, b_, admin_role_, false));
  ASSERT_OK(db_->Invite(system, brancher, acme_, admin_role_, false));
  ASSERT_OK(db_->MoveAccount(Actor::User(brancher), a_, acme_));
  EXPECT_EQ(db_->GetAccount(a_)->parent, acme_);
  // A leaf moves with account.move on itself alone.
  UserId leaf_mover = MakeUser(db_.get(), "leaf-mover@acme", acme_);
  for (AccountId on : {a1_, a_, b_}) {
    ASSERT_OK(db_->Invite(system, leaf_mover, on, admin_role_, false));
  }
  ASSERT_OK(db_->MoveAccount(Actor::User(leaf_mover), a1_, b_));
  EXPECT_EQ(db_->GetAccount(a1_)->parent, b_);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, ReassigningFromAnAccountOneCannotSeeIsRefused) {
  std::vector<std::string> theirs = {"d-b"};
  ReassignReport report;
  ExpectRefused(
      [&] {
        return db_->ReassignEntities(Actor::User(a_admin_), EntityKind::kDevice, EntityRef::kKey,
                                     theirs, a_, &report);
      },
      Code::kNotFound, "no device with key 'd-b'");
  // A device the actor cannot see is reported as unknown, like a missing
  // one: the refusal does not reveal that it exists.
  ASSERT_EQ(report.items.size(), 1u);
  EXPECT_EQ(report.items[0].outcome, ReassignItem::Outcome::kUnknown);
  // Mixed with allowed items, the batch fails as a whole.
  std::vector<std::string> mixed = {"d-a1", "d-b", "d-a"};
  ExpectRefused(
      [&] {
        return db_->ReassignEntities(Actor::User(a_admin_), EntityKind::kDevice, EntityRef::kKey,
                                     mixed, a1_, &report);
      },
      Code::kNotFound, "1 of 3 unknown");
  ASSERT_EQ(report.items.size(), 3u);
  EXPECT_EQ(report.items[0].outcome, ReassignItem::Outcome::kUnchanged);
  EXPECT_EQ(report.items[1].outcome, ReassignItem::Outcome::kUnknown);
  EXPECT_EQ(report.items[2].outcome, ReassignItem::Outcome::kMoved);
  // The parent's device, seen from a sub-account's admin: refused too.
  std::vector<std::string> parents = {"d-acme"};
  ExpectRefused(
      [&] {
        return db_->ReassignEntities(Actor::User(a_admin_), EntityKind::kDevice, EntityRef::kKey,
                                     parents, a_, nullptr);
      },
      Code::kNotFound, "no device with key 'd-acme'");
  // Or pushing its own device out to a sibling.
  std::vector<std::string> own = {"d-a"};
  ExpectRefused(
      [&] {
        return db_->ReassignEntities(Actor::User(a_admin_), EntityKind::kDevice, EntityRef::kKey,
                                     own, b_, nullptr);
      },
      Code::kNotFound, "target: no account with id");
}

TEST_F(AccessTest, AlwaysOnAccessCannotBeRevoked) {
  ASSERT_OK(db_->SetSubAccountAccess(Actor::System(), a_, SubAccountAccess::kAlwaysOn));
  ExpectRefused(
      [&] { return db_->SetBranchAccess(Actor::User(root_admin_), a_viewer_, a_, false); },
      Code::kFailedPrecondition, "always_on");
  ExpectRefused([&] { return db_->SetBranchAccess(Actor::System(), a_admin_, a_, false); },
                Code::kFailedPrecondition, "cannot be revoked");
  UserId n = MakeUser(db_.get(), "new@acme", a_);
  ExpectRefused([&] { return db_->Invite(Actor::User(a_admin_), n, a_, viewer_role_, false); },
                Code::kFailedPrecondition, "always_on");
  EXPECT_TRUE(Sees(a_viewer_, "d-a1"));
}

TEST_F(AccessTest, DefiningARoleWithPermissionsOneLacksIsRefused) {
  // role.manage on the tenant, but only read access to devices.
  RoleId role_admin = CustomRole("role-admin", {"role.manage", "device.read", "account.read"});
  UserId r = Member("roles@acme", acme_, role_admin, true);
  ExpectRefused([&] { return db_->CreateRole(Actor::User(r), acme_, "writer", {"device.write"}); },
                Code::kPermissionDenied, "does not itself hold device.write");
  ExpectRefused(
      [&] {
        return db_->CreateRole(Actor::User(r), acme_, "fe-admin",
                               {"fe.account-hierarchy.write.subAccount"});
      },
      Code::kPermissionDenied, "account.create");
  auto reader = db_->CreateRole(Actor::User(r), acme_, "reader", {"device.read"});
  ASSERT_OK(reader);
  ExpectRefused(
      [&] {
        return db_->UpdateRole(Actor::User(r), *reader, {"device.read", "device.delete"});
      },
      Code::kPermissionDenied, "does not itself hold device.delete");
  // An admin of a sub-account cannot define roles for the tenant at all.
  ExpectRefused([&] { return db_->CreateRole(Actor::User(a_admin_), acme_, "x", {"device.read"}); },
                Code::kNotFound, "role tenant: no account with id");
}

// Refusals tell nothing of what the actor cannot see: a hidden child is
// missing to an actor that merely sees its parent, and an account delete
// without a receiver counts only the entities and users the actor sees.
TEST_F(AccessTest, RefusalsTellNothingOfWhatTheActorCannotSee) {
  // A viewer of acme-a without branch sees acme-a but not acme-a1: switching
  // acme-a1's management answers as for an id that does not exist.
  UserId v = Member("v-nb@acme", a_, viewer_role_, false);
  for (AccountId id : {a1_, AccountId{987654}}) {
    ExpectRefused([&] { return db_->SetSubAccountManagement(Actor::User(v), id, true); },
                  Code::kNotFound, "no account with id " + std::to_string(id));
    AccountPatch p;
    p.name = std::string("x");
    p.sub_account_management = true;
    ExpectRefused([&] { return db_->UpdateAccount(Actor::User(v), id, p); }, Code::kNotFound,
                  "no account with id " + std::to_string(id));
  }
  // Holding account.manage_sub_accounts on the parent without branch is
  // enough to switch the child it does not see, but nothing more.
  RoleId switcher = CustomRole("switcher", {"account.read", "account.manage_sub_accounts"});
  UserId sw = Member("switcher@acme", a_, switcher, false);
  AccountPatch both;
  both.name = std::string("x");
  both.sub_account_management = false;
  ExpectRefused([&] { return db_->UpdateAccount(Actor::User(sw), a1_, both); }, Code::kNotFound,
                "no account with id " + std::to_string(a1_));
  ASSERT_OK(db_->SetSubAccountManagement(Actor::User(sw), a1_, false));
  EXPECT_FALSE(db_->GetAccount(a1_)->settings.sub_account_management);

  // A deleter of acme-a (branch) with no user or device permission:
  // acme-a2 holds a device and is the home of two users (no memberships),
  // none of which it sees.
  AccountId a2 = MakeAccount(db_.get(), "acme-a2", a_);
  MakeDevice(db_.get(), "d-a2", a2);
  MakeUser(db_.get(), "homed1@acme", a2);
  MakeUser(db_.get(), "homed2@acme", a2);
  RoleId deleter = CustomRole("deleter-only", {"account.read", "account.delete"});
  UserId d = Member("deleter-only@acme", a_, deleter, true);
  auto del = [&] { return db_->DeleteAccount(Actor::User(d), a2, kNoId); };
  ExpectRefused(del, Code::kFailedPrecondition,
                "account 'acme-a2' still has users or entities out of sight; name an account");
  // With device.read it counts the device, and the rest is out of sight.
  ASSERT_OK(db_->UpdateRole(Actor::System(), deleter,
                            {"account.read", "account.delete", "device.read"}));
  ExpectRefused(del, Code::kFailedPrecondition,
                "account 'acme-a2' still has 1 device and more out of sight; name an account");
  // An account admin sees all of it.
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(a_admin_), a2, kNoId); },
                Code::kFailedPrecondition, "account 'acme-a2' still has 1 device, 2 users;");
}

TEST_F(AccessTest, SwitchingAChildsManagementNeedsItOnTheParent) {
  // A role that may create sub-accounts but not manage their management.
  RoleId creator = CustomRole("creator", {"account.read", "account.create", "account.update"});
  UserId c = Member("creator@acme", a_, creator, true);
  ExpectRefused([&] { return db_->SetSubAccountManagement(Actor::User(c), a1_, false); },
                Code::kPermissionDenied,
                "permission account.manage_sub_accounts missing on account 'acme-a'");
  // An account's own admin cannot switch its own account.
  ExpectRefused([&] { return db_->SetSubAccountManagement(Actor::User(a1_admin_), a1_, false); },
                Code::kPermissionDenied,
                "permission account.manage_sub_accounts missing on an account user "
                "'a1-admin@acme' cannot see");
  EXPECT_TRUE(db_->GetAccount(a1_)->settings.sub_account_management);
}

// A disabled user may not do anything, even as account_admin of the root.
TEST_F(AccessTest, DisabledUserCanDoNothing) {
  const Actor d = Actor::User(disabled_);
  const std::string text = "is disabled";
  std::vector<std::string> refs = {"d-a"};
  AccountSpec spec;
  spec.key = "x";
  spec.name = "x";
  spec.parent = acme_;
  EntitySpec es;
  es.key = "x";
  es.name = "x";
  es.owner = acme_;
  std::vector<AccountId> ids = {a1_};
  RoleId auditor = CustomRole("auditor", {"device.read"});
  std::vector<std::function<Status()>> calls = {
      [&] { return db_->CreateAccount(d, spec).status(); },
      [&] {
        return db_->UpdateAccount(d, a_, AccountPatch{std::string("x"), std::nullopt});
      },
      [&] { return db_->SetSubAccountManagement(d, a_, false); },
      [&] { return db_->SetSubAccountAccess(d, a_, SubAccountAccess::kDefaultOn); },
      [&] { return db_->MoveAccount(d, a1_, b_); },
      [&] { return db_->DeleteAccount(d, a1_, a_); },
      [&] { return db_->DeleteAccounts(d, ids, a_); },
      [&] { return db_->CreateEntity(d, es).status(); },
      [&] { return db_->UpdateEntity(d, DeviceId("d-a"), EntityPatch{std::string("x")}); },
      [&] { return db_->DeleteEntity(d, DeviceId("d-a")); },
      [&] {
        return db_->ReassignEntities(d, EntityKind::kDevice, EntityRef::kKey, refs, b_, nullptr);
      },
      [&] {
        return db_->CreateUser(d, UserSpec{"x@acme", "x", acme_}).status();
      },
      [&] { return db_->UpdateUser(d, a_viewer_, UserPatch{std::string("x")}); },
      [&] { return db_->SetUserDisabled(d, a_viewer_, true); },
      [&] { return db_->RemoveUser(d, a_viewer_); },
      [&] { return db_->Invite(d, a_viewer_, b_, viewer_role_); },
      [&] { return db_->ChangeRole(d, a_viewer_, a_, manager_role_); },
      [&] { return db_->SetBranchAccess(d, a_viewer_, a_, false); },
      [&] { return db_->RemoveMembership(d, a_viewer_, a_); },
      [&] { return db_->CreateRole(d, acme_, "x", {"device.read"}).status(); },
      [&] {
        return db_->UpdateRole(d, auditor, {"device.read", "asset.read"});
      },
      [&] { return db_->DeleteRole(d, auditor); },
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE("call #" + std::to_string(i));
    ExpectRefused(calls[i], Code::kPermissionDenied, text);
  }
  // It sees nothing either, and switched back on it holds its role again.
  EXPECT_TRUE(Visible(disabled_).empty());
  EXPECT_FALSE(Sees(disabled_, "d-acme"));
  ASSERT_OK(db_->SetUserDisabled(Actor::System(), disabled_, false));
  EXPECT_EQ(Visible(disabled_).size(), 4u);  // all of acme's tree
  EXPECT_OK(db_->UpdateAccount(d, a_, AccountPatch{std::string("x"), std::nullopt}));
}

// Every read as a viewer resolves the viewer before it looks up what the
// call names: an unknown or disabled viewer gets the same answer whether
// that exists (out of its sight, in another tenant) or not, so it cannot
// probe for keys, logins, unit ids or account ids.
TEST_F(AccessTest, AnUnknownOrDisabledViewerLearnsNothingOfWhatExists) {
  constexpr uint64_t kMissing = 999999;
  const EntityId d_globex = DeviceId("d-globex");
  using Read = std::function<Status(const Actor&, bool exists)>;
  const std::vector<std::pair<std::string, Read>> reads = {
      {"FindAccount", [&](const Actor& v, bool x) {
         return db_->FindAccount(v, x ? "globex" : "nope").status();
       }},
      {"FindEntity", [&](const Actor& v, bool x) {
         return db_->FindEntity(v, EntityKind::kDevice, x ? "d-globex" : "nope").status();
       }},
      {"FindUser", [&](const Actor& v, bool x) {
         return db_->FindUser(v, x ? "globex-admin@globex" : "nope@nowhere").status();
       }},
      {"FindDeviceByUnitId", [&](const Actor& v, bool x) {
         return db_->FindDeviceByUnitId(v, x ? "U-A1" : "nope").status();
       }},
      {"GetAccount", [&](const Actor& v, bool x) {
         return db_->GetAccount(v, x ? globex_ : AccountId{kMissing}).status();
       }},
      {"GetEntity", [&](const Actor& v, bool x) {
         return db_->GetEntity(v, x ? d_globex : EntityId{kMissing}).status();
       }},
      {"GetUser", [&](const Actor& v, bool x) {
         return db_->GetUser(v, x ? globex_admin_ : UserId{kMissing}).status();
       }},
      {"Summary", [&](const Actor& v, bool x) {
         return db_->Summary(v, x ? globex_ : AccountId{kMissing}).status();
       }},
      {"Descendants", [&](const Actor& v, bool x) {
         return db_->Descendants(v, x ? globex_ : AccountId{kMissing}, 2).status();
       }},
      {"Explain by another user", [&](const Actor& v, bool x) {
         Explanation ex;
         return db_->Explain(v, x ? globex_admin_ : UserId{kMissing}, "device.read",
                             x ? "d-globex" : "nope", &ex);
       }},
      {"WhoCan", [&](const Actor& v, bool x) {
         WhoCanRequest req;
         req.viewer = v;
         req.permission = "device.read";
         req.entity_key = x ? "d-globex" : "nope";
         WhoCanPage page;
         return db_->WhoCan(req, &page);
       }},
  };
  for (const Refusal& r : {Unknown(), Disabled()}) {
    SCOPED_TRACE("viewer: " + r.who);
    for (const auto& [name, read] : reads) {
      SCOPED_TRACE(name);
      for (bool exists : {true, false}) {
        ExpectRefused([&] { return read(r.actor, exists); }, r.code, r.text);
      }
    }
  }
  // Visible and Count within an account: an unknown viewer is refused and
  // a disabled one selects nothing, whether `within` exists or not.
  for (AccountId within : {globex_, AccountId{kMissing}}) {
    SCOPED_TRACE("within " + std::to_string(within));
    VisibleRequest req(Unknown().actor);
    req.within = within;
    ExpectRefused([&] { return db_->Count(req).status(); }, Code::kNotFound,
                  Unknown().text);
    VisiblePage page;
    ExpectRefused([&] { return db_->Visible(req, &page); }, Code::kNotFound, Unknown().text);
    req.viewer = Disabled().actor;
    auto n = db_->Count(req);
    ASSERT_OK(n);
    EXPECT_EQ(*n, 0u);
    ASSERT_OK(db_->Visible(req, &page));
    EXPECT_TRUE(page.items.empty());
  }
  // A user explaining itself while disabled is told so, naming nothing.
  Explanation ex;
  ASSERT_OK(db_->Explain(Actor::User(disabled_), disabled_, "device.read", "d-globex", &ex));
  EXPECT_FALSE(ex.allowed);
  EXPECT_NE(ex.reason.find("is disabled"), std::string::npos) << ex.reason;
}

// Every mutation resolves its actor before anything else, so that a call
// that would change nothing (an empty patch, a setting set to what it is)
// is still refused to an unknown or disabled actor, and an empty patch
// still needs the permission a change would.
TEST_F(AccessTest, NoOpMutationsAreRefusedToActorsThatMayNotMakeThem) {
  auto group = db_->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "fleet", a_});
  ASSERT_OK(group);
  auto calls_as = [&](const Actor& x) {
    return std::vector<std::function<Status()>>{
        [=, this] { return db_->UpdateAccount(x, a_, AccountPatch{}); },
        [=, this] { return db_->UpdateEntity(x, DeviceId("d-a"), EntityPatch{}); },
        [=, this] { return db_->UpdateUser(x, a_viewer_, UserPatch{}); },
        [=, this] { return db_->SetSubAccountManagement(x, a_, true); },
        [=, this] { return db_->SetSubAccountAccess(x, a_, SubAccountAccess::kDefaultOff); },
        [=, this] { return db_->SetUserDisabled(x, a_viewer_, false); },
        [=, this] { return db_->SetBranchAccess(x, a_viewer_, a_, true); },
        [=, this] { return db_->ChangeRole(x, a_viewer_, a_, viewer_role_); },
        [=, this] { return db_->RenameGroup(x, *group, "fleet"); },
    };
  };
  for (const Refusal& r : {Unknown(), Disabled()}) {
    SCOPED_TRACE("actor: " + r.who);
    const auto calls = calls_as(r.actor);
    for (size_t i = 0; i < calls.size(); ++i) {
      SCOPED_TRACE("call #" + std::to_string(i));
      ExpectRefused(calls[i], r.code, r.text);
    }
  }
  // An empty patch of an account is an update of it.
  ExpectRefusedFor(OutsidersOfA("account.update"), [this](const Actor& actor) {
    return db_->UpdateAccount(actor, a_, AccountPatch{});
  });
  EXPECT_OK(db_->UpdateAccount(Actor::User(a_admin_), a_, AccountPatch{}));
}

// ---- Sub-account access (Frontegg) -------------------------

TEST_F(AccessTest, DefaultOffGivesNoBranchUnlessAsked) {
  UserId n1 = MakeUser(db_.get(), "n1@acme", a_);
  UserId n2 = MakeUser(db_.get(), "n2@acme", a_);
  ASSERT_OK(db_->Invite(Actor::User(a_admin_), n1, a_, viewer_role_));
  ASSERT_OK(db_->Invite(Actor::User(a_admin_), n2, a_, viewer_role_, true));
  EXPECT_FALSE(MembershipOn(n1, a_)->branch);
  EXPECT_TRUE(MembershipOn(n2, a_)->branch);
  EXPECT_EQ(Visible(n1), std::vector<std::string>{"d-a"});
  EXPECT_EQ(Visible(n2), (std::vector<std::string>{"d-a", "d-a1"}));
}

TEST_F(AccessTest, DefaultOnGivesBranchUnlessAsked) {
  ASSERT_OK(db_->SetSubAccountAccess(Actor::User(a_admin_), a_, SubAccountAccess::kDefaultOn));
  UserId n1 = MakeUser(db_.get(), "n1@acme", a_);
  UserId n2 = MakeUser(db_.get(), "n2@acme", a_);
  ASSERT_OK(db_->Invite(Actor::User(a_admin_), n1, a_, viewer_role_));
  ASSERT_OK(db_->Invite(Actor::User(a_admin_), n2, a_, viewer_role_, false));
  EXPECT_TRUE(MembershipOn(n1, a_)->branch);
  EXPECT_FALSE(MembershipOn(n2, a_)->branch);
  EXPECT_TRUE(Sees(n1, "d-a1"));
  EXPECT_FALSE(Sees(n2, "d-a1"));
  // The default is per account: acme-b is still default_off.
  UserId n3 = MakeUser(db_.get(), "n3@acme", b_);
  ASSERT_OK(db_->Invite(Actor::System(), n3, b_, viewer_role_));
  EXPECT_FALSE(MembershipOn(n3, b_)->branch);
}

TEST_F(AccessTest, AlwaysOnCoversCurrentAndFutureMembersAndSurvivesSwitchingBack) {
  UserId old_member = Member("old@acme", a_, viewer_role_, false);
  EXPECT_FALSE(Sees(old_member, "d-a1"));
  ASSERT_OK(db_->SetSubAccountAccess(Actor::User(a_admin_), a_, SubAccountAccess::kAlwaysOn));
  EXPECT_TRUE(MembershipOn(old_member, a_)->branch);
  EXPECT_TRUE(Sees(old_member, "d-a1"));
  UserId future = MakeUser(db_.get(), "future@acme", a_);
  ASSERT_OK(db_->Invite(Actor::User(a_admin_), future, a_, viewer_role_));
  EXPECT_TRUE(MembershipOn(future, a_)->branch);
  EXPECT_OK(db_->Invite(Actor::User(a_admin_), MakeUser(db_.get(), "f2@acme", a_), a_, viewer_role_,
                        true));

  // Switching back keeps the access already given; new members follow the
  // new default; now access may be revoked again.
  ASSERT_OK(db_->SetSubAccountAccess(Actor::User(a_admin_), a_, SubAccountAccess::kDefaultOff));
  EXPECT_TRUE(MembershipOn(old_member, a_)->branch);
  EXPECT_TRUE(MembershipOn(future, a_)->branch);
  EXPECT_TRUE(Sees(future, "d-a1"));
  UserId later = MakeUser(db_.get(), "later@acme", a_);
  ASSERT_OK(db_->Invite(Actor::User(a_admin_), later, a_, viewer_role_));
  EXPECT_FALSE(MembershipOn(later, a_)->branch);
  ASSERT_OK(db_->SetBranchAccess(Actor::User(a_admin_), old_member, a_, false));
  EXPECT_FALSE(Sees(old_member, "d-a1"));
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(AccessTest, BranchAccessCanBeGivenAndRemovedRetroactively) {
  UserId n = Member("n@acme", a_, manager_role_, false);
  EXPECT_EQ(Visible(n), std::vector<std::string>{"d-a"});
  ASSERT_OK(db_->SetBranchAccess(Actor::User(a_admin_), n, a_, true));
  EXPECT_EQ(Visible(n), (std::vector<std::string>{"d-a", "d-a1"}));
  EXPECT_TRUE(testing::Allowed(*db_, n, "device.assign", "d-a1"));
  VisibleRequest count_req{Actor::User(n)};
  EXPECT_EQ(*db_->Count(count_req), 2u);
  ASSERT_OK(db_->SetBranchAccess(Actor::User(a_admin_), n, a_, false));
  EXPECT_EQ(Visible(n), std::vector<std::string>{"d-a"});
  EXPECT_FALSE(testing::Allowed(*db_, n, "device.assign", "d-a1"));
  EXPECT_EQ(*db_->Count(count_req), 1u);
  // Setting what is already set changes nothing.
  auto before = DumpAll(db_.get());
  ASSERT_OK(db_->SetBranchAccess(Actor::User(a_admin_), n, a_, false));
  auto after = DumpAll(db_.get());
  EXPECT_TRUE(before == after) << testing::DescribeDiff(before, after);
}

// Rule 1: a user created in nested customer A never sees a device of A's
// parent (or of a sibling), whatever role it holds on A.
TEST_F(AccessTest, AccessFlowsTopDownOnly) {
  for (RoleId role : {admin_role_, manager_role_, viewer_role_}) {
    for (bool branch : {false, true}) {
      SCOPED_TRACE("role " + std::to_string(role) + (branch ? " branch" : ""));
      std::string login = "top-down-" + std::to_string(role) + (branch ? "b" : "") + "@acme";
      UserId u = Member(login, a_, role, branch);
      for (const char* perm : {"device.read", "device.write", "device.assign", "device.delete"}) {
        EXPECT_FALSE(testing::Allowed(*db_, u, perm, "d-acme")) << perm;
        EXPECT_FALSE(testing::Allowed(*db_, u, perm, "d-b")) << perm;
        EXPECT_FALSE(testing::Allowed(*db_, u, perm, "d-globex")) << perm;
      }
      auto keys = Visible(u);
      const std::vector<std::string> want =
          branch ? std::vector<std::string>{"d-a", "d-a1"} : std::vector<std::string>{"d-a"};
      EXPECT_EQ(keys, want);
      // The parent's device is out of sight: "no such device", exactly as
      // for a key that names nothing, from check and explain alike.
      Explanation e;
      for (const char* key : {"d-acme", "d-b", "d-globex"}) {
        const std::string missing = "no device with key '" + std::string(key) + "'";
        Status x = db_->Explain(u, "device.read", key, &e);
        EXPECT_EQ(x.code(), Code::kNotFound) << key;
        EXPECT_EQ(x.message(), missing);
        EXPECT_EQ(db_->Check(u, "device.read", key).status().message(), missing);
        // Asked by the user itself: the same. Asked by the operator (the
        // system): it exists, and the user cannot see it.
        EXPECT_EQ(db_->Explain(Actor::User(u), u, "device.read", key, &e).message(), missing);
        ASSERT_OK(db_->Explain(Actor::System(), u, "device.read", key, &e));
        EXPECT_FALSE(e.allowed);
        EXPECT_NE(e.reason.find("cannot see device '" + std::string(key) + "'"),
                  std::string::npos) << e.reason;
        EXPECT_EQ(e.owner, db_->FindEntity(EntityKind::kDevice, key)->owner);
        EXPECT_EQ(e.entity, db_->FindEntity(EntityKind::kDevice, key)->id);
      }
      // The operator asks about an account out of the user's sight, about
      // what does not exist, and about an unknown user.
      ASSERT_OK(db_->Explain(Actor::System(), u, "account.create", "acme", &e));
      EXPECT_FALSE(e.allowed);
      EXPECT_NE(e.reason.find("cannot see account 'acme'"), std::string::npos) << e.reason;
      EXPECT_EQ(db_->Explain(Actor::System(), u, "device.read", "d-none", &e).code(),
                Code::kNotFound);
      EXPECT_EQ(db_->Explain(Actor::System(), 987654, "device.read", "d-a", &e).code(),
                Code::kNotFound);
      // What it sees is answered as Explain does.
      ASSERT_OK(db_->Explain(Actor::System(), u, "device.read", "d-a", &e));
      EXPECT_TRUE(e.allowed);
    }
  }
}

// `branch` covers the sub-accounts that exist later, including ones moved
// in, and stops covering the ones moved out.
TEST_F(AccessTest, BranchCoversFutureSubAccounts) {
  UserId n = Member("n@acme", a_, viewer_role_, true);
  AccountId a2 = MakeAccount(db_.get(), "acme-a2", a_, true, Actor::User(a_admin_));
  AccountId a2x = MakeAccount(db_.get(), "acme-a2x", a2, true, Actor::User(a_admin_));
  MakeDevice(db_.get(), "d-a2x", a2x, "", Actor::User(a_admin_));
  EXPECT_TRUE(Sees(n, "d-a2x"));
  EXPECT_EQ(Visible(n), (std::vector<std::string>{"d-a", "d-a1", "d-a2x"}));
  ASSERT_OK(db_->MoveAccount(Actor::System(), b_, a2));
  EXPECT_TRUE(Sees(n, "d-b"));
  ASSERT_OK(db_->MoveAccount(Actor::System(), a2, acme_));
  EXPECT_FALSE(Sees(n, "d-a2x"));
  EXPECT_FALSE(Sees(n, "d-b"));
  EXPECT_EQ(Visible(n), (std::vector<std::string>{"d-a", "d-a1"}));
}

// ---- Frontegg permission names ---------------------------------------------

TEST_F(AccessTest, FronteggPermissionNamesMapOntoCanopys) {
  struct Mapping {
    std::string frontegg;
    std::vector<std::string> canopy;
  };
  const std::vector<Mapping> mappings = {
      {"fe.account-hierarchy.read.subAccount", {"account.read"}},
      {"fe.account-hierarchy.write.subAccount", {"account.create", "account.update"}},
      {"fe.account-hierarchy.delete.subAccount", {"account.delete"}},
      {"fe.account-hierarchy.write.subAccountAccess", {"access.grant"}},
      {"fe.account-hierarchy.write.sub-account-management", {"account.manage_sub_accounts"}},
  };
  for (const Mapping& m : mappings) {
    SCOPED_TRACE(m.frontegg);
    auto id = db_->CreateRole(Actor::User(root_admin_), acme_, "fe-" + m.frontegg, {m.frontegg});
    ASSERT_OK(id);
    auto perms = db_->GetRole(*id)->permissions;
    std::sort(perms.begin(), perms.end());
    EXPECT_EQ(perms, m.canopy);  // stored as Canopy's names
  }
  ExpectRefused(
      [&] {
        return db_->CreateRole(
            Actor::System(), acme_, "bad",
            {"fe.account-hierarchy.read.subAccount", "fe.account-hierarchy.fly.subAccount"});
      },
      Code::kInvalidArgument, "unknown permission 'fe.account-hierarchy.fly.subAccount'");

  // The mapped role works like Canopy's permissions: a reseller role that
  // may read, create and update sub-accounts and switch their management,
  // but not delete them.
  auto reseller = db_->CreateRole(
      Actor::System(), acme_, "reseller",
      {"fe.account-hierarchy.read.subAccount", "fe.account-hierarchy.write.subAccount",
       "fe.account-hierarchy.write.sub-account-management", "device.read"});
  ASSERT_OK(reseller);
  UserId r = Member("reseller@acme", a_, *reseller, true);
  AccountSpec s;
  s.key = "acme-a-sub";
  s.name = "Sub";
  s.parent = a_;
  s.settings.sub_account_management = true;
  auto sub = db_->CreateAccount(Actor::User(r), s);
  ASSERT_OK(sub);
  EXPECT_OK(db_->SetSubAccountManagement(Actor::User(r), *sub, false));
  EXPECT_OK(db_->UpdateAccount(Actor::User(r), *sub, AccountPatch{std::string("Renamed"), {}}));
  ExpectRefused([&] { return db_->DeleteAccount(Actor::User(r), *sub); }, Code::kPermissionDenied,
                "permission account.delete missing on account 'acme-a-sub'");
  ExpectRefused(
      [&] { return db_->SetSubAccountAccess(Actor::User(r), *sub, SubAccountAccess::kDefaultOn); },
      Code::kPermissionDenied, "permission access.grant missing on account 'acme-a-sub'");
  // Reading sub-accounts: the "All accounts" table shows acme-a's subtree.
  TableRequest t{Actor::User(r)};
  TablePage page;
  ASSERT_OK(db_->AccountsTable(t, &page));
  EXPECT_EQ(page.total, 3u);  // acme-a, acme-a1, acme-a-sub
}

// types.h: a role's permissions are "canonical names, sorted".
TEST_F(AccessTest, RolePermissionsAreCanonicalNamesSorted) {
  auto id = db_->CreateRole(Actor::System(), acme_, "mixed",
                            {"user.read", "device.read", "account.read",
                             "fe.account-hierarchy.write.subAccount", "device.read"});
  ASSERT_OK(id);
  auto roles = db_->ListRoles(acme_);
  ASSERT_OK(roles);
  ASSERT_EQ(roles->size(), 4u);  // three built-ins and "mixed"
  for (const Role& role : *roles) {
    SCOPED_TRACE(role.name);
    EXPECT_TRUE(std::is_sorted(role.permissions.begin(), role.permissions.end()))
        << ::testing::PrintToString(role.permissions);
    EXPECT_TRUE(std::adjacent_find(role.permissions.begin(), role.permissions.end()) ==
                role.permissions.end());
  }
  auto mixed = db_->GetRole(*id);
  EXPECT_EQ(mixed->permissions.size(), 5u);
}

}  // namespace
}  // namespace canopy

namespace canopy {
namespace {

// The top-down rule, literally: "A user created in nested customer A can never
// see a device of A's parent, whatever role it holds." A user holds roles
// only in the account it was created in and below it, and moves keep it so.
TEST(HomeSubtreeRule, UsersHoldRolesOnlyBelowTheirAccount) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  AccountId acme = testing::MakeAccount(db.get(), "acme");
  AccountId a = testing::MakeAccount(db.get(), "acme-a", acme);
  AccountId a1 = testing::MakeAccount(db.get(), "acme-a1", a);
  AccountId b = testing::MakeAccount(db.get(), "acme-b", acme);
  testing::MakeDevice(db.get(), "d-acme", acme);
  RoleId admin = db->FindRole(acme, "account_admin")->id;
  UserId ua = testing::MakeUser(db.get(), "a@acme", a);
  auto before = testing::DumpAll(db.get());
  for (AccountId outside : {acme, b}) {
    Status s = db->Invite(Actor::System(), ua, outside, admin, true);
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("was created in ('acme-a')"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(before, testing::DumpAll(db.get()));
  ASSERT_OK(db->Invite(Actor::System(), ua, a1, admin, true));  // below its account: fine
  EXPECT_FALSE(testing::Allowed(*db, ua, "device.read", "d-acme"));
  // Moving acme-a1 (with ua's membership) out from under acme-a would take
  // ua's role above its account: refused; moving acme-a along is fine.
  before = testing::DumpAll(db.get());
  Status s = db->MoveAccount(Actor::System(), a1, b);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("outside 'acme-a'"), std::string::npos) << s.ToString();
  EXPECT_EQ(before, testing::DumpAll(db.get()));
  ASSERT_OK(db->MoveAccount(Actor::System(), a, b));
  ASSERT_OK(db->RemoveMembership(Actor::System(), ua, a1));
  ASSERT_OK(db->MoveAccount(Actor::System(), a1, acme));
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

}  // namespace
}  // namespace canopy

namespace canopy {
namespace {

// The audit view (ReadChanges with a user viewer) for every member of the
// cast: only admins (audit.read) see anything; what they see is exactly the
// history of their reach — every change shown concerns a device or account
// they can read now, and every device they can read appears (its creation).
// The system sees everything.
std::string JsonField(const std::string& json, const std::string& field) {
  const std::string tag = "\"" + field + "\":";
  size_t at = json.find(tag);
  if (at == std::string::npos) return "";
  at += tag.size();
  if (json[at] == '"') {
    size_t end = json.find('"', at + 1);
    return json.substr(at + 1, end - at - 1);
  }
  size_t end = json.find_first_of(",}", at);
  return json.substr(at, end - at);
}

TEST_F(AccessTest, AuditViewStaysInsideEachUsersReach) {
  struct Cast {
    const char* who;
    UserId user;
    bool audits;
  };
  const std::vector<Cast> cast = {
      {"root-admin", root_admin_, true},   {"root-viewer", root_viewer_, false},
      {"disabled", disabled_, false},      {"a-admin", a_admin_, true},
      {"a-viewer", a_viewer_, false},      {"a1-admin", a1_admin_, true},
      {"b-admin", b_admin_, true},         {"globex-admin", globex_admin_, true}};
  // Some history that crosses subtrees: a device moves from acme-b to
  // acme-a1, and one is renamed in globex.
  std::vector<std::string> refs{"d-b"};
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, refs,
                                  a1_, nullptr));
  EntityPatch patch;
  patch.name = "renamed";
  ASSERT_OK(db_->UpdateEntity(Actor::System(), DeviceId("d-globex"), patch));
  for (const Cast& c : cast) {
    SCOPED_TRACE(c.who);
    ChangesRequest req{Actor::User(c.user)};
    req.limit = 100000;
    ChangesPage page;
    if (c.user == disabled_) {
      EXPECT_EQ(db_->ReadChanges(req, &page).code(), Code::kPermissionDenied);
      continue;
    }
    if (!c.audits) {
      Status s = db_->ReadChanges(req, &page);
      EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
      EXPECT_NE(s.message().find("audit.read"), std::string::npos) << s.ToString();
      continue;
    }
    ASSERT_OK(db_->ReadChanges(req, &page));
    std::vector<std::string> readable = Visible(c.user);
    std::set<std::string> devices(readable.begin(), readable.end());
    TableRequest tr{Actor::User(c.user)};
    tr.limit = 10000;
    TablePage table;
    ASSERT_OK(db_->AccountsTable(tr, &table));
    std::set<std::string> accounts;
    for (const auto& row : table.rows) accounts.insert(std::to_string(row.id));
    std::set<std::string> shown_devices;
    for (const auto& e : page.entries) {
      for (const auto& ch : e.changes) {
        for (const std::string* side : {&ch.before, &ch.after}) {
          if (side->empty()) continue;
          if (ch.type == "entity") {
            // The device in this side is owned inside the reach: the
            // owner is an account the user reads now, or the device is
            // one it reads now.
            const std::string key = JsonField(*side, "key");
            const std::string owner = JsonField(*side, "owner");
            EXPECT_TRUE(accounts.count(owner) || devices.count(key))
                << "entity change of '" << key << "' (owner " << owner << ") shown at revision "
                << e.revision;
            shown_devices.insert(key);
          } else if (ch.type == "account") {
            EXPECT_TRUE(accounts.count(JsonField(*side, "id")))
                << "account change shown: " << *side;
          } else if (ch.type == "membership" || ch.type == "user") {
            EXPECT_TRUE(accounts.count(JsonField(*side, "account")))
                << ch.type << " change shown: " << *side;
          } else {
            ADD_FAILURE() << ch.type << " change shown to a user: " << *side;
          }
        }
      }
    }
    for (const std::string& d : devices) {
      EXPECT_TRUE(shown_devices.count(d)) << "device " << d << " readable but its history hidden";
    }
  }
  // The system actor sees every entry.
  ChangesRequest all;
  all.limit = 100000;
  ChangesPage page;
  ASSERT_OK(db_->ReadChanges(all, &page));
  EXPECT_EQ(page.entries.size(), db_->Revision());
}

}  // namespace
}  // namespace canopy
