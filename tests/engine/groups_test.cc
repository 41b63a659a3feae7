// Copyright (c) Canopy authors.
//
// Groups (docs/model.md, "Groups"): entity, user and account groups, their
// members in all-or-nothing batches, group grants and sharing down, the
// escalation attempts through groups that are refused, and what deleting,
// reassigning and moving do to groups. Every refusal is checked to change
// nothing (DumpAll before and after).
//
//   acme            root-admin (account_admin, branch)
//   |_ acme-a       a-admin (account_admin, branch), a-viewer (viewer, branch)
//   |  |_ acme-a1   a1-user (no membership), a1-manager (device_manager, branch)
//   |_ acme-b       b-admin (account_admin, branch)
//
// Devices: d-acme, d-a1, d-a2 (acme-a), d-x (acme-a1), d-b (acme-b).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <fstream>
#include <string>
#include <vector>

#include <rocksdb/perf_context.h>

#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::Allowed;
using testing::DumpAll;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::MakeUser;
using testing::OpenDb;
using testing::TempDir;

constexpr RoleId kAdmin = 1;
constexpr RoleId kManager = 2;
constexpr RoleId kViewer = 3;

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb(dir_.Sub("db"));
    acme_ = MakeAccount(db_.get(), "acme");
    a_ = MakeAccount(db_.get(), "acme-a", acme_);
    a1_ = MakeAccount(db_.get(), "acme-a1", a_);
    b_ = MakeAccount(db_.get(), "acme-b", acme_);
    root_admin_ = Member("root-admin", acme_, kAdmin);
    a_admin_ = Member("a-admin", a_, kAdmin);
    a_viewer_ = Member("a-viewer", a_, kViewer);
    a1_user_ = MakeUser(db_.get(), "a1-user", a1_);
    a1_manager_ = Member("a1-manager", a1_, kManager);
    b_admin_ = Member("b-admin", b_, kAdmin);
    d_acme_ = MakeDevice(db_.get(), "d-acme", acme_);
    d_a1_ = MakeDevice(db_.get(), "d-a1", a_);
    d_a2_ = MakeDevice(db_.get(), "d-a2", a_);
    d_x_ = MakeDevice(db_.get(), "d-x", a1_);
    d_b_ = MakeDevice(db_.get(), "d-b", b_);
  }

  UserId Member(const std::string& login, AccountId account, RoleId role) {
    UserId u = MakeUser(db_.get(), login, account);
    EXPECT_OK(db_->Invite(Actor::System(), u, account, role, true));
    return u;
  }

  GroupId MakeGroup(GroupKind kind, const std::string& name, AccountId owner,
                    const Actor& actor = Actor::System()) {
    auto g = db_->CreateGroup(actor, GroupSpec{kind, name, owner});
    EXPECT_OK(g);
    return g.ok() ? *g : kNoId;
  }

  void Add(GroupId g, std::vector<uint64_t> members, const Actor& actor = Actor::System()) {
    GroupMembersReport rep;
    ASSERT_OK(db_->AddGroupMembers(actor, g, members, &rep));
  }

  // Expects `call` to fail with `code` and a message containing `text`,
  // leaving every key as it was.
  template <typename Fn>
  void ExpectRefused(Fn&& call, Code code, const std::string& text) {
    const auto before = DumpAll(db_.get());
    const uint64_t rev = db_->Revision();
    Status s = testing::StatusOf(call());
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
    EXPECT_EQ(db_->Revision(), rev);
    EXPECT_TRUE(DumpAll(db_.get()) == before) << testing::DescribeDiff(before, DumpAll(db_.get()));
  }

  // A new database that replayed the whole change log, checked to hold the
  // same replicated keys (null when the replay failed).
  std::unique_ptr<Db> Replayed() {
    std::vector<std::string> entries;
    Status s = db_->ReadLogEntries(1, 100000, &entries);
    EXPECT_OK(s);
    auto follower = OpenDb(dir_.Sub("follower"));
    ApplyReport ar;
    Status applied = follower->ApplyChanges(entries, &ar);
    EXPECT_OK(applied);
    if (!s.ok() || !applied.ok()) return nullptr;
    EXPECT_TRUE(testing::DumpReplicated(follower.get()) == testing::DumpReplicated(db_.get()));
    return follower;
  }

  std::vector<uint64_t> Members(GroupId g) {
    GroupMembersPage page;
    EXPECT_OK(db_->GroupMembers(Actor::System(), g, 0, 1000, &page));
    return page.members;
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  AccountId acme_, a_, a1_, b_;
  UserId root_admin_, a_admin_, a_viewer_, a1_user_, a1_manager_, b_admin_;
  EntityId d_acme_, d_a1_, d_a2_, d_x_, d_b_;
};

TEST_F(GroupsTest, CreateRenameListAndDelete) {
  const Actor admin = Actor::User(a_admin_);
  GroupId g = MakeGroup(GroupKind::kDevice, "trucks", a_, admin);
  auto got = db_->GetGroup(admin, g);
  ASSERT_OK(got);
  EXPECT_EQ(got->name, "trucks");
  EXPECT_EQ(got->owner, a_);
  EXPECT_EQ(got->kind, GroupKind::kDevice);
  EXPECT_EQ(got->size, 0u);
  // Same name, other kind: fine; same kind: refused.
  MakeGroup(GroupKind::kAsset, "trucks", a_, admin);
  ExpectRefused([&] { return db_->CreateGroup(admin, GroupSpec{GroupKind::kDevice, "trucks", a_}); },
                Code::kAlreadyExists, "already has a device group named 'trucks'");
  ExpectRefused([&] { return db_->CreateGroup(admin, GroupSpec{GroupKind::kDevice, "", a_}); },
                Code::kInvalidArgument, "group name");
  // A group is addressed by its name, as a role is: no name that looks
  // like another (or like the stand-in for a name out of sight).
  const std::vector<std::pair<std::string, std::string>> look_alikes = {
      {"trucks\u200b", "group name contains an invisible character (U+200B)"},
      {"trucks ", "group name ends with a space (U+0020)"},
      {" trucks", "group name begins with a space (U+0020)"},
      {"tr\x1bucks", "group name contains a control character (U+001B)"},
      {"a\u202eb", "group name contains an invisible character (U+202E)"},
      {"(hidden)", "group name '(hidden)' is reserved"},
  };
  for (const auto& [name, message] : look_alikes) {
    ExpectRefused(
        [&] { return db_->CreateGroup(admin, GroupSpec{GroupKind::kUser, name, a_}); },
        Code::kInvalidArgument, message);
    ExpectRefused([&] { return db_->RenameGroup(admin, g, name); }, Code::kInvalidArgument,
                  message);
  }
  EXPECT_EQ(db_->GetGroup(admin, g)->name, "trucks");
  ExpectRefused(
      [&] { return db_->CreateGroup(admin, GroupSpec{static_cast<GroupKind>(9), "x", a_}); },
      Code::kInvalidArgument, "unknown group kind");
  ExpectRefused(
      [&] { return db_->CreateGroup(Actor::User(a_viewer_), GroupSpec{GroupKind::kDevice, "v", a_}); },
      Code::kPermissionDenied, "permission group.write missing on account 'acme-a'");
  // Another branch's admin does not see acme-a's groups: they look missing.
  ExpectRefused([&] { return db_->RenameGroup(Actor::User(b_admin_), g, "x"); }, Code::kNotFound,
                "no group with id");
  EXPECT_EQ(db_->GetGroup(Actor::User(b_admin_), g).status().code(), Code::kNotFound);

  ASSERT_OK(db_->RenameGroup(admin, g, "lorries"));
  EXPECT_EQ(db_->GetGroup(admin, g)->name, "lorries");
  auto list = db_->GroupsOf(admin, a_);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "lorries");
  // The viewer sees the account but holds no group.* there: no groups.
  EXPECT_TRUE(db_->GroupsOf(Actor::User(a_viewer_), a_)->empty());

  Add(g, {d_a1_, d_a2_}, admin);
  ASSERT_OK(db_->DeleteGroup(admin, g));
  EXPECT_EQ(db_->GetGroup(admin, g).status().code(), Code::kNotFound);
  // Members stay as entities.
  EXPECT_OK(db_->GetEntity(d_a1_));
  EXPECT_TRUE(db_->GroupsOfMember(admin, GroupKind::kDevice, d_a1_)->empty());
}

TEST_F(GroupsTest, MembersAreAddedAllOrNothingWithAReport) {
  const Actor admin = Actor::User(a_admin_);
  GroupId g = MakeGroup(GroupKind::kDevice, "fleet", a_, admin);
  GroupMembersReport rep;
  ASSERT_OK(db_->AddGroupMembers(admin, g, std::vector<uint64_t>{d_a1_}, &rep));
  EXPECT_EQ(rep.done, 1u);

  // A foreign entity (another owner) is denied; the batch changes nothing.
  ExpectRefused(
      [&] {
        return db_->AddGroupMembers(admin, g, std::vector<uint64_t>{d_a2_, d_x_, d_a1_}, &rep);
      },
      Code::kPermissionDenied, "device 'd-x' is not owned by account 'acme-a'");
  ASSERT_EQ(rep.items.size(), 3u);
  EXPECT_EQ(rep.items[0].outcome, GroupMemberItem::Outcome::kDone);
  EXPECT_EQ(rep.items[1].outcome, GroupMemberItem::Outcome::kDenied);
  EXPECT_EQ(rep.items[2].outcome, GroupMemberItem::Outcome::kUnchanged);
  // Unknown, and one the actor cannot see, read alike.
  ExpectRefused([&] { return db_->AddGroupMembers(admin, g, std::vector<uint64_t>{999999}, &rep); },
                Code::kNotFound, "no entity with id 999999");
  ExpectRefused([&] { return db_->AddGroupMembers(admin, g, std::vector<uint64_t>{d_b_}, &rep); },
                Code::kNotFound, "no entity with id");
  ExpectRefused(
      [&] { return db_->AddGroupMembers(admin, g, std::vector<uint64_t>{d_a2_, d_a2_}, &rep); },
      Code::kInvalidArgument, "named more than once");
  ExpectRefused([&] { return db_->AddGroupMembers(admin, g, std::vector<uint64_t>{}, &rep); },
                Code::kInvalidArgument, "no members");
  ExpectRefused(
      [&] { return db_->AddGroupMembers(Actor::User(a_viewer_), g, std::vector<uint64_t>{d_a2_}, &rep); },
      Code::kNotFound, "no group with id");

  ASSERT_OK(db_->AddGroupMembers(admin, g, std::vector<uint64_t>{d_a2_}, &rep));
  EXPECT_EQ(db_->GetGroup(admin, g)->size, 2u);
  // Pages.
  GroupMembersPage page;
  ASSERT_OK(db_->GroupMembers(admin, g, 0, 1, &page));
  ASSERT_EQ(page.members, std::vector<uint64_t>{d_a1_});
  ASSERT_NE(page.next, 0u);
  ASSERT_OK(db_->GroupMembers(admin, g, page.next, 1, &page));
  EXPECT_EQ(page.members, std::vector<uint64_t>{d_a2_});
  EXPECT_EQ(page.next, 0u);
  EXPECT_EQ(db_->GroupMembers(admin, g, 0, 0, &page).code(), Code::kInvalidArgument);
  auto of = db_->GroupsOfMember(admin, GroupKind::kDevice, d_a1_);
  ASSERT_OK(of);
  ASSERT_EQ(of->size(), 1u);
  EXPECT_EQ((*of)[0].id, g);

  // An unknown id is NotFound in removing too; nothing is removed.
  ExpectRefused(
      [&] { return db_->RemoveGroupMembers(admin, g, std::vector<uint64_t>{d_a1_, 424242}, &rep); },
      Code::kNotFound, "1 of 2 unknown (first: no entity with id 424242)");
  ASSERT_OK(db_->RemoveGroupMembers(admin, g, std::vector<uint64_t>{d_a1_, d_x_}, &rep));
  EXPECT_EQ(rep.done, 1u);
  EXPECT_EQ(rep.unchanged, 1u);
  EXPECT_EQ(Members(g), std::vector<uint64_t>{d_a2_});
  EXPECT_EQ(db_->GetGroup(admin, g)->size, 1u);
}

