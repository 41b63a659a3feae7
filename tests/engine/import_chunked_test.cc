// Copyright (c) Canopy authors.
//
// The import's bounded-memory path at tiny scale: CANOPY_IMPORT_CHUNK=N
// makes every buffer of an import N records (batches of N lines, sort
// pieces spilled to run files past N pairs, SST files of N pairs), so a
// file of a few dozen lines goes through every path a file of a hundred
// million does. The result must equal the in-memory path's byte for byte,
// duplicates must still be refused by their lines, and a failure must
// leave neither a change nor a scratch file.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/db_impl.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::OpenDb;
using testing::TempDir;

// Sets CANOPY_IMPORT_CHUNK for its lifetime (unset: the default sizes).
class ChunkSize {
 public:
  explicit ChunkSize(int records) {
    if (records > 0) setenv("CANOPY_IMPORT_CHUNK", std::to_string(records).c_str(), 1);
  }
  ~ChunkSize() { unsetenv("CANOPY_IMPORT_CHUNK"); }
};

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string Device(int i, const std::string& account, const std::string& unit = "") {
  std::string line = "{\"type\":\"device\",\"key\":\"dev-" + std::to_string(i) + "\"";
  if (!unit.empty()) line += ",\"unit_id\":\"" + unit + "\"";
  return line + ",\"name\":\"Device " + std::to_string(i) +
         "\",\"device_type\":\"tracker\",\"account\":\"" + account + "\"}\n";
}

// A tree with every record type: nested accounts, a custom role, users and
// memberships, devices (keys and unit ids in no particular order, some
// with attributes) and other entity kinds, blank lines.
std::string Tree() {
  std::string t =
      "{\"type\":\"account\",\"key\":\"root\",\"name\":\"Root\",\"settings\":"
      "{\"sub_account_management\":true}}\n"
      "{\"type\":\"role\",\"tenant\":\"root\",\"name\":\"auditor\",\"permissions\":"
      "[\"device.read\"]}\n";
  for (int a = 0; a < 6; ++a) {
    t += "{\"type\":\"account\",\"key\":\"a" + std::to_string(a) + "\",\"name\":\"A\",\"parent\":\"" +
         (a < 2 ? std::string("root") : "a" + std::to_string(a % 2)) +
         "\",\"attributes\":{\"tier\":\"" + std::to_string(a) + "\"}}\n";
  }
  t += "\n";
  for (int u = 0; u < 4; ++u) {
    const std::string login = "u" + std::to_string(u) + "@x";
    t += "{\"type\":\"user\",\"login\":\"" + login + "\",\"name\":\"U\",\"account\":\"a" +
         std::to_string(u) + "\"}\n";
    t += "{\"type\":\"membership\",\"login\":\"" + login + "\",\"account\":\"a" +
         std::to_string(u) + "\",\"role\":\"" + (u == 3 ? "auditor" : "viewer") + "\"}\n";
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 60; ++i) {
    const int k = static_cast<int>(rng() % 100000);
    t += "{\"type\":\"device\",\"key\":\"d" + std::to_string(k) + "-" + std::to_string(i) +
         "\",\"unit_id\":\"U" + std::to_string(rng() % 100000) + "-" + std::to_string(i) +
         "\",\"name\":\"Device\",\"device_type\":\"sensor\",\"account\":\"a" +
         std::to_string(rng() % 6) + "\"" +
         (i % 3 == 0 ? ",\"attributes\":{\"fw\":\"1." + std::to_string(i) + "\",\"a\":\"b\"}" : "") +
         "}\n";
    if (i % 20 == 7) {
      t += "{\"type\":\"entity\",\"kind\":\"asset\",\"key\":\"asset-" + std::to_string(i) +
           "\",\"name\":\"Site\",\"account\":\"root\",\"type\":\"depot\"}\n\r\n";
    }
  }
  return t;
}

