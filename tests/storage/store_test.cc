// Copyright (c) Canopy authors.

#include "storage/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/write_batch.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "canopy/version.h"
#include "storage/forks.h"
#include "storage/records.h"
#include "tests/fault_fs.h"
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

// RocksDB's repeated kinds ("Corruption: Corruption: ...") are said once.
TEST(Store, RocksDbErrorsAreWordedOnce) {
  EXPECT_EQ(FromRocks(rocksdb::Status::Corruption("Corruption: checksum mismatch"), "read").message(),
            "read: Corruption: checksum mismatch");
  EXPECT_EQ(FromRocks(rocksdb::Status::IOError("IO error: x", "y"), "").message(), "IO error: x: y");
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

// ReadSequence reads the latest value, or the one a snapshot holds.
TEST(Store, ReadSequenceAtASnapshot) {
  TempDir dir;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  const rocksdb::Snapshot* empty = s->db()->GetSnapshot();
  ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(kMeta), "seq.test", Fixed64BE(5)).ok());
  const rocksdb::Snapshot* five = s->db()->GetSnapshot();
  ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(kMeta), "seq.test", Fixed64BE(9)).ok());
  uint64_t v = 77;
  ASSERT_TRUE(s->ReadSequence("seq.test", &v).ok());
  EXPECT_EQ(v, 9u);
  ASSERT_TRUE(s->ReadSequence("seq.test", &v, five).ok());
  EXPECT_EQ(v, 5u);
  ASSERT_TRUE(s->ReadSequence("seq.test", &v, empty).ok());
  EXPECT_EQ(v, 0u);  // never set then
  // A damaged value is Corruption naming the sequence, at a snapshot too
  // (and the snapshot before the damage still reads the good value).
  ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(kMeta), "seq.test", "short").ok());
  const rocksdb::Snapshot* damaged = s->db()->GetSnapshot();
  Status st = s->ReadSequence("seq.test", &v, damaged);
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("'seq.test'"), std::string::npos) << st.ToString();
  ASSERT_TRUE(s->ReadSequence("seq.test", &v, five).ok());
  EXPECT_EQ(v, 5u);
  for (const rocksdb::Snapshot* snap : {empty, five, damaged}) s->db()->ReleaseSnapshot(snap);
}

// A process that opens, writes a little and closes, again and again (the
// command line), flushes small files whose keys overlap nothing (new ids):
// RocksDB moves them down a level without merging them there, so without
// the merge at a writer's close they pile up; with it a key space keeps
// few, and every key is still there. (merge_files_at lowered from 32 to 8
// to keep the test short.)
TEST(Store, ClosesThatFlushSmallFilesDoNotPileThemUp) {
  TempDir dir;
  StoreOptions o;
  o.merge_files_at = 8;
  const int closes = 120;
  for (int i = 0; i < closes; ++i) {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(o, dir.Sub("db"), &s).ok());
    for (int cf : {kEntities, kChanges}) {
      ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(cf), Fixed64BE(i), "v").ok());
    }
    s->MergeSmallFiles();  // as a writer's close does (engine)
    ASSERT_TRUE(s->Close().ok());
  }
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(o, dir.Sub("db"), &s).ok());
  for (int cf : {kEntities, kChanges}) {
    rocksdb::ColumnFamilyMetaData meta;
    s->db()->GetColumnFamilyMetaData(s->cf(cf), &meta);
    EXPECT_LT(meta.file_count, 16u) << cf;
    EXPECT_GT(meta.file_count, 0u) << cf;
    for (int i = 0; i < closes; ++i) {
      std::string v;
      ASSERT_TRUE(s->Get(cf, Fixed64BE(i), &v).ok()) << cf << " " << i;
      EXPECT_EQ(v, "v");
    }
  }
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
// What killed processes leave in a database folder (an import's scratch
// folder, an open's temporary options file) is removed by the next open
// for writing; a read-only open leaves the folder as it is.
TEST(Store, RemovesWhatKilledProcessesLeftOnOpen) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), db, &s).ok());
  }
  const std::vector<std::string> debris = {db + "/import-0123456789abcdef",
                                           db + "/OPTIONS-000099.dbtmp"};
  std::filesystem::create_directories(debris[0]);
  std::ofstream(debris[0] + "/000001.sst") << "partial";
  std::ofstream(debris[1]) << "[Version]\n";  // cut short by the kill
  {
    StoreOptions ro;
    ro.read_only = true;
    std::unique_ptr<Store> s;
    ASSERT_OK(Store::Open(ro, db, &s));
    for (const auto& d : debris) EXPECT_TRUE(std::filesystem::exists(d)) << d;
  }
  std::unique_ptr<Store> s;
  ASSERT_OK(Store::Open(StoreOptions(), db, &s));
  for (const auto& d : debris) EXPECT_FALSE(std::filesystem::exists(d)) << d;
  for (const auto& e : std::filesystem::directory_iterator(db)) {
    EXPECT_NE(e.path().extension(), ".dbtmp") << "left: " << e.path();
  }
}