// An add reads the owner's index by exact key when the members lie far
// apart in it (several of the owner's entities between two of them), and
// walks it when they lie close: either way every member gets the same
// outcome, and a batch with any bad member changes nothing.
TEST_F(GroupsTest, MembersFarApartAndCloseTogetherAreJudgedAlike) {
  // a's devices interleaved with b's, and an asset of a's among them.
  std::vector<EntityId> mine, theirs;
  for (int i = 0; i < 300; ++i) {
    mine.push_back(MakeDevice(db_.get(), "far-a-" + std::to_string(i), a_));
    theirs.push_back(MakeDevice(db_.get(), "far-b-" + std::to_string(i), b_));
  }
  auto asset = db_->CreateEntity(Actor::System(),
                                 EntitySpec{EntityKind::kAsset, "far-asset", "", "far-asset", "", a_, {}});
  ASSERT_OK(asset);
  std::vector<uint64_t> far, close;
  for (size_t i = 0; i < mine.size(); i += 20) far.push_back(mine[i]);
  for (size_t i = 101; i < 111; ++i) close.push_back(mine[i]);  // none of them far

  auto multiget_bytes = [&](GroupId g, const std::vector<uint64_t>& batch,
                            GroupMembersReport* rep) {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    rocksdb::get_perf_context()->Reset();
    Status s = db_->AddGroupMembers(Actor::System(), g, batch, rep);
    const uint64_t bytes = rocksdb::get_perf_context()->multiget_read_bytes;
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    return std::make_pair(s, bytes);
  };
  const GroupId g = MakeGroup(GroupKind::kDevice, "far", a_);
  // Far apart, with one bad member of each kind: refused, item by item.
  std::vector<uint64_t> bad = far;
  bad.push_back(theirs[7]);   // another owner's
  bad.push_back(*asset);      // not a device
  bad.push_back(987654321);   // unknown
  bad.push_back(far[3]);      // named twice
  GroupMembersReport rep;
  const auto before = DumpAll(db_.get());
  auto [refused, read_by_key] = multiget_bytes(g, bad, &rep);
  EXPECT_EQ(refused.code(), Code::kNotFound) << refused.ToString();
  EXPECT_GT(read_by_key, 0u);  // the far members were read by key
  EXPECT_TRUE(DumpAll(db_.get()) == before);
  ASSERT_EQ(rep.items.size(), bad.size());
  for (size_t i = 0; i < far.size(); ++i) {
    EXPECT_EQ(rep.items[i].outcome, GroupMemberItem::Outcome::kDone) << i;
  }
  EXPECT_EQ(rep.items[far.size()].outcome, GroupMemberItem::Outcome::kDenied);
  EXPECT_NE(rep.items[far.size()].message.find("is not owned by account 'acme-a'"),
            std::string::npos);
  EXPECT_EQ(rep.items[far.size() + 1].outcome, GroupMemberItem::Outcome::kDenied);
  EXPECT_NE(rep.items[far.size() + 1].message.find("is not a device"), std::string::npos);
  EXPECT_EQ(rep.items[far.size() + 2].outcome, GroupMemberItem::Outcome::kUnknown);
  EXPECT_EQ(rep.items[far.size() + 3].outcome, GroupMemberItem::Outcome::kDuplicate);

  // The far members alone, then the close ones (walked), then both again.
  auto [added, far_bytes] = multiget_bytes(g, far, &rep);
  ASSERT_OK(added);
  EXPECT_GT(far_bytes, 0u);
  EXPECT_EQ(rep.done, far.size());
  auto [walked, close_bytes] = multiget_bytes(g, close, &rep);
  ASSERT_OK(walked);
  EXPECT_EQ(close_bytes, 0u);  // a walk, no read by key
  EXPECT_EQ(rep.done, close.size());
  std::vector<uint64_t> both = far;
  both.insert(both.end(), close.begin(), close.end());
  ASSERT_OK(db_->AddGroupMembers(Actor::System(), g, both, &rep));
  EXPECT_EQ(rep.unchanged, both.size());
  std::vector<uint64_t> expected = both;
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  EXPECT_EQ(Members(g), expected);
  EXPECT_EQ(db_->GetGroup(Actor::System(), g)->size, expected.size());
  // A device in an asset group: "not an asset".
  const GroupId assets = MakeGroup(GroupKind::kAsset, "far-assets", a_);
  Status s = db_->AddGroupMembers(Actor::System(), assets, std::vector<uint64_t>{mine[0]}, &rep);
  EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
  ASSERT_EQ(rep.items.size(), 1u);
  EXPECT_EQ(rep.items[0].message,
            "device 'far-a-0' is not an asset (asset group 'far-assets')");
}

TEST_F(GroupsTest, UserAndAccountGroupsHoldTheirOwnersUsersAndChildren) {
  GroupId users = MakeGroup(GroupKind::kUser, "ops", a1_);
  GroupId accounts = MakeGroup(GroupKind::kAccount, "customers", acme_);
  GroupMembersReport rep;
  Add(users, {a1_user_});
  // A user created elsewhere may not join (it would gain above its home).
  ExpectRefused([&] { return db_->AddGroupMembers(Actor::System(), users,
                                                  std::vector<uint64_t>{a_admin_}, &rep); },
                Code::kPermissionDenied, "was not created in account 'acme-a1'");
  Add(accounts, {a_, b_});
  ExpectRefused([&] { return db_->AddGroupMembers(Actor::System(), accounts,
                                                  std::vector<uint64_t>{a1_}, &rep); },
                Code::kPermissionDenied, "is not a direct sub-account of account 'acme'");
  EXPECT_EQ(db_->GroupsOfMember(Actor::System(), GroupKind::kUser, a1_user_)->size(), 1u);
  EXPECT_EQ(db_->GroupsOfMember(Actor::System(), GroupKind::kAccount, b_)->size(), 1u);
  // Removing the user takes it out of its groups.
  ASSERT_OK(db_->RemoveUser(Actor::System(), a1_user_));
  EXPECT_TRUE(Members(users).empty());
  EXPECT_EQ(db_->GetGroup(Actor::System(), users)->size, 0u);
}

