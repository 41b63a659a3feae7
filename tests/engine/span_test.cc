// Copyright (c) Canopy authors.
//
// canopy::Span (types.h), the C++17 view the batch calls take: what it can
// be made from, and Db::DeleteAccounts / Db::ReassignEntities called with
// each. (That every public header compiles as C++17 is checked by the
// public_headers_cxx17 test; this suite is C++20, so it also checks that a
// std::span converts.)

#include <gtest/gtest.h>

#include <array>
#include <span>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::KeysIn;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::OpenDb;
using testing::TempDir;

// The values a Span views, copied out.
template <typename T>
std::vector<T> Values(Span<T> span) {
  return std::vector<T>(span.begin(), span.end());
}

TEST(SpanTest, ViewsWhatItIsMadeFrom) {
  const std::vector<uint64_t> vector = {1, 2, 3};
  const Span<uint64_t> of_vector = vector;
  EXPECT_EQ(of_vector.data(), vector.data());  // a view, not a copy
  EXPECT_EQ(of_vector.size(), 3u);
  EXPECT_EQ(of_vector[2], 3u);

  const std::array<uint64_t, 2> array = {4, 5};
  EXPECT_EQ(Values<uint64_t>(array), (std::vector<uint64_t>{4, 5}));
  const uint64_t c_array[] = {6, 7, 8};
  EXPECT_EQ(Values<uint64_t>(c_array), (std::vector<uint64_t>{6, 7, 8}));
  EXPECT_EQ(Values<uint64_t>({9, 10}), (std::vector<uint64_t>{9, 10}));
  EXPECT_EQ(Values<uint64_t>(Span<uint64_t>(vector.data() + 1, 2)), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(Values<uint64_t>(std::span<const uint64_t>(vector)), vector);
  EXPECT_EQ(Values<uint64_t>(std::span<uint64_t>()), std::vector<uint64_t>{});

  const Span<uint64_t> empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.begin(), empty.end());
  EXPECT_TRUE(Span<uint64_t>(nullptr, 0).empty());

  const std::vector<std::string> keys = {"a", "b"};
  EXPECT_EQ(Values<std::string>(keys), keys);
  EXPECT_EQ(Values<std::string>({"c"}), std::vector<std::string>{"c"});
}

TEST(SpanTest, BatchCallsTakeEveryForm) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const Actor system = Actor::System();
  const AccountId root = MakeAccount(db.get(), "acme");
  const AccountId a = MakeAccount(db.get(), "acme-a", root);
  const AccountId b = MakeAccount(db.get(), "acme-b", root);
  MakeDevice(db.get(), "dev-1", a, "U-1");
  MakeDevice(db.get(), "dev-2", a, "U-2");
  MakeDevice(db.get(), "dev-3", a, "U-3");

  // Keys from a std::array, unit ids from a braced list, keys from a
  // std::span: each reaches the engine whole.
  const std::array<std::string, 2> two = {"dev-1", "dev-2"};
  ReassignReport report;
  ASSERT_OK(db->ReassignEntities(system, EntityKind::kDevice, EntityRef::kKey, two, b, &report));
  EXPECT_EQ(report.items.size(), 2u);
  EXPECT_EQ(report.items[0].previous_owner, a);
  ASSERT_OK(
      db->ReassignEntities(system, EntityKind::kDevice, EntityRef::kUnitId, {"U-3"}, b, nullptr));
  EXPECT_EQ(KeysIn(db.get(), b), (std::vector<std::string>{"dev-1", "dev-2", "dev-3"}));
  const std::vector<std::string> back = {"dev-1", "dev-2", "dev-3"};
  ASSERT_OK(db->ReassignEntities(system, EntityKind::kDevice, EntityRef::kKey,
                                 std::span<const std::string>(back), a, &report));
  EXPECT_EQ(report.moved, 3u);
  // An empty span is refused as an empty batch.
  EXPECT_EQ(
      db->ReassignEntities(system, EntityKind::kDevice, EntityRef::kKey, {}, a, nullptr).code(),
      Code::kInvalidArgument);

  // Ids from a braced list and from a pointer and a count.
  const AccountId c = MakeAccount(db.get(), "acme-c", root);
  const AccountId d = MakeAccount(db.get(), "acme-d", root);
  ASSERT_OK(db->DeleteAccounts(system, {c}, kNoId));
  const AccountId ids[] = {d, b};
  ASSERT_OK(db->DeleteAccounts(system, Span<AccountId>(ids, 2), a));
  EXPECT_EQ(db->Descendants(root, 0)->size(), 1u);
  EXPECT_EQ(db->DeleteAccounts(system, Span<AccountId>(), kNoId).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace canopy
