// Copyright (c) Canopy authors.

#include "storage/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "canopy/version.h"
#include "storage/records.h"
#include "tests/test_util.h"

namespace canopy::storage {
namespace {

using canopy::testing::TempDir;

TEST(Store, CreatesAndReopens) {
  TempDir dir;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  EXPECT_EQ(s->format().version, kStorageFormatVersion);
  EXPECT_EQ(s->format().magic, kMagic);
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  StoreOptions no_create;
  no_create.create_if_missing = false;
  ASSERT_TRUE(Store::Open(no_create, dir.Sub("db"), &s).ok());
}

TEST(Store, MissingAndExistingAreReported) {
  TempDir dir;
  std::unique_ptr<Store> s;
  StoreOptions no_create;
  no_create.create_if_missing = false;
  EXPECT_EQ(Store::Open(no_create, dir.Sub("none"), &s).code(), Code::kNotFound);
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  s.reset();
  StoreOptions excl;
  excl.error_if_exists = true;
  EXPECT_EQ(Store::Open(excl, dir.Sub("db"), &s).code(), Code::kAlreadyExists);
}

TEST(Store, RefusesAFolderWithOtherFiles) {
  TempDir dir;
  std::ofstream(dir.Sub("notes.txt")) << "hello";
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), dir.path(), &s);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_EQ(s, nullptr);
}

TEST(Store, RefusesAPlainRocksDbDatabase) {
  TempDir dir;
  rocksdb::DB* raw = nullptr;
  rocksdb::Options o;
  o.create_if_missing = true;
  ASSERT_TRUE(rocksdb::DB::Open(o, dir.Sub("raw"), &raw).ok());
  delete raw;
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), dir.Sub("raw"), &s);
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("not a Canopy database"), std::string::npos);
}

// Rewrites the format record through RocksDB directly.
void RewriteFormat(const std::string& path, const FormatRecord& f) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), path, &s).ok());
  rocksdb::WriteOptions wo;
  ASSERT_TRUE(s->db()->Put(wo, s->cf(kMeta), std::string(kFormatKey), EncodeFormat(f)).ok());
}

TEST(Store, RefusesANewerFormat) {
  TempDir dir;
  FormatRecord f;
  f.magic = std::string(kMagic);
  f.version = kStorageFormatVersion + 1;
  f.max_depth = 32;
  f.library_version = "9.9.9";
  RewriteFormat(dir.Sub("db"), f);
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), dir.Sub("db"), &s);
  EXPECT_EQ(st.code(), Code::kNotSupported) << st.ToString();
  EXPECT_NE(st.message().find("9.9.9"), std::string::npos) << st.ToString();
}

TEST(Store, RefusesAWrongMagic) {
  TempDir dir;
  FormatRecord f;
  f.magic = "someone-else";
  f.version = 1;
  f.max_depth = 32;
  RewriteFormat(dir.Sub("db"), f);
  std::unique_ptr<Store> s;
  EXPECT_EQ(Store::Open(StoreOptions(), dir.Sub("db"), &s).code(), Code::kCorruption);
}

TEST(Store, RefusesADamagedFormatRecord) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
    ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(kMeta), std::string(kFormatKey), "junk").ok());
  }
  std::unique_ptr<Store> s;
  EXPECT_EQ(Store::Open(StoreOptions(), dir.Sub("db"), &s).code(), Code::kCorruption);
}

// A creation that crashed after RocksDB made its files but before the
// format record was written leaves every key space empty: the next open
// initialises the database instead of calling it corrupt.
TEST(Store, InitialisesACreationThatStoppedBeforeTheFormatRecord) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
    ASSERT_TRUE(s->db()->Delete(rocksdb::WriteOptions(), s->cf(kMeta), std::string(kFormatKey)).ok());
  }
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), dir.Sub("db"), &s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s->format().version, kStorageFormatVersion);
}

// Without a format record but with data it is not a database we made (or
// it was damaged): refused.
TEST(Store, RefusesDataWithoutAFormatRecord) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
    ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(kAccounts), "k", "v").ok());
    ASSERT_TRUE(s->db()->Delete(rocksdb::WriteOptions(), s->cf(kMeta), std::string(kFormatKey)).ok());
  }
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), dir.Sub("db"), &s);
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("no format record"), std::string::npos) << st.ToString();
}

// Scratch folders of an import that crashed are removed on open.
TEST(Store, RemovesLeftoverImportFoldersOnOpen) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  }
  std::filesystem::create_directories(dir.Sub("db") + "/import-0123456789abcdef");
  std::ofstream(dir.Sub("db") + "/import-0123456789abcdef/000001.sst") << "partial";
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("db") + "/import-0123456789abcdef"));
}

TEST(Store, SecondOpenOfTheSameFolderIsAnIOError) {
  TempDir dir;
  std::unique_ptr<Store> a, b;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &a).ok());
  Status st = Store::Open(StoreOptions(), dir.Sub("db"), &b);
  EXPECT_EQ(st.code(), Code::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("in use"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace canopy::storage