TEST_F(GroupsTest, GrantsReachUsersThroughTheirGroups) {
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a1_);
  Add(ops, {a1_user_});
  Add(fleet, {d_x_});
  EXPECT_FALSE(Allowed(*db_, a1_user_, "device.read", "d-x"));
  const Actor admin = Actor::User(a_admin_);
  ASSERT_OK(db_->GrantGroup(admin, GroupGrant{ops, kViewer, fleet, false}));
  EXPECT_TRUE(Allowed(*db_, a1_user_, "device.read", "d-x"));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "device.write", "d-x"));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "account.read", "acme-a1"));
  Explanation e;
  ASSERT_OK(db_->Explain(Actor::System(), a1_user_, "device.read", "d-x", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.via_user_group, ops);
  EXPECT_EQ(e.via_group, fleet);
  EXPECT_NE(e.reason.find("user group 'ops'"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("device group 'fleet' of account 'acme-a1'"), std::string::npos)
      << e.reason;
  EXPECT_EQ(e.path, std::vector<std::string>{"acme-a1"});
  // A permission the grant's role lacks: denied, naming the grant that
  // falls short, as a membership that does is named.
  ASSERT_OK(db_->Explain(Actor::System(), a1_user_, "device.write", "d-x", &e));
  EXPECT_FALSE(e.allowed);
  EXPECT_NE(e.reason.find("user 'a1-user' is in user group 'ops', which has role viewer on "
                          "device group 'fleet', which holds device 'd-x', but that role does "
                          "not hold device.write"),
            std::string::npos)
      << e.reason;
  ASSERT_OK(db_->Explain(a1_user_, "device.write", "d-x", &e));  // the user asks: acme-a1 unnamed
  EXPECT_FALSE(e.allowed);
  EXPECT_NE(e.reason.find("is in user group 'ops', which has role viewer on device group 'fleet'"),
            std::string::npos)
      << e.reason;
  // Asked by the user itself, which holds no permission on acme-a1 (only
  // device.read on the group's members): that account is not named, in
  // the reason or in the path, but the user group it is in and the group
  // their grant is on are, as the role it holds is.
  ASSERT_OK(db_->Explain(a1_user_, "device.read", "d-x", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.via_group, fleet);
  EXPECT_EQ(e.reason.find("acme-a1"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("is in user group 'ops', which has role viewer on device group "
                          "'fleet', which holds"),
            std::string::npos)
      << e.reason;
  EXPECT_EQ(e.path, std::vector<std::string>{"(hidden)"});
  // Another user of acme-a1 without group.read there is told neither.
  const UserId other = MakeUser(db_.get(), "other@a1", a1_);
  ASSERT_OK(db_->Invite(Actor::System(), other, a1_, kViewer, false));
  ASSERT_OK(db_->Explain(Actor::User(other), a1_user_, "device.read", "d-x", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.reason.find("'fleet'"), std::string::npos) << e.reason;
  EXPECT_EQ(e.reason.find("'ops'"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("is in a user group out of the actor's sight, which has role viewer on "
                          "a group out of the actor's sight"),
            std::string::npos)
      << e.reason;
  // Told of another user's access, a user in the same group is not told
  // the group (it would learn who else is in it), nor the group the grant
  // is on.
  ASSERT_OK(db_->AddGroupMembers(Actor::System(), ops, std::vector<uint64_t>{other}, nullptr));
  ASSERT_OK(db_->Explain(Actor::User(other), a1_user_, "device.read", "d-x", &e));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.reason.find("'ops'"), std::string::npos) << e.reason;
  EXPECT_EQ(e.reason.find("'fleet'"), std::string::npos) << e.reason;
  // Naming is not listing: the user still lists no group of acme-a1 (it
  // does not even see that account), nor does the viewer without group.read.
  EXPECT_EQ(db_->GroupsOf(Actor::User(a1_user_), a1_).status().code(), Code::kNotFound);
  EXPECT_TRUE(db_->GroupsOf(Actor::User(other), a1_)->empty());
  WhoCanRequest req;
  req.permission = "device.read";
  req.entity_key = "d-x";
  WhoCanPage page;
  ASSERT_OK(db_->WhoCan(req, &page));
  bool found = false;
  for (const auto& item : page.items) {
    if (item.user == a1_user_) {
      found = true;
      EXPECT_EQ(item.via_user_group, ops);
      EXPECT_EQ(item.via_group, fleet);
    }
  }
  EXPECT_TRUE(found);
  // The entity is visible to it: FindEntity and GetEntity do not say missing.
  auto through_group = db_->FindEntity(Actor::User(a1_user_), EntityKind::kDevice, "d-x");
  ASSERT_OK(through_group.status());
  EXPECT_OK(db_->GetEntity(Actor::User(a1_user_), through_group->id));

  // A generic grant: the role on the user group's owner.
  ASSERT_OK(db_->GrantGroup(admin, GroupGrant{ops, kViewer, kNoId, false}));
  EXPECT_TRUE(Allowed(*db_, a1_user_, "account.read", "acme-a1"));
  ASSERT_OK(db_->Explain(a1_user_, "account.read", "acme-a1", &e));
  EXPECT_EQ(e.via_user_group, ops);
  ExpectRefused([&] { return db_->GrantGroup(admin, GroupGrant{ops, kViewer, kNoId, false}); },
                Code::kAlreadyExists, "already has role viewer");

  // Leaving the group ends it; so does revoking.
  GroupMembersReport rep;
  ASSERT_OK(db_->RemoveGroupMembers(Actor::System(), ops, std::vector<uint64_t>{a1_user_}, &rep));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "device.read", "d-x"));
  Add(ops, {a1_user_});
  EXPECT_TRUE(Allowed(*db_, a1_user_, "device.read", "d-x"));
  ASSERT_OK(db_->RevokeGroup(admin, ops, kViewer, fleet));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "device.write", "d-x"));
  ExpectRefused([&] { return db_->RevokeGroup(admin, ops, kViewer, fleet); }, Code::kNotFound,
                "user group 'ops' has no grant of role viewer on device group 'fleet'");
  ExpectRefused([&] { return db_->RevokeGroup(admin, ops, kManager, kNoId); }, Code::kNotFound,
                "user group 'ops' has no grant of role device_manager (generic)");
  // A member named twice in a removal is named as the actor knows it.
  ExpectRefused(
      [&] {
        return db_->RemoveGroupMembers(admin, ops, std::vector<uint64_t>{a1_user_, a1_user_},
                                       &rep);
      },
      Code::kInvalidArgument, "user 'a1-user' is named more than once");

  // Deleting a group takes its grants along.
  ASSERT_OK(db_->DeleteGroup(admin, ops));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "account.read", "acme-a1"));
}

// Updating and deleting one entity take what Check answers: the
// permission on the owner, or on the entity through a group grant. A
// grant that reads only, or a group that does not hold the entity, gives
// neither; a refused user that holds nothing on the owner is told of the
// entity, never of the owner.
TEST_F(GroupsTest, UpdateAndDeleteTakeWhatAGroupGrantGivesOnTheEntity) {
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a1_);
  const EntityId d_y = MakeDevice(db_.get(), "d-y", a1_);
  Add(ops, {a1_user_});
  Add(fleet, {d_x_});
  const Actor admin = Actor::User(a_admin_);
  const Actor user = Actor::User(a1_user_);
  EntityPatch rename;
  rename.name = "renamed";
  ASSERT_OK(db_->GrantGroup(admin, GroupGrant{ops, kViewer, fleet, false}));
  ExpectRefused([&] { return db_->UpdateEntity(user, d_x_, rename); }, Code::kPermissionDenied,
                "permission device.write missing on device 'd-x' (user 'a1-user')");
  ExpectRefused([&] { return db_->DeleteEntity(user, d_x_); }, Code::kPermissionDenied,
                "permission device.delete missing on device 'd-x' (user 'a1-user')");

  ASSERT_OK(db_->GrantGroup(admin, GroupGrant{ops, kManager, fleet, false}));
  EXPECT_TRUE(Allowed(*db_, a1_user_, "device.write", "d-x"));
  ASSERT_OK(db_->UpdateEntity(user, d_x_, rename));
  EXPECT_EQ(db_->GetEntity(Actor::System(), d_x_)->name, "renamed");
  // Not in the group: out of its sight.
  ExpectRefused([&] { return db_->UpdateEntity(user, d_y, rename); }, Code::kNotFound,
                "no entity with id");
  // A member of the owner without device.write is told of the owner.
  ExpectRefused([&] { return db_->DeleteEntity(Actor::User(a_viewer_), d_x_); },
                Code::kPermissionDenied, "permission device.delete missing on account 'acme-a1'");
  ASSERT_OK(db_->DeleteEntity(user, d_x_));
  EXPECT_TRUE(db_->GetEntity(Actor::System(), d_x_).status().IsNotFound());
  std::vector<std::string> problems;
  ASSERT_OK(db_->CheckIntegrity(&problems));
  EXPECT_TRUE(problems.empty());
}

TEST_F(GroupsTest, AccountGroupGrantsCoverTheirAccounts) {
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", acme_);
  GroupId customers = MakeGroup(GroupKind::kAccount, "customers", acme_);
  UserId u = MakeUser(db_.get(), "acme-ops", acme_);
  Add(ops, {u});
  Add(customers, {b_});
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{ops, kViewer, customers, true}));
  EXPECT_TRUE(Allowed(*db_, u, "device.read", "d-b"));
  EXPECT_FALSE(Allowed(*db_, u, "device.read", "d-a1"));
  EXPECT_FALSE(Allowed(*db_, u, "device.read", "d-acme"));
  Add(customers, {a_});
  EXPECT_TRUE(Allowed(*db_, u, "device.read", "d-x"));  // branch
  // Moving acme-a away from acme takes it out of acme's account groups.
  ASSERT_OK(db_->MoveAccount(Actor::System(), a_, b_));
  EXPECT_EQ(Members(customers), std::vector<uint64_t>{b_});
  EXPECT_TRUE(Allowed(*db_, u, "device.read", "d-x"));  // now under acme-b
  ExpectRefused(
      [&] { return db_->GrantGroup(Actor::System(), GroupGrant{ops, kViewer, customers, true}); },
      Code::kAlreadyExists, "already has role");
}

TEST_F(GroupsTest, SharingDownNeedsTheTenantsGroupSharing) {
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a_);  // the parent's devices
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);       // the child's users
  Add(fleet, {d_a1_});
  Add(ops, {a1_user_});
  const Actor admin = Actor::User(a_admin_);
  ExpectRefused([&] { return db_->GrantGroup(admin, GroupGrant{ops, kViewer, fleet, false}); },
                Code::kFailedPrecondition, "group sharing is off in root tenant of account 'acme-a1'");
  // Only the system actor switches it; only on a root tenant.
  AccountPatch on;
  on.group_sharing = true;
  ExpectRefused([&] { return db_->UpdateAccount(Actor::User(root_admin_), acme_, on); },
                Code::kPermissionDenied, "only the system actor may switch group sharing");
  ExpectRefused([&] { return db_->UpdateAccount(Actor::System(), a_, on); },
                Code::kInvalidArgument, "root tenant's setting");
  ASSERT_OK(db_->UpdateAccount(Actor::System(), acme_, on));
  EXPECT_TRUE(db_->GetAccount(acme_)->settings.group_sharing);
  // A manager of the child holds no group.share on the parent.
  ExpectRefused(
      [&] { return db_->GrantGroup(Actor::User(a1_manager_), GroupGrant{ops, kViewer, fleet, false}); },
      Code::kNotFound, "no group with id");
  ASSERT_OK(db_->GrantGroup(admin, GroupGrant{ops, kViewer, fleet, false}));
  EXPECT_TRUE(Allowed(*db_, a1_user_, "device.read", "d-a1"));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "device.read", "d-a2"));  // not in the group
  // Rule 1: with sharing off again, the child's user never sees the
  // parent's device, whatever groups exist.
  AccountPatch off;
  off.group_sharing = false;
  ASSERT_OK(db_->UpdateAccount(Actor::System(), acme_, off));
  EXPECT_FALSE(Allowed(*db_, a1_user_, "device.read", "d-a1"));
  EXPECT_EQ(db_->FindEntity(Actor::User(a1_user_), EntityKind::kDevice, "d-a1").status().code(),
            Code::kNotFound);
  const EntityId d_a1 = db_->FindEntity(EntityKind::kDevice, "d-a1")->id;
  EXPECT_EQ(db_->GetEntity(Actor::User(a1_user_), d_a1).status().code(), Code::kNotFound);
}

// Removing members asks what adding asks first: an id that is unknown or
// out of the actor's sight is NotFound, member or not, and nothing is
// removed; so removing never takes out what the actor cannot see, nor
// tells a hidden member from a missing id.
TEST_F(GroupsTest, RemovingAMemberOutOfSightIsNotFound) {
  const Actor sys = Actor::System();
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a_);
  GroupId subs = MakeGroup(GroupKind::kAccount, "subs", a_);
  GroupId crew = MakeGroup(GroupKind::kUser, "crew", a_);
  Add(fleet, {d_a1_});
  Add(subs, {a1_});
  Add(crew, {a_viewer_});
  // Group work on acme-a, but no sight of its devices or its sub-accounts
  // (no branch). Its users it sees: user.remove, which removing a user
  // from a group needs, shows them.
  auto role = db_->CreateRole(sys, acme_, "grouper",
                              {"account.read", "group.read", "group.write", "user.remove"});
  ASSERT_OK(role);
  const UserId grouper = MakeUser(db_.get(), "grouper", a_);
  ASSERT_OK(db_->Invite(sys, grouper, a_, *role, false));
  const Actor actor = Actor::User(grouper);
  const uint64_t missing = 999999;
  for (GroupId g : {fleet, subs, crew}) {
    const uint64_t member =
        g == fleet ? d_a1_.value() : g == subs ? a1_.value() : a_viewer_.value();
    const std::string what = g == fleet ? "no entity with id " : g == subs ? "no account with id "
                                                                           : "no user with id ";
    for (uint64_t id : {member, missing}) {
      if (g == crew && id == member) continue;  // seen, see above
      GroupMembersReport rep;
      ExpectRefused(
          [&] { return db_->RemoveGroupMembers(actor, g, std::vector<uint64_t>{id}, &rep); },
          Code::kNotFound, "1 of 1 unknown (first: " + what + std::to_string(id) + ")");
      ASSERT_EQ(rep.items.size(), 1u);
      EXPECT_EQ(rep.items[0].outcome, GroupMemberItem::Outcome::kUnknown);
    }
    // The system actor: a missing id is NotFound too, not "unchanged".
    ExpectRefused(
        [&] {
          GroupMembersReport rep;
          return db_->RemoveGroupMembers(sys, g, std::vector<uint64_t>{member, missing}, &rep);
        },
        Code::kNotFound, "1 of 2 unknown (first: " + what + std::to_string(missing) + ")");
    EXPECT_EQ(Members(g), std::vector<uint64_t>{member});
  }
  // A known non-member is still reported unchanged, and a member removed.
  GroupMembersReport rep;
  ASSERT_OK(db_->RemoveGroupMembers(sys, fleet, std::vector<uint64_t>{d_a2_, d_a1_}, &rep));
  EXPECT_EQ(rep.unchanged, 1u);
  EXPECT_EQ(rep.done, 1u);
  EXPECT_TRUE(Members(fleet).empty());
}