// RocksDB 7 starts a new write-ahead log at every open and keeps the
// previous one until a flush moves past it: opens that write nothing left
// one empty file each (a cron job reading every minute, 1440 a day). The
// writer's open removes the empty ones; a log with records stays until
// RocksDB is done with it, and nothing written is lost.
TEST(Store, OpensThatWriteNothingLeaveNoEmptyWalFilesBehind) {
  TempDir dir;
  for (const bool outside : {false, true}) {
    const std::string db = dir.Sub(outside ? "db-outside" : "db");
    const std::string wal = outside ? dir.Sub("wal") : db;
    StoreOptions o;
    if (outside) o.wal_dir = wal;
    auto wal_files = [&] {
      size_t n = 0;
      for (const auto& e : std::filesystem::directory_iterator(wal)) n += e.path().extension() == ".log";
      return n;
    };
    {
      std::unique_ptr<Store> s;
      ASSERT_OK(Store::Open(o, db, &s));
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(s->db()->Put(wo, s->cf(kMeta), "kept", "yes").ok());
      // Not closed: the log with the record is what holds it.
    }
    for (int i = 0; i < 6; ++i) {
      std::unique_ptr<Store> s;
      ASSERT_OK(Store::Open(o, db, &s));
      std::string v;
      ASSERT_OK(s->Get(kMeta, "kept", &v));
      EXPECT_EQ(v, "yes");
      ASSERT_OK(s->Close());
    }
    EXPECT_LE(wal_files(), 2u) << (outside ? "wal_dir outside" : "wal in the folder");
    // Read-only opens create no log and remove none.
    const size_t before = wal_files();
    StoreOptions ro = o;
    ro.read_only = true;
    for (int i = 0; i < 3; ++i) {
      std::unique_ptr<Store> s;
      ASSERT_OK(Store::Open(ro, db, &s));
    }
    EXPECT_EQ(wal_files(), before);
  }
}

TEST(Store, SecondOpenOfTheSameFolderIsAnIOError) {
  TempDir dir;
  std::unique_ptr<Store> a, b;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &a).ok());
  Status st = Store::Open(StoreOptions(), dir.Sub("db"), &b);
  EXPECT_EQ(st.code(), Code::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("in use by this process"), std::string::npos) << st.ToString();
  EXPECT_EQ(st.message().find("another process"), std::string::npos) << st.ToString();
}


// ---- Creation is atomic --------------------------------------------------

// The states a crash during creation can leave (the marker, with nothing,
// with stray files, with a RocksDB database lacking key spaces or the
// format record) are all created again by the next open.
TEST(Store, AnInterruptedCreationIsStartedAgain) {
  namespace fs = std::filesystem;
  TempDir dir;
  auto marked = [&](const std::string& name) {
    const std::string p = dir.Sub(name);
    fs::create_directories(p);
    std::ofstream(p + "/" + std::string(kCreatingMarker)) << "x";
    return p;
  };
  std::vector<std::string> folders;
  folders.push_back(marked("marker-only"));
  folders.push_back(marked("stray-files"));
  std::ofstream(folders.back() + "/000003.log") << "half a write-ahead log";
  std::ofstream(folders.back() + "/CURRENT") << "MANIFEST-000009\n";
  fs::create_directories(folders.back() + "/import-00");
  {
    // A RocksDB database with only its default key space, as when RocksDB
    // had made its files but not Canopy's key spaces.
    const std::string p = dir.Sub("default-only");
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    o.create_if_missing = true;
    ASSERT_TRUE(rocksdb::DB::Open(o, p, &raw).ok());
    delete raw;
    std::ofstream(p + "/" + std::string(kCreatingMarker)) << "x";
    folders.push_back(p);
  }
  {
    // Every key space but no format record.
    const std::string p = dir.Sub("no-format");
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), p, &s).ok());
    ASSERT_TRUE(s->db()->Delete(rocksdb::WriteOptions(), s->cf(kMeta), std::string(kFormatKey)).ok());
    ASSERT_TRUE(s->db()->Put(rocksdb::WriteOptions(), s->cf(kAccounts), "debris", "v").ok());
    s.reset();
    std::ofstream(p + "/" + std::string(kCreatingMarker)) << "x";
    folders.push_back(p);
  }
  for (const auto& p : folders) {
    SCOPED_TRACE(p);
    StoreOptions no_create;
    no_create.create_if_missing = false;
    std::unique_ptr<Store> s;
    Status st = Store::Open(no_create, p, &s);
    EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
    EXPECT_NE(st.message().find("never fully created"), std::string::npos) << st.ToString();

    StoreOptions fresh;
    fresh.error_if_exists = true;  // an unfinished database does not exist yet
    st = Store::Open(fresh, p, &s);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(s->format().version, kStorageFormatVersion);
    EXPECT_FALSE(fs::exists(p + "/" + std::string(kCreatingMarker)));
    std::string v;
    EXPECT_TRUE(s->Get(kAccounts, "debris", &v).IsNotFound())
        << "debris of the interrupted creation survived";
    EXPECT_FALSE(fs::exists(p + "/import-00"));
    s.reset();
    ASSERT_TRUE(Store::Open(no_create, p, &s).ok());
  }
}

// A database whose CURRENT file is gone is damaged, whatever the open's
// options: never "a folder with other files", never "no database".
// A named pipe in place of one of RocksDB's files is refused by name
// instead of hanging the open (RocksDB reads CURRENT blocking).
TEST(Store, APipeInPlaceOfARocksDbFileIsRefusedNotWaitedFor) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_OK(Store::Open(StoreOptions(), dir.Sub("db"), &s));
  }
  const std::string current = dir.Sub("db") + "/CURRENT";
  ASSERT_TRUE(std::filesystem::remove(current));
  ASSERT_EQ(::mkfifo(current.c_str(), 0644), 0);
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), dir.Sub("db"), &s);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("CURRENT' is not a regular file"), std::string::npos)
      << st.ToString();
}

