// Copyright (c) Canopy authors.
//
// The id types (types.h): what converts and what keys containers. What
// must not convert (one kind's id into another's) is checked by the
// compile_fail_ids tests (tests/compile_fail/).

#include <gtest/gtest.h>

#include <map>
#include <type_traits>
#include <unordered_set>

#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy {
namespace {

static_assert(sizeof(AccountId) == sizeof(uint64_t), "an id is one uint64_t");
static_assert(std::is_trivially_copyable_v<UserId>);
static_assert(std::is_convertible_v<uint64_t, AccountId>);
static_assert(std::is_convertible_v<AccountId, uint64_t>);
static_assert(!std::is_convertible_v<AccountId, UserId>);
static_assert(!std::is_convertible_v<UserId, AccountId>);
static_assert(!std::is_convertible_v<EntityId, AccountId>);
static_assert(!std::is_convertible_v<RoleId, AccountId>);
static_assert(!std::is_constructible_v<UserId, AccountId>, "not even explicitly");
static_assert(!std::is_convertible_v<AccountId, StatusOr<UserId>>);
static_assert(std::is_convertible_v<uint64_t, StatusOr<UserId>>);

TEST(Ids, CarryTheirValueThroughIntegers) {
  AccountId a = 42;
  EXPECT_EQ(a.value(), 42u);
  uint64_t raw = a;
  EXPECT_EQ(raw, 42u);
  EXPECT_EQ(AccountId(raw), a);
  EXPECT_EQ(AccountId().value(), 0u);
  EXPECT_TRUE(AccountId() == kNoId);
  EXPECT_FALSE(a == kNoId);
  EXPECT_LT(AccountId(1), AccountId(2));
  // Another kind's id only through its value, on purpose.
  UserId u = UserId(a.value());
  EXPECT_EQ(u.value(), 42u);
}

TEST(Ids, NoIdIsZeroOfEveryKind) {
  const AccountId a = kNoId;
  const UserId u = kNoId;
  const EntityId e = kNoId;
  const RoleId r = kNoId;
  EXPECT_EQ(a.value() + u.value() + e.value() + r.value(), 0u);
  const uint64_t raw = kNoId;
  EXPECT_EQ(raw, 0u);
  // `found ? *id : kNoId` is an id of the found kind.
  StatusOr<EntityId> found = EntityId(7);
  auto picked = found.ok() ? *found : kNoId;
  static_assert(std::is_same_v<decltype(picked), EntityId>);
  EXPECT_EQ(picked.value(), 7u);
}

TEST(Ids, KeyOrderedAndHashedContainers) {
  std::map<AccountId, int> by_account{{AccountId(3), 3}, {AccountId(1), 1}};
  EXPECT_EQ(by_account.begin()->first, AccountId(1));
  std::unordered_set<UserId> users{UserId(1), UserId(2), UserId(1)};
  EXPECT_EQ(users.size(), 2u);
  EXPECT_EQ(users.count(UserId(2)), 1u);
}

TEST(Ids, StatusOrTakesAnIntegerForAnId) {
  auto make = [](bool ok) -> StatusOr<RoleId> {
    if (!ok) return Status::NotFound("no role");
    uint64_t raw = 9;
    return raw;
  };
  ASSERT_TRUE(make(true).ok());
  EXPECT_EQ(make(true)->value(), 9u);
  EXPECT_TRUE(make(false).status().IsNotFound());
}

}  // namespace
}  // namespace canopy
