// Copyright (c) Canopy authors.
//
// The benchmark tree generator: deterministic for a seed, its limits
// (depth, fan-out, memberships) respected, its Zipf skew visible, and the
// tree Db::Import loads from its file equal to its own counts.

#include "bench/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "bench/harness/fit.h"
#include "tests/test_util.h"

namespace canopy::bench {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TreeSpec Small() {
  TreeSpec s;
  s.roots = 2;
  s.accounts = 120;
  s.depth = 4;
  s.fanout = 5;
  s.devices = 3000;
  s.zipf = 0.9;
  s.users = 40;
  s.memberships_per_user = 3;
  s.branch_share = 0.6;
  s.seed = 7;
  return s;
}

TEST(GeneratorTest, SameSeedSameTreeAndFile) {
  testing::TempDir dir;
  GeneratedTree a, b, c;
  ASSERT_OK(Generate(Small(), dir.Sub("a.jsonl"), &a));
  ASSERT_OK(Generate(Small(), dir.Sub("b.jsonl"), &b));
  EXPECT_EQ(ReadAll(dir.Sub("a.jsonl")), ReadAll(dir.Sub("b.jsonl")));
  EXPECT_EQ(a.parent, b.parent);
  EXPECT_EQ(a.device_owner, b.device_owner);
  EXPECT_EQ(a.user_account, b.user_account);
  TreeSpec other = Small();
  other.seed = 8;
  ASSERT_OK(Generate(other, dir.Sub("c.jsonl"), &c));
  EXPECT_NE(ReadAll(dir.Sub("a.jsonl")), ReadAll(dir.Sub("c.jsonl")));
  EXPECT_NE(a.device_owner, c.device_owner);
}

TEST(GeneratorTest, NamesOfEarlierTreesAreUnchanged) {
  // Cached databases are found by name: one membership per user keeps the
  // name it always had; more memberships make another tree.
  TreeSpec s;
  EXPECT_EQ(s.Name(), "r1-a10000-d6-f16-v1000000-z0.80-u1000-b0.70-s42");
  s.memberships_per_user = 3;
  EXPECT_EQ(s.Name(), "r1-a10000-d6-f16-v1000000-z0.80-u1000-b0.70-s42-m3");
  s.device_attributes = 2;
  EXPECT_EQ(s.Name(), "r1-a10000-d6-f16-v1000000-z0.80-u1000-b0.70-s42-m3-x2");
}

TEST(GeneratorTest, DifferentTreesNeverShareAName) {
  // A cached database is found by its tree's name: every field is spelt
  // exactly, whatever its size.
  TreeSpec a, b;
  b.zipf = 0.804;
  EXPECT_NE(a.Name(), b.Name());
  EXPECT_NE(b.Name().find("-z0.804-"), std::string::npos) << b.Name();
  b = a;
  b.branch_share = 0.7000001;
  EXPECT_NE(a.Name(), b.Name());
  // A huge value does not cut the name short: users and seed still count.
  TreeSpec c = a, d = a;
  c.zipf = d.zipf = 1e308;
  d.seed = 43;
  EXPECT_NE(c.Name(), d.Name());
  d = c;
  d.users = 1001;
  EXPECT_NE(c.Name(), d.Name());
  // Spelt as before where two decimals are exact; -0 as 0.
  EXPECT_EQ(SpellReal(0.8), "0.80");
  EXPECT_EQ(SpellReal(1), "1.00");
  EXPECT_EQ(SpellReal(-0.0), "0.00");
  EXPECT_EQ(SpellReal(0.125), "0.125");
}

TEST(GeneratorTest, DeviceAttributesAreWrittenAndImported) {
  testing::TempDir dir;
  TreeSpec spec = Small();
  spec.device_attributes = 4;
  GeneratedTree t;
  ASSERT_OK(Generate(spec, dir.Sub("tree.jsonl"), &t));
  const std::string text = ReadAll(dir.Sub("tree.jsonl"));
  EXPECT_NE(text.find("\"key\":\"dev-7\",\"unit_id\":\"U-7\",\"name\":\"Device 7\","
                      "\"device_type\":\"gateway\""),
            std::string::npos);
  std::unique_ptr<Db> db = testing::OpenDb(dir.Sub("db"));
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("tree.jsonl"), ImportOptions(), nullptr));
  auto d = db->FindEntity(EntityKind::kDevice, "dev-7");
  ASSERT_OK(d);
  EXPECT_EQ(d->attributes.size(), 4u);
  EXPECT_EQ(d->attributes.at("firmware"), "2.7.2");
  EXPECT_EQ(d->attributes.at("installed"), "2022");
  // None by default (the files of earlier trees are unchanged); at most 4.
  spec.device_attributes = 0;
  ASSERT_OK(Generate(spec, dir.Sub("plain.jsonl"), &t));
  EXPECT_EQ(ReadAll(dir.Sub("plain.jsonl")).find("attributes"), std::string::npos);
  spec.device_attributes = 5;
  EXPECT_EQ(Generate(spec, "", &t).code(), Code::kInvalidArgument);
}