// The SST files RocksDB holds for key space `cf`.
size_t LiveFiles(Db* db, int cf) {
  std::vector<rocksdb::LiveFileMetaData> files;
  static_cast<engine::DbImpl*>(db)->store()->db()->GetLiveFilesMetaData(&files);
  size_t n = 0;
  for (const auto& f : files) n += f.column_family_name == storage::CfName(cf);
  return n;
}

// The folder holds no import scratch folder.
void ExpectNoScratch(const std::string& db_dir) {
  for (const auto& entry : std::filesystem::directory_iterator(db_dir)) {
    EXPECT_NE(entry.path().filename().string().rfind(std::string(storage::kScratchPrefix), 0), 0u)
        << entry.path();
  }
}

// One file imported by a leader with one chunk size and replayed from its
// log by a follower with another: both must hold the same bytes.
void ExpectSameResult(int leader_chunk, int follower_chunk) {
  TempDir dir;
  Write(dir.Sub("tree.jsonl"), Tree());
  auto leader = OpenDb(dir.Sub("leader"));
  auto follower = OpenDb(dir.Sub("follower"));
  ImportReport report;
  {
    ChunkSize chunk(leader_chunk);
    ASSERT_OK(leader->Import(Actor::System(), dir.Sub("tree.jsonl"), ImportOptions(), &report));
  }
  EXPECT_EQ(report.accounts, 7u);
  EXPECT_EQ(report.users, 4u);
  EXPECT_EQ(report.memberships, 4u);
  EXPECT_EQ(report.entities, 63u);
  std::vector<std::string> entries;
  ASSERT_OK(leader->ReadLogEntries(1, 1000, &entries));
  {
    ChunkSize chunk(follower_chunk);
    ASSERT_OK(follower->ApplyChanges(entries, nullptr));
  }
  const testing::Dump want = testing::DumpReplicated(leader.get());
  const testing::Dump got = testing::DumpReplicated(follower.get());
  EXPECT_TRUE(want == got) << testing::DescribeDiff(want, got);
  for (Db* db : {leader.get(), follower.get()}) {
    std::vector<std::string> problems;
    EXPECT_OK(db->CheckIntegrity(&problems));
    for (const auto& p : problems) ADD_FAILURE() << p;
  }
  // The chunked side really went through SST files of a few pairs each.
  Db* chunked = leader_chunk > 0 ? leader.get() : follower.get();
  Db* whole = leader_chunk > 0 ? follower.get() : leader.get();
  EXPECT_GE(LiveFiles(chunked, storage::kEntities), 10u);
  EXPECT_GE(LiveFiles(chunked, storage::kVisibility), 10u);
  EXPECT_LE(LiveFiles(whole, storage::kEntities), 1u);
  ExpectNoScratch(dir.Sub("leader"));
  ExpectNoScratch(dir.Sub("follower"));
}

TEST(ImportChunked, SameBytesAsTheInMemoryPath) {
  ExpectSameResult(/*leader_chunk=*/0, /*follower_chunk=*/3);
  ExpectSameResult(/*leader_chunk=*/2, /*follower_chunk=*/0);
}

TEST(ImportChunked, DuplicatesAcrossChunksNameTheLaterLine) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "acc", .name = "A"}));
  const testing::Dump before = DumpAll(db.get());
  ChunkSize chunk(3);
  struct Case {
    std::string text;
    std::string message;
  };
  std::vector<Case> cases;
  {
    // Line 17 repeats line 4's key, many chunks apart; line 25 repeats it
    // again: the first repeat is named, with the line it repeats.
    std::string t;
    for (int i = 1; i <= 30; ++i) t += Device(i == 17 || i == 25 ? 4 : i, "acc");
    cases.push_back({t, "line 17: device 'dev-4' appears twice (also on line 4)"});
  }
  {
    std::string t;
    for (int i = 1; i <= 30; ++i) t += Device(i, "acc", "U-" + std::to_string(i == 29 ? 2 : i));
    cases.push_back({t, "line 29: unit id 'U-2' appears twice (also on line 2)"});
  }
  {
    // A repeated key comes before a repeated unit id, whatever their lines.
    std::string t;
    for (int i = 1; i <= 30; ++i) {
      t += Device(i == 28 ? 20 : i, "acc", "U-" + std::to_string(i == 6 ? 5 : i));
    }
    cases.push_back({t, "line 28: device 'dev-20' appears twice (also on line 20)"});
  }
  for (const Case& c : cases) {
    Write(dir.Sub("dup.jsonl"), c.text);
    Status s = db->Import(Actor::System(), dir.Sub("dup.jsonl"), ImportOptions(), nullptr);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("nothing was imported"), std::string::npos) << s.ToString();
    const testing::Dump after = DumpAll(db.get());
    EXPECT_TRUE(before == after) << testing::DescribeDiff(before, after);
    ExpectNoScratch(dir.Sub("db"));
  }
}