TEST(Store, ALostCurrentFileIsCorruption) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  }
  std::filesystem::remove(dir.Sub("db") + "/CURRENT");
  for (int mode = 0; mode < 3; ++mode) {
    StoreOptions o;
    o.create_if_missing = mode != 1;
    o.read_only = mode == 2;
    std::unique_ptr<Store> s;
    Status st = Store::Open(o, dir.Sub("db"), &s);
    EXPECT_EQ(st.code(), Code::kCorruption) << mode << ": " << st.ToString();
    EXPECT_NE(st.message().find("without its CURRENT file"), std::string::npos) << st.ToString();
  }
}

// An emptied manifest reads (to RocksDB) as a database of one default key
// space: said to be damage, in every mode, never "not a Canopy database",
// which would send the reader the wrong way.
TEST(Store, AnEmptiedManifestIsDamageNotAnotherProgramsDatabase) {
  TempDir dir;
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  }
  std::string manifest;
  std::ifstream(dir.Sub("db") + "/CURRENT") >> manifest;
  ASSERT_FALSE(manifest.empty());
  std::ofstream(dir.Sub("db") + "/" + manifest, std::ios::trunc).close();
  for (int mode = 0; mode < 3; ++mode) {
    StoreOptions o;
    o.create_if_missing = mode != 1;
    o.read_only = mode == 2;
    std::unique_ptr<Store> s;
    Status st = Store::Open(o, dir.Sub("db"), &s);
    EXPECT_EQ(st.code(), Code::kCorruption) << mode << ": " << st.ToString();
    EXPECT_NE(st.message().find("is damaged: its manifest file '" + manifest +
                                "' (named by CURRENT) is empty"),
              std::string::npos)
        << st.ToString();
  }
  EXPECT_EQ(std::filesystem::file_size(dir.Sub("db") + "/" + manifest), 0u);
}

// A path that names a file, not a folder, is said to be one in every mode
// (never "no database", which would send the reader to create one there),
// and the file is left as it was.
TEST(Store, AFileInPlaceOfTheFolderIsNamedInEveryMode) {
  TempDir dir;
  const std::string p = dir.Sub("a-file");
  std::ofstream(p) << "not a database";
  for (int mode = 0; mode < 4; ++mode) {
    StoreOptions o;
    o.create_if_missing = mode == 0;
    o.read_only = mode == 2;
    if (mode == 3) o.secondary_path = dir.Sub("secondary");
    std::unique_ptr<Store> s;
    Status st = Store::Open(o, p, &s);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << mode << ": " << st.ToString();
    EXPECT_NE(st.message().find("'" + p + "' exists and is not a folder"), std::string::npos)
        << mode << ": " << st.ToString();
  }
  std::ifstream in(p);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "not a database");
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("secondary")));
}

// Two processes never create in one folder at once: the one that finds
// the folder claimed is refused with a clear error, and nothing changes.
TEST(Store, CreationInAFolderClaimedByAnotherProcessIsRefused) {
  TempDir dir;
  const std::string p = dir.Sub("db");
  std::filesystem::create_directories(p);
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::unique_ptr<Store> s;
  Status st = Store::Open(StoreOptions(), p, &s);
  EXPECT_EQ(st.code(), Code::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("being created"), std::string::npos) << st.ToString();
  EXPECT_TRUE(std::filesystem::is_empty(p));
  // With its marker written, a reader (and an open that may not create)
  // is told that a creation is under way, not that one crashed.
  { std::ofstream(std::filesystem::path(p) / kCreatingMarker) << "x"; }
  StoreOptions reader;
  reader.read_only = true;
  StoreOptions no_create;
  no_create.create_if_missing = false;
  for (const StoreOptions& o : {reader, no_create}) {
    st = Store::Open(o, p, &s);
    EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
    EXPECT_NE(st.message().find("is being created by another process"), std::string::npos)
        << st.ToString();
  }
  ::close(fd);
  for (const StoreOptions& o : {reader, no_create}) {
    st = Store::Open(o, p, &s);
    EXPECT_NE(st.message().find("never fully created (a crash during its creation)"),
              std::string::npos)
        << st.ToString();
  }
  std::filesystem::remove(std::filesystem::path(p) / kCreatingMarker);
  st = Store::Open(StoreOptions(), p, &s);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

// kill -9 at random moments of the first open of a new folder: every
// folder opens afterwards (the old failure: "lacks the key space ...",
// "not a Canopy database", "a folder with other files", forever).
TEST(Store, SigkillDuringCreationNeverBricksTheFolder) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "fork() after threads is not supported under ThreadSanitizer";
#endif
  // A child of a process that has opened a store cannot open one
  // (storage/forks.h): every child is forked before this test opens any.
  if (OpenedAStore()) GTEST_SKIP() << canopy::testing::kForkAlone;
  TempDir dir;
  std::mt19937_64 rng(7);
  int killed_mid_way = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string p = dir.Sub("db" + std::to_string(i));
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::unique_ptr<Store> s;
      _exit(Store::Open(StoreOptions(), p, &s).ok() ? 0 : 2);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    if (WIFEXITED(wstatus)) {
      ASSERT_EQ(WEXITSTATUS(wstatus), 0) << "the child's creation failed";
    } else if (std::filesystem::exists(p)) {
      ++killed_mid_way;
    }
  }
  for (int i = 0; i < 40; ++i) {  // then every folder opens
    const std::string p = dir.Sub("db" + std::to_string(i));
    std::unique_ptr<Store> s;
    Status st = Store::Open(StoreOptions(), p, &s);
    ASSERT_TRUE(st.ok()) << "try " << i << ": " << st.ToString();
    EXPECT_EQ(s->format().magic, kMagic);
  }
  // Not an assertion on timing: a note of what the run exercised.
  std::cout << "[          ] " << killed_mid_way << " of 40 kills hit a creation under way\n";
}

