// Copyright (c) Canopy authors.

#include "storage/labels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "storage/coding.h"
#include "storage/keys.h"

namespace canopy::storage {
namespace {

std::string Ord(uint64_t k) {
  std::string s;
  AppendOrdinal(&s, k);
  return s;
}

TEST(Labels, ShortAndLongOrdinals) {
  EXPECT_EQ(Ord(0), std::string("\x01"));
  EXPECT_EQ(Ord(246), std::string("\xF7"));
  EXPECT_EQ(Ord(247), std::string("\xF8\xF7"));
  EXPECT_EQ(Ord(255), std::string("\xF8\xFF"));
  EXPECT_EQ(Ord(256), std::string("\xF9\x01\x00", 3));
  EXPECT_EQ(Ord(UINT64_MAX).size(), 9u);
  EXPECT_EQ(static_cast<uint8_t>(Ord(UINT64_MAX)[0]), 0xFF);
}

TEST(Labels, OrdinalsPreserveOrderAndAreMinimal) {
  std::vector<uint64_t> values = {0, 1, 245, 246, 247, 248, 255, 256, 257, 65535, 65536,
                                  (1ull << 24) - 1, 1ull << 24, (1ull << 32) + 5, UINT64_MAX - 1,
                                  UINT64_MAX};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) values.push_back(rng() >> (rng() % 64));
  for (uint64_t a : values) {
    std::vector<uint64_t> decoded;
    ASSERT_TRUE(DecodeLabel(Ord(a), &decoded)) << a;
    ASSERT_EQ(decoded, std::vector<uint64_t>{a});
    for (uint64_t b : values) {
      ASSERT_EQ(a < b, Ord(a) < Ord(b)) << a << " vs " << b;
    }
  }
}

TEST(Labels, RejectsMalformedLabels) {
  std::vector<uint64_t> out;
  EXPECT_FALSE(DecodeLabel("", &out));
  EXPECT_FALSE(DecodeLabel(std::string("\x00", 1), &out));
  EXPECT_FALSE(DecodeLabel("\xF9\x01", &out));                   // truncated
  EXPECT_FALSE(DecodeLabel("\xF8\x05", &out));                   // fits one byte
  EXPECT_FALSE(DecodeLabel(std::string("\xF9\x00\xFF", 3), &out));  // not minimal
  EXPECT_EQ(LabelToString("\x01\x03"), "0.2");
  EXPECT_EQ(LabelToString(""), "<bad label>");
  EXPECT_EQ(LabelDepth("\x01\xF8\xFF\x02"), 3u);
}

TEST(Labels, PrefixSuccessorBoundsEverySubtree) {
  EXPECT_EQ(PrefixSuccessor("\x01\x02"), "\x01\x03");
  EXPECT_EQ(PrefixSuccessor("\x01\xFF"), "\x02");
  EXPECT_EQ(PrefixSuccessor("\xFF\xFF"), "");
}

// A label-level tree under random inserts and moves, checked against its
// parent pointers after every step.
class LabelTree {
 public:
  explicit LabelTree(uint64_t seed) : rng_(seed) {}

  int Insert(int parent) {
    int id = static_cast<int>(nodes_.size());
    Node n;
    n.parent = parent;
    n.created = ++stamp_;
    uint64_t& counter = parent < 0 ? root_counter_ : nodes_[parent].next;
    // Jump the counter now and then so multi-byte ordinals appear.
    if (rng_() % 16 == 0) counter += rng_() % 100000;
    n.label = (parent < 0 ? std::string() : nodes_[parent].label) + Ord(counter++);
    nodes_.push_back(n);
    return id;
  }

  bool InSubtree(int node, int root) const {
    for (int n = node; n >= 0; n = nodes_[n].parent) {
      if (n == root) return true;
    }
    return false;
  }

  // Moves `node` under `parent` (not inside its own subtree).
  void Move(int node, int parent) {
    std::string old = nodes_[node].label;
    std::string fresh = nodes_[parent].label + Ord(nodes_[parent].next++);
    for (auto& n : nodes_) {
      if (n.label.compare(0, old.size(), old) == 0) n.label = fresh + n.label.substr(old.size());
    }
    nodes_[node].parent = parent;
    nodes_[node].created = ++stamp_;  // the newest ordinal among its new siblings
  }

