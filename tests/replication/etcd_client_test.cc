// Copyright (c) Canopy authors.
//
// EtcdClient against a real 3-member etcd cluster: CANOPY_ETCD_ENDPOINTS
// names its client URLs and CANOPY_ETCD_DIR its scripts/etcd-cluster folder
// (ctest starts one and sets both; see tests/replication/CMakeLists.txt).
// Every test works under its own random key prefix, so tests never see each
// other's keys. Tests that need no cluster (unreachable endpoints,
// PrefixEnd) run without one.

#include "replication/etcd_client.h"
#include "replication/log.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace canopy::replication {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::vector<std::string> SplitEndpoints(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string EnvOr(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : fallback;
}

long ElapsedMs(Clock::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

// Runs scripts/etcd-cluster; returns its exit status.
int Cluster(const std::string& args) {
  const std::string cmd = std::string(CANOPY_ETCD_CLUSTER_SCRIPT) + " " + args;
  return std::system(cmd.c_str());
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoints_ = SplitEndpoints(EnvOr("CANOPY_ETCD_ENDPOINTS"));
    if (endpoints_.empty()) {
      GTEST_SKIP() << "CANOPY_ETCD_ENDPOINTS is not set: start a cluster with "
                      "`scripts/etcd-cluster start DIR` and export its endpoints (ctest does "
                      "this itself)";
    }
    EtcdOptions options;
    options.endpoints = endpoints_;
    client_ = std::make_unique<EtcdClient>(options);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::random_device rd;
    prefix_ = std::string("canopy-test/") + info->name() + "/" + std::to_string(rd()) +
              std::to_string(rd()) + "/";
  }

  std::string K(const std::string& name) const { return prefix_ + name; }

  // The latest revision of the cluster (the header of a read).
  int64_t CurrentRevision() {
    std::vector<EtcdKv> kvs;
    int64_t rev = 0;
    EXPECT_TRUE(client_->Range(K("none"), "", 0, &kvs, &rev).ok());
    return rev;
  }

  EtcdKv Get(const std::string& key) {
    std::vector<EtcdKv> kvs;
    Status s = client_->Range(key, "", 0, &kvs);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(kvs.size(), 1u) << "no key " << key;
    return kvs.empty() ? EtcdKv() : kvs[0];
  }

  bool Exists(const std::string& key) {
    std::vector<EtcdKv> kvs;
    Status s = client_->Range(key, "", 0, &kvs);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return !kvs.empty();
  }

  // A watch of `key` from revision `from` through member 0 alone, on a
  // thread of its own (the failover tests stop or kill that member under
  // it). StartLoneWatch returns once etcd has created it, or it ended, or
  // 10 s passed since `t0`; `status` is its answer once `done`, and
  // `returned_ms` when that was, counted from `t0`. The test joins `thread`.
  struct LoneWatch {
    std::unique_ptr<EtcdClient> client;
    std::atomic<bool> created{false};
    std::atomic<bool> done{false};
    std::atomic<long> returned_ms{0};
    Status status;
    std::thread thread;
  };
  void StartLoneWatch(const std::string& key, int64_t from, Clock::time_point t0, LoneWatch* w) {
    EtcdOptions only0;
    only0.endpoints = {endpoints_[0]};
    w->client = std::make_unique<EtcdClient>(only0);
    w->thread = std::thread([w, key, from, t0] {
      w->status = w->client->Watch(
          key, "", from,
          [w](const std::vector<EtcdWatchEvent>&, int64_t) {
            w->created.store(true);
            return true;
          },
          nullptr);
      w->returned_ms.store(ElapsedMs(t0));
      w->done.store(true);
    });
    while (!w->created.load() && !w->done.load() && ElapsedMs(t0) < 10000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::vector<std::string> endpoints_;
  std::unique_ptr<EtcdClient> client_;
  std::string prefix_;
};

// ---- PrefixEnd (no cluster) -------------------------------------------------

TEST(EtcdPrefixEndTest, IncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(PrefixEnd("abc"), "abd");
  EXPECT_EQ(PrefixEnd("a/"), "a0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("a\xfe\xff\xff", 4)), std::string("a\xff", 2));
  EXPECT_EQ(PrefixEnd(std::string("\x00", 1)), std::string("\x01", 1));
  EXPECT_EQ(PrefixEnd(""), std::string("\0", 1));
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), std::string("\0", 1));
}

// ---- the log's key shapes (no cluster) ---------------------------------------

TEST(EtcdLogKeysTest, PrefixPartsNamedLikeAKeyFamilyAreFound) {
  using replication::KeyFamilyIn;
  for (const char* ok : {"canopy", "prod/tenants", "log", "a/logs", "a/b.log", "a/sub/x",
                         "head", "a/heads/b", "a/checkpoints"}) {
    EXPECT_EQ(KeyFamilyIn(ok), "") << ok;
  }
  EXPECT_EQ(KeyFamilyIn("a/log"), "log");
  EXPECT_EQ(KeyFamilyIn("a/log/b"), "log");
  EXPECT_EQ(KeyFamilyIn("a/b/replicas"), "replicas");
  EXPECT_EQ(KeyFamilyIn("a/blob/0"), "blob");
  EXPECT_EQ(KeyFamilyIn("a/head"), "head");
  EXPECT_EQ(KeyFamilyIn("a/checkpoint"), "checkpoint");
}

TEST(EtcdLogKeysTest, EveryNewReplicaIdHasTheShapeOfOne) {
  using replication::IsReplicaId;
  for (int i = 0; i < 100; ++i) {
    const std::string id = replication::NewReplicaId();
    EXPECT_TRUE(IsReplicaId(id)) << id;
    EXPECT_TRUE(IsReplicaId("bootstrap-" + id)) << id;
  }
  EXPECT_TRUE(IsReplicaId("host.example-12-0123abcd"));
  for (const char* not_one : {"head", "log", "h-12-0123abc", "h-12-0123abcde", "h-x-0123abcd",
                              "h--0123abcd", "-12-0123abcd", "a/b-12-0123abcd", "h-12-0123abcg"}) {
    EXPECT_FALSE(IsReplicaId(not_one)) << not_one;
  }
}

// ---- key-values ---------------------------------------------------------------

TEST_F(EtcdClientTest, PutAndRange) {
  ASSERT_TRUE(client_->Put(K("a"), "1").ok());
  EtcdKv a = Get(K("a"));
  EXPECT_EQ(a.key, K("a"));
  EXPECT_EQ(a.value, "1");
  EXPECT_EQ(a.version, 1);
  EXPECT_EQ(a.create_revision, a.mod_revision);
  EXPECT_EQ(a.lease, 0);

  ASSERT_TRUE(client_->Put(K("a"), "2").ok());
  EtcdKv a2 = Get(K("a"));
  EXPECT_EQ(a2.value, "2");
  EXPECT_EQ(a2.version, 2);
  EXPECT_EQ(a2.create_revision, a.create_revision);
  EXPECT_GT(a2.mod_revision, a.mod_revision);

  std::vector<EtcdKv> kvs;
  int64_t rev = 0;
  bool more = true;
  ASSERT_TRUE(client_->Range(K("missing"), "", 0, &kvs, &rev, &more).ok());
  EXPECT_TRUE(kvs.empty());
  EXPECT_FALSE(more);
  EXPECT_GE(rev, a2.mod_revision);
}

TEST_F(EtcdClientTest, PrefixRangeWithLimitAndMore) {
  for (const char* k : {"d", "b", "a", "c"}) ASSERT_TRUE(client_->Put(K(k), k).ok());
  // A key just past the prefix is not in it.
  ASSERT_TRUE(client_->Put(PrefixEnd(prefix_), "outside").ok());

  std::vector<EtcdKv> kvs;
  int64_t rev = 0;
  bool more = false;
  ASSERT_TRUE(client_->Range(prefix_, PrefixEnd(prefix_), 2, &kvs, &rev, &more).ok());
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(kvs[0].key, K("a"));
  EXPECT_EQ(kvs[1].key, K("b"));
  EXPECT_TRUE(more);
  EXPECT_GT(rev, 0);

  // The next page starts after the last key seen.
  ASSERT_TRUE(client_->Range(kvs[1].key + '\0', PrefixEnd(prefix_), 2, &kvs, nullptr, &more).ok());
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(kvs[0].key, K("c"));
  EXPECT_EQ(kvs[1].key, K("d"));
  EXPECT_FALSE(more);

  ASSERT_TRUE(client_->Range(prefix_, PrefixEnd(prefix_), 0, &kvs, nullptr, &more).ok());
  ASSERT_EQ(kvs.size(), 4u);
  EXPECT_FALSE(more);
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(kvs[i].key, K(std::string(1, static_cast<char>('a' + i))));
    EXPECT_EQ(kvs[i].value, std::string(1, static_cast<char>('a' + i)));
  }

  // keys_only: the keys and their revisions, no values.
  ASSERT_TRUE(client_->Range(prefix_, PrefixEnd(prefix_), 0, &kvs, nullptr, nullptr, true).ok());
  ASSERT_EQ(kvs.size(), 4u);
  for (const EtcdKv& kv : kvs) {
    EXPECT_TRUE(StartsWith(kv.key, prefix_));
    EXPECT_TRUE(kv.value.empty());
    EXPECT_GT(kv.mod_revision, 0);
    EXPECT_EQ(kv.version, 1);
  }
  int64_t deleted = 0;
  ASSERT_TRUE(client_->DeleteRange(PrefixEnd(prefix_), "", &deleted).ok());
  EXPECT_EQ(deleted, 1);
}