// An account group holds its owner's sub-accounts and gives a role on
// each, so it is never shared down: shared to a sub-account's user group it
// would give that group's users a role on their own account's parent or
// siblings (rule 1: a user gains nothing above the account it was created
// in). Refused for every actor, sharing on or off, and in an import.
TEST_F(GroupsTest, AccountGroupsAreNeverSharedDown) {
  AccountPatch on;
  on.group_sharing = true;
  ASSERT_OK(db_->UpdateAccount(Actor::System(), acme_, on));
  GroupId tops = MakeGroup(GroupKind::kAccount, "tops", acme_);  // holds acme-a: a1's parent
  GroupId subs = MakeGroup(GroupKind::kAccount, "subs", a_);     // holds acme-a1 itself
  Add(tops, {a_, b_});
  Add(subs, {a1_});
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  Add(ops, {a1_user_});
  for (const Actor& actor : {Actor::System(), Actor::User(root_admin_)}) {
    for (GroupId target : {tops, subs}) {
      for (bool branch : {true, false}) {
        ExpectRefused(
            [&] { return db_->GrantGroup(actor, GroupGrant{ops, kAdmin, target, branch}); },
            Code::kFailedPrecondition, "an account group gives a role on its accounts");
      }
    }
  }
  EXPECT_FALSE(Allowed(*db_, a1_user_, "account.update", "acme-a"));
  // Its own account groups a user group is granted as before.
  GroupId mine = MakeGroup(GroupKind::kUser, "mine", a_);
  const UserId a_user = MakeUser(db_.get(), "a-user", a_);
  Add(mine, {a_user});
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{mine, kViewer, subs, true}));
  EXPECT_TRUE(Allowed(*db_, a_user, "device.read", "d-x"));
  EXPECT_FALSE(Allowed(*db_, a_user, "device.read", "d-a1"));  // acme-a's own device
  // An import naming such a grant is refused whole.
  const std::string file = dir_.Sub("shared.jsonl");
  {
    std::ofstream out(file);
    out << R"({"type":"account","key":"t","name":"T","settings":{"group_sharing":true}})" "\n"
        << R"({"type":"account","key":"c","name":"C","parent":"t"})" "\n"
        << R"({"type":"account","key":"c1","name":"C1","parent":"c"})" "\n"
        << R"({"type":"user","login":"u","name":"U","account":"c1"})" "\n"
        << R"({"type":"group","kind":"user","name":"ug","account":"c1"})" "\n"
        << R"({"type":"group_member","account":"c1","kind":"user","group":"ug","member":"u"})" "\n"
        << R"({"type":"group","kind":"account","name":"ag","account":"t"})" "\n"
        << R"({"type":"group_member","account":"t","kind":"account","group":"ag","member":"c"})" "\n"
        << R"({"type":"group_grant","account":"c1","group":"ug","role":"account_admin",)"
        << R"("target_account":"t","target_kind":"account","target":"ag","branch":true})" "\n";
  }
  auto fresh = OpenDb(dir_.Sub("import"));
  ImportReport report;
  Status s = fresh->Import(Actor::System(), file, ImportOptions{}, &report);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("line 9"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("an account group gives a role on its accounts"), std::string::npos)
      << s.ToString();
  EXPECT_FALSE(fresh->FindAccount("t").ok());
}

// A refusal about a grant shared down from above never names the account
// or the group above, which the actor does not see, nor the group's kind:
// in adding and removing
// members, deleting the group, revoking, and acting on a user.
TEST_F(GroupsTest, RefusalsAboutSharedGrantsNameNothingOutOfSight) {
  AccountPatch on;
  on.group_sharing = true;
  ASSERT_OK(db_->UpdateAccount(Actor::System(), acme_, on));
  GroupId secret = MakeGroup(GroupKind::kDevice, "secret-fleet", a_);
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  Add(secret, {d_a1_});
  Add(ops, {a1_user_});
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{ops, kManager, secret, false}));
  // a1's own admin: everything in acme-a1, nothing above it.
  const UserId a1_admin = Member("a1-admin", a1_, kAdmin);
  const Actor actor = Actor::User(a1_admin);
  auto expect_quiet = [&](const Status& s, const char* what) {
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << what << ": " << s.ToString();
    EXPECT_EQ(s.message().find("acme-a'"), std::string::npos) << what << ": " << s.ToString();
    EXPECT_EQ(s.message().find("secret-fleet"), std::string::npos) << what << ": " << s.ToString();
    // Nor the group's kind (the role's name may say "device").
    EXPECT_EQ(s.message().find("device group"), std::string::npos) << what << ": " << s.ToString();
    EXPECT_NE(s.message().find("out of the actor's sight"), std::string::npos)
        << what << ": " << s.ToString();
  };
  const UserId newcomer = MakeUser(db_.get(), "newcomer", a1_);
  const auto before = DumpAll(db_.get());
  GroupMembersReport rep;
  expect_quiet(db_->RemoveGroupMembers(actor, ops, std::vector<uint64_t>{a1_user_}, &rep),
               "remove member");
  expect_quiet(db_->AddGroupMembers(actor, ops, std::vector<uint64_t>{newcomer}, &rep),
               "add member");
  expect_quiet(db_->DeleteGroup(actor, ops), "delete group");
  expect_quiet(db_->RevokeGroup(actor, ops, kManager, secret), "revoke");
  expect_quiet(db_->SetUserDisabled(actor, a1_user_, true), "disable user");
  EXPECT_TRUE(DumpAll(db_.get()) == before) << testing::DescribeDiff(before, DumpAll(db_.get()));
}

TEST_F(GroupsTest, EscalationThroughGroupsIsRefused) {
  ASSERT_OK(db_->UpdateAccount(Actor::System(), acme_, [] {
    AccountPatch p;
    p.group_sharing = true;
    return p;
  }()));
  GroupId a_users = MakeGroup(GroupKind::kUser, "a-users", a_);
  GroupId a1_fleet = MakeGroup(GroupKind::kDevice, "a1-fleet", a1_);
  GroupId b_fleet = MakeGroup(GroupKind::kDevice, "b-fleet", b_);
  GroupId a1_users = MakeGroup(GroupKind::kUser, "a1-users", a1_);
  const Actor sys = Actor::System();
  // Upward: a group of a sub-account granted to its parent's user group.
  ExpectRefused([&] { return db_->GrantGroup(sys, GroupGrant{a_users, kViewer, a1_fleet, false}); },
                Code::kFailedPrecondition, "never up or sideways");
  // Sideways.
  ExpectRefused([&] { return db_->GrantGroup(sys, GroupGrant{a_users, kViewer, b_fleet, false}); },
                Code::kFailedPrecondition, "never up or sideways");
  // Granting a role one does not hold: a group operator of acme-a1 holds
  // group and user permissions, not account_admin's.
  auto role = db_->CreateRole(sys, acme_, "group-op",
                              {"account.read", "group.read", "group.write", "user.read",
                               "user.invite", "device.read", "asset.read", "dashboard.read",
                               "entity_view.read"});
  ASSERT_OK(role);
  UserId op = MakeUser(db_.get(), "group-op", a1_);
  ASSERT_OK(db_->Invite(sys, op, a1_, *role, false));
  const Actor group_op = Actor::User(op);
  ExpectRefused(
      [&] { return db_->GrantGroup(group_op, GroupGrant{a1_users, kAdmin, kNoId, false}); },
      Code::kPermissionDenied, "cannot grant role account_admin: user 'group-op' does not itself hold");
  ASSERT_OK(db_->GrantGroup(group_op, GroupGrant{a1_users, kViewer, kNoId, false}));
  // A viewer grants nothing (it does not even see the groups).
  ExpectRefused(
      [&] { return db_->GrantGroup(Actor::User(a_viewer_), GroupGrant{a_users, kViewer, kNoId, false}); },
      Code::kNotFound, "no group with id");
  // Grants onto user groups, and branch on an entity group, are malformed.
  ExpectRefused([&] { return db_->GrantGroup(sys, GroupGrant{a1_users, kViewer, a_users, false}); },
                Code::kInvalidArgument, "not on user group");
  ExpectRefused([&] { return db_->GrantGroup(sys, GroupGrant{a1_users, kViewer, a1_fleet, true}); },
                Code::kInvalidArgument, "branch applies to account groups");
  ExpectRefused([&] { return db_->GrantGroup(sys, GroupGrant{a1_fleet, kViewer, kNoId, false}); },
                Code::kInvalidArgument, "is not a user group");
  // Revoking from one says the same (not "user group 'a1-fleet' has no grant").
  ExpectRefused([&] { return db_->RevokeGroup(sys, a1_fleet, kViewer, kNoId); },
                Code::kInvalidArgument, "is not a user group");
  ExpectRefused([&] { return db_->GrantGroup(sys, GroupGrant{a1_users, 777, kNoId, false}); },
                Code::kNotFound, "no role with id 777");
  // Joining a user of another owner, or adding a foreign device.
  GroupMembersReport rep;
  ExpectRefused([&] { return db_->AddGroupMembers(sys, a1_users, std::vector<uint64_t>{a_viewer_}, &rep); },
                Code::kPermissionDenied, "was not created in account 'acme-a1'");
  ExpectRefused([&] { return db_->AddGroupMembers(sys, a1_fleet, std::vector<uint64_t>{d_b_}, &rep); },
                Code::kPermissionDenied, "is not owned by account 'acme-a1'");
  // Adding a user to a group whose grants the actor could not hand on:
  // the operator may invite, but the group's role is account_admin.
  UserId fresh = MakeUser(db_.get(), "fresh", a1_);
  ASSERT_OK(db_->AddGroupMembers(group_op, a1_users, std::vector<uint64_t>{fresh}, &rep));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{a1_users, kAdmin, kNoId, false}));
  UserId fresh2 = MakeUser(db_.get(), "fresh2", a1_);
  ExpectRefused(
      [&] { return db_->AddGroupMembers(group_op, a1_users, std::vector<uint64_t>{fresh2}, &rep); },
      Code::kPermissionDenied,
      "cannot add members to user group 'a1-users', which has role account_admin: ");
}

