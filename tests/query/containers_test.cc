// Copyright (c) Canopy authors.
//
// The catalog's compact containers (IdTable, CompactVector), each checked
// against the standard container it replaces under random operations.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "query/compact_vector.h"
#include "query/id_table.h"

namespace canopy::query {
namespace {

struct Node {
  uint64_t id = 0;
  std::string name;
  std::vector<int> list;
};

// What a write to a shared copy of the node copies (IdTable keeps pages
// with long lists apart): the length of its list, as if copies shared it.
size_t ValuesCopiedOnWrite(const Node& n) { return n.list.size(); }

using Table = IdTable<uint64_t, Node>;

void ExpectSame(const Table& t, const std::map<uint64_t, Node>& model) {
  ASSERT_EQ(t.size(), model.size());
  EXPECT_EQ(t.empty(), model.empty());
  auto m = model.begin();
  for (const auto& [id, node] : t) {
    ASSERT_NE(m, model.end());
    EXPECT_EQ(id, m->first);
    EXPECT_EQ(node.id, m->second.id);
    EXPECT_EQ(node.name, m->second.name);
    EXPECT_EQ(node.list, m->second.list);
    ++m;
  }
  EXPECT_EQ(m, model.end());
}

TEST(IdTableTest, AgreesWithAnOrderedMapUnderRandomOperations) {
  std::mt19937_64 rng(7);
  Table t;
  std::map<uint64_t, Node> model;
  // Dense ids, ids far apart, and ids beyond the paged range.
  auto pick = [&]() -> uint64_t {
    switch (rng() % 4) {
      case 0: return 1 + rng() % 300;
      case 1: return 1 + rng() % 100000;
      case 2: return Table::kDenseIds - 2 + rng() % 4;
      default: return (uint64_t{1} << 40) + rng() % 5;
    }
  };
  for (int step = 0; step < 20000; ++step) {
    const uint64_t id = pick();
    switch (rng() % 3) {
      case 0: {
        Node n{id, "n" + std::to_string(step), {static_cast<int>(step)}};
        auto [node, inserted] = t.emplace(id, n);
        auto [it, model_inserted] = model.emplace(id, n);
        ASSERT_EQ(inserted, model_inserted) << id;
        EXPECT_EQ(node->name, it->second.name);  // an existing node is kept
        break;
      }
      case 1:
        ASSERT_EQ(t.erase(id), model.erase(id) == 1) << id;
        break;
      default: {
        const Node* n = t.find(id);
        auto it = model.find(id);
        ASSERT_EQ(n != nullptr, it != model.end()) << id;
        if (n != nullptr) {
          EXPECT_EQ(n->name, it->second.name);
        }
        if (Node* w = t.find(id)) {  // changes in place
          w->list.push_back(step);
          it->second.list.push_back(step);
        }
      }
    }
    if (step % 5000 == 0) ExpectSame(t, model);
  }
  ExpectSame(t, model);

  Table copy = t;  // a deep copy: changing one leaves the other
  ExpectSame(copy, model);
  if (!model.empty()) {
    const uint64_t id = model.begin()->first;
    copy.find(id)->name = "changed";
    EXPECT_EQ(t.find(id)->name, model.begin()->second.name);
    copy.erase(id);
    EXPECT_NE(t.find(id), nullptr);
  }
  Table moved = std::move(t);
  ExpectSame(moved, model);
  EXPECT_EQ(t.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(t.begin(), t.end());
  moved.clear();
  ExpectSame(moved, {});
}

TEST(IdTableTest, NodesStayPutAndEmptiedPagesGo) {
  Table t;
  Node* first = t.emplace(1, Node{1, "one", {}}).first;
  for (uint64_t id = 2; id < 10 * Table::kPageSize; ++id) t.emplace(id, Node{id, "", {}});
  EXPECT_EQ(t.find(1), first);  // other inserts did not move it
  EXPECT_EQ(first->name, "one");
  for (uint64_t id = 1; id < 10 * Table::kPageSize; ++id) ASSERT_TRUE(t.erase(id));
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.begin(), t.end());
  EXPECT_FALSE(t.erase(1));
  EXPECT_EQ(t.find(0), nullptr);
  EXPECT_EQ(t.find(~uint64_t{0} - 1), nullptr);
}

TEST(IdTableTest, IterationReachesEveryIdUpToTheLargest) {
  // A damaged record may carry any id: iteration (which the catalog's load
  // and check-db rely on) must reach it like size() and find() do.
  Table t;
  const uint64_t ids[] = {5, Table::kDenseIds - 1, Table::kDenseIds, uint64_t{1} << 40,
                          ~uint64_t{0} - 1, ~uint64_t{0}};
  for (uint64_t id : ids) t.emplace(id, Node{id, "", {}});
  std::vector<uint64_t> seen;
  for (const auto& [id, node] : t) {
    EXPECT_EQ(node.id, id);
    seen.push_back(id);
  }
  EXPECT_EQ(seen, std::vector<uint64_t>(std::begin(ids), std::end(ids)));
  EXPECT_EQ(t.size(), seen.size());
  const Table& c = t;
  size_t n = 0;
  for (auto it = c.begin(); it != c.end(); ++it) ++n;
  EXPECT_EQ(n, seen.size());
}

TEST(IdTableTest, MovingATableIntoItselfKeepsIt) {
  Table t;
  t.emplace(1, Node{1, "one", {}});
  Table& same = t;
  t = std::move(same);
  ASSERT_EQ(t.size(), 1u);
  ASSERT_NE(t.find(1), nullptr);
  EXPECT_EQ(t.find(1)->name, "one");
}

// CopyFrom copies like assignment, and a copy stopped midway leaves the
// table empty, never partly filled (the catalog's background copy at
// open is stopped this way when the Db closes).
TEST(IdTableTest, CopyFromCopiesOrStopsLeavingItEmpty) {
  Table t;
  std::map<uint64_t, Node> model;
  for (uint64_t id = 1; id < 300 * Table::kPageSize; id += 3) {
    t.emplace(id, Node{id, "n" + std::to_string(id), {static_cast<int>(id % 7)}});
    model[id] = Node{id, "n" + std::to_string(id), {static_cast<int>(id % 7)}};
  }
  t.emplace(Table::kDenseIds + 5, Node{Table::kDenseIds + 5, "sparse", {}});
  model[Table::kDenseIds + 5] = Node{Table::kDenseIds + 5, "sparse", {}};

  Table copy;
  copy.emplace(2, Node{2, "stale", {}});
  std::atomic<bool> stop{false};
  ASSERT_TRUE(copy.CopyFrom(t, &stop));
  ExpectSame(copy, model);
  ExpectSame(t, model);  // the source is unchanged
  ASSERT_TRUE(copy.CopyFrom(t, nullptr));
  ExpectSame(copy, model);

  stop = true;
  Table stopped;
  stopped.emplace(2, Node{2, "stale", {}});
  EXPECT_FALSE(stopped.CopyFrom(t, &stop));
  ExpectSame(stopped, {});
  EXPECT_EQ(stopped.find(1), nullptr);
  EXPECT_EQ(stopped.find(2), nullptr);
  // It can be copied again.
  ASSERT_TRUE(stopped.CopyFrom(t, nullptr));
  ExpectSame(stopped, model);

  // An empty source empties the copy.
  ASSERT_TRUE(copy.CopyFrom(Table(), &stop));
  ExpectSame(copy, {});
}

// Copies share pages: a copy costs its page index, a write copies the
// page it changes (never the other table's), and two tables brought to the
// same nodes share every page again after ShareChangedFrom. Checked under
// random operations against two models, the operations applied to one
// table first (the writer's copy) and then to the other (the copy brought
// level), as the catalog's two copies are.
TEST(IdTableTest, CopiesSharePagesUntilWrittenAndShareThemAgainOnceLevel) {
  std::mt19937_64 rng(11);
  Table a;
  std::map<uint64_t, Node> model;
  for (uint64_t id = 1; id < 40 * Table::kPageSize; ++id) {
    a.emplace(id, Node{id, "n" + std::to_string(id), {}});
    model[id] = Node{id, "n" + std::to_string(id), {}};
  }
  a.emplace(Table::kDenseIds + 1, Node{Table::kDenseIds + 1, "sparse", {}});
  model[Table::kDenseIds + 1] = Node{Table::kDenseIds + 1, "sparse", {}};
  Table b = a;
  ASSERT_EQ(b.pages(), a.pages());
  EXPECT_EQ(b.SharedPages(a), a.pages());  // nothing copied but the index
  struct Op {
    int what;
    uint64_t id;
    int value;
  };
  auto apply = [](Table& t, std::map<uint64_t, Node>& m, const Op& op) {
    switch (op.what) {
      case 0:
        t.emplace(op.id, Node{op.id, "new" + std::to_string(op.value), {}});
        m.emplace(op.id, Node{op.id, "new" + std::to_string(op.value), {}});
        break;
      case 1:
        t.erase(op.id);
        m.erase(op.id);
        break;
      default:
        if (Node* n = t.find(op.id)) n->list.push_back(op.value);
        if (auto it = m.find(op.id); it != m.end()) it->second.list.push_back(op.value);
    }
  };
  for (int round = 0; round < 50; ++round) {
    std::map<uint64_t, Node> before = model;
    std::vector<Op> ops;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      uint64_t id = 1 + rng() % (48 * Table::kPageSize);
      if (rng() % 10 == 0) id = Table::kDenseIds + rng() % 3;
      ops.push_back(Op{static_cast<int>(rng() % 3), id, round * 100 + i});
    }
    for (const Op& op : ops) apply(b, model, op);
    ExpectSame(b, model);
    ExpectSame(a, before);  // the shared pages were copied, not changed
    // At most one page copied, made or dropped per operation.
    EXPECT_GE(b.SharedPages(a) + ops.size(), std::min(a.pages(), b.pages())) << round;
    std::map<uint64_t, Node> level = before;
    for (const Op& op : ops) apply(a, level, op);
    ExpectSame(a, model);
    a.ShareChangedFrom(b);
    ExpectSame(a, model);
    ExpectSame(b, model);
    ASSERT_EQ(a.pages(), b.pages()) << round;
    EXPECT_EQ(a.SharedPages(b), b.pages()) << round;
    std::swap(a, b);  // the other table writes next, as the copies take turns
  }
  // A table destroyed while its copy is read on another thread leaves the
  // copy whole (the pages go with their last holder).
  Table c = a;
  std::thread reader([&] { ExpectSame(c, model); });
  a = Table();
  b = Table();
  reader.join();
  ExpectSame(c, model);
}

// A page with a long list is not shared again: each table keeps its own
// copy and changes it in place, so appending to a long list does not copy
// it at every write. Its other pages are shared as before.
TEST(IdTableTest, PagesWithLongListsStayApartOnceWritten) {
  Table a;
  for (uint64_t id = 1; id <= 10 * Table::kPageSize; ++id) a.emplace(id, Node{id, "", {}});
  a.find(3)->list.assign(Table::kPrivateValues, 7);
  Table b = a;
  ASSERT_EQ(b.SharedPages(a), a.pages());
  for (int round = 0; round < 4; ++round) {
    Table& w = round % 2 == 0 ? b : a;  // the copies take turns
    Table& r = round % 2 == 0 ? a : b;
    w.find(3)->list.push_back(round);
    w.find(5 * Table::kPageSize)->list.push_back(round);
    EXPECT_EQ(r.find(3)->list.size(), Table::kPrivateValues + round);  // untouched
    r.find(3)->list.push_back(round);
    r.find(5 * Table::kPageSize)->list.push_back(round);
    const Node* before = r.find(3);
    r.ShareChangedFrom(w);
    EXPECT_EQ(r.SharedPages(w), w.pages() - 1) << round;  // all but the long list's page
    EXPECT_EQ(r.find(3), before);  // kept, not replaced by the other's copy
    EXPECT_EQ(r.find(3)->list, w.find(3)->list);
    EXPECT_EQ(r.find(3)->list.back(), round);
    std::vector<int> rounds;
    for (int i = 0; i <= round; ++i) rounds.push_back(i);
    EXPECT_EQ(r.find(5 * Table::kPageSize)->list, rounds);
    EXPECT_EQ(w.find(5 * Table::kPageSize)->list, rounds);
  }
  // Page indexes of different sizes (a write that grew one table, taken
  // back): shared page by page, the long list's page still apart.
  const uint64_t far = 1000 * Table::kPageSize;
  const uint64_t other = 2 * Table::kPageSize + 1;  // off the long list's page
  b.emplace(far, Node{far, "", {}});
  ASSERT_TRUE(b.erase(far));
  b.find(other)->list.push_back(1);
  a.find(other)->list.push_back(1);
  const Table& cb = b;  // reads only: a write would copy a shared page
  const Node* kept = cb.find(3);
  b.ShareChangedFrom(a);
  EXPECT_EQ(b.SharedPages(a), a.pages() - 1);
  EXPECT_EQ(cb.find(3), kept);
  EXPECT_EQ(cb.find(other)->list, std::as_const(a).find(other)->list);
  EXPECT_EQ(cb.find(other), std::as_const(a).find(other));  // shared again
  EXPECT_EQ(b.size(), a.size());
}

TEST(CompactVectorTest, PushingBackItsOwnValueWhileGrowing) {
  CompactVector<uint64_t> v;
  for (uint64_t i = 0; i < 200; ++i) {
    if (v.empty()) {
      v.push_back(7);
    } else {
      v.push_back(v[0]);  // grows (and moves the values) at every full capacity
    }
  }
  ASSERT_EQ(v.size(), 200u);
  for (uint64_t x : v) EXPECT_EQ(x, 7u);
}

// Copies share their values until one of them changes: under random
// operations on several vectors copied from one another, each agrees with
// its own std::vector, a change to one never shows in another, and every
// change through a copy leaves room for what it writes. Positions are
// taken through a const reference too (from the shared values) before the
// change that makes the values a vector's own.
TEST(CompactVectorTest, CopiesShareValuesUntilChangedUnderRandomOperations) {
  std::mt19937_64 rng(13);
  constexpr int kVectors = 4;
  std::vector<CompactVector<uint64_t>> v(kVectors);
  std::vector<std::vector<uint64_t>> model(kVectors);
  size_t shared_seen = 0;
  for (int step = 0; step < 40000; ++step) {
    const int i = static_cast<int>(rng() % kVectors);
    CompactVector<uint64_t>& w = v[i];
    const CompactVector<uint64_t>& r = w;
    std::vector<uint64_t>& m = model[i];
    const uint64_t x = rng() % 1000;
    switch (rng() % 9) {
      case 0:
      case 1: {  // copy another vector into this one
        const int j = static_cast<int>(rng() % kVectors);
        w = v[j];
        m = model[j];
        if (i != j && !m.empty()) {
          EXPECT_TRUE(w.SharesValuesWith(v[j]));
          ++shared_seen;
        }
        break;
      }
      case 2: w.push_back(x); m.push_back(x); break;
      case 3: {
        const size_t at = m.empty() ? 0 : rng() % (m.size() + 1);
        EXPECT_EQ(*w.insert(r.begin() + at, x), x);  // a position in the shared values
        m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), x);
        break;
      }
      case 4:
        if (!m.empty()) {
          const size_t a = rng() % m.size(), b = a + rng() % (m.size() - a + 1);
          w.erase(r.begin() + a, r.begin() + b);
          m.erase(m.begin() + static_cast<std::ptrdiff_t>(a), m.begin() + static_cast<std::ptrdiff_t>(b));
        }
        break;
      case 5:
        if (!m.empty()) {
          const size_t at = rng() % m.size();
          w[at] = x;
          m[at] = x;
        }
        break;
      case 6: {
        const size_t n = rng() % (m.size() + 4);
        w.resize(n);
        m.resize(n);
        break;
      }
      case 7: {
        const size_t n = m.size() + rng() % 3;
        w.reserve(n);
        EXPECT_GE(w.capacity(), n);
        for (size_t k = m.size(); k < n; ++k) {
          w.push_back(k);
          m.push_back(k);
        }
        break;
      }
      default:
        if (!m.empty()) {  // one of its own values, from the shared ones
          const size_t at = rng() % m.size();
          w.push_back(r[at]);
          m.push_back(m[at]);
        }
    }
    for (int k = 0; k < kVectors; ++k) {
      ASSERT_EQ(v[k].size(), model[k].size()) << "step " << step << " vector " << k;
      ASSERT_GE(v[k].capacity(), v[k].size()) << "step " << step << " vector " << k;
      ASSERT_TRUE(std::equal(v[k].cbegin(), v[k].cend(), model[k].begin(), model[k].end()))
          << "step " << step << " vector " << k;
    }
  }
  EXPECT_GT(shared_seen, 1000u);
}