TEST_F(EtcdClientTest, DeleteRangeCounts) {
  for (const char* k : {"x/1", "x/2", "x/3", "y"}) ASSERT_TRUE(client_->Put(K(k), "v").ok());
  int64_t deleted = -1;
  ASSERT_TRUE(client_->DeleteRange(K("missing"), "", &deleted).ok());
  EXPECT_EQ(deleted, 0);
  ASSERT_TRUE(client_->DeleteRange(K("y"), "", &deleted).ok());
  EXPECT_EQ(deleted, 1);
  EXPECT_FALSE(Exists(K("y")));
  ASSERT_TRUE(client_->DeleteRange(K("x/"), PrefixEnd(K("x/")), &deleted).ok());
  EXPECT_EQ(deleted, 3);
  std::vector<EtcdKv> kvs;
  ASSERT_TRUE(client_->Range(prefix_, PrefixEnd(prefix_), 0, &kvs).ok());
  EXPECT_TRUE(kvs.empty());
  ASSERT_TRUE(client_->DeleteRange(prefix_, PrefixEnd(prefix_), nullptr).ok());
}

TEST_F(EtcdClientTest, RefusedRequestsAreNotUnavailable) {
  std::vector<EtcdKv> kvs;
  Status s = client_->Range("", "", 0, &kvs);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(StartsWith(s.message(), "etcd")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "key is not provided")) << s.message();

  // A lease etcd does not know.
  s = client_->Put(K("k"), "v", 0x0123456789abcdef);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "lease not found")) << s.message();

  // A txn that puts one key twice.
  EtcdTxnResult r;
  EtcdOp put;
  put.key = K("dup");
  s = client_->Txn({}, {put, put}, {}, &r);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "duplicate key")) << s.message();
  EXPECT_FALSE(Exists(K("dup")));
}