// A file system on which every table file a reader opens is missing:
// each time with another message (as when a busy writer keeps replacing
// its files), or always the same one (a file really gone).
class VanishingTables : public rocksdb::FileSystemWrapper {
 public:
  VanishingTables(bool same) : FileSystemWrapper(rocksdb::FileSystem::Default()), same_(same) {}
  static const char* kClassName() { return "VanishingTables"; }
  const char* Name() const override { return kClassName(); }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* d) override {
    // (RocksDB tries a table's old name, .ldb, after .sst.)
    const std::string ext = f.size() > 4 ? f.substr(f.size() - 4) : "";
    if (ext == ".sst" || ext == ".ldb") {
      const int n = ++misses_;
      return rocksdb::IOStatus::PathNotFound("No such file or directory: " +
                                             (same_ ? std::string("000007.sst")
                                                    : std::to_string(n) + ".sst"));
    }
    return target()->NewRandomAccessFile(f, o, r, d);
  }

 private:
  bool same_;
  std::atomic<int> misses_{0};
};

// A reader's open that keeps finding table files gone is Unavailable ("try
// again") only when a writer changed the file list meanwhile and the
// missing file kept changing; the same file missing attempt after attempt,
// or nothing written, is not a race (Corruption or IOError, as RocksDB
// words it).
TEST(Store, AReaderRacingABusyWriterIsUnavailableAndAGoneFileIsNot) {
  TempDir dir;
  const std::string p = dir.Sub("db");
  std::unique_ptr<Store> writer;
  ASSERT_TRUE(Store::Open(StoreOptions(), p, &writer).ok());
  ASSERT_TRUE(writer->db()->Put(rocksdb::WriteOptions(), writer->cf(kEntities), "k", "v").ok());
  ASSERT_TRUE(writer->db()->Flush(rocksdb::FlushOptions(), writer->cf(kEntities)).ok());
  auto read = [&](bool same, bool busy) {
    std::atomic<bool> stop{false};
    std::thread writes([&] {
      for (int i = 0; busy && !stop.load(); ++i) {
        (void)writer->db()->Put(rocksdb::WriteOptions(), writer->cf(kChanges), Fixed64BE(i), "v");
        (void)writer->db()->Flush(rocksdb::FlushOptions(), writer->cf(kChanges));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    auto fs = std::make_shared<VanishingTables>(same);
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    StoreOptions o;
    o.read_only = true;
    o.env = env.get();
    std::unique_ptr<Store> reader;
    const Status st = Store::Open(o, p, &reader);
    stop = true;
    writes.join();
    return st;
  };
  Status st = read(/*same=*/false, /*busy=*/true);
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("a writer kept replacing the files being read"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("try again"), std::string::npos) << st.ToString();
  st = read(/*same=*/true, /*busy=*/true);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.code(), Code::kUnavailable) << st.ToString();
  // Nothing written: the busy reads' flushes may still be compacting (a
  // compaction rewrites the MANIFEST, which is a writer's change), so the
  // writer's background work is held first.
  ASSERT_TRUE(writer->db()->PauseBackgroundWork().ok());
  st = read(/*same=*/false, /*busy=*/false);
  ASSERT_TRUE(writer->db()->ContinueBackgroundWork().ok());
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.code(), Code::kUnavailable) << st.ToString();
}

std::vector<std::string> LogFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".log") == 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Key "n" of every key space: one value when the view is whole.
std::set<std::string> ValuesOfN(Store* s) {
  std::set<std::string> values;
  for (int c = 0; c < kNumCfs; ++c) {
    std::string v;
    rocksdb::Status g = s->db()->Get(rocksdb::ReadOptions(), s->cf(c), "n", &v);
    values.insert(g.ok() ? v : "(none: " + g.ToString() + ")");
  }
  return values;
}

