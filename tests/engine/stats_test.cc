// Copyright (c) Canopy authors.
//
// Db::GetProperty, the log callback and the storage tuning options.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include "canopy/db.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::TempDir;

TEST(Stats, PropertiesCountWhatTheDatabaseHolds) {
  TempDir dir;
  Options o;
  o.sync = false;
  o.statistics = true;
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(o, dir.Sub("db"), &db));
  auto t = db->CreateAccount(Actor::System(), {.key = "t", .name = "T"});
  ASSERT_TRUE(t.ok());
  for (int i = 0; i < 3; ++i) {
    EntitySpec e;
    e.key = "d" + std::to_string(i);
    e.name = e.key;
    e.owner = *t;
    ASSERT_TRUE(db->CreateEntity(Actor::System(), e).ok());
  }
  EXPECT_EQ(*db->GetProperty("canopy.accounts"), "1");
  EXPECT_EQ(*db->GetProperty("canopy.devices"), "3");
  EXPECT_EQ(*db->GetProperty("canopy.groups"), "0");
  for (GroupKind kind : {GroupKind::kDevice, GroupKind::kUser}) {
    auto g = db->CreateGroup(Actor::System(), {.kind = kind, .name = "g", .owner = *t});
    ASSERT_TRUE(g.ok()) << g.status().ToString();
  }
  EXPECT_EQ(*db->GetProperty("canopy.groups"), "2");
  EXPECT_EQ(*db->GetProperty("canopy.assets"), "0");
  EXPECT_EQ(*db->GetProperty("canopy.revision"), std::to_string(db->Revision()));
  for (const std::string& name : Db::PropertyNames()) {
    auto v = db->GetProperty(name);
    EXPECT_TRUE(v.ok()) << name << ": " << v.status().ToString();
  }
  auto keys = db->GetProperty("rocksdb.estimate-num-keys");
  ASSERT_TRUE(keys.ok());
  EXPECT_GT(std::stoull(*keys), 0u);
  EXPECT_TRUE(db->GetProperty("rocksdb.stats@entities").ok());
  auto st = db->GetProperty("rocksdb.statistics");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_NE(st->find("rocksdb."), std::string::npos);
  // Bad names say what was wrong.
  auto bad = db->GetProperty("canopy.nope");
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
  EXPECT_NE(bad.status().message().find("canopy.nope"), std::string::npos);
  EXPECT_EQ(db->GetProperty("rocksdb.nope").status().code(), Code::kNotFound);
  EXPECT_EQ(db->GetProperty("rocksdb.stats@nospace").status().code(), Code::kNotFound);
  // The key spaces share one block cache: its figures are read once, not
  // summed over the key spaces (which once said 19 x the capacity).
  EXPECT_EQ(*db->GetProperty("rocksdb.block-cache-capacity"),
            std::to_string(Options().block_cache_bytes));
  EXPECT_EQ(*db->GetProperty("rocksdb.block-cache-usage"),
            *db->GetProperty("rocksdb.block-cache-usage@entities"));
  ASSERT_OK(db->Close());
  EXPECT_EQ(db->GetProperty("canopy.accounts").status().code(), Code::kFailedPrecondition);
}

TEST(Stats, StatisticsOffIsSaidSo) {
  TempDir dir;
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(Options(), dir.Sub("db"), &db));
  auto st = db->GetProperty("rocksdb.statistics");
  EXPECT_EQ(st.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(st.status().message().find("Options::statistics"), std::string::npos);
}

TEST(Stats, LogCallbackReceivesMessagesAndNoLogFileIsWritten) {
  TempDir dir;
  std::mutex mu;
  std::vector<std::string> got;
  Options o;
  o.log_level = LogLevel::kInfo;
  o.log = [&](LogLevel, std::string_view m) {
    std::lock_guard<std::mutex> g(mu);
    got.emplace_back(m);
  };
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(o, dir.Sub("db"), &db));
    ASSERT_TRUE(db->CreateAccount(Actor::System(), {.key = "t", .name = "T"}).ok());
  }
  std::lock_guard<std::mutex> g(mu);
  EXPECT_FALSE(got.empty());  // RocksDB logs its options at info level on open
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("db") + "/LOG"));
}

// Without a callback a writer's messages go to LOG in its folder (RocksDB's
// header at each open among them), Canopy's own too; a read-only open
// beside it writes none and leaves the writer's LOG where it is.
TEST(Stats, WithoutACallbackTheWriterKeepsALogFileAndReadersWriteNone) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  std::unique_ptr<Db> db;
  ASSERT_OK(Db::Open(Options(), path, &db));
  ASSERT_TRUE(db->CreateAccount(Actor::System(), {.key = "t", .name = "T"}).ok());
  auto read_log = [&] {
    std::ifstream f(path + "/LOG");
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const std::string log = read_log();
  EXPECT_NE(log.find("RocksDB version"), std::string::npos) << log.substr(0, 200);
  Options ro;
  ro.read_only = true;
  std::unique_ptr<Db> reader;
  ASSERT_OK(Db::Open(ro, path, &reader));
  ASSERT_OK(reader->Close());
  EXPECT_EQ(read_log(), log) << "a reader wrote into the writer's LOG";
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    EXPECT_EQ(e.path().filename().string().rfind("LOG.old", 0), std::string::npos) << e.path();
  }
  ASSERT_OK(db->Close());
}

TEST(Stats, TuningOptionsApplyAndBadOnesAreRefused) {
  TempDir dir;
  Options o;
  o.wal_dir = dir.Sub("wal");
  o.compression = Compression::kNone;
  o.max_open_files = 64;
  o.background_write_bytes_per_second = 8 << 20;
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(o, dir.Sub("db"), &db));
    ASSERT_TRUE(db->CreateAccount(Actor::System(), {.key = "t", .name = "T"}).ok());
  }
  bool wal_there = false;
  for (const auto& f : std::filesystem::directory_iterator(dir.Sub("wal"))) {
    wal_there |= f.path().extension() == ".log";
  }
  EXPECT_TRUE(wal_there);
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(o, dir.Sub("db"), &db));
    EXPECT_TRUE(db->FindAccount("t").ok());  // recovered from the WAL folder
  }
  Options bad;
  bad.max_open_files = 3;
  std::unique_ptr<Db> db;
  Status s = Db::Open(bad, dir.Sub("other"), &db);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("max_open_files"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("other")));  // nothing created
}

}  // namespace
}  // namespace canopy