// ---- transactions ---------------------------------------------------------------

// Runs a txn that puts `which`="s" on success and "f" on failure, and
// returns whether it succeeded (checking the key agrees).
bool RunTxn(EtcdClient* client, const EtcdCompare& cmp, const std::string& which) {
  EtcdOp on_success;
  on_success.key = which;
  on_success.value = "s";
  EtcdOp on_failure = on_success;
  on_failure.value = "f";
  EtcdTxnResult r;
  Status s = client->Txn({cmp}, {on_success}, {on_failure}, &r);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(r.header_revision, 0);
  EXPECT_TRUE(r.ranges.empty());
  std::vector<EtcdKv> kvs;
  EXPECT_TRUE(client->Range(which, "", 0, &kvs).ok());
  EXPECT_EQ(kvs.size(), 1u);
  if (!kvs.empty()) {
    EXPECT_EQ(kvs[0].value, r.succeeded ? "s" : "f");
  }
  return r.succeeded;
}

TEST_F(EtcdClientTest, TxnCompareTargets) {
  ASSERT_TRUE(client_->Put(K("k"), "v1").ok());
  ASSERT_TRUE(client_->Put(K("k"), "v2").ok());
  const EtcdKv k = Get(K("k"));
  ASSERT_EQ(k.version, 2);
  const std::string out = K("out");
  using T = EtcdCompare::Target;
  using R = EtcdCompare::Result;
  auto cmp = [&](T target, R result, int64_t number, std::string value = "") {
    EtcdCompare c;
    c.key = K("k");
    c.target = target;
    c.result = result;
    c.number = number;
    c.value = std::move(value);
    return c;
  };

  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kValue, R::kEqual, 0, "v2"), out));
  EXPECT_FALSE(RunTxn(client_.get(), cmp(T::kValue, R::kEqual, 0, "v1"), out));
  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kValue, R::kNotEqual, 0, "v1"), out));
  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kValue, R::kGreater, 0, "v1"), out));
  EXPECT_FALSE(RunTxn(client_.get(), cmp(T::kValue, R::kLess, 0, "v1"), out));

  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kVersion, R::kEqual, 2), out));
  EXPECT_FALSE(RunTxn(client_.get(), cmp(T::kVersion, R::kEqual, 1), out));
  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kVersion, R::kGreater, 1), out));
  EXPECT_FALSE(RunTxn(client_.get(), cmp(T::kVersion, R::kLess, 2), out));
  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kVersion, R::kNotEqual, 0), out));

  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kCreateRevision, R::kEqual, k.create_revision), out));
  EXPECT_FALSE(
      RunTxn(client_.get(), cmp(T::kCreateRevision, R::kEqual, k.create_revision + 1), out));
  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kCreateRevision, R::kLess, k.mod_revision), out));

  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kModRevision, R::kEqual, k.mod_revision), out));
  EXPECT_FALSE(RunTxn(client_.get(), cmp(T::kModRevision, R::kEqual, k.mod_revision - 1), out));
  EXPECT_TRUE(RunTxn(client_.get(), cmp(T::kModRevision, R::kGreater, k.create_revision), out));
  EXPECT_FALSE(RunTxn(client_.get(), cmp(T::kModRevision, R::kNotEqual, k.mod_revision), out));

  // A missing key has version 0 and create revision 0: "create if absent".
  EtcdCompare absent = cmp(T::kCreateRevision, R::kEqual, 0);
  absent.key = K("absent");
  EXPECT_TRUE(RunTxn(client_.get(), absent, K("absent")));
  EXPECT_FALSE(RunTxn(client_.get(), absent, K("absent2")));
}

TEST_F(EtcdClientTest, TxnWithRangeOps) {
  ASSERT_TRUE(client_->Put(K("r/1"), "one").ok());
  ASSERT_TRUE(client_->Put(K("r/2"), "two").ok());
  ASSERT_TRUE(client_->Put(K("r/3"), "three").ok());
  ASSERT_TRUE(client_->Put(K("gone"), "x").ok());

  EtcdCompare c;
  c.key = K("r/1");
  c.target = EtcdCompare::Target::kValue;
  c.value = "one";

  EtcdOp range_all;
  range_all.type = EtcdOp::Type::kRange;
  range_all.key = K("r/");
  range_all.range_end = PrefixEnd(K("r/"));
  EtcdOp range_limited = range_all;
  range_limited.limit = 2;
  EtcdOp range_one;
  range_one.type = EtcdOp::Type::kRange;
  range_one.key = K("r/3");
  EtcdOp range_none = range_one;
  range_none.key = K("nothing");
  EtcdOp put;
  put.key = K("new");
  put.value = "n";
  EtcdOp del;
  del.type = EtcdOp::Type::kDeleteRange;
  del.key = K("gone");

  EtcdTxnResult r;
  ASSERT_TRUE(client_->Txn({c}, {range_all, put, range_limited, del, range_none, range_one},
                           {range_one}, &r)
                  .ok());
  EXPECT_TRUE(r.succeeded);
  ASSERT_EQ(r.ranges.size(), 4u);
  ASSERT_EQ(r.ranges[0].size(), 3u);
  EXPECT_EQ(r.ranges[0][0].key, K("r/1"));
  EXPECT_EQ(r.ranges[0][0].value, "one");
  EXPECT_EQ(r.ranges[0][2].value, "three");
  ASSERT_EQ(r.ranges[1].size(), 2u);
  EXPECT_EQ(r.ranges[1][1].key, K("r/2"));
  EXPECT_TRUE(r.ranges[2].empty());
  ASSERT_EQ(r.ranges[3].size(), 1u);
  EXPECT_EQ(r.ranges[3][0].value, "three");
  EXPECT_EQ(Get(K("new")).mod_revision, r.header_revision);
  EXPECT_FALSE(Exists(K("gone")));

  // The failure branch: only its range answers.
  c.value = "not one";
  ASSERT_TRUE(client_->Txn({c}, {range_all, put}, {range_one, range_none}, &r).ok());
  EXPECT_FALSE(r.succeeded);
  ASSERT_EQ(r.ranges.size(), 2u);
  ASSERT_EQ(r.ranges[0].size(), 1u);
  EXPECT_EQ(r.ranges[0][0].key, K("r/3"));
  EXPECT_TRUE(r.ranges[1].empty());
  EXPECT_EQ(Get(K("new")).version, 1);

  // No compares: the success branch.
  ASSERT_TRUE(client_->Txn({}, {range_one}, {}, &r).ok());
  EXPECT_TRUE(r.succeeded);
  ASSERT_EQ(r.ranges.size(), 1u);
  EXPECT_EQ(r.ranges[0].size(), 1u);
}

