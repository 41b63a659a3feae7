// Copyright (c) Canopy authors.

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::KeysIn;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::OpenDb;
using testing::TempDir;

class EntitiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb(dir_.Sub("db"));
    root_ = MakeAccount(db_.get(), "acme");
    a_ = MakeAccount(db_.get(), "acme-a", root_);
    b_ = MakeAccount(db_.get(), "acme-b", root_);
  }
  template <typename Fn>
  void ExpectRefused(Fn fn, Code code, const std::string& text) {
    auto before = DumpAll(db_.get());
    Status s = testing::StatusOf(fn());
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
    EXPECT_EQ(before, DumpAll(db_.get())) << "refused call changed the database";
  }
  EntitySpec Spec(EntityKind kind, std::string key, AccountId owner, std::string unit = "") {
    EntitySpec s;
    s.kind = kind;
    s.key = std::move(key);
    s.unit_id = std::move(unit);
    s.name = "n";
    s.owner = owner;
    return s;
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  AccountId root_, a_, b_;
};

TEST_F(EntitiesTest, CreateFindUpdateDelete) {
  EntitySpec s = Spec(EntityKind::kDevice, "dev-1", a_, "U-0001");
  s.name = "Van 1";
  s.type = "tracker";
  s.attributes = {{"vin", "WVW123"}};
  auto id = db_->CreateEntity(Actor::System(), s);
  ASSERT_OK(id);
  auto e = db_->FindEntity(EntityKind::kDevice, "dev-1");
  ASSERT_OK(e);
  EXPECT_EQ(e->id, *id);
  EXPECT_EQ(e->name, "Van 1");
  EXPECT_EQ(e->type, "tracker");
  EXPECT_EQ(e->owner, a_);
  EXPECT_EQ(e->attributes.at("vin"), "WVW123");
  EXPECT_EQ(db_->FindDeviceByUnitId("U-0001")->key, "dev-1");
  EXPECT_EQ(db_->GetEntity(*id)->unit_id, "U-0001");

  EntityPatch p;
  p.name = "Van one";
  p.unit_id = "U-0002";
  ASSERT_OK(db_->UpdateEntity(Actor::System(), *id, p));
  EXPECT_EQ(db_->FindDeviceByUnitId("U-0001").status().code(), Code::kNotFound);
  EXPECT_EQ(db_->FindDeviceByUnitId("U-0002")->name, "Van one");
  VisiblePage page;
  VisibleRequest req{Actor::System()};
  ASSERT_OK(db_->Visible(req, &page));
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].name, "Van one");  // the index value follows
  EXPECT_EQ(page.items[0].type, "tracker");
  EXPECT_EQ(page.items[0].owner, a_);

  // Other kinds share nothing with devices: the same key is fine.
  ASSERT_OK(db_->CreateEntity(Actor::System(), Spec(EntityKind::kAsset, "dev-1", b_)));
  ASSERT_OK(db_->CreateEntity(Actor::System(), Spec(EntityKind::kDashboard, "fleet", root_)));
  ASSERT_OK(db_->CreateEntity(Actor::System(), Spec(EntityKind::kEntityView, "v", a_)));
  EXPECT_EQ(db_->CountOwned(root_, EntityKind::kAsset)->subtree, 1u);
  EXPECT_EQ(db_->CountOwned(root_, EntityKind::kDevice)->subtree, 1u);
  EXPECT_EQ(KeysIn(db_.get(), b_, EntityKind::kAsset), std::vector<std::string>{"dev-1"});

  ASSERT_OK(db_->DeleteEntity(Actor::System(), *id));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "dev-1").status().code(), Code::kNotFound);
  EXPECT_EQ(db_->FindDeviceByUnitId("U-0002").status().code(), Code::kNotFound);
  EXPECT_EQ(db_->CountOwned(root_, EntityKind::kDevice)->subtree, 0u);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