// Acting on a user as a whole counts what it holds through its user
// groups: an actor that may update and remove users, but does not hold the
// role a user group gives, cannot disable, rename or remove its member.
// A write that takes more with it (a group's grants, an account's groups,
// members, devices and users, a moved account's group links) needs a
// permission for each; a refusal of one of those says which part of the
// write needed it, not only the permission, and names nothing out of the
// actor's sight.
TEST_F(GroupsTest, ARefusalOfWhatAWriteTakesWithItSaysWhatNeededIt) {
  const Actor sys = Actor::System();
  AccountPatch on;
  on.group_sharing = true;
  ASSERT_OK(db_->UpdateAccount(sys, acme_, on));
  auto actor_with = [&](const std::string& login, std::vector<std::string> perms,
                        bool branch) {
    auto role = db_->CreateRole(sys, acme_, login, perms);
    EXPECT_OK(role);
    UserId u = MakeUser(db_.get(), login, acme_);
    EXPECT_OK(db_->Invite(sys, u, acme_, role.ok() ? *role : kViewer, branch));
    return Actor::User(u);
  };
  // Deleting a group shared down to a user group out of the actor's sight
  // (its grant goes with it).
  GroupId top = MakeGroup(GroupKind::kDevice, "top-fleet", acme_);
  Add(top, {d_acme_});
  GroupId a_users = MakeGroup(GroupKind::kUser, "a-users", a_);
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{a_users, kViewer, top, false}));
  const Actor grouper = actor_with(
      "top-grouper", {"account.read", "group.read", "group.write", "device.read"}, false);
  ExpectRefused([&] { return db_->DeleteGroup(grouper, top); }, Code::kPermissionDenied,
                "cannot delete device group 'top-fleet' and with it role viewer of a user "
                "group out of the actor's sight on device group 'top-fleet'");
  ExpectRefused([&] { return db_->DeleteGroup(grouper, top); }, Code::kPermissionDenied,
                ": permission user.invite missing");
  EXPECT_EQ(testing::StatusOf(db_->DeleteGroup(grouper, top)).message().find("acme-a'"),
            std::string::npos);
  // Deleting an account: its devices and users go to the receiver, its
  // groups go.
  const AccountId c = MakeAccount(db_.get(), "acme-c", acme_);
  MakeDevice(db_.get(), "d-c", c);
  const Actor no_assign =
      actor_with("no-assign", {"account.read", "account.delete", "device.read"}, true);
  ExpectRefused([&] { return db_->DeleteAccount(no_assign, c, b_); }, Code::kPermissionDenied,
                "cannot delete account 'acme-c' and give its devices to 'acme-b': permission "
                "device.assign missing");
  MakeUser(db_.get(), "homed-in-c", c);
  const Actor no_invite = actor_with(
      "no-invite", {"account.read", "account.delete", "device.read", "device.assign"}, true);
  ExpectRefused([&] { return db_->DeleteAccount(no_invite, c, b_); }, Code::kPermissionDenied,
                "cannot delete account 'acme-c' and move its users to 'acme-b': permission "
                "user.invite missing");
  const AccountId d = MakeAccount(db_.get(), "acme-d", acme_);
  MakeGroup(GroupKind::kDevice, "d-fleet", d);
  ExpectRefused([&] { return db_->DeleteAccount(no_assign, d); }, Code::kPermissionDenied,
                "cannot delete account 'acme-d' and with it its 1 group(s): permission "
                "group.write missing");
  // Moving an account out of its parent's account groups.
  GroupId a_children = MakeGroup(GroupKind::kAccount, "a-children", a_);
  Add(a_children, {a1_});
  const Actor mover = actor_with("mover", {"account.read", "account.move"}, true);
  ExpectRefused([&] { return db_->MoveAccount(mover, a1_, b_); }, Code::kPermissionDenied,
                "cannot move account 'acme-a1' under 'acme-b' and with it take it out of the "
                "account groups of 'acme-a'");
  // Deleting one takes it out of them too: the same permission.
  const AccountId a9 = MakeAccount(db_.get(), "acme-a9", a_);
  Add(a_children, {a9});
  const Actor deleter = actor_with("deleter", {"account.read", "account.delete"}, true);
  ExpectRefused([&] { return db_->DeleteAccount(deleter, a9); }, Code::kPermissionDenied,
                "cannot delete account 'acme-a9' and with it take it out of the account "
                "groups of 'acme-a': permission group.write missing");
  // A user group's members: adding one is inviting, removing one removing.
  const Actor member_editor =
      actor_with("member-editor", {"account.read", "group.read", "group.write", "user.read"},
                 true);
  GroupId plain = MakeGroup(GroupKind::kUser, "plain-users", a_);
  ExpectRefused(
      [&] {
        GroupMembersReport rep;
        return db_->AddGroupMembers(member_editor, plain, std::vector<uint64_t>{a_viewer_}, &rep);
      },
      Code::kPermissionDenied,
      "cannot add members to user group 'plain-users': permission user.invite missing");
  Add(plain, {a_viewer_});
  ExpectRefused(
      [&] {
        GroupMembersReport rep;
        return db_->RemoveGroupMembers(member_editor, plain, std::vector<uint64_t>{a_viewer_},
                                       &rep);
      },
      Code::kPermissionDenied,
      "cannot remove members from user group 'plain-users': permission user.remove missing");
}

TEST_F(GroupsTest, ActingOnAUserCountsWhatItsGroupsGive) {
  const Actor sys = Actor::System();
  auto role = db_->CreateRole(sys, acme_, "user-op",
                              {"account.read", "group.read", "user.read", "user.update",
                               "user.remove", "device.read"});
  ASSERT_OK(role);
  UserId op = MakeUser(db_.get(), "user-op", a1_);
  ASSERT_OK(db_->Invite(sys, op, a1_, *role, false));
  const Actor user_op = Actor::User(op);
  GroupId admins = MakeGroup(GroupKind::kUser, "a1-admins", a1_);
  UserId held = MakeUser(db_.get(), "held", a1_);  // no membership of its own
  Add(admins, {held});
  // Before the grant the group gives nothing: the operator may act.
  ASSERT_OK(db_->UpdateUser(user_op, held, [] {
    UserPatch p;
    p.name = "Held";
    return p;
  }()));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{admins, kAdmin, kNoId, false}));
  const std::string why = "(it is in user group 'a1-admins', which has role account_admin)";
  ExpectRefused([&] { return db_->SetUserDisabled(user_op, held, true); },
                Code::kPermissionDenied, why);
  ExpectRefused([&] { return db_->RemoveUser(user_op, held); }, Code::kPermissionDenied, why);
  ExpectRefused([&] {
    UserPatch p;
    p.name = "Renamed";
    return db_->UpdateUser(user_op, held, p);
  }, Code::kPermissionDenied, why);
  // The system, and an admin who holds the role there, may.
  ASSERT_OK(db_->SetUserDisabled(Actor::User(a_admin_), held, true));
  ASSERT_OK(db_->RemoveUser(sys, held));
}