// ---- bytes and sizes ------------------------------------------------------------

TEST_F(EtcdClientTest, BinaryKeysAndValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string key = K(all);
  ASSERT_TRUE(client_->Put(key, all).ok());
  EtcdKv kv = Get(key);
  EXPECT_EQ(kv.key, key);
  EXPECT_EQ(kv.value, all);

  // Every length mod 3 (base64 padding) and each byte alone.
  for (int len = 0; len < 8; ++len) {
    std::string v = all.substr(250 - static_cast<size_t>(len), static_cast<size_t>(len));
    ASSERT_TRUE(client_->Put(K("len"), v).ok());
    EXPECT_EQ(Get(K("len")).value, v) << len;
  }
  for (int i = 0; i < 256; ++i) {
    std::string b(1, static_cast<char>(i));
    ASSERT_TRUE(client_->Put(K("b/") + b, b).ok());
  }
  std::vector<EtcdKv> kvs;
  ASSERT_TRUE(client_->Range(K("b/"), PrefixEnd(K("b/")), 0, &kvs).ok());
  ASSERT_EQ(kvs.size(), 256u);
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(kvs[static_cast<size_t>(i)].value, std::string(1, static_cast<char>(i)));
  }

  // An empty value is a value.
  ASSERT_TRUE(client_->Put(K("empty"), "").ok());
  kv = Get(K("empty"));
  EXPECT_EQ(kv.value, "");
  EXPECT_EQ(kv.version, 1);

  // A prefix ending in 0xff bytes.
  const std::string ff = K(std::string("p\xff\xff", 3));
  ASSERT_TRUE(client_->Put(ff + "x", "1").ok());
  ASSERT_TRUE(client_->Put(ff, "2").ok());
  ASSERT_TRUE(client_->Range(ff, PrefixEnd(ff), 0, &kvs).ok());
  EXPECT_EQ(kvs.size(), 2u);
}

TEST_F(EtcdClientTest, LargeValues) {
  std::mt19937 rng(7);
  std::string big(1000 * 1000, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  ASSERT_TRUE(client_->Put(K("big"), big).ok());
  EXPECT_EQ(Get(K("big")).value, big);

  // Over etcd's --max-request-bytes (1.5 MiB): refused with the limit named,
  // and not retried as if the cluster were down.
  for (size_t size : {size_t{1600} * 1024, size_t{2200} * 1024}) {
    std::string huge(size, 'x');
    Status s = client_->Put(K("huge"), huge);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_TRUE(StartsWith(s.message(), "etcd")) << s.message();
    EXPECT_TRUE(Contains(s.message(), "max-request-bytes")) << s.message();
    EXPECT_FALSE(Exists(K("huge")));
  }
}

// ---- leases ---------------------------------------------------------------------

TEST_F(EtcdClientTest, LeaseGrantKeepAliveRevoke) {
  int64_t lease = 0;
  ASSERT_TRUE(client_->LeaseGrant(30, &lease).ok());
  EXPECT_NE(lease, 0);
  ASSERT_TRUE(client_->Put(K("leased"), "v", lease).ok());
  EXPECT_EQ(Get(K("leased")).lease, lease);

  int64_t ttl = 0;
  ASSERT_TRUE(client_->LeaseKeepAlive(lease, &ttl).ok());
  EXPECT_EQ(ttl, 30);
  ASSERT_TRUE(client_->LeaseKeepAlive(lease).ok());

  ASSERT_TRUE(client_->LeaseRevoke(lease).ok());
  EXPECT_FALSE(Exists(K("leased")));
  Status s = client_->LeaseKeepAlive(lease, &ttl);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_EQ(ttl, 0);
  s = client_->LeaseRevoke(lease);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
}

TEST_F(EtcdClientTest, LeaseExpires) {
  int64_t lease = 0;
  // etcd's minimum TTL is larger than 1 s (it raises it); the key goes
  // when the lease runs out without keep-alives.
  ASSERT_TRUE(client_->LeaseGrant(1, &lease).ok());
  ASSERT_TRUE(client_->Put(K("short"), "v", lease).ok());
  const auto start = Clock::now();
  while (Exists(K("short")) && ElapsedMs(start) < 15000) {
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_FALSE(Exists(K("short")));
  Status s = client_->LeaseKeepAlive(lease);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
}

TEST_F(EtcdClientTest, KeepAliveOfUnknownLeaseIsNotFound) {
  int64_t ttl = 5;
  Status s = client_->LeaseKeepAlive(0x7777777777777777, &ttl);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_TRUE(StartsWith(s.message(), "etcd")) << s.message();
  EXPECT_EQ(ttl, 0);
}

// ---- compaction and watch ---------------------------------------------------------

TEST_F(EtcdClientTest, Compact) {
  ASSERT_TRUE(client_->Put(K("c"), "1").ok());
  const int64_t first = Get(K("c")).mod_revision;
  ASSERT_TRUE(client_->Put(K("c"), "2").ok());
  const int64_t second = Get(K("c")).mod_revision;
  ASSERT_TRUE(client_->Compact(second).ok());
  // Again, and an older revision: already compacted, not an error.
  ASSERT_TRUE(client_->Compact(second).ok());
  ASSERT_TRUE(client_->Compact(first).ok());
  // A revision etcd has not reached.
  Status s = client_->Compact(CurrentRevision() + 1000000);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "future revision")) << s.message();
  // The latest value is still there.
  EXPECT_EQ(Get(K("c")).value, "2");
}