TEST_F(EntitiesTest, BadInputIsRefusedAndChangesNothing) {
  MakeDevice(db_.get(), "dev-1", a_, "U-1");
  auto create = [&](EntitySpec s) { return [=, this] { return db_->CreateEntity(Actor::System(), s); }; };
  ExpectRefused(create(Spec(EntityKind::kDevice, "dev-1", b_)), Code::kAlreadyExists,
                "device 'dev-1' already exists");
  ExpectRefused(create(Spec(EntityKind::kDevice, "dev-2", b_, "U-1")), Code::kAlreadyExists,
                "unit id 'U-1' is taken");
  ExpectRefused(create(Spec(EntityKind::kAsset, "x", b_, "U-9")), Code::kInvalidArgument,
                "only devices have a unit id");
  ExpectRefused(create(Spec(EntityKind::kDevice, "", b_)), Code::kInvalidArgument,
                "device key is empty");
  ExpectRefused(create(Spec(EntityKind::kDevice, "\xfe", b_)), Code::kInvalidArgument, "UTF-8");
  ExpectRefused(create(Spec(EntityKind::kDevice, "d", 12345)), Code::kNotFound, "12345");
  ExpectRefused(create(Spec(static_cast<EntityKind>(9), "d", b_)), Code::kInvalidArgument,
                "unknown entity kind");
  EntitySpec long_name = Spec(EntityKind::kDevice, "d", b_);
  long_name.name = std::string(257, 'x');
  ExpectRefused(create(long_name), Code::kInvalidArgument, "device name is 257 bytes");
  ExpectRefused([&] { return db_->DeleteEntity(Actor::System(), 4242); }, Code::kNotFound, "4242");
  ExpectRefused([&] { return db_->UpdateEntity(Actor::System(), 4242, EntityPatch{}); },
                Code::kNotFound, "4242");
}

TEST_F(EntitiesTest, ReassignByKeysAndUnitIdsAllOrNothing) {
  for (int i = 0; i < 5; ++i) {
    MakeDevice(db_.get(), "dev-" + std::to_string(i), a_, "U-" + std::to_string(i));
  }
  ReassignReport report;
  std::vector<std::string> keys = {"dev-0", "dev-1"};
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, keys, b_,
                                  &report));
  EXPECT_EQ(report.moved, 2u);
  EXPECT_EQ(KeysIn(db_.get(), b_), keys);
  EXPECT_EQ(db_->CountOwned(a_, EntityKind::kDevice)->direct, 3u);
  EXPECT_EQ(db_->CountOwned(b_, EntityKind::kDevice)->direct, 2u);
  EXPECT_EQ(db_->CountOwned(root_, EntityKind::kDevice)->subtree, 5u);

  std::vector<std::string> units = {"U-2", "U-3"};
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kUnitId, units,
                                  b_, &report));
  EXPECT_EQ(report.moved, 2u);
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "dev-3")->owner, b_);

  // One unknown item: nothing moves, and the report says which.
  std::vector<std::string> mixed = {"U-4", "U-404", "U-0"};
  auto before = DumpAll(db_.get());
  Status s = db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kUnitId, mixed,
                                   root_, &report);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("U-404"), std::string::npos);
  EXPECT_EQ(before, DumpAll(db_.get()));
  ASSERT_EQ(report.items.size(), 3u);
  EXPECT_EQ(report.items[0].outcome, ReassignItem::Outcome::kMoved);
  EXPECT_EQ(report.items[1].outcome, ReassignItem::Outcome::kUnknown);
  EXPECT_EQ(report.items[2].outcome, ReassignItem::Outcome::kMoved);
  EXPECT_EQ(report.unknown, 1u);

  // Duplicates and already-there items.
  std::vector<std::string> dup = {"dev-4", "dev-4"};
  EXPECT_EQ(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, dup, b_,
                                  &report)
                .code(),
            Code::kInvalidArgument);
  std::vector<std::string> there = {"dev-0", "dev-4"};
  ASSERT_OK(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, there, b_,
                                  &report));
  EXPECT_EQ(report.unchanged, 1u);
  EXPECT_EQ(report.moved, 1u);
  EXPECT_EQ(db_->CountOwned(b_, EntityKind::kDevice)->direct, 5u);

  // Bad calls.
  std::vector<std::string> none;
  EXPECT_EQ(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, none, b_,
                                  &report)
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(db_->ReassignEntities(Actor::System(), EntityKind::kAsset, EntityRef::kUnitId, units,
                                  b_, &report)
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(db_->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, keys, 999,
                                  &report)
                .code(),
            Code::kNotFound);
  EXPECT_OK(db_->CheckIntegrity(nullptr));
}

}  // namespace
}  // namespace canopy