TEST(CompactVectorTest, AgreesWithStdVectorUnderRandomOperations) {
  std::mt19937_64 rng(11);
  CompactVector<uint64_t> v;
  std::vector<uint64_t> model;
  for (int step = 0; step < 50000; ++step) {
    const uint64_t x = rng() % 1000;
    switch (rng() % 6) {
      case 0: v.push_back(x); model.push_back(x); break;
      case 1: {
        const size_t at = model.empty() ? 0 : rng() % (model.size() + 1);
        EXPECT_EQ(*v.insert(v.begin() + at, x), x);
        model.insert(model.begin() + static_cast<std::ptrdiff_t>(at), x);
        break;
      }
      case 2:
        if (!model.empty()) {
          const size_t at = rng() % model.size();
          v.erase(v.begin() + at);
          model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
        }
        break;
      case 3:
        if (!model.empty()) {
          const size_t a = rng() % model.size(), b = a + rng() % (model.size() - a + 1);
          v.erase(v.begin() + a, v.begin() + b);
          model.erase(model.begin() + static_cast<std::ptrdiff_t>(a),
                      model.begin() + static_cast<std::ptrdiff_t>(b));
        }
        break;
      case 4:
        if (rng() % 50 == 0) {
          const size_t n = rng() % 8;
          v.resize(n);
          model.resize(n);
        }
        break;
      default:
        if (!model.empty()) {  // insert one of its own values (it may move while growing)
          const size_t at = rng() % model.size();
          v.insert(v.begin(), v[at]);
          model.insert(model.begin(), model[at]);
        }
    }
    ASSERT_EQ(v.size(), model.size());
    ASSERT_EQ(v.empty(), model.empty());
    ASSERT_TRUE(std::equal(v.begin(), v.end(), model.begin(), model.end())) << "step " << step;
  }
  ASSERT_FALSE(model.empty());
  EXPECT_EQ(v.front(), model.front());
  EXPECT_EQ(v.back(), model.back());
  EXPECT_TRUE(std::equal(v.rbegin(), v.rend(), model.rbegin(), model.rend()));
  EXPECT_EQ(static_cast<std::vector<uint64_t>>(v), model);

  CompactVector<uint64_t> copy = v;
  EXPECT_TRUE(copy == v);
  copy[0] += 1;
  EXPECT_FALSE(copy == v);
  CompactVector<uint64_t> moved = std::move(copy);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(moved.size(), v.size());
  moved.clear();
  EXPECT_TRUE(moved.empty());
  EXPECT_EQ(moved.begin(), moved.end());
}

TEST(CompactVectorTest, CostsOnePointerAndNothingWhileEmpty) {
  static_assert(sizeof(CompactVector<uint64_t>) == sizeof(void*));
  CompactVector<uint64_t> v;
  EXPECT_EQ(v.capacity(), 0u);
  v.push_back(1);
  v.erase(v.begin());
  EXPECT_EQ(v.capacity(), 0u);  // emptied: the block is freed
  EXPECT_EQ(v.data(), nullptr);
}

}  // namespace
}  // namespace canopy::query