TEST(GeneratorTest, LimitsAreRespected) {
  const TreeSpec spec = Small();
  GeneratedTree t;
  ASSERT_OK(Generate(spec, "", &t));
  ASSERT_EQ(t.parent.size(), spec.accounts);
  std::vector<uint32_t> children(spec.accounts, 0);
  uint64_t roots = 0;
  uint32_t deepest = 0;
  for (uint32_t a = 0; a < spec.accounts; ++a) {
    if (t.parent[a] == UINT32_MAX) {
      ++roots;
      EXPECT_EQ(t.depth[a], 1u);
    } else {
      ASSERT_LT(t.parent[a], a) << "parents come before children";
      EXPECT_EQ(t.depth[a], t.depth[t.parent[a]] + 1);
      ++children[t.parent[a]];
    }
    deepest = std::max(deepest, t.depth[a]);
  }
  EXPECT_EQ(roots, spec.roots);
  EXPECT_LE(deepest, spec.depth);
  EXPECT_EQ(deepest, spec.depth) << "120 accounts fill a depth-4, fan-out-5 tree to the bottom";
  EXPECT_LE(*std::max_element(children.begin(), children.end()), spec.fanout);
  uint64_t devices = 0;
  for (uint64_t d : t.direct) devices += d;
  EXPECT_EQ(devices, spec.devices);
  // Memberships: at most the requested number per user, on distinct
  // accounts: the user's own first, the others below it (a user holds roles
  // only in its own account's subtree); exactly that many where the subtree
  // is large enough.
  std::vector<uint64_t> below(spec.accounts, 0);  // descendants
  for (uint32_t a = spec.accounts; a-- > 0;) {
    if (t.parent[a] != UINT32_MAX) below[t.parent[a]] += below[a] + 1;
  }
  std::map<uint32_t, std::vector<uint32_t>> by_user;
  uint64_t branch = 0;
  for (const GeneratedMembership& m : t.memberships) {
    by_user[m.user].push_back(m.account);
    branch += m.branch;
  }
  ASSERT_EQ(by_user.size(), spec.users);
  uint64_t extra = 0;
  for (auto& [u, accounts] : by_user) {
    const uint32_t home = t.user_account[u];
    EXPECT_EQ(accounts.front(), home);
    EXPECT_EQ(accounts.size(), std::min<uint64_t>(spec.memberships_per_user, below[home] + 1))
        << "user " << u;
    for (size_t k = 1; k < accounts.size(); ++k) {
      bool inside = false;
      for (uint32_t a = t.parent[accounts[k]]; a != UINT32_MAX && !inside; a = t.parent[a]) {
        inside = a == home;
      }
      EXPECT_TRUE(inside) << "user " << u << " on account " << accounts[k];
    }
    extra += accounts.size() - 1;
    std::sort(accounts.begin(), accounts.end());
    EXPECT_EQ(std::unique(accounts.begin(), accounts.end()), accounts.end()) << "user " << u;
  }
  EXPECT_GT(extra, spec.users / 2) << "most users have an account with descendants";
  const double share = static_cast<double>(branch) / static_cast<double>(t.memberships.size());
  EXPECT_NEAR(share, spec.branch_share, 0.15);

  TreeSpec impossible = spec;
  impossible.accounts = 2 * (1 + 5 + 25 + 125) + 1;  // one more than two full trees
  EXPECT_EQ(Generate(impossible, "", &t).code(), Code::kInvalidArgument);
}