TEST_F(EtcdClientTest, WatchPutsAndDeletesInOrder) {
  ASSERT_TRUE(client_->Put(K("w/a"), "1").ok());
  const int64_t start = Get(K("w/a")).mod_revision;
  ASSERT_TRUE(client_->Put(K("w/b"), "2").ok());
  ASSERT_TRUE(client_->Put(K("w/a"), "3").ok());
  ASSERT_TRUE(client_->DeleteRange(K("w/b"), "").ok());
  ASSERT_TRUE(client_->Put(K("outside"), "not watched").ok());

  // More changes arrive while the watch runs.
  std::atomic<bool> watching{false};
  std::thread writer([&] {
    while (!watching.load()) std::this_thread::sleep_for(milliseconds(10));
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_TRUE(client_->Put(K("w/c"), std::string("\0\xff", 2)).ok());
    EtcdOp p1, p2;
    p1.key = K("w/d");
    p1.value = "4";
    p2.key = K("w/e");
    p2.value = "5";
    EtcdTxnResult r;
    EXPECT_TRUE(client_->Txn({}, {p1, p2}, {}, &r).ok());  // one revision, two events
    EXPECT_TRUE(client_->DeleteRange(K("w/"), PrefixEnd(K("w/"))).ok());
  });

  std::vector<EtcdWatchEvent> seen;
  std::vector<int64_t> batch_revisions;
  Status s = client_->Watch(
      K("w/"), PrefixEnd(K("w/")), start,
      [&](const std::vector<EtcdWatchEvent>& events, int64_t revision) {
        watching.store(true);
        EXPECT_FALSE(events.empty());
        batch_revisions.push_back(revision);
        seen.insert(seen.end(), events.begin(), events.end());
        // 4 history events + c, d, e + deletes of a, c, d, e.
        return seen.size() < 11;
      },
      nullptr);
  watching.store(true);
  writer.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(seen.size(), 11u);

  struct Want {
    bool del;
    std::string key;
    std::string value;
  };
  const std::vector<Want> want = {
      {false, K("w/a"), "1"},  {false, K("w/b"), "2"},
      {false, K("w/a"), "3"},  {true, K("w/b"), ""},
      {false, K("w/c"), std::string("\0\xff", 2)},
      {false, K("w/d"), "4"},  {false, K("w/e"), "5"},
      {true, K("w/a"), ""},    {true, K("w/c"), ""},
      {true, K("w/d"), ""},    {true, K("w/e"), ""}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(seen[i].is_delete, want[i].del) << i;
    EXPECT_EQ(seen[i].kv.key, want[i].key) << i;
    EXPECT_EQ(seen[i].kv.value, want[i].value) << i;
    if (i > 0) {
      EXPECT_GE(seen[i].kv.mod_revision, seen[i - 1].kv.mod_revision) << i;
    }
  }
  EXPECT_EQ(seen[0].kv.mod_revision, start);
  EXPECT_EQ(seen[2].kv.version, 2);
  EXPECT_EQ(seen[5].kv.mod_revision, seen[6].kv.mod_revision);  // one txn
  EXPECT_GT(seen[3].kv.mod_revision, seen[2].kv.mod_revision);
  // The last batch's header revision covers its events.
  EXPECT_GE(batch_revisions.back(), seen.back().kv.mod_revision);
}

TEST_F(EtcdClientTest, WatchOfCompactedRevisionIsCompacted) {
  ASSERT_TRUE(client_->Put(K("k"), "1").ok());
  const int64_t first = Get(K("k")).mod_revision;
  ASSERT_TRUE(client_->Put(K("k"), "2").ok());
  ASSERT_TRUE(client_->Put(K("k"), "3").ok());
  const int64_t compacted = Get(K("k")).mod_revision;
  ASSERT_TRUE(client_->Compact(compacted).ok());

  int calls = 0;
  const auto started = Clock::now();
  Status s = client_->Watch(
      K("k"), "", first,
      [&](const std::vector<EtcdWatchEvent>&, int64_t) {
        ++calls;
        return true;
      },
      nullptr);
  EXPECT_EQ(s.code(), Code::kCompacted) << s.ToString();
  EXPECT_TRUE(StartsWith(s.message(), "etcd compacted its history to revision " +
                                          std::to_string(compacted)))
      << s.message();
  EXPECT_EQ(calls, 0);
  EXPECT_LT(ElapsedMs(started), 5000);

  // From the compaction revision on, the history is there.
  std::vector<EtcdWatchEvent> seen;
  s = client_->Watch(
      K("k"), "", compacted,
      [&](const std::vector<EtcdWatchEvent>& events, int64_t) {
        seen = events;
        return false;
      },
      nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kv.value, "3");
}