// A writer's flush that ends after a reader's open read the MANIFEST, and
// before it listed the write-ahead logs, retires a log the MANIFEST still
// counts on for the key spaces it had not flushed. The reader opens again
// instead of holding a view where one key space has a write and the
// others do not. (The writer here flushes one key space first, as a
// writer without atomic flushes, or an older version, does.)
TEST(Store, AReadOnlyOpenNeverHoldsAViewTornByAWritersFlush) {
  TempDir dir;
  const std::string p = dir.Sub("db");
  std::unique_ptr<Store> writer;
  ASSERT_TRUE(Store::Open(StoreOptions(), p, &writer).ok());
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  rocksdb::WriteBatch b;
  for (int c = 0; c < kNumCfs; ++c) {
    all.push_back(writer->cf(c));
    ASSERT_TRUE(b.Put(writer->cf(c), "n", "1").ok());
  }
  ASSERT_TRUE(writer->db()->Write(rocksdb::WriteOptions(), &b).ok());
  ASSERT_TRUE(writer->db()->Flush(rocksdb::FlushOptions(), writer->cf(kEntities)).ok());
  const std::vector<std::string> logs = LogFiles(p);
  ASSERT_GE(logs.size(), 2u) << "the first flush starts a new log and keeps the old one";
  std::string flushed;
  // Where RocksDB's read-only open, having read the MANIFEST and then
  // IDENTITY, lists the write-ahead logs to replay.
  auto fs = std::make_shared<canopy::testing::ListingHook>([&] {
    flushed = writer->db()->Flush(rocksdb::FlushOptions(), all).ToString();
    // The flush retires the first log; wait until it is gone.
    for (int i = 0; i < 500 && LogFiles(p).front() == logs.front(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }, "/IDENTITY");
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  StoreOptions o;
  o.read_only = true;
  o.env = env.get();
  std::unique_ptr<Store> reader;
  const Status st = Store::Open(o, p, &reader);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(fs->calls.load(), 1);
  EXPECT_EQ(flushed, "OK");
  EXPECT_NE(LogFiles(p).front(), logs.front()) << "the retired log was not deleted";
  EXPECT_EQ(ValuesOfN(reader.get()), std::set<std::string>{"1"});
}

// A writer at work, flushing as its close does (every key space at once),
// beside a follower catching up and read-only opens: every view has each
// write in every key space or in none, and no write without the ones
// before it. (Without atomic flushes some views hold key spaces at
// different writes; without the lost-log check, half lack writes.)
TEST(Store, ReadersBesideAFlushingWriterSeeWholeWrites) {
  TempDir dir;
  const std::string p = dir.Sub("db");
  std::unique_ptr<Store> writer;
  ASSERT_TRUE(Store::Open(StoreOptions(), p, &writer).ok());
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (int c = 0; c < kNumCfs; ++c) all.push_back(writer->cf(c));
  auto write = [&](int i) {
    rocksdb::WriteBatch b;
    for (int c = 0; c < kNumCfs; ++c) (void)b.Put(writer->cf(c), "n", Fixed64BE(i));
    (void)b.Put(writer->cf(kEntities), "w" + Fixed64BE(i), "");
    return writer->db()->Write(rocksdb::WriteOptions(), &b);
  };
  ASSERT_TRUE(write(0).ok());
  // "" when whole; else what is wrong.
  auto whole = [](Store* s) -> std::string {
    const std::set<std::string> values = ValuesOfN(s);
    if (values.size() != 1) return "key spaces at different writes";
    const std::string n = *values.begin();
    if (n.size() != 8) return "no write at all: " + n;
    uint64_t last = 0;
    for (char ch : n) last = last << 8 | static_cast<uint8_t>(ch);
    auto it = s->NewIterator(kEntities, nullptr, "w", "x", false);
    uint64_t count = 0;
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) ++count;
    if (count != last + 1) {
      return "write " + std::to_string(last) + " with " + std::to_string(count) +
             " writes in all";
    }
    return "";
  };
  TempDir secondary_dir;
  StoreOptions fo;
  fo.secondary_path = secondary_dir.Sub("s");
  std::unique_ptr<Store> follower;
  Status st = Store::Open(fo, p, &follower);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Rounds, not time: each round writes, then flushes on another thread
  // (and writes again after the flush) just as a reader reads, so that a
  // slow machine, or a sanitizer, meets as many races as a fast one.
  int catchups = 0, opens = 0, busy = 0;
  std::vector<std::string> torn;
  int next = 1;
  for (int round = 0; round < 120; ++round) {
    for (int k = 0; k < 5; ++k) ASSERT_TRUE(write(next++).ok());
    std::atomic<bool> go{false};
    const int after = next;
    next += 2;
    std::thread flush([&] {
      while (!go.load()) std::this_thread::yield();
      (void)writer->db()->Flush(rocksdb::FlushOptions(), all);
      (void)write(after);
      (void)write(after + 1);
    });
    go = true;
    auto tally = [&](const Status& read, Store* view, const char* who, int* reads) {
      if (read.ok()) {
        ++*reads;
        if (std::string w = whole(view); !w.empty()) torn.push_back(who + (": " + w));
      } else if (read.code() == Code::kUnavailable) {
        ++busy;
      } else {
        ADD_FAILURE() << read.ToString();
      }
    };
    if (round % 4 == 3) {
      StoreOptions ro;
      ro.read_only = true;
      std::unique_ptr<Store> reader;
      st = Store::Open(ro, p, &reader);
      tally(st, reader.get(), "read-only", &opens);
    } else {
      tally(follower->CatchUpWithPrimary(), follower.get(), "follower", &catchups);
    }
    flush.join();
  }
  EXPECT_TRUE(torn.empty()) << torn.size() << " torn views of " << catchups << " catch-ups and "
                            << opens << " opens; first: " << torn.front();
  EXPECT_EQ(busy, 0);
  EXPECT_TRUE(follower->Whole());
}

// Every table file is kept open: an open that runs out of file
// descriptors says so, and what to do (not only RocksDB's "Too many open
// files" on some file).
TEST(Store, AnOpenShortOfFileDescriptorsSaysWhatToRaise) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "fork() after threads is not supported under ThreadSanitizer";
#endif
  if (OpenedAStore()) GTEST_SKIP() << canopy::testing::kForkAlone;
  TempDir dir;
  const std::string p = dir.Sub("db");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // makes a database of a few table files
    std::unique_ptr<Store> s;
    bool ok = Store::Open(StoreOptions(), p, &s).ok();
    for (int cf : {kEntities, kChanges, kAccounts}) {
      ok = ok && s->db()->Put(rocksdb::WriteOptions(), s->cf(cf), "k", "v").ok();
    }
    _exit(ok && s->Close().ok() ? 0 : 2);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // opens it with two descriptors to spare
    ::close(out[0]);
    size_t open_fds = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      (void)e;
      ++open_fds;
    }
    const rlimit lim{open_fds + 2, open_fds + 2};
    ::setrlimit(RLIMIT_NOFILE, &lim);
    std::unique_ptr<Store> s;
    const Status st = Store::Open(StoreOptions(), p, &s);
    const std::string text = st.ToString();
    (void)!::write(out[1], text.data(), text.size());
    _exit(0);
  }
  ::close(out[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_NE(text.find("io_error"), std::string::npos) << text;
  EXPECT_NE(text.find("Too many open files"), std::string::npos) << text;
  EXPECT_NE(text.find("raise the process's limit on open files, ulimit -n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("or set max_open_files"), std::string::npos) << text;
  // With the usual limit it opens.
  std::unique_ptr<Store> s;
  EXPECT_TRUE(Store::Open(StoreOptions(), p, &s).ok());
}

// ForwardProbe lands where a seek would, whatever the spacing of the
// targets (dense, sparse, switching between them, absent keys, past the
// end), and never moves backward. The keys go through the groups key
// space's memtable insert hints ('m' and 'r' keys in and out of order,
// other kinds beside them) and, after a flush, through a table file.
// One vector of values reused across MultiGet calls (as a scan over
// group members reuses its own): a larger call after one whose values
// were pinned in table files, where a value now comes from the memtable,
// reads every value right (a grown vector moved pinned slices, and RocksDB
// 7.8's move leaves them without a buffer for a memtable value: a crash,
// or heap damage).
TEST(Store, AReusedMultiGetVectorReadsRightAfterPinnedValues) {
  TempDir dir;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  auto put = [&](int k, const std::string& v) {
    rocksdb::WriteBatch b;
    ASSERT_TRUE(b.Put(s->cf(kEntities), "k" + std::to_string(100 + k), v).ok());
    ASSERT_TRUE(s->Write(&b).ok());
  };
  for (int k = 0; k < 64; ++k) put(k, "stored-" + std::to_string(k));
  ASSERT_TRUE(s->db()->Flush(rocksdb::FlushOptions(), s->cf(kEntities)).ok());
  std::vector<rocksdb::PinnableSlice> values;
  std::vector<rocksdb::Status> statuses;
  std::map<int, std::string> want;
  for (int k = 0; k < 64; ++k) want[k] = "stored-" + std::to_string(k);
  size_t last = 0;  // the last call's size
  for (size_t n : {1, 2, 3, 5, 9, 17, 33, 64}) {
    // The last call's values were pinned in the table file's blocks; now
    // the last of them is in the memtable (a longer value than its own).
    if (last > 0) {
      put(static_cast<int>(last - 1), std::string(40 + n, 'm'));
      want[static_cast<int>(last - 1)] = std::string(40 + n, 'm');
    }
    last = n;
    std::vector<std::string> owned;
    for (size_t k = 0; k < n; ++k) owned.push_back("k" + std::to_string(100 + k));
    std::vector<rocksdb::Slice> keys(owned.begin(), owned.end());
    s->MultiGet(kEntities, keys, &values, &statuses, nullptr, /*sorted=*/true);
    ASSERT_EQ(values.size(), n);
    for (size_t k = 0; k < n; ++k) {
      ASSERT_TRUE(statuses[k].ok()) << n << " " << k << " " << statuses[k].ToString();
      EXPECT_EQ(values[k].ToString(), want[static_cast<int>(k)]) << n << " " << k;
    }
    ASSERT_TRUE(s->db()->Flush(rocksdb::FlushOptions(), s->cf(kEntities)).ok());
  }
}

TEST(Store, ForwardProbeLandsWhereASeekWould) {
  TempDir dir;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  std::mt19937_64 rng(7);
  std::set<std::string> keys;
  rocksdb::WriteBatch batch;
  auto put = [&](std::string k) {
    ASSERT_TRUE(batch.Put(s->cf(kGroups), k, "v").ok());
    keys.insert(std::move(k));
  };
  // Dense ids, then ids 10 and 1000 apart, in two orders.
  std::vector<uint64_t> ids;
  for (uint64_t i = 1; i <= 3000; ++i) ids.push_back(i);
  for (uint64_t i = 0; i < 3000; ++i) ids.push_back(10000 + 10 * i);
  for (uint64_t i = 0; i < 300; ++i) ids.push_back(100000 + 1000 * i);
  std::vector<uint64_t> shuffled = ids;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (uint64_t id : ids) put(GroupMemberKey(7, id));
  for (uint64_t id : shuffled) put(MemberGroupKey(kMemberEntity, id, 7));
  for (uint64_t id : shuffled) put(GroupMemberKey(3, id));
  put(GroupKey(7));
  put(GroupGrantKey(1, 2, 3));
  ASSERT_TRUE(s->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  for (int pass = 0; pass < 2; ++pass) {
    // Everything written is there, in order.
    {
      std::unique_ptr<rocksdb::Iterator> it(
          s->db()->NewIterator(rocksdb::ReadOptions(), s->cf(kGroups)));
      std::vector<std::string> read;
      for (it->SeekToFirst(); it->Valid(); it->Next()) read.push_back(it->key().ToString());
      ASSERT_TRUE(it->status().ok());
      EXPECT_EQ(read, std::vector<std::string>(keys.begin(), keys.end()));
    }
    // Ascending targets: present, absent, near and far apart.
    std::vector<std::string> targets;
    const uint64_t gaps[] = {1, 2, 5, 15, 150, 600, 4000};  // runs of one gap, then another
    for (uint64_t t = 0, gap = 1; t < 400000; t += 1 + rng() % gap) {
      if (rng() % 16 == 0) gap = gaps[rng() % 7];
      targets.push_back(MemberGroupsPrefix(kMemberEntity, t));
    }
    targets.push_back(MemberGroupsPrefix(kMemberEntity, ~0ull));
    std::unique_ptr<rocksdb::Iterator> it(
        s->db()->NewIterator(rocksdb::ReadOptions(), s->cf(kGroups)));
    it->Seek(MemberGroupsPrefix(kMemberEntity, 0));
    ForwardProbe probe(it.get());
    std::string last;
    for (const std::string& t : targets) {
      probe.To(t);
      auto want = keys.lower_bound(t);
      if (want == keys.end()) {
        ASSERT_FALSE(it->Valid()) << "past the end";
        continue;
      }
      ASSERT_TRUE(it->Valid());
      ASSERT_EQ(it->key().ToString(), *want);
      ASSERT_GE(it->key().ToString(), last) << "moved backward";
      last = it->key().ToString();
    }
    ASSERT_TRUE(it->status().ok());
    ASSERT_TRUE(s->db()->Flush(rocksdb::FlushOptions(), s->cf(kGroups)).ok());
  }
  ASSERT_TRUE(s->Close().ok());
}

// RocksDB 7.8 drops the read error of a table file whose first block is
// damaged when an iteration steps into it from the file before it at one
// level (with range deletions honoured), and ends as if the data had run
// out. Every iteration through Store::NewIterator reports the damage
// instead, forward and backward, bounded or not: key spaces without range
// deletions are read with them ignored, the others are checked where an
// iteration ends.
TEST(Store, AnIterationNeverEndsQuietlyAtADamagedTableFile) {
  for (int cf : {kEntities, kGroups, kVisibility, kChanges}) {
    SCOPED_TRACE(CfName(cf));
    TempDir dir;
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
    // Three table files side by side at the last level, as an import
    // leaves them.
    for (uint64_t f = 0; f < 3; ++f) {
      rocksdb::SstFileWriter w{rocksdb::EnvOptions{}, rocksdb::Options{}};
      const std::string path = dir.Sub("in" + std::to_string(f) + ".sst");
      ASSERT_TRUE(w.Open(path).ok());
      for (uint64_t i = 0; i < 2000; ++i) {
        ASSERT_TRUE(w.Put(Fixed64BE(f * 2000 + i), std::string(50, 'v')).ok());
      }
      ASSERT_TRUE(w.Finish().ok());
      ASSERT_TRUE(
          s->db()->IngestExternalFile(s->cf(cf), {path}, rocksdb::IngestExternalFileOptions()).ok());
    }
    std::vector<rocksdb::LiveFileMetaData> files;
    s->db()->GetLiveFilesMetaData(&files);
    std::string middle;
    for (const auto& m : files) {
      if (m.column_family_name == CfName(cf) && m.smallestkey == Fixed64BE(2000)) {
        middle = m.db_path + m.name;
      }
    }
    ASSERT_FALSE(middle.empty());
    ASSERT_TRUE(s->Close().ok());
    s.reset();
    {
      std::fstream f(middle, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);  // inside the first block
      f.write("\xa5\x5a", 2);
    }
    ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
    // Unbounded, bounded, and a short read across the damaged file's start
    // (where the end check has the last key at hand).
    const std::vector<std::pair<std::string, std::string>> ranges = {
        {"", ""}, {Fixed64BE(1), Fixed64BE(5000)}, {Fixed64BE(1990), Fixed64BE(2010)}};
    for (const auto& [lower, upper] : ranges) {
      auto forward = s->NewIterator(cf, nullptr, lower, upper);
      size_t n = 0;
      for ((*forward)->SeekToFirst(); (*forward)->Valid(); (*forward)->Next()) ++n;
      EXPECT_TRUE((*forward)->status().IsCorruption())
          << "forward: " << n << " keys, then " << (*forward)->status().ToString();
      EXPECT_LE(n, 2000u);
      auto backward = s->NewIterator(cf, nullptr, lower, upper);
      n = 0;
      for ((*backward)->SeekToLast(); (*backward)->Valid(); (*backward)->Prev()) ++n;
      EXPECT_TRUE((*backward)->status().IsCorruption())
          << "backward: " << n << " keys, then " << (*backward)->status().ToString();
      EXPECT_LT(n, 4000u);
    }
    {
      // A range of undamaged files reads whole, both ways.
      auto last = s->NewIterator(cf, nullptr, Fixed64BE(4000), "");
      size_t n = 0;
      for ((*last)->SeekToFirst(); (*last)->Valid(); (*last)->Next()) ++n;
      EXPECT_EQ(n, 2000u);
      EXPECT_TRUE((*last)->status().ok()) << (*last)->status().ToString();
      n = 0;
      for ((*last)->SeekToLast(); (*last)->Valid(); (*last)->Prev()) ++n;
      EXPECT_EQ(n, 2000u);
      EXPECT_TRUE((*last)->status().ok()) << (*last)->status().ToString();
    }
    ASSERT_TRUE(s->Close().ok());
  }
}

// An overlay shows its staged puts and deletes over the latest state, to
// the thread inside its scope only, through every kind of read; reads
// with a snapshot and other threads see the store alone. Checked against
// a map, over random keys, bounds and seeks.
TEST(Store, AnOverlayShowsStagedWritesToItsThreadAlone) {
  TempDir dir;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(StoreOptions(), dir.Sub("db"), &s).ok());
  std::mt19937 rng(7);
  auto key = [&] { return "k" + std::to_string(rng() % 60 + 10); };
  std::map<std::string, std::string> stored, staged;  // staged: the state with the overlay
  rocksdb::WriteBatch base;
  for (int i = 0; i < 40; ++i) {
    const std::string k = key();
    base.Put(s->cf(kEntities), k, "base-" + k);
    stored[k] = "base-" + k;
  }
  ASSERT_TRUE(s->Write(&base).ok());
  staged = stored;
  Store::Overlay overlay(*s);
  EXPECT_TRUE(overlay.empty());
  for (int round = 0; round < 3; ++round) {
    rocksdb::WriteBatch b;
    for (int i = 0; i < 15; ++i) {
      const std::string k = key();
      if (rng() % 3 == 0) {
        b.Delete(s->cf(kEntities), k);
        staged.erase(k);
      } else {
        const std::string v = "r" + std::to_string(round) + "-" + k;
        b.Put(s->cf(kEntities), k, v);
        staged[k] = v;
      }
    }
    b.Merge(s->cf(kCounters), "c", "x");  // counters are left out, and say so by nothing
    bool complete = false;
    ASSERT_TRUE(overlay.Add(b, &complete).ok());
    EXPECT_TRUE(complete);
  }
  ASSERT_NE(staged, stored);
  const rocksdb::Snapshot* snap = s->db()->GetSnapshot();
  auto expect_reads = [&](const std::map<std::string, std::string>& want,
                          const rocksdb::Snapshot* snapshot, const std::string& who) {
    for (int k = 10; k < 70; ++k) {
      const std::string kk = "k" + std::to_string(k);
      std::string v;
      Status g = s->Get(kEntities, kk, &v, snapshot);
      bool exists = false;
      ASSERT_TRUE(s->Exists(kEntities, kk, &exists, snapshot).ok());
      auto it = want.find(kk);
      if (it == want.end()) {
        EXPECT_TRUE(g.IsNotFound()) << who << " " << kk;
        EXPECT_FALSE(exists) << who << " " << kk;
      } else {
        EXPECT_TRUE(g.ok()) << who << " " << kk;
        EXPECT_EQ(v, it->second) << who << " " << kk;
        EXPECT_TRUE(exists) << who << " " << kk;
      }
    }
    std::vector<std::string> owned = {"k12", "k33", "k40", "k41", "k69"};
    std::vector<rocksdb::Slice> keys(owned.begin(), owned.end());
    std::vector<rocksdb::PinnableSlice> values;
    std::vector<rocksdb::Status> statuses;
    s->MultiGet(kEntities, keys, &values, &statuses, snapshot, /*sorted=*/true);
    for (size_t i = 0; i < owned.size(); ++i) {
      auto it = want.find(owned[i]);
      EXPECT_EQ(statuses[i].ok(), it != want.end()) << who << " multiget " << owned[i];
      if (it != want.end() && statuses[i].ok()) {
        EXPECT_EQ(values[i].ToString(), it->second);
      }
    }
    for (int trial = 0; trial < 200; ++trial) {
      std::string lo = rng() % 4 == 0 ? "" : key();
      std::string hi = rng() % 4 == 0 ? "" : key();
      if (!lo.empty() && !hi.empty() && hi < lo) std::swap(lo, hi);
      auto inside = [&](const std::string& k) {
        return (lo.empty() || k >= lo) && (hi.empty() || k < hi);
      };
      std::vector<std::string> expect;
      for (const auto& [k, v] : want) {
        if (inside(k)) expect.push_back(k + "=" + v);
      }
      auto it = s->NewIterator(kEntities, snapshot, lo, hi);
      std::vector<std::string> got;
      for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
        got.push_back((*it)->key().ToString() + "=" + (*it)->value().ToString());
      }
      ASSERT_TRUE((*it)->status().ok());
      EXPECT_EQ(got, expect) << who << " forward [" << lo << ", " << hi << ")";
      got.clear();
      for ((*it)->SeekToLast(); (*it)->Valid(); (*it)->Prev()) {
        got.insert(got.begin(), (*it)->key().ToString() + "=" + (*it)->value().ToString());
      }
      EXPECT_EQ(got, expect) << who << " backward [" << lo << ", " << hi << ")";
      // A seek anywhere (also outside the bounds) lands on the first key at
      // or after it inside them; a reverse seek on the last at or before.
      const std::string target = key();
      std::string first_after, last_before;
      for (const auto& [k, v] : want) {
        if (!inside(k)) continue;
        if (first_after.empty() && k >= target) first_after = k;
        if (k <= target) last_before = k;
      }
      (*it)->Seek(target);
      EXPECT_EQ((*it)->Valid() ? (*it)->key().ToString() : "", first_after)
          << who << " seek " << target << " in [" << lo << ", " << hi << ")";
      (*it)->SeekForPrev(target);
      EXPECT_EQ((*it)->Valid() ? (*it)->key().ToString() : "", last_before)
          << who << " seek for prev " << target << " in [" << lo << ", " << hi << ")";
    }
  };
  {
    Store::Overlay::Scope scope(&overlay);
    expect_reads(staged, nullptr, "in scope");
    expect_reads(stored, snap, "in scope, with a snapshot");
    std::thread other([&] { expect_reads(stored, nullptr, "another thread"); });
    other.join();
    {
      Store::Overlay::Scope none(nullptr);  // scopes nest
      expect_reads(stored, nullptr, "nested scope without an overlay");
    }
    expect_reads(staged, nullptr, "back in scope");
  }
  expect_reads(stored, nullptr, "out of scope");
  // A range delete cannot be shown: the batch is not complete.
  rocksdb::WriteBatch ranged;
  ranged.DeleteRange(s->cf(kEntities), "k1", "k2");
  bool complete = true;
  ASSERT_TRUE(overlay.Add(ranged, &complete).ok());
  EXPECT_FALSE(complete);
  overlay.Clear();
  EXPECT_TRUE(overlay.empty());
  {
    Store::Overlay::Scope scope(&overlay);
    expect_reads(stored, nullptr, "cleared overlay");
  }
  s->db()->ReleaseSnapshot(snap);
}

}  // namespace
}  // namespace canopy::storage
