// Copyright (c) Canopy authors.
//
// The import's external sort (engine/external_sort.h): pieces and spilled
// runs merged in key order with equal keys in the order added, key ranges
// read from any mix of runs and pieces, splitters, a run file that cannot
// be written, and the task pool.

#include "engine/external_sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <sys/resource.h>

#include "tests/test_util.h"

namespace canopy::engine {
namespace {

using testing::TempDir;

// A sorter whose runs go to `dir` as run-N.
ExternalSorter::PathFn RunsIn(const TempDir& dir, int* made) {
  return [&dir, made](std::string* path) {
    *path = dir.Sub("run-" + std::to_string((*made)++));
    return Status::Ok();
  };
}

// A sorted piece of `n` pairs: keys "k<number>" drawn from [0, distinct),
// values "<piece>/<i>" (i counts within the piece, so the order added can
// be read back).
KvBuffer Piece(std::mt19937_64& rng, int piece, int n, int distinct) {
  KvBuffer kv;
  for (int i = 0; i < n; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "k%08d", static_cast<int>(rng() % distinct));
    kv.Add(key, std::to_string(piece) + "/" + std::to_string(i));
  }
  kv.Sort();
  return kv;
}

// Everything `cursor` yields.
std::vector<std::pair<std::string, std::string>> All(SortedCursor& cursor) {
  std::vector<std::pair<std::string, std::string>> out;
  for (; cursor.Valid(); cursor.Next()) out.emplace_back(cursor.key(), cursor.value());
  EXPECT_TRUE(cursor.status().ok()) << cursor.status().ToString();
  return out;
}

// The expected merge: sorted by key, equal keys in the order added (piece,
// then position in the piece).
std::vector<std::pair<std::string, std::string>> Expected(const std::vector<KvBuffer>& pieces) {
  std::vector<std::tuple<std::string, int, int, std::string>> all;
  for (size_t p = 0; p < pieces.size(); ++p) {
    for (size_t i = 0; i < pieces[p].size(); ++i) {
      const std::string v(pieces[p].value(i));
      all.emplace_back(std::string(pieces[p].key(i)), static_cast<int>(p),
                       std::stoi(v.substr(v.find('/') + 1)), v);
    }
  }
  std::sort(all.begin(), all.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& t : all) out.emplace_back(std::get<0>(t), std::get<3>(t));
  return out;
}

TEST(ExternalSort, PiecesAndRunsMergeInKeyOrderKeepingTheOrderAdded) {
  TempDir dir;
  int runs = 0;
  ExternalSorter sorter(RunsIn(dir, &runs));
  std::mt19937_64 rng(7);
  std::vector<KvBuffer> added;
  for (int p = 0; p < 12; ++p) {
    // Few distinct keys: most keys repeat, within pieces and across them.
    KvBuffer kv = Piece(rng, p, 3000, 500);
    added.push_back(kv);
    sorter.Add(std::move(kv));
    if (p % 4 == 3) ASSERT_OK(sorter.Spill());  // three runs, then pieces
  }
  EXPECT_EQ(sorter.runs(), 3u);
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(sorter.size(), 36000u);
  EXPECT_EQ(sorter.pieces(), 0u);
  EXPECT_EQ(sorter.memory(), 0u);
  // Two more pieces stay in memory, after the runs.
  for (int p = 12; p < 14; ++p) {
    KvBuffer kv = Piece(rng, p, 3000, 500);
    added.push_back(kv);
    sorter.Add(std::move(kv));
  }
  EXPECT_GT(sorter.memory(), 0u);
  const auto want = Expected(added);
  auto cursor = sorter.Read("", "");
  EXPECT_EQ(All(*cursor), want);
}

// A merge of many more runs than the process may open files, on four
// threads at once: each run's file is open only while its buffer is
// filled. (Held open, 300 runs on four threads need 1,200 descriptors.)
TEST(ExternalSort, MergesMoreRunsThanTheProcessMayOpenFiles) {
  TempDir dir;
  int runs = 0;
  ExternalSorter sorter(RunsIn(dir, &runs));
  std::mt19937_64 rng(11);
  std::vector<KvBuffer> added;
  for (int p = 0; p < 300; ++p) {
    KvBuffer kv = Piece(rng, p, 40, 2000);
    added.push_back(kv);
    sorter.Add(std::move(kv));
    ASSERT_OK(sorter.Spill());
  }
  ASSERT_EQ(sorter.runs(), 300u);
  const auto want = Expected(added);
  const std::vector<std::string> cuts = sorter.Splitters(4);
  ASSERT_EQ(cuts.size(), 3u);

  size_t open_now = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++open_now;
  }
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = std::min<rlim_t>(old.rlim_cur, open_now + 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  // All() also expects each cursor's status to be OK.
  std::vector<std::vector<std::pair<std::string, std::string>>> got(5);
  {
    std::vector<std::thread> readers;
    for (size_t part = 0; part < 4; ++part) {
      readers.emplace_back([&, part] {
        got[part] = All(*sorter.Read(part == 0 ? "" : cuts[part - 1], part == 3 ? "" : cuts[part]));
      });
    }
    for (auto& t : readers) t.join();
    got[4] = All(*sorter.Read("", ""));
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(got[4], want);
  std::vector<std::pair<std::string, std::string>> joined;
  for (size_t part = 0; part < 4; ++part) joined.insert(joined.end(), got[part].begin(), got[part].end());
  EXPECT_EQ(joined, want);
}

TEST(ExternalSort, RangesAndSplittersCoverEveryPairOnce) {
  TempDir dir;
  int runs = 0;
  ExternalSorter sorter(RunsIn(dir, &runs));
  std::mt19937_64 rng(11);
  std::vector<KvBuffer> added;
  for (int p = 0; p < 6; ++p) {
    // Runs well past one 64 KiB index mark, with keys repeated across marks.
    KvBuffer kv = Piece(rng, p, 20000, 3000);
    added.push_back(kv);
    sorter.Add(std::move(kv));
    if (p == 2 || p == 4) ASSERT_OK(sorter.Spill());
  }
  const auto want = Expected(added);
  for (size_t parts : {2u, 5u, 17u}) {
    const std::vector<std::string> cuts = sorter.Splitters(parts);
    ASSERT_FALSE(cuts.empty());
    EXPECT_LE(cuts.size(), parts - 1);
    EXPECT_TRUE(std::is_sorted(cuts.begin(), cuts.end()));
    EXPECT_TRUE(std::adjacent_find(cuts.begin(), cuts.end()) == cuts.end());
    std::vector<std::pair<std::string, std::string>> got;
    for (size_t i = 0; i <= cuts.size(); ++i) {
      const std::string begin = i == 0 ? "" : cuts[i - 1];
      const std::string end = i == cuts.size() ? "" : cuts[i];
      auto part = All(*sorter.Read(begin, end));
      for (const auto& [k, v] : part) {
        EXPECT_GE(k, begin);
        if (!end.empty()) {
          EXPECT_LT(k, end);
        }
      }
      got.insert(got.end(), part.begin(), part.end());
    }
    EXPECT_EQ(got, want) << parts << " parts";
  }
  // A range starting at a key repeated across a run's index mark keeps
  // every copy of it.
  const std::string k = want[want.size() / 2].first;
  size_t copies = 0;
  for (const auto& [key, v] : want) copies += key == k;
  auto from = All(*sorter.Read(k, ""));
  ASSERT_FALSE(from.empty());
  EXPECT_EQ(from.front().first, k);
  EXPECT_EQ(static_cast<size_t>(std::count_if(from.begin(), from.end(),
                                              [&](const auto& p) { return p.first == k; })),
            copies);
  // An empty range, and a range past every key.
  EXPECT_TRUE(All(*sorter.Read(k, k)).empty());
  EXPECT_TRUE(All(*sorter.Read("z", "")).empty());
}

TEST(ExternalSort, ARunThatCannotBeWrittenIsAnErrorNamingIt) {
  TempDir dir;
  ExternalSorter sorter([&](std::string* path) {
    *path = dir.Sub("no-such-folder/run-0");
    return Status::Ok();
  });
  std::mt19937_64 rng(3);
  sorter.Add(Piece(rng, 0, 100, 50));
  Status s = sorter.Spill();
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_NE(s.message().find("no-such-folder/run-0"), std::string::npos) << s.ToString();
  // A failing path function is passed on as it is.
  ExternalSorter refusing([](std::string*) { return Status::IOError("no room for runs"); });
  refusing.Add(Piece(rng, 0, 10, 5));
  EXPECT_EQ(refusing.Spill().message(), "no room for runs");
}

TEST(ExternalSort, KeysLongerThanThePrefixAndEmptyValuesSortBytewise) {
  TempDir dir;
  int runs = 0;
  ExternalSorter sorter(RunsIn(dir, &runs));
  // Keys equal in their first 16 bytes, zero bytes, high bytes, a prefix
  // of another key.
  const std::vector<std::string> keys = {
      std::string("0123456789abcdefZ"), std::string("0123456789abcdefA"),
      std::string("0123456789abcdef"),  std::string("0123456789abcde\xff", 16),
      std::string("a\0b", 3),           std::string("a"),
      std::string("\xff\xff", 2),       std::string("0123456789abcdefA\0", 18)};
  KvBuffer a, b;
  for (size_t i = 0; i < keys.size(); ++i) (i % 2 ? a : b).Add(keys[i], "");
  a.Sort();
  b.Sort();
  sorter.Add(std::move(a));
  ASSERT_OK(sorter.Spill());
  sorter.Add(std::move(b));
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());
  std::vector<std::string> got;
  for (const auto& [k, v] : All(*sorter.Read("", ""))) {
    got.push_back(k);
    EXPECT_TRUE(v.empty());
  }
  EXPECT_EQ(got, want);
}

TEST(ExternalSort, PoolRunsEveryTaskAndUrgentOnesFirst) {
  std::atomic<int> done{0};
  {
    TaskPool pool(2);
    for (int i = 0; i < 100; ++i) pool.Submit([&] { ++done; });
    pool.Wait();
    EXPECT_EQ(done.load(), 100);
  }
  // One thread, blocked: tasks queued behind it run urgent ones first.
  TaskPool pool(1);
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<int> order;
  pool.Submit([&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return go; });
  });
  pool.Submit([&] { order.push_back(1); });
  pool.Submit([&] { order.push_back(2); }, /*urgent=*/true);
  {
    std::lock_guard<std::mutex> l(mu);
    go = true;
  }
  cv.notify_all();
  pool.Wait();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

}  // namespace
}  // namespace canopy::engine