// Members that join or leave a granted group take its grants with them,
// whatever the kind: adding or removing a user (a user group's grants), a
// device (the grants onto a device group) or an account (the role on that
// account) needs what each grant gives. A member reported unchanged takes
// nothing, so it needs nothing of the grants.
TEST_F(GroupsTest, MembersJoiningOrLeavingAGrantedGroupNeedWhatItsGrantsGive) {
  const Actor sys = Actor::System();
  auto role = db_->CreateRole(sys, acme_, "grouper",
                              {"account.read", "group.read", "group.write", "user.read",
                               "user.invite", "user.remove", "device.read"});
  ASSERT_OK(role);
  UserId g_user = MakeUser(db_.get(), "grouper", a_);
  ASSERT_OK(db_->Invite(sys, g_user, a_, *role, true));
  const Actor grouper = Actor::User(g_user);
  // A user group of acme-a with device_manager on a device group and on an
  // account group of acme-a: the grouper holds neither role's permissions.
  GroupId crew = MakeGroup(GroupKind::kUser, "crew", a_);
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a_);
  GroupId subs = MakeGroup(GroupKind::kAccount, "subs", a_);
  const AccountId a2 = MakeAccount(db_.get(), "acme-a2", a_);
  UserId in_crew = MakeUser(db_.get(), "in-crew", a_);
  UserId not_in_crew = MakeUser(db_.get(), "not-in-crew", a_);
  Add(crew, {in_crew});
  Add(fleet, {d_a1_});
  Add(subs, {a1_});
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{crew, kManager, fleet, false}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{crew, kManager, subs, false}));
  auto add = [&](GroupId g, uint64_t m) {
    GroupMembersReport rep;
    return db_->AddGroupMembers(grouper, g, std::vector<uint64_t>{m}, &rep);
  };
  auto remove = [&](GroupId g, uint64_t m) {
    GroupMembersReport rep;
    return db_->RemoveGroupMembers(grouper, g, std::vector<uint64_t>{m}, &rep);
  };
  // Joining or leaving: refused, each saying which grant needed it.
  ExpectRefused([&] { return add(crew, not_in_crew); }, Code::kPermissionDenied,
                "cannot add members to user group 'crew', which has role device_manager");
  ExpectRefused([&] { return remove(crew, in_crew); }, Code::kPermissionDenied,
                "cannot remove members from user group 'crew', which has role device_manager");
  ExpectRefused([&] { return add(fleet, d_a2_); }, Code::kPermissionDenied,
                "cannot add members to device group 'fleet', which is granted as role "
                "device_manager");
  ExpectRefused([&] { return remove(fleet, d_a1_); }, Code::kPermissionDenied,
                "cannot remove members from device group 'fleet', which is granted as role "
                "device_manager");
  ExpectRefused([&] { return add(subs, a2); }, Code::kPermissionDenied,
                "cannot add account 'acme-a2' to account group 'subs', granted as role "
                "device_manager");
  ExpectRefused([&] { return remove(subs, a1_); }, Code::kPermissionDenied,
                "cannot remove account 'acme-a1' from account group 'subs', granted as role "
                "device_manager");
  // The report says why too: the member that would have joined is denied.
  {
    GroupMembersReport rep;
    Status s = db_->AddGroupMembers(grouper, crew, std::vector<uint64_t>{not_in_crew, in_crew}, &rep);
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
    ASSERT_EQ(rep.items.size(), 2u);
    EXPECT_EQ(rep.items[0].outcome, GroupMemberItem::Outcome::kDenied);
    EXPECT_NE(rep.items[0].message.find("which has role device_manager"), std::string::npos);
    EXPECT_EQ(rep.items[1].outcome, GroupMemberItem::Outcome::kUnchanged);
    EXPECT_EQ(rep.done, 0u);
    EXPECT_EQ(rep.denied, 1u);
  }
  // Leaving by another way takes the same: a device reassigned out of a
  // granted device group, an account moved out of a granted account group.
  auto mover_role = db_->CreateRole(sys, acme_, "mover",
                                    {"account.read", "account.move", "device.read",
                                     "device.assign", "group.read", "group.write"});
  ASSERT_OK(mover_role);
  UserId m_user = MakeUser(db_.get(), "mover", acme_);
  ASSERT_OK(db_->Invite(sys, m_user, acme_, *mover_role, true));
  const Actor mover = Actor::User(m_user);
  ExpectRefused(
      [&] {
        ReassignReport rr;
        return db_->ReassignEntities(mover, EntityKind::kDevice, EntityRef::kKey,
                                     std::vector<std::string>{"d-a1"}, b_, &rr);
      },
      Code::kPermissionDenied,
      "cannot reassign device 'd-a1' out of device group 'fleet', granted as role device_manager");
  ExpectRefused([&] { return db_->MoveAccount(mover, a1_, b_); }, Code::kPermissionDenied,
                "cannot move account 'acme-a1' under 'acme-b' and with it take it out of account "
                "group 'subs', granted as role device_manager");
  // Joining a granted group by a reassign needs its grants only when an
  // entity does move: naming it for one already there changes nothing.
  {
    ReassignReport rr;
    ASSERT_OK(db_->ReassignEntities(mover, EntityKind::kDevice, EntityRef::kKey,
                                    std::vector<std::string>{"d-a2"}, a_,
                                    std::vector<GroupId>{fleet}, &rr));
    EXPECT_EQ(rr.unchanged, 1u);
    ExpectRefused(
        [&] {
          return db_->ReassignEntities(mover, EntityKind::kDevice, EntityRef::kKey,
                                       std::vector<std::string>{"d-b"}, a_,
                                       std::vector<GroupId>{fleet}, &rr);
        },
        Code::kPermissionDenied, "cannot add members to device group 'fleet', which is granted");
    EXPECT_EQ(rr.items.size(), 1u);
    EXPECT_EQ(rr.items[0].outcome, ReassignItem::Outcome::kDenied);
  }
  // Unchanged members: allowed, reported unchanged, nothing written.
  const uint64_t rev = db_->Revision();
  for (auto [g, m, adding] : {std::tuple{crew, uint64_t{in_crew}, true},
                              std::tuple{crew, uint64_t{not_in_crew}, false},
                              std::tuple{fleet, uint64_t{d_a1_}, true},
                              std::tuple{fleet, uint64_t{d_a2_}, false},
                              std::tuple{subs, uint64_t{a1_}, true},
                              std::tuple{subs, uint64_t{a2}, false}}) {
    GroupMembersReport rep;
    const std::vector<uint64_t> one{m};
    Status s = adding ? db_->AddGroupMembers(grouper, g, one, &rep)
                      : db_->RemoveGroupMembers(grouper, g, one, &rep);
    EXPECT_TRUE(s.ok()) << s.ToString() << " group " << g << " member " << m << (adding ? " add" : " remove");
    EXPECT_EQ(rep.unchanged, 1u);
  }
  EXPECT_EQ(db_->Revision(), rev);
  // A group without grants needs none; and one who holds the role may.
  GroupId spare = MakeGroup(GroupKind::kDevice, "spare", a_);
  ASSERT_OK(add(spare, d_a2_));
  ASSERT_OK(remove(spare, d_a2_));
  const Actor admin = Actor::User(a_admin_);
  for (GroupId g : {fleet, subs}) {
    GroupMembersReport rep;
    const std::vector<uint64_t> one{g == fleet ? uint64_t{d_a1_} : uint64_t{a1_}};
    ASSERT_OK(db_->RemoveGroupMembers(admin, g, one, &rep));
    ASSERT_OK(db_->AddGroupMembers(admin, g, one, &rep));
  }
  ASSERT_OK(remove(crew, not_in_crew));  // not a member: unchanged
  GroupMembersReport rep;
  ASSERT_OK(db_->RemoveGroupMembers(admin, crew, std::vector<uint64_t>{in_crew}, &rep));
  EXPECT_FALSE(Allowed(*db_, in_crew, "device.write", "d-a1"));
}

// Who-can names the route explain names: the closest to the entity's
// owner, whether a membership or a group's grant.
TEST_F(GroupsTest, WhoCanAndExplainNameTheSameClosestRoute) {
  const Actor sys = Actor::System();
  UserId u = MakeUser(db_.get(), "two-routes", a_);
  ASSERT_OK(db_->Invite(sys, u, a_, kAdmin, true));  // branch-wide on acme-a
  GroupId crew = MakeGroup(GroupKind::kUser, "crew", a_);
  GroupId subs = MakeGroup(GroupKind::kAccount, "subs", a_);
  Add(crew, {u});
  Add(subs, {a1_});
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{crew, kManager, subs, false}));  // on acme-a1
  // Also a generic grant on acme-a itself, level with the membership.
  GroupId crew2 = MakeGroup(GroupKind::kUser, "crew2", a_);
  Add(crew2, {u});
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{crew2, kViewer, kNoId, true}));
  for (const char* key : {"d-x", "d-a1"}) {
    Explanation ex;
    ASSERT_OK(db_->Explain(u, "device.read", key, &ex));
    ASSERT_TRUE(ex.allowed);
    WhoCanRequest req;
    req.permission = "device.read";
    req.entity_key = key;
    req.limit = 100;
    WhoCanPage page;
    ASSERT_OK(db_->WhoCan(req, &page));
    bool listed = false;
    for (const auto& item : page.items) {
      if (item.user != u) continue;
      listed = true;
      EXPECT_EQ(item.via_account, ex.via_account) << key;
      EXPECT_EQ(item.role, ex.via_role) << key;
      EXPECT_EQ(item.branch, ex.via_branch) << key;
      EXPECT_EQ(item.via_user_group, ex.via_user_group) << key;
      EXPECT_EQ(item.via_group, ex.via_group) << key;
    }
    EXPECT_TRUE(listed) << key;
  }
  // On acme-a1 the account group's grant is the closer route; on acme-a
  // the membership comes before the generic grant there.
  Explanation ex;
  ASSERT_OK(db_->Explain(u, "device.read", "d-x", &ex));
  EXPECT_EQ(ex.via_account, a1_);
  EXPECT_EQ(ex.via_user_group, crew);
  EXPECT_EQ(ex.via_group, subs);
  ASSERT_OK(db_->Explain(u, "device.read", "d-a1", &ex));
  EXPECT_EQ(ex.via_account, a_);
  EXPECT_EQ(ex.via_user_group, kNoId);
}

// Several grants onto entity groups holding the device reach one user:
// explain and who-can name the same one, whichever order the groups'
// ids and the user groups' ids come in (explain walks the user's groups,
// who-can the device's).
TEST_F(GroupsTest, WhoCanAndExplainNameTheSameOfSeveralGroupGrants) {
  const Actor sys = Actor::System();
  UserId u = MakeUser(db_.get(), "crossed", a_);
  GroupId g1 = MakeGroup(GroupKind::kDevice, "g1", a_);
  GroupId g2 = MakeGroup(GroupKind::kDevice, "g2", a_);
  GroupId g3 = MakeGroup(GroupKind::kDevice, "g3", a_);
  GroupId ug1 = MakeGroup(GroupKind::kUser, "ug1", a_);
  GroupId ug2 = MakeGroup(GroupKind::kUser, "ug2", a_);
  Add(g1, {d_a1_});
  Add(g2, {d_a1_});
  Add(g3, {d_a1_});
  Add(ug1, {u});
  Add(ug2, {u});
  // The user group with the smaller id grants on the group with the larger
  // one, and the other way round; two roles on one group as well.
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ug2, kViewer, g1, false}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ug1, kManager, g3, false}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ug1, kViewer, g2, false}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ug1, kViewer, g3, false}));
  auto same = [&](const char* perm) {
    Explanation ex;
    ASSERT_OK(db_->Explain(u, perm, "d-a1", &ex));
    ASSERT_TRUE(ex.allowed) << perm;
    WhoCanRequest req;
    req.permission = perm;
    req.entity_key = "d-a1";
    req.limit = 100;
    WhoCanPage page;
    ASSERT_OK(db_->WhoCan(req, &page));
    int listed = 0;
    for (const auto& item : page.items) {
      if (item.user != u) continue;
      ++listed;
      EXPECT_EQ(item.via_account, ex.via_account) << perm;
      EXPECT_EQ(item.role, ex.via_role) << perm;
      EXPECT_EQ(item.via_user_group, ex.via_user_group) << perm;
      EXPECT_EQ(item.via_group, ex.via_group) << perm << ": " << ex.reason;
    }
    EXPECT_EQ(listed, 1) << perm;
  };
  same("device.read");
  same("device.write");  // the manager's grant alone
  Explanation ex;
  ASSERT_OK(db_->Explain(u, "device.read", "d-a1", &ex));
  EXPECT_EQ(ex.via_user_group, ug1);
  // The least (user group, role, group): ug1's manager grant (role 2) on g3.
  EXPECT_EQ(ex.via_role, kManager);
  EXPECT_EQ(ex.via_group, g3);
}

TEST_F(GroupsTest, ReassignDeleteAndAccountDeleteKeepGroupsConsistent) {
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a_);
  GroupId a1_fleet = MakeGroup(GroupKind::kDevice, "a1-fleet", a1_);
  GroupId a1_users = MakeGroup(GroupKind::kUser, "a1-users", a1_);
  Add(fleet, {d_a1_, d_a2_});
  Add(a1_fleet, {d_x_});
  Add(a1_users, {a1_user_});
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{a1_users, kViewer, a1_fleet, false}));
  // Reassign: the entity leaves its old owner's groups.
  ReassignReport rr;
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey,
                                  std::vector<std::string>{"d-a1"}, b_, &rr));
  EXPECT_EQ(Members(fleet), std::vector<uint64_t>{d_a2_});
  EXPECT_EQ(db_->GetGroup(Actor::System(), fleet)->size, 1u);
  // Delete: the same.
  ASSERT_OK(db_->DeleteEntity(Actor::System(), d_a2_));
  EXPECT_TRUE(Members(fleet).empty());
  // Deleting acme-a1 into acme-a: its groups go (grants too), its device
  // and user move to the receiver as plain members of nothing.
  ASSERT_OK(db_->DeleteAccount(Actor::System(), a1_, a_));
  EXPECT_EQ(db_->GetGroup(Actor::System(), a1_fleet).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->GetGroup(Actor::System(), a1_users).status().code(), Code::kNotFound);
  EXPECT_EQ(db_->GetEntity(d_x_)->owner, a_);
  EXPECT_TRUE(db_->GroupsOfMember(Actor::System(), GroupKind::kDevice, d_x_)->empty());
  EXPECT_TRUE(db_->GroupsOfMember(Actor::System(), GroupKind::kUser, a1_user_)->empty());
  std::vector<std::string> problems;
  ASSERT_OK(db_->CheckIntegrity(&problems));
  EXPECT_TRUE(problems.empty()) << problems[0];
}