TEST_F(EtcdClientTest, WatchStopsSoonAfterTheStopFlag) {
  const int64_t now = CurrentRevision();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> stop_set_ms{0};
  const auto started = Clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(500));
    stop_set_ms.store(ElapsedMs(started));
    stop.store(true);
  });
  int calls = 0;
  Status s = client_->Watch(
      K("quiet/"), PrefixEnd(K("quiet/")), now + 1,
      [&](const std::vector<EtcdWatchEvent>&, int64_t) {
        ++calls;
        return true;
      },
      &stop);
  const long returned_ms = ElapsedMs(started);
  stopper.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(calls, 0);
  EXPECT_GE(returned_ms, stop_set_ms.load());
  // Well within the contract's 200 ms on an idle machine; on a busy CI
  // machine (2 cores, the suite running beside) it was seen at 1.5 s, so
  // the test only proves the flag is obeyed, not how fast.
  EXPECT_LT(returned_ms - stop_set_ms.load(), 30000) << "the watch ignored its stop flag";

  // A flag already set: no stream at all.
  s = client_->Watch(K("quiet/"), "", 0,
                     [](const std::vector<EtcdWatchEvent>&, int64_t) { return true; }, &stop);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// ---- members and failover -----------------------------------------------------------

TEST_F(EtcdClientTest, MemberStatusOfAllMembers) {
  std::vector<EtcdMemberStatus> members = client_->MemberStatus();
  ASSERT_EQ(members.size(), endpoints_.size());
  std::set<uint64_t> ids;
  for (size_t i = 0; i < members.size(); ++i) {
    const EtcdMemberStatus& m = members[i];
    EXPECT_EQ(m.endpoint, endpoints_[i]);
    EXPECT_TRUE(m.reachable) << m.endpoint << ": " << m.error;
    EXPECT_TRUE(m.error.empty()) << m.error;
    EXPECT_TRUE(StartsWith(m.version, "3.")) << m.version;
    EXPECT_NE(m.member_id, 0u);
    EXPECT_NE(m.leader, 0u);
    EXPECT_EQ(m.leader, members[0].leader);
    EXPECT_GT(m.db_size, 0);
    EXPECT_GT(m.raft_index, 0);
    ids.insert(m.member_id);
  }
  EXPECT_EQ(ids.size(), members.size());
  EXPECT_EQ(ids.count(members[0].leader), 1u) << "the leader is one of the members";
}