TEST(ImportChunked, AFailureMidwayChangesNothingAndLeavesNoScratch) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "acc", .name = "A"}));
  const testing::Dump before = DumpAll(db.get());
  ChunkSize chunk(3);
  struct Case {
    int bad_line;
    std::string line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {35, "not json\n", "line 35: not valid JSON"},
      {41, Device(41, "nowhere"), "line 41: account 'nowhere' is not an account"},
      {38, "{\"type\":\"device\",\"key\":\"\",\"name\":\"D\",\"account\":\"acc\"}\n",
       "line 38: device key is empty"},
      {44, "{\"type\":\"end\",\"records\":3,\"xxh3\":\"0000000000000000\"}\n", "line 44: end line counts 3 records"},
      {40, "{\"type\":\"device\",\"key\":\"d\",\"name\":\"D\",\"account\":\"acc\",\"colour\":\"red\"}\n",
       "line 40: unknown field 'colour' in device record"},
  };
  for (const Case& c : cases) {
    // Every earlier line is fine; many chunks were written and spilled
    // before the bad one.
    std::string text;
    for (int i = 1; i < c.bad_line; ++i) text += Device(i, "acc", "U-" + std::to_string(i));
    text += c.line;
    for (int i = c.bad_line + 1; i <= 60; ++i) text += Device(i, "acc");
    Write(dir.Sub("bad.jsonl"), text);
    Status s = db->Import(Actor::System(), dir.Sub("bad.jsonl"), ImportOptions(), nullptr);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("nothing was imported"), std::string::npos) << s.ToString();
    const testing::Dump after = DumpAll(db.get());
    EXPECT_TRUE(before == after) << testing::DescribeDiff(before, after);
    ExpectNoScratch(dir.Sub("db"));
  }
  // The same file without the bad line imports, through the same path.
  std::string good;
  for (int i = 1; i <= 60; ++i) good += Device(i, "acc", "U-" + std::to_string(i));
  Write(dir.Sub("good.jsonl"), good);
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("good.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.entities, 60u);
  EXPECT_EQ(db->FindDeviceByUnitId("U-60")->key, "dev-60");
  EXPECT_OK(db->CheckIntegrity(nullptr));
  ExpectNoScratch(dir.Sub("db"));
}

// A bad chunk size is ignored (the defaults apply), not a failure.
TEST(ImportChunked, AMalformedChunkSizeMeansTheDefaults) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  Write(dir.Sub("tree.jsonl"), Tree());
  for (const char* bad : {"0", "-3", "lots", "3x", "99999999999999999999"}) {
    setenv("CANOPY_IMPORT_CHUNK", bad, 1);
    auto fresh = OpenDb(dir.Sub(std::string("db-") + bad));
    ASSERT_OK(fresh->Import(Actor::System(), dir.Sub("tree.jsonl"), ImportOptions(), nullptr));
    EXPECT_LE(LiveFiles(fresh.get(), storage::kEntities), 1u) << bad;
  }
  unsetenv("CANOPY_IMPORT_CHUNK");
}

}  // namespace
}  // namespace canopy