// Every key the viewer lists, paging `limit` at a time.
std::vector<std::string> ListAll(Db* db, VisibleRequest req, size_t limit) {
  std::vector<std::string> keys;
  req.limit = limit;
  for (;;) {
    VisiblePage page;
    Status s = db->Visible(req, &page);
    EXPECT_OK(s);
    if (!s.ok()) break;
    for (const auto& item : page.items) keys.push_back(item.key);
    if (page.next_cursor.empty()) break;
    req.cursor = page.next_cursor;
  }
  return keys;
}

TEST_F(GroupsTest, ReassignJoinsGroupsOfTheNewOwner) {
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a_);
  GroupId b_fleet = MakeGroup(GroupKind::kDevice, "b-fleet", b_);
  GroupId b_trucks = MakeGroup(GroupKind::kDevice, "b-trucks", b_);
  GroupId b_assets = MakeGroup(GroupKind::kAsset, "b-assets", b_);
  GroupId b_ops = MakeGroup(GroupKind::kUser, "b-ops", b_);
  const UserId b_user = MakeUser(db_.get(), "b-user", b_);
  Add(fleet, {d_a1_, d_a2_});
  Add(b_ops, {b_user});
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{b_ops, kViewer, b_fleet, false}));
  // An actor that may assign devices on both sides and read b's groups, but
  // not write them; one that administers acme-a but only views acme-b (so
  // does not see b's groups).
  auto role = db_->CreateRole(Actor::System(), acme_, "assigner",
                              {"account.read", "device.read", "device.assign", "group.read"});
  ASSERT_OK(role);
  const UserId assigner = Member("assigner", acme_, *role);
  const UserId split = MakeUser(db_.get(), "split", acme_);
  ASSERT_OK(db_->Invite(Actor::System(), split, a_, kAdmin, true));
  ASSERT_OK(db_->Invite(Actor::System(), split, b_, kViewer, false));
  const std::vector<std::string> both{"d-a1", "d-a2"};
  auto reassign = [&](const Actor& actor, const std::vector<std::string>& refs,
                      std::vector<GroupId> groups, ReassignReport* rep) {
    return db_->ReassignEntities(actor, EntityKind::kDevice, EntityRef::kKey, refs, b_, groups,
                                 rep);
  };

  // Bad groups refuse the call before any item, with nothing changed.
  ReassignReport rep;
  ExpectRefused([&] { return reassign(Actor::System(), both, {GroupId(999999)}, &rep); },
                Code::kNotFound, "no group with id 999999");
  EXPECT_TRUE(rep.items.empty());
  ExpectRefused([&] { return reassign(Actor::System(), both, {fleet}, &rep); },
                Code::kInvalidArgument, "device group 'fleet' is not owned by account 'acme-b'");
  ExpectRefused([&] { return reassign(Actor::System(), both, {b_assets}, &rep); },
                Code::kInvalidArgument, "asset group 'b-assets' cannot hold a device");
  ExpectRefused([&] { return reassign(Actor::System(), both, {b_ops}, &rep); },
                Code::kInvalidArgument, "user group 'b-ops' cannot hold a device");
  ExpectRefused([&] { return reassign(Actor::System(), both, {b_fleet, b_fleet}, &rep); },
                Code::kInvalidArgument, "device group 'b-fleet' is named more than once");
  ExpectRefused([&] { return reassign(Actor::User(assigner), both, {b_trucks}, &rep); },
                Code::kPermissionDenied, "group.write");
  // split sees acme-b but none of its groups: they are unknown to it.
  ExpectRefused([&] { return reassign(Actor::User(split), both, {b_fleet}, &rep); },
                Code::kNotFound, "no group with id");
  // Without groups the same actor may move them (the groups are the only
  // thing it lacked).
  ASSERT_OK(db_->ReassignEntities(Actor::User(assigner), EntityKind::kDevice, EntityRef::kKey,
                                  std::vector<std::string>{"d-a2"}, a1_, &rep));

  // A batch with an unchanged item: the moved ones leave their old groups
  // and join both of b's; the unchanged one keeps its groups.
  Add(b_trucks, {d_b_});
  // b-admin owns b's groups but does not see d-a1: unknown to it.
  EXPECT_EQ(reassign(Actor::User(b_admin_), {"d-a1", "d-b"}, {b_fleet}, &rep).code(),
            Code::kNotFound);
  ASSERT_OK(reassign(Actor::User(root_admin_), {"d-a1", "d-a2", "d-b"}, {b_fleet, b_trucks}, &rep));
  EXPECT_EQ(rep.moved, 2u);
  EXPECT_EQ(rep.unchanged, 1u);
  EXPECT_TRUE(Members(fleet).empty());
  std::vector<uint64_t> moved{d_a1_, d_a2_};
  std::sort(moved.begin(), moved.end());
  EXPECT_EQ(Members(b_fleet), moved);
  std::vector<uint64_t> trucks{d_a1_, d_a2_, d_b_};
  std::sort(trucks.begin(), trucks.end());
  EXPECT_EQ(Members(b_trucks), trucks);
  EXPECT_EQ(db_->GetGroup(Actor::System(), fleet)->size, 0u);
  EXPECT_EQ(db_->GetGroup(Actor::System(), b_fleet)->size, 2u);
  EXPECT_EQ(db_->GetGroup(Actor::System(), b_fleet)->overlap, 2u);
  EXPECT_EQ(db_->GetGroup(Actor::System(), b_trucks)->overlap, 2u);  // d-b is in one group only
  // The grant onto b-fleet now reaches them; list, count and check agree.
  EXPECT_TRUE(Allowed(*db_, b_user, "device.read", "d-a1"));
  EXPECT_FALSE(Allowed(*db_, b_user, "device.read", "d-b"));
  EXPECT_EQ(*db_->Count(VisibleRequest{Actor::User(b_user)}), 2u);
  EXPECT_EQ(ListAll(db_.get(), VisibleRequest{Actor::User(b_user)}, 1),
            (std::vector<std::string>{"d-a1", "d-a2"}));
  std::vector<std::string> problems;
  ASSERT_OK(db_->CheckIntegrity(&problems));
  EXPECT_TRUE(problems.empty()) << problems.front();

  // The change replays: a follower built from the log agrees.
  auto follower = Replayed();
  ASSERT_NE(follower, nullptr);
  EXPECT_EQ(*follower->Count(VisibleRequest{Actor::User(b_user)}), 2u);
}

TEST_F(GroupsTest, ListAndCountAgreeWithCheckEachEntityOnce) {
  ASSERT_OK(db_->UpdateAccount(Actor::System(), acme_, [] {
    AccountPatch p;
    p.group_sharing = true;
    return p;
  }()));
  // a1-user: viewer on acme-a1 through a generic grant; shared groups of
  // acme-a (two overlapping) and of acme (one) on top.
  for (int i = 0; i < 5; ++i) MakeDevice(db_.get(), "d-a-" + std::to_string(i), a_);
  auto id = [&](const std::string& key) { return db_->FindEntity(EntityKind::kDevice, key)->id; };
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  Add(ops, {a1_user_});
  GroupId g1 = MakeGroup(GroupKind::kDevice, "g1", a_);
  GroupId g2 = MakeGroup(GroupKind::kDevice, "g2", a_);
  GroupId top = MakeGroup(GroupKind::kDevice, "top", acme_);
  Add(g1, {d_a1_, id("d-a-1"), id("d-a-3")});
  Add(g2, {id("d-a-3"), id("d-a-4")});
  Add(top, {d_acme_});
  const Actor sys = Actor::System();
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ops, kViewer, kNoId, true}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ops, kViewer, g1, false}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ops, kViewer, g2, false}));
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ops, kViewer, top, false}));

  VisibleRequest req{Actor::User(a1_user_)};
  const std::vector<std::string> expected = {"d-acme", "d-a1", "d-a-1", "d-a-3", "d-a-4", "d-x"};
  for (size_t limit : {1, 2, 100}) {
    EXPECT_EQ(ListAll(db_.get(), req, limit), expected) << "limit " << limit;
  }
  EXPECT_EQ(*db_->Count(req), expected.size());
  // Filters go through the same scan (the count then scans too).
  VisibleRequest named = req;
  named.name_prefix = "Device d-a-";
  EXPECT_EQ(ListAll(db_.get(), named, 1), (std::vector<std::string>{"d-a-1", "d-a-3", "d-a-4"}));
  EXPECT_EQ(*db_->Count(named), 3u);
  // `within` names an account the viewer sees: its own; the shared groups
  // of accounts above lie outside it.
  VisibleRequest within = req;
  within.within = a1_;
  EXPECT_EQ(ListAll(db_.get(), within, 2), (std::vector<std::string>{"d-x"}));
  EXPECT_EQ(*db_->Count(within), 1u);
  within.within = a_;  // seen by nothing the user holds: worded as missing
  VisiblePage page;
  EXPECT_EQ(db_->Visible(within, &page).code(), Code::kNotFound);
  // Every listed entity checks allowed, every other one denied.
  for (const std::string key : {"d-acme", "d-a1", "d-a2", "d-a-0", "d-a-1", "d-a-2", "d-a-3",
                                 "d-a-4", "d-x", "d-b"}) {
    const bool listed = std::find(expected.begin(), expected.end(), key) != expected.end();
    EXPECT_EQ(Allowed(*db_, a1_user_, "device.read", key), listed) << key;
  }
  // A single group counts as its size; with one grant, still exact.
  ASSERT_OK(db_->RevokeGroup(sys, ops, kViewer, g2));
  EXPECT_EQ(*db_->Count(req), 5u);
  EXPECT_EQ(ListAll(db_.get(), req, 3).size(), 5u);
  // A full range over the group's owner makes the group redundant.
  ASSERT_OK(db_->Invite(sys, a1_user_, a1_, kViewer, true));
  EXPECT_EQ(*db_->Count(req), 5u);
  // Sharing off: only the user's own account remains.
  AccountPatch off;
  off.group_sharing = false;
  ASSERT_OK(db_->UpdateAccount(sys, acme_, off));
  EXPECT_EQ(ListAll(db_.get(), req, 2), (std::vector<std::string>{"d-x"}));
  EXPECT_EQ(*db_->Count(req), 1u);
}