TEST_F(EtcdClientTest, ConcurrentCallsFromManyThreads) {
  constexpr int kThreads = 6;
  constexpr int kOps = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        const std::string key = K("t" + std::to_string(t) + "/" + std::to_string(i));
        if (!client_->Put(key, std::to_string(i)).ok()) ++failures;
        std::vector<EtcdKv> kvs;
        if (!client_->Range(key, "", 0, &kvs).ok() || kvs.size() != 1 ||
            kvs[0].value != std::to_string(i)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<EtcdKv> kvs;
  ASSERT_TRUE(client_->Range(prefix_, PrefixEnd(prefix_), 0, &kvs, nullptr, nullptr, true).ok());
  EXPECT_EQ(kvs.size(), static_cast<size_t>(kThreads * kOps));
}

// Kills member 0 (the first endpoint, where a new client starts), checks
// that calls move on to the others and that a watch served by the killed
// member breaks with Unavailable, and restarts it.
TEST_F(EtcdClientTest, FailoverWhenAMemberDies) {
  const std::string dir = EnvOr("CANOPY_ETCD_DIR");
  if (dir.empty()) GTEST_SKIP() << "CANOPY_ETCD_DIR is not set (the cluster's folder)";
  ASSERT_GE(endpoints_.size(), 3u);

  // A watch on member 0 alone, running when it dies.
  const auto t0 = Clock::now();
  ASSERT_TRUE(client_->Put(K("before"), "1").ok());
  const int64_t from = Get(K("before")).mod_revision;
  LoneWatch watch;
  StartLoneWatch(K("before"), from, t0, &watch);
  ASSERT_TRUE(watch.created.load()) << watch.status.ToString();

  ASSERT_EQ(Cluster("kill " + dir + " 0"), 0);
  const long killed_ms = ElapsedMs(t0);
  // Whatever happens next, member 0 comes back for the tests after this one.
  struct Restart {
    std::string dir;
    ~Restart() { EXPECT_EQ(Cluster("restart " + dir + " 0"), 0); }
  } restart{dir};

  watch.thread.join();
  EXPECT_EQ(watch.status.code(), Code::kUnavailable) << watch.status.ToString();
  EXPECT_TRUE(StartsWith(watch.status.message(), "etcd")) << watch.status.message();
  EXPECT_LT(watch.returned_ms.load() - killed_ms, 3000);

  // A fresh client starts at member 0. If it led the cluster, the others
  // elect a new leader first (about a second), and until then every member
  // answers "no leader": that is Unavailable, for the caller to retry.
  EtcdClient fresh(client_->options());
  Status s;
  const auto t1 = Clock::now();
  do {
    s = fresh.Put(K("after"), "2");
    if (s.ok()) break;
    EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
    std::this_thread::sleep_for(milliseconds(100));
  } while (ElapsedMs(t1) < 15000);
  ASSERT_TRUE(s.ok()) << s.ToString();

  // With a leader, every call works at once, though member 0 is first in
  // the list of a new client.
  for (int i = 0; i < 3; ++i) {
    EtcdClient another(client_->options());
    const auto t2 = Clock::now();
    ASSERT_TRUE(another.Put(K("after"), std::to_string(i)).ok());
    std::vector<EtcdKv> kvs;
    ASSERT_TRUE(another.Range(K("after"), "", 0, &kvs).ok());
    ASSERT_EQ(kvs.size(), 1u);
    EXPECT_EQ(kvs[0].value, std::to_string(i));
    EXPECT_LT(ElapsedMs(t2), 10000);
  }
  std::vector<EtcdKv> kvs;
  ASSERT_TRUE(fresh.Range(prefix_, PrefixEnd(prefix_), 0, &kvs).ok());
  EXPECT_EQ(kvs.size(), 2u);
  int64_t lease = 0;
  ASSERT_TRUE(fresh.LeaseGrant(30, &lease).ok());
  ASSERT_TRUE(fresh.LeaseKeepAlive(lease).ok());
  ASSERT_TRUE(fresh.LeaseRevoke(lease).ok());

  // A watch from a new client finds a live member too.
  EtcdClient watch_client(client_->options());
  std::vector<EtcdWatchEvent> seen;
  s = watch_client.Watch(
      K("after"), "", from,
      [&](const std::vector<EtcdWatchEvent>& events, int64_t) {
        seen.insert(seen.end(), events.begin(), events.end());
        // Up to the last put of the loop above.
        return !(seen.back().kv.value == "2" && seen.back().kv.version >= 4);
      },
      nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen.front().kv.key, K("after"));

  std::vector<EtcdMemberStatus> members = fresh.MemberStatus();
  ASSERT_EQ(members.size(), endpoints_.size());
  EXPECT_FALSE(members[0].reachable);
  EXPECT_FALSE(members[0].error.empty());
  EXPECT_TRUE(members[1].reachable) << members[1].error;
  EXPECT_TRUE(members[2].reachable) << members[2].error;
  EXPECT_EQ(members[1].leader, members[2].leader);
  EXPECT_NE(members[1].leader, 0u);
}

// Kills members 1 and 2: member 0 is up but has no leader. Its watch ends
// (Unavailable), calls fail fast instead of waiting for etcd's own
// timeout, and its status says why.
// A member whose process is frozen (SIGSTOP) keeps the watch's connection
// open and sends nothing: the idle watch asks it whether it answers, and
// ends (Unavailable) when it does not, for the caller to watch again
// through another member, instead of waiting for it for good.
TEST_F(EtcdClientTest, AWatchOnAFrozenMemberEnds) {
  const std::string dir = EnvOr("CANOPY_ETCD_DIR");
  if (dir.empty()) GTEST_SKIP() << "CANOPY_ETCD_DIR is not set (the cluster's folder)";
  ASSERT_GE(endpoints_.size(), 3u);
  pid_t pid = 0;
  {
    std::ifstream f(dir + "/m0.pid");
    ASSERT_TRUE(f >> pid) << dir << "/m0.pid";
  }
  ASSERT_TRUE(client_->Put(K("frozen"), "1").ok());
  LoneWatch watch;
  StartLoneWatch(K("frozen"), Get(K("frozen")).mod_revision, Clock::now(), &watch);
  ASSERT_TRUE(watch.created.load()) << watch.status.ToString();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { EXPECT_EQ(kill(pid, SIGCONT), 0); }
  } resume{pid};
  const auto frozen = Clock::now();
  while (!watch.done.load() && ElapsedMs(frozen) < 20000) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  const long took = ElapsedMs(frozen);
  ASSERT_TRUE(watch.done.load()) << "the watch still waits on the frozen member after 20 s";
  watch.thread.join();
  EXPECT_EQ(watch.status.code(), Code::kUnavailable) << watch.status.ToString();
  EXPECT_NE(watch.status.message().find("does not answer"), std::string::npos)
      << watch.status.ToString();
  // The idle probe (2 s) and its timeout (1 s), with room for a loaded machine.
  EXPECT_LT(took, 10000);
}

TEST_F(EtcdClientTest, MemberWithoutLeader) {
  const std::string dir = EnvOr("CANOPY_ETCD_DIR");
  if (dir.empty()) GTEST_SKIP() << "CANOPY_ETCD_DIR is not set (the cluster's folder)";
  ASSERT_GE(endpoints_.size(), 3u);
  ASSERT_TRUE(client_->Put(K("k"), "1").ok());
  LoneWatch watch;
  StartLoneWatch(K("k"), Get(K("k")).mod_revision, Clock::now(), &watch);
  ASSERT_TRUE(watch.created.load()) << watch.status.ToString();

  ASSERT_EQ(Cluster("kill " + dir + " 1"), 0);
  struct Restart {
    std::string dir;
    int member;
    ~Restart() { EXPECT_EQ(Cluster("restart " + dir + " " + std::to_string(member)), 0); }
  } restart1{dir, 1};
  ASSERT_EQ(Cluster("kill " + dir + " 2"), 0);
  Restart restart2{dir, 2};
  const auto killed = Clock::now();

  watch.thread.join();
  EXPECT_EQ(watch.status.code(), Code::kUnavailable) << watch.status.ToString();
  EXPECT_TRUE(Contains(watch.status.message(), "no leader")) << watch.status.message();
  // etcd notices the lost leader after a few election timeouts.
  EXPECT_LT(ElapsedMs(killed), 15000);

  const auto t1 = Clock::now();
  std::vector<EtcdKv> kvs;
  Status s = watch.client->Range(K("k"), "", 0, &kvs);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "no leader")) << s.message();
  // Sooner than the client's own timeout (3 s): answered, not timed out.
  EXPECT_LT(ElapsedMs(t1), 2500) << "not answered at once";

  std::vector<EtcdMemberStatus> members = client_->MemberStatus();
  ASSERT_EQ(members.size(), endpoints_.size());
  EXPECT_TRUE(members[0].reachable) << members[0].error;
  EXPECT_EQ(members[0].leader, 0u);
  EXPECT_TRUE(Contains(members[0].error, "no leader")) << members[0].error;
  EXPECT_FALSE(members[1].reachable);
  EXPECT_FALSE(members[2].reachable);
}