  void Check() const {
    std::vector<int> order(nodes_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return nodes_[a].label < nodes_[b].label; });
    std::vector<size_t> pos(nodes_.size());
    for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;
    for (size_t a = 0; a < nodes_.size(); ++a) {
      const std::string& la = nodes_[a].label;
      ASSERT_EQ(LabelDepth(la), Depth(static_cast<int>(a)));
      // Subtree contiguity: exactly the descendants start with la, and they
      // sit in one block right after a.
      size_t count = 0;
      for (size_t b = 0; b < nodes_.size(); ++b) {
        bool prefixed = IsSelfOrAncestorLabel(la, nodes_[b].label);
        ASSERT_EQ(prefixed, InSubtree(static_cast<int>(b), static_cast<int>(a)));
        if (prefixed) {
          ++count;
          ASSERT_GE(pos[b], pos[a]);
        }
      }
      ASSERT_LT(pos[a] + count - 1, order.size());
      for (size_t i = pos[a]; i < pos[a] + count; ++i) {
        ASSERT_TRUE(IsSelfOrAncestorLabel(la, nodes_[order[i]].label));
      }
      // The index ranges agree: direct range holds only a's own key.
      std::string key = IndexKey(1, la, 42);
      ASSERT_GE(key, IndexRangeStart(1, la, false));
      ASSERT_LT(key, IndexRangeLimit(1, la, false));
      ASSERT_LT(key, IndexRangeLimit(1, la, true));
      for (size_t b = 0; b < nodes_.size(); ++b) {
        std::string kb = IndexKey(1, nodes_[b].label, 7);
        bool in_branch = kb >= IndexRangeStart(1, la, true) && kb < IndexRangeLimit(1, la, true);
        bool in_direct = kb >= IndexRangeStart(1, la, false) && kb < IndexRangeLimit(1, la, false);
        ASSERT_EQ(in_branch, InSubtree(static_cast<int>(b), static_cast<int>(a)));
        ASSERT_EQ(in_direct, b == a);
      }
    }
    // Siblings: prefix-free, ordered by creation (ordinal) order.
    std::map<int, std::vector<int>> kids;
    for (size_t i = 0; i < nodes_.size(); ++i) kids[nodes_[i].parent].push_back(static_cast<int>(i));
    for (auto& [p, ks] : kids) {
      std::sort(ks.begin(), ks.end(), [&](int a, int b) { return nodes_[a].created < nodes_[b].created; });
      for (size_t i = 0; i + 1 < ks.size(); ++i) {
        ASSERT_LT(nodes_[ks[i]].label, nodes_[ks[i + 1]].label);
        ASSERT_FALSE(IsSelfOrAncestorLabel(nodes_[ks[i]].label, nodes_[ks[i + 1]].label));
      }
    }
  }

  size_t size() const { return nodes_.size(); }
  std::mt19937_64& rng() { return rng_; }

 private:
  struct Node {
    int parent;
    int created;
    uint64_t next = 0;
    std::string label;
  };
  uint32_t Depth(int n) const {
    uint32_t d = 0;
    for (; n >= 0; n = nodes_[n].parent) ++d;
    return d;
  }
  std::mt19937_64 rng_;
  std::vector<Node> nodes_;
  uint64_t root_counter_ = 0;
  int stamp_ = 0;
};

TEST(Labels, RandomInsertsAndMovesKeepOrderAndContiguity) {
  for (uint64_t seed : {1, 2, 3}) {
    LabelTree t(seed);
    for (int i = 0; i < 3; ++i) t.Insert(-1);
    for (int step = 0; step < 150; ++step) {
      auto& rng = t.rng();
      if (rng() % 4 == 0 && t.size() > 4) {
        int node = static_cast<int>(rng() % t.size());
        int parent = static_cast<int>(rng() % t.size());
        if (!t.InSubtree(parent, node)) t.Move(node, parent);
      } else {
        t.Insert(static_cast<int>(rng() % t.size()));
      }
      ASSERT_NO_FATAL_FAILURE(t.Check()) << "seed " << seed << " step " << step;
    }
  }
}

}  // namespace
}  // namespace canopy::storage