// Each entity group's overlap (members also in another group) is kept on
// every write that changes members, and Count uses it: disjoint groups
// count as their sizes, overlapping ones are merged; the count is exact.
TEST_F(GroupsTest, OverlapIsKeptOnEveryWriteAndCountStaysExact) {
  const Actor sys = Actor::System();
  ASSERT_OK(db_->UpdateAccount(sys, acme_, [] {
    AccountPatch p;
    p.group_sharing = true;
    return p;
  }()));
  std::vector<EntityId> d;
  for (int i = 0; i < 8; ++i) d.push_back(MakeDevice(db_.get(), "d-o-" + std::to_string(i), a_));
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  Add(ops, {a1_user_});
  GroupId g1 = MakeGroup(GroupKind::kDevice, "g1", a_);
  GroupId g2 = MakeGroup(GroupKind::kDevice, "g2", a_);
  GroupId g3 = MakeGroup(GroupKind::kDevice, "g3", a_);
  for (GroupId g : {g1, g2, g3}) ASSERT_OK(db_->GrantGroup(sys, GroupGrant{ops, kViewer, g, false}));
  VisibleRequest req{Actor::User(a1_user_)};

  // What every group's overlap must be, from the members themselves, and
  // the count against the list.
  auto verify = [&](const std::string& step) {
    auto groups = db_->GroupsOf(sys, a_);
    ASSERT_OK(groups);
    std::map<uint64_t, int> holders;
    std::map<GroupId, std::vector<uint64_t>> members;
    for (const Group& g : *groups) {
      members[g.id] = Members(g.id);
      for (uint64_t m : members[g.id]) holders[m]++;
    }
    for (const Group& g : *groups) {
      uint64_t want = 0;
      for (uint64_t m : members[g.id]) want += holders[m] > 1 ? 1 : 0;
      EXPECT_EQ(g.overlap, want) << step << ": group " << g.name;
      EXPECT_EQ(g.size, members[g.id].size()) << step << ": group " << g.name;
    }
    auto n = db_->Count(req);
    ASSERT_OK(n);
    EXPECT_EQ(*n, ListAll(db_.get(), req, 3).size()) << step;
  };
  auto overlap = [&](GroupId g) { return db_->GetGroup(sys, g)->overlap; };

  Add(g1, {d[0], d[1], d[2], d[3]});
  Add(g3, {d[5], d[6]});
  EXPECT_EQ(overlap(g1), 0u);
  EXPECT_EQ(*db_->Count(req), 6u);  // disjoint: the sum of the sizes
  verify("disjoint");
  Add(g2, {d[3], d[4]});
  EXPECT_EQ(overlap(g1), 1u);
  EXPECT_EQ(overlap(g2), 1u);
  EXPECT_EQ(overlap(g3), 0u);
  EXPECT_EQ(*db_->Count(req), 7u);  // d-o-3 once
  verify("g2 shares d-o-3 with g1");
  Add(g3, {d[3]});  // a third holder: g1 and g2 already count it
  EXPECT_EQ(overlap(g1), 1u);
  EXPECT_EQ(overlap(g3), 1u);
  verify("d-o-3 in three groups");
  Add(g2, {d[0], d[7]});
  verify("g2 shares d-o-0 with g1");
  ASSERT_OK(db_->RemoveGroupMembers(sys, g1, std::vector<uint64_t>{d[3]}, nullptr));
  verify("d-o-3 leaves g1");
  ASSERT_OK(db_->RemoveGroupMembers(sys, g3, std::vector<uint64_t>{d[3]}, nullptr));
  EXPECT_EQ(overlap(g3), 0u);
  verify("d-o-3 leaves g3");
  ASSERT_OK(db_->DeleteEntity(sys, d[0]));
  EXPECT_EQ(overlap(g1), 0u);
  verify("d-o-0 deleted");
  ReassignReport rr;
  ASSERT_OK(db_->ReassignEntities(sys, EntityKind::kDevice, EntityRef::kKey,
                                  std::vector<std::string>{"d-o-3"}, b_, &rr));
  verify("d-o-3 reassigned");
  Add(g3, {d[4]});
  EXPECT_EQ(overlap(g2), 1u);
  ASSERT_OK(db_->DeleteGroup(sys, g3));
  EXPECT_EQ(overlap(g2), 0u);
  verify("g3 deleted");
  // A refused batch changes no overlap either.
  ExpectRefused(
      [&] { return db_->AddGroupMembers(sys, g1, std::vector<uint64_t>{d[4], d[4]}, nullptr); },
      Code::kInvalidArgument, "device 'd-o-4' is named more than once");
  ExpectRefused(
      [&] { return db_->AddGroupMembers(sys, g1, std::vector<uint64_t>{d[4], d_x_}, nullptr); },
      Code::kPermissionDenied, "device 'd-x' is not owned by account 'acme-a'");
  verify("after refusals");
  // The same state after a reopen (the overlap is stored with the group).
  ASSERT_OK(db_->Close());
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"));
  verify("reopened");
}

// Check keeps the memberships it read for later calls (docs/model.md,
// "Groups"): every change of members is seen at once, by the database and
// by a follower that replays it.
TEST_F(GroupsTest, CheckSeesEveryMembershipChangeAtOnce) {
  const Actor sys = Actor::System();
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a1_);
  auto follower = OpenDb(dir_.Sub("follower"));
  // a1-user reaches d-x only through a group grant.
  GroupId crew = MakeGroup(GroupKind::kUser, "crew", a1_);
  Add(crew, {a1_user_});
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{crew, kViewer, fleet, false}));
  auto user_sees = [&](bool want, const std::string& step) {
    std::vector<std::string> entries;
    ASSERT_OK(db_->ReadLogEntries(follower->Revision() + 1, 100000, &entries));
    ApplyReport ar;
    if (!entries.empty()) ASSERT_OK(follower->ApplyChanges(entries, &ar));
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(Allowed(*db_, a1_user_, "device.read", "d-x"), want) << step << " #" << i;
      EXPECT_EQ(Allowed(*follower, a1_user_, "device.read", "d-x"), want) << step << " #" << i;
      Explanation e;
      Status x = db_->Explain(a1_user_, "device.read", "d-x", &e);
      // Out of sight reads as missing; through the group, the grant is named.
      EXPECT_EQ(x.code(), want ? Code::kOk : Code::kNotFound) << step;
      EXPECT_EQ(e.allowed, want) << step;
    }
  };
  user_sees(false, "empty group");
  Add(fleet, {d_x_});
  user_sees(true, "added");
  ASSERT_OK(db_->RemoveGroupMembers(sys, fleet, std::vector<uint64_t>{d_x_}, nullptr));
  user_sees(false, "removed");
  Add(fleet, {d_x_});
  user_sees(true, "added again");
  ASSERT_OK(db_->DeleteGroup(sys, fleet));
  user_sees(false, "group deleted");
  GroupId fleet2 = MakeGroup(GroupKind::kDevice, "fleet2", a1_);
  Add(fleet2, {d_x_});
  ASSERT_OK(db_->GrantGroup(sys, GroupGrant{crew, kViewer, fleet2, false}));
  user_sees(true, "another group");
  ASSERT_OK(db_->DeleteEntity(sys, d_x_));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(db_->Check(a1_user_, "device.read", "d-x").status().code(), Code::kNotFound);
  }
}

// A batch add is one group_members change; a follower replaying it holds
// the same keys and answers alike.
TEST_F(GroupsTest, ABatchAddIsOneChangeThatReplays) {
  std::vector<uint64_t> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(MakeDevice(db_.get(), "d-m-" + std::to_string(i), a1_));
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a1_);
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  std::reverse(batch.begin(), batch.end());
  Add(fleet, batch);
  Add(ops, {a1_user_});
  ChangesRequest req;
  req.types = {"group_members"};
  ChangesPage page;
  ASSERT_OK(db_->ReadChanges(req, &page));
  ASSERT_EQ(page.entries.size(), 2u);
  ASSERT_EQ(page.entries[0].changes.size(), 1u);
  const RecordChangeView& c = page.entries[0].changes[0];
  EXPECT_EQ(c.type, "group_members");
  EXPECT_EQ(c.action, "created");
  EXPECT_EQ(c.id, std::to_string(fleet));
  std::sort(batch.begin(), batch.end());
  EXPECT_NE(c.after.find("\"members\":[" + std::to_string(batch[0]) + "," +
                         std::to_string(batch[1]) + ","),
            std::string::npos)
      << c.after;
  EXPECT_EQ(Members(fleet), batch);
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{ops, kViewer, fleet, false}));

  auto follower = Replayed();
  ASSERT_NE(follower, nullptr);
  EXPECT_TRUE(Allowed(*follower, a1_user_, "device.read", "d-m-7"));
  EXPECT_EQ(*follower->Count(VisibleRequest{Actor::User(a1_user_)}), 50u);
  std::vector<std::string> problems;
  ASSERT_OK(follower->CheckIntegrity(&problems));
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST_F(GroupsTest, GroupsSurviveAReopenAndAreInTheChangeLog) {
  GroupId ops = MakeGroup(GroupKind::kUser, "ops", a1_);
  GroupId fleet = MakeGroup(GroupKind::kDevice, "fleet", a1_);
  Add(ops, {a1_user_});
  Add(fleet, {d_x_});
  ASSERT_OK(db_->GrantGroup(Actor::System(), GroupGrant{ops, kViewer, fleet, false}));
  ChangesRequest req;
  req.types = {"group", "group_member", "group_members", "group_grant"};
  ChangesPage page;
  ASSERT_OK(db_->ReadChanges(req, &page));
  std::vector<std::string> ops_seen;
  for (const auto& e : page.entries) ops_seen.push_back(e.operation);
  EXPECT_EQ(ops_seen, (std::vector<std::string>{"group.create", "group.create", "group.add",
                                                "group.add", "group.grant"}));
  const auto before = DumpAll(db_.get());
  ASSERT_OK(db_->Close());
  db_.reset();
  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_TRUE(DumpAll(db_.get()) == before);
  EXPECT_TRUE(Allowed(*db_, a1_user_, "device.read", "d-x"));
  EXPECT_EQ(db_->GetGroup(Actor::System(), ops)->size, 1u);

  // A follower replaying the log holds the same keys.
  auto follower = Replayed();
  ASSERT_NE(follower, nullptr);
  EXPECT_TRUE(Allowed(*follower, a1_user_, "device.read", "d-x"));
}

}  // namespace
}  // namespace canopy
