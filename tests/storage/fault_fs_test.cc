// Copyright (c) Canopy authors.
//
// The power-loss file system (tests/fault_fs.h) does what it promises:
// unsynced bytes, and creates, renames and deletes without a directory
// fsync, are gone after Reboot; synced ones stay; a cut power writes nothing.

#include "tests/fault_fs.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace canopy::testing {
namespace {

namespace fs = std::filesystem;
using rocksdb::IOOptions;

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FaultFsTest : public ::testing::Test {
 protected:
  FaultFsTest()
      : fs_(std::make_shared<FaultFs>(rocksdb::FileSystem::Default(), dir_.Sub("trash"))),
        root_(dir_.Sub("d")) {
    fs::create_directories(root_);
  }

  // Creates `name` in root_ with `synced` then `unsynced` bytes.
  void Write(const std::string& name, const std::string& synced, const std::string& unsynced) {
    std::unique_ptr<rocksdb::FSWritableFile> f;
    ASSERT_TRUE(fs_->NewWritableFile(P(name), rocksdb::FileOptions(), &f, nullptr).ok());
    ASSERT_TRUE(f->Append(synced, IOOptions(), nullptr).ok());
    ASSERT_TRUE(f->Sync(IOOptions(), nullptr).ok());
    ASSERT_TRUE(f->Append(unsynced, IOOptions(), nullptr).ok());
    ASSERT_TRUE(f->Close(IOOptions(), nullptr).ok());
  }
  void SyncDir() {
    std::unique_ptr<rocksdb::FSDirectory> d;
    ASSERT_TRUE(fs_->NewDirectory(root_, IOOptions(), &d, nullptr).ok());
    ASSERT_TRUE(d->Fsync(IOOptions(), nullptr).ok());
  }
  std::string P(const std::string& name) const { return root_ + "/" + name; }

  TempDir dir_;
  std::shared_ptr<FaultFs> fs_;
  std::string root_;
};

TEST_F(FaultFsTest, UnsyncedBytesAndUnsyncedCreatesAreLost) {
  Write("a", "durable", "-lost");
  Write("b", "also durable", "");
  SyncDir();
  Write("c", "never in a synced folder", "");
  EXPECT_EQ(Read(P("a")), "durable-lost");  // all there before the power loss
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_EQ(Read(P("a")), "durable");
  EXPECT_EQ(Read(P("b")), "also durable");
  EXPECT_FALSE(fs::exists(P("c")));
  EXPECT_EQ(fs_->last_reboot().creates_undone, 1u);
  EXPECT_EQ(fs_->last_reboot().bytes_dropped, 5u);
  // After the reboot everything on disk counts as durable.
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_EQ(Read(P("a")), "durable");
}

TEST_F(FaultFsTest, RenamesAndDeletesWithoutADirectorySyncAreUndone) {
  Write("CURRENT", "old\n", "");
  Write("gone", "kept", "");
  SyncDir();
  Write("tmp", "new\n", "");
  ASSERT_TRUE(fs_->RenameFile(P("tmp"), P("CURRENT"), IOOptions(), nullptr).ok());
  ASSERT_TRUE(fs_->DeleteFile(P("gone"), IOOptions(), nullptr).ok());
  EXPECT_EQ(Read(P("CURRENT")), "new\n");
  EXPECT_FALSE(fs::exists(P("gone")));
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_EQ(Read(P("CURRENT")), "old\n");
  EXPECT_EQ(Read(P("gone")), "kept");
  EXPECT_FALSE(fs::exists(P("tmp")));  // the rename is undone, then its create
  EXPECT_FALSE(fs::exists(dir_.Sub("trash")));

  // The same with a directory sync in between: it all stays.
  Write("tmp", "new\n", "");
  ASSERT_TRUE(fs_->RenameFile(P("tmp"), P("CURRENT"), IOOptions(), nullptr).ok());
  ASSERT_TRUE(fs_->DeleteFile(P("gone"), IOOptions(), nullptr).ok());
  SyncDir();
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_EQ(Read(P("CURRENT")), "new\n");
  EXPECT_FALSE(fs::exists(P("gone")));
  EXPECT_FALSE(fs::exists(P("tmp")));
}

// A folder written as NAME.tmp, renamed to NAME and synced under its new
// name (RocksDB's checkpoints): its files are durable, its new name only
// once its parent is synced too.
TEST_F(FaultFsTest, ARenamedFolderTakesItsEntriesAlong) {
  SyncDir();
  ASSERT_TRUE(fs_->CreateDir(P("cp.tmp"), IOOptions(), nullptr).ok());
  Write("cp.tmp/a", "data", "");
  ASSERT_TRUE(fs_->RenameFile(P("cp.tmp"), P("cp"), IOOptions(), nullptr).ok());
  {
    std::unique_ptr<rocksdb::FSDirectory> d;
    ASSERT_TRUE(fs_->NewDirectory(P("cp"), IOOptions(), &d, nullptr).ok());
    ASSERT_TRUE(d->Fsync(IOOptions(), nullptr).ok());
  }
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_FALSE(fs::exists(P("cp")));  // the parent was not synced
  EXPECT_EQ(Read(P("cp.tmp/a")), "data");

  ASSERT_TRUE(fs_->RenameFile(P("cp.tmp"), P("cp"), IOOptions(), nullptr).ok());
  SyncDir();
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_EQ(Read(P("cp/a")), "data");
}

TEST_F(FaultFsTest, ACutPowerWritesNothing) {
  std::unique_ptr<rocksdb::FSWritableFile> f;
  ASSERT_TRUE(fs_->NewWritableFile(P("a"), rocksdb::FileOptions(), &f, nullptr).ok());
  ASSERT_TRUE(f->Append("x", IOOptions(), nullptr).ok());
  fs_->CutPowerAfter(2);
  ASSERT_TRUE(f->Append("y", IOOptions(), nullptr).ok());
  EXPECT_FALSE(f->Sync(IOOptions(), nullptr).ok());  // the second call: power cut
  EXPECT_FALSE(fs_->powered());
  EXPECT_FALSE(f->Append("z", IOOptions(), nullptr).ok());
  std::unique_ptr<rocksdb::FSWritableFile> g;
  EXPECT_FALSE(fs_->NewWritableFile(P("b"), rocksdb::FileOptions(), &g, nullptr).ok());
  EXPECT_FALSE(fs_->DeleteFile(P("a"), IOOptions(), nullptr).ok());
  EXPECT_EQ(Read(P("a")), "xy");
  EXPECT_FALSE(fs::exists(P("b")));
  f.reset();
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_FALSE(fs::exists(P("a")));  // never synced, nor its folder
  EXPECT_TRUE(fs_->powered());
}

TEST_F(FaultFsTest, ARandomRebootKeepsAPrefix) {
  SyncDir();
  Write("a", "0123", "456789");
  std::mt19937_64 rng(7);
  fs_->CutPower();
  ASSERT_TRUE(fs_->Reboot(&rng).ok());
  if (fs::exists(P("a"))) {
    const std::string got = Read(P("a"));
    EXPECT_EQ(got, std::string("0123456789").substr(0, got.size()));
    EXPECT_GE(got.size(), 4u);
  }
}

// RocksDB on it: synced writes survive a power loss, unsynced ones may not,
// and the database opens either way.
TEST_F(FaultFsTest, RocksDbSyncedWritesSurvive) {
  auto env = FaultFs::NewEnv(fs_);
  rocksdb::Options o;
  o.create_if_missing = true;
  o.env = env.get();
  const std::string path = dir_.Sub("rocks");
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(db->Put(sync, "k" + std::to_string(i), "v").ok());
    }
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "unsynced", "v").ok());
    fs_->CutPower();
    (void)db->Close();
  }
  ASSERT_TRUE(fs_->Reboot().ok());
  EXPECT_GT(fs_->last_reboot().bytes_dropped, 0u) << fs_->last_reboot().ToString();
  rocksdb::DB* raw = nullptr;
  o.env = rocksdb::Env::Default();
  ASSERT_TRUE(rocksdb::DB::Open(o, path, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string v;
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), "k" + std::to_string(i), &v).ok()) << i;
  }
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), "unsynced", &v).IsNotFound());
}

}  // namespace
}  // namespace canopy::testing