// The share of all devices held by the 10% of accounts holding the most.
double TopDecileShare(const GeneratedTree& t) {
  std::vector<uint64_t> d = t.direct;
  std::sort(d.rbegin(), d.rend());
  uint64_t top = 0, all = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    all += d[i];
    if (i < d.size() / 10) top += d[i];
  }
  return static_cast<double>(top) / static_cast<double>(all);
}

TEST(GeneratorTest, ZipfSkewIsVisible) {
  TreeSpec spec;
  spec.accounts = 400;
  spec.depth = 5;
  spec.fanout = 10;
  spec.devices = 100000;
  spec.users = 1;
  spec.zipf = 1.0;
  GeneratedTree skewed, even;
  ASSERT_OK(Generate(spec, "", &skewed));
  spec.zipf = 0;
  ASSERT_OK(Generate(spec, "", &even));
  EXPECT_GT(TopDecileShare(skewed), 0.55);
  EXPECT_LT(TopDecileShare(even), 0.15);
  // Devices by rank follow rank^-zipf: the fitted exponent over the top
  // 50 ranks is close to -1.
  std::vector<uint64_t> d = skewed.direct;
  std::sort(d.rbegin(), d.rend());
  std::vector<double> rank, count;
  for (size_t r = 0; r < 50; ++r) {
    rank.push_back(static_cast<double>(r + 1));
    count.push_back(static_cast<double>(d[r]));
  }
  PowerFit f = FitPowerLaw(rank, count);
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.exponent, -1.0, 0.2);
}

TEST(GeneratorTest, ImportedTreeMatchesTheGeneratorsCounts) {
  testing::TempDir dir;
  const TreeSpec spec = Small();
  GeneratedTree t;
  ASSERT_OK(Generate(spec, dir.Sub("tree.jsonl"), &t));
  std::unique_ptr<Db> db = testing::OpenDb(dir.Sub("db"));
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("tree.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.accounts, spec.accounts);
  EXPECT_EQ(report.entities, spec.devices);
  EXPECT_EQ(report.users, spec.users);
  EXPECT_EQ(report.memberships, t.memberships.size());
  std::vector<AccountId> ids(spec.accounts);
  for (uint32_t a = 0; a < spec.accounts; ++a) {
    auto acc = db->FindAccount(GeneratedTree::AccountKey(a));
    ASSERT_OK(acc);
    ids[a] = acc->id;
    EXPECT_EQ(acc->depth, t.depth[a]) << "account " << a;
    EXPECT_EQ(acc->parent, t.parent[a] == UINT32_MAX ? kNoId : ids[t.parent[a]]);
    auto counts = db->CountOwned(acc->id, EntityKind::kDevice);
    ASSERT_OK(counts);
    EXPECT_EQ(counts->direct, t.direct[a]) << "account " << a;
    EXPECT_EQ(counts->subtree, t.subtree[a]) << "account " << a;
  }
  for (uint32_t a = 0; a < spec.accounts; ++a) {
    auto below = db->Descendants(ids[a], 1);
    ASSERT_OK(below);
    EXPECT_LE(below->size(), spec.fanout);
  }
  for (uint32_t u = 0; u < spec.users; ++u) {
    auto user = db->FindUser(GeneratedTree::UserLogin(u));
    ASSERT_OK(user);
    EXPECT_EQ(user->account, ids[t.user_account[u]]);
    auto ms = db->MembershipsOf(user->id);
    ASSERT_OK(ms);
    std::map<AccountId, bool> got, want;
    for (const Membership& m : *ms) got[m.account] = m.branch;
    for (const GeneratedMembership& m : t.memberships) {
      if (m.user == u) want[ids[m.account]] = m.branch;
    }
    EXPECT_EQ(got, want) << "user " << u;
  }
  ASSERT_OK(db->Close());
}

}  // namespace
}  // namespace canopy::bench