// ---- no cluster -------------------------------------------------------------------------

TEST(EtcdUnreachableTest, ClosedPortsAreUnavailable) {
  EtcdOptions options;
  options.endpoints = {"http://127.0.0.1:1", "http://127.0.0.1:2"};
  options.connect_timeout_ms = 300;
  options.request_timeout_ms = 1000;
  EtcdClient client(options);
  const auto started = Clock::now();
  std::vector<EtcdKv> kvs;
  Status s = client.Range("k", "", 0, &kvs);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(StartsWith(s.message(), "etcd")) << s.message();
  // Each endpoint named with how it failed (only the last one's failure
  // was kept, so a member's "no leader" could be lost behind another's).
  EXPECT_TRUE(Contains(s.message(), "http://127.0.0.1:1: ")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "; http://127.0.0.1:2: ")) << s.message();
  EXPECT_LT(ElapsedMs(started), 2 * options.request_timeout_ms);

  s = client.Put("k", "v");
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EtcdTxnResult r;
  s = client.Txn({}, {}, {}, &r);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  int64_t lease = 0;
  s = client.LeaseGrant(10, &lease);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  s = client.Compact(5);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();

  s = client.Watch("k", "", 0, [](const std::vector<EtcdWatchEvent>&, int64_t) { return true; },
                   nullptr);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(StartsWith(s.message(), "etcd")) << s.message();

  std::vector<EtcdMemberStatus> members = client.MemberStatus();
  ASSERT_EQ(members.size(), 2u);
  for (const EtcdMemberStatus& m : members) {
    EXPECT_FALSE(m.reachable);
    EXPECT_FALSE(m.error.empty());
  }
  EXPECT_LT(ElapsedMs(started), 10000);
}

// A socket that listens but never accepts: connections complete (the
// kernel's backlog) and requests are never answered.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 16) != 0) {
      return;
    }
    socklen_t len = sizeof(addr);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(EtcdUnreachableTest, SilentEndpointTimesOut) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  EtcdOptions options;
  options.endpoints = {silent.url()};
  options.request_timeout_ms = 400;
  EtcdClient client(options);
  const auto started = Clock::now();
  Status s = client.Put("k", "v");
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), silent.url())) << s.message();
  EXPECT_TRUE(Contains(s.message(), "imeout") || Contains(s.message(), "timed out"))
      << s.message();
  EXPECT_GE(ElapsedMs(started), 350);
  // Only that it gives up (a hang would never end), not how fast: a loaded
  // machine under a sanitizer adds seconds.
  EXPECT_LT(ElapsedMs(started), 10000);

  // A watch gives up on it after the request timeout too.
  s = client.Watch("k", "", 0, [](const std::vector<EtcdWatchEvent>&, int64_t) { return true; },
                   nullptr);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_LT(ElapsedMs(started), 10000);
}

// An append that gives up says whether etcd may have applied it: not when
// no member could even be connected to (it certainly was not), and
// possibly when a request went out and no answer came back.
TEST(EtcdUnreachableTest, AnAppendSaysWhetherItMayHaveBeenAppended) {
  for (bool silent_member : {false, true}) {
    SilentListener silent;
    ASSERT_NE(silent.port(), 0);
    LogOptions lo;
    lo.etcd.endpoints = {"http://127.0.0.1:1"};
    if (silent_member) lo.etcd.endpoints.push_back(silent.url());
    lo.etcd.connect_timeout_ms = 300;
    lo.etcd.request_timeout_ms = 300;
    lo.prefix = "p";
    lo.append_timeout_ms = 200;
    EtcdLog log(lo);
    bool committed = true;
    uint64_t now = 0;
    Status s = log.Append(0, "entry", &committed, &now);
    EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
    EXPECT_FALSE(committed);
    EXPECT_EQ(Contains(s.message(), "revision 1 was not appended (no attempt reached an etcd "
                                    "member)"),
              !silent_member)
        << s.message();
    EXPECT_EQ(Contains(s.message(), "revision 1 may or may not have been appended"),
              silent_member)
        << s.message();
  }
}

TEST_F(EtcdClientTest, MovesOnPastASilentEndpoint) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  EtcdOptions options;
  options.endpoints = {silent.url()};
  options.endpoints.insert(options.endpoints.end(), endpoints_.begin(), endpoints_.end());
  // Long enough for a live member's commit on a loaded machine: a Put that
  // went to the silent endpoint again would take the whole timeout.
  options.request_timeout_ms = 3000;
  EtcdClient client(options);
  const auto started = Clock::now();
  ASSERT_TRUE(client.Put(K("k"), "v").ok());
  EXPECT_GE(ElapsedMs(started), options.request_timeout_ms - 50);
  // The client now starts at the endpoint that answered.
  const auto again = Clock::now();
  ASSERT_TRUE(client.Put(K("k"), "w").ok());
  EXPECT_LT(ElapsedMs(again), options.request_timeout_ms);
  EXPECT_EQ(Get(K("k")).value, "w");
}

}  // namespace
}  // namespace canopy::replication
