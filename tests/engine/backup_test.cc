// Copyright (c) Canopy authors.
//
// Db::Backup and Db::Restore: a backup taken while writes go on restores
// to exactly its revision; bad inputs (an existing or non-empty target, a
// missing backup, a folder that is no database, a damaged one) are refused
// with nothing left behind and nothing changed.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/folder_copies.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

namespace fs = std::filesystem;
using testing::DumpAll;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::OpenDb;
using testing::TempDir;

// The names in `dir` (no scratch copy may be left there).
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Backup, RestoredBackupIsTheDatabase) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId acme = MakeAccount(db.get(), "acme");
  const AccountId a = MakeAccount(db.get(), "a", acme);
  for (int i = 0; i < 20; ++i) MakeDevice(db.get(), "d" + std::to_string(i), a);
  const auto before = DumpAll(db.get());
  StatusOr<uint64_t> rev = db->Backup(dir.Sub("backups/b1"));
  ASSERT_OK(rev);
  EXPECT_EQ(*rev, db->Revision());
  EXPECT_EQ(Names(dir.Sub("backups")), std::vector<std::string>{"b1"});

  ASSERT_OK(Db::Restore(dir.Sub("backups/b1"), dir.Sub("restored")));
  {
    auto r = OpenDb(dir.Sub("restored"));
    EXPECT_EQ(DumpAll(r.get()), before);
    EXPECT_EQ(r->Revision(), *rev);
    EXPECT_OK(r->CheckIntegrity(nullptr));
    // The restored database is one of its own: writing it changes neither
    // the backup nor the source.
    MakeAccount(r.get(), "only-restored");
  }
  EXPECT_EQ(DumpAll(db.get()), before);
  ASSERT_OK(Db::Restore(dir.Sub("backups/b1"), dir.Sub("again")));
  auto again = OpenDb(dir.Sub("again"));
  EXPECT_EQ(DumpAll(again.get()), before);

  // An empty folder is a valid target too.
  fs::create_directories(dir.Sub("empty"));
  ASSERT_OK(Db::Restore(dir.Sub("backups/b1"), dir.Sub("empty")));
  EXPECT_EQ(DumpAll(OpenDb(dir.Sub("empty")).get()), before);
}

// Progress: a backup reports its check (entities), a restore its copy
// (bytes, ending at done == total) and then its check; each stops at the
// first call that says so (Aborted), leaving nothing behind, and neither
// the database nor the backup changed.
TEST(Backup, ProgressIsReportedAndACancelLeavesNothing) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId acme = MakeAccount(db.get(), "acme");
  for (int i = 0; i < 30; ++i) MakeDevice(db.get(), "d" + std::to_string(i), acme);
  const auto before = DumpAll(db.get());
  fs::create_directories(dir.Sub("out"));

  std::vector<std::pair<uint64_t, uint64_t>> calls;
  const auto record = [&calls](uint64_t done, uint64_t total) {
    calls.emplace_back(done, total);
    return true;
  };
  ASSERT_OK(db->Backup(dir.Sub("out/b"), record));
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(uint64_t{30}, uint64_t{30}));  // the check's entities

  // Cancelled at the first call, or at the last: nothing is left beside
  // the target, and a backup that was cancelled can be taken again.
  for (const size_t stop_at : {size_t{0}, calls.size() - 1}) {
    size_t n = 0;
    StatusOr<uint64_t> r = db->Backup(dir.Sub("out/c"), [&](uint64_t, uint64_t) { return n++ < stop_at; });
    EXPECT_EQ(r.status().code(), Code::kAborted) << r.status().ToString();
    EXPECT_NE(r.status().message().find("backup cancelled; '" + dir.Sub("out/c") + "' was not written"),
              std::string::npos)
        << r.status().ToString();
    EXPECT_EQ(Names(dir.Sub("out")), std::vector<std::string>{"b"});
  }
  EXPECT_EQ(DumpAll(db.get()), before);

  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.Sub("out/b"))) {
    if (e.is_regular_file() && e.path().filename() != "LOCK") bytes += e.file_size();
  }
  calls.clear();
  ASSERT_OK(Db::Restore(dir.Sub("out/b"), dir.Sub("out/r"), record));
  // The copy's bytes, rising to their total, then the check from 0.
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls.front(), std::make_pair(uint64_t{0}, bytes));
  size_t copied = 0;
  while (copied < calls.size() && calls[copied].second == bytes) ++copied;
  ASSERT_LT(copied, calls.size());
  EXPECT_EQ(calls[copied - 1], std::make_pair(bytes, bytes));
  for (size_t i = 1; i < copied; ++i) EXPECT_GE(calls[i].first, calls[i - 1].first);
  EXPECT_EQ(calls.back(), std::make_pair(uint64_t{30}, uint64_t{30}));
  EXPECT_EQ(DumpAll(OpenDb(dir.Sub("out/r")).get()), before);

  // A restore cancelled in its copy, or in its check, leaves its target as
  // it was: absent, or an empty folder.
  fs::create_directories(dir.Sub("out/empty"));
  for (const size_t stop_at : {size_t{0}, copied, calls.size() - 1}) {
    for (const char* target : {"out/s", "out/empty"}) {
      size_t n = 0;
      Status s = Db::Restore(dir.Sub("out/b"), dir.Sub(target),
                             [&](uint64_t, uint64_t) { return n++ < stop_at; });
      EXPECT_EQ(s.code(), Code::kAborted) << stop_at << ": " << s.ToString();
      EXPECT_NE(s.message().find("restore cancelled; '" + dir.Sub(target) + "' is as it was"),
                std::string::npos)
          << s.ToString();
      EXPECT_EQ(Names(dir.Sub("out")), (std::vector<std::string>{"b", "empty", "r"}));
      EXPECT_TRUE(fs::is_empty(dir.Sub("out/empty")));
    }
  }
}

// Online: writers go on while the backup is taken, and the backup holds
// exactly the revision it returns.
TEST(Backup, BackupWhileWritingHoldsItsRevision) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId acme = MakeAccount(db.get(), "acme");
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (!db->CreateEntity(Actor::System(), {.key = "w" + std::to_string(i), .name = "W", .owner = acme})
               .ok()) {
        break;
      }
      written.fetch_add(1);
    }
  });
  while (written.load() < 50) std::this_thread::yield();
  StatusOr<uint64_t> rev = db->Backup(dir.Sub("b"));
  const int after_backup = written.load();
  while (written.load() < after_backup + 50) std::this_thread::yield();
  stop = true;
  writer.join();
  ASSERT_OK(rev);
  ASSERT_OK(Db::Restore(dir.Sub("b"), dir.Sub("r")));
  auto r = OpenDb(dir.Sub("r"));
  EXPECT_EQ(r->Revision(), *rev);
  EXPECT_LT(*rev, db->Revision());
  // Revision 1 made the account; each later one a device.
  EXPECT_EQ(r->CountOwned(acme, EntityKind::kDevice)->direct, *rev - 1);
  EXPECT_OK(r->CheckIntegrity(nullptr));
}

TEST(Backup, BadTargetsAreRefused) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  MakeAccount(db.get(), "acme");
  const auto before = DumpAll(db.get());
  EXPECT_EQ(db->Backup("").status().code(), Code::kInvalidArgument);
  fs::create_directories(dir.Sub("taken"));
  StatusOr<uint64_t> taken = db->Backup(dir.Sub("taken"));
  EXPECT_EQ(taken.status().code(), Code::kAlreadyExists);
  EXPECT_NE(taken.status().message().find("'" + dir.Sub("taken") + "' already exists"), std::string::npos)
      << taken.status().ToString();
  EXPECT_TRUE(fs::is_empty(dir.Sub("taken")));
  std::ofstream(dir.Sub("file")) << "x";
  EXPECT_EQ(db->Backup(dir.Sub("file")).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(DumpAll(db.get()), before);
  EXPECT_EQ(Names(dir.path()), (std::vector<std::string>{"db", "file", "taken"}));
}

// A backup or restore killed mid-way (kill -9, power loss) leaves its
// scratch copy "DEST.partial-PID-N"; the next backup or restore to DEST
// removes those of processes that no longer run, and leaves a live
// process's alone.
TEST(Backup, ScratchCopiesOfKilledProcessesAreRemoved) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  MakeAccount(db.get(), "acme");
  long pid_max = 4194304;  // no process has this pid (pids stay below it)
  std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
  const std::string dead = dir.Sub("b1.partial-" + std::to_string(pid_max) + "-7");
  const std::string live = dir.Sub("b1.partial-1-8");  // init's
  const std::string other = dir.Sub("b2.partial-" + std::to_string(pid_max) + "-9");
  for (const std::string& d : {dead, live, other}) {
    fs::create_directories(d + "/db");
    std::ofstream(d + "/db/000001.sst") << "half a copy";
  }
  ASSERT_TRUE(db->Backup(dir.Sub("b1")).ok());
  EXPECT_EQ(Names(dir.path()),
            (std::vector<std::string>{"b1", "b1.partial-1-8",
                                      "b2.partial-" + std::to_string(pid_max) + "-9", "db"}));
  // So does a checkpoint, by either path: a writer's (RocksDB's own
  // scratch name) and a reader's (key by key, under ours).
  for (const char* cp : {"c1", "c2"}) {
    const std::string dead_cp =
        dir.Sub(std::string(cp) + ".partial-" + std::to_string(pid_max) + "-5");
    fs::create_directories(dead_cp + "/db");
    if (std::string(cp) == "c1") {
      auto r = db->Checkpoint(dir.Sub(cp));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    } else {
      Options ro;
      ro.read_only = true;
      auto reader = OpenDb(dir.Sub("db"), ro);
      auto r = reader->Checkpoint(dir.Sub(cp));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    EXPECT_FALSE(fs::exists(dead_cp)) << cp;
    EXPECT_TRUE(fs::exists(dir.Sub(std::string(cp) + "/CURRENT"))) << cp;
  }
  // A restore cleans up beside its target the same way.
  const std::string dead_restore = dir.Sub("r.partial-" + std::to_string(pid_max) + "-3");
  fs::create_directories(dead_restore);
  ASSERT_OK(db->Close());
  ASSERT_OK(Db::Restore(dir.Sub("b1"), dir.Sub("r")));
  EXPECT_FALSE(fs::exists(dead_restore));
  EXPECT_TRUE(fs::exists(dir.Sub("r/CURRENT")));
}

// A copy inside the database folder would be taken for part of it (an
// "import-..." folder is removed by the next open): refused, by any path
// that leads there, and nothing is written.
TEST(Backup, CopiesInsideTheDatabaseFolderAreRefused) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  MakeAccount(db.get(), "acme");
  const auto before = DumpAll(db.get());
  const auto names = Names(dir.Sub("db"));
  fs::create_symlink(dir.Sub("db"), dir.Sub("link"));
  for (const std::string& inside :
       {dir.Sub("db/import-1"), dir.Sub("db/a/b"), dir.Sub("link/copy"), dir.Sub("db/../db/x")}) {
    StatusOr<uint64_t> cp = db->Checkpoint(inside);
    EXPECT_EQ(cp.status().code(), Code::kInvalidArgument) << inside;
    EXPECT_NE(cp.status().message().find("is inside the database folder"), std::string::npos)
        << cp.status().ToString();
    StatusOr<uint64_t> b = db->Backup(inside);
    EXPECT_EQ(b.status().code(), Code::kInvalidArgument) << inside;
    // Named as given: the scratch folder beside it is not the caller's.
    const std::string named = "backup folder '" + inside + "' is inside the database folder";
    EXPECT_EQ(b.status().message().rfind(named, 0), 0u) << b.status().ToString();
    EXPECT_EQ(b.status().message().find(".partial-"), std::string::npos) << b.status().ToString();
  }
  // An export likewise, onto the database's own files too (replacing CURRENT
  // or LOCK made it unopenable, or let a second process open it for writing).
  for (const std::string& inside : {dir.Sub("db/CURRENT"), dir.Sub("db/LOCK"), dir.Sub("db/x.jsonl"),
                                    dir.Sub("link/CURRENT"), dir.Sub("db/../db/LOCK")}) {
    Status e = db->Export(inside, nullptr, nullptr);
    EXPECT_EQ(e.code(), Code::kInvalidArgument) << inside;
    EXPECT_NE(e.message().find("is inside the database folder"), std::string::npos) << e.ToString();
  }
  fs::create_symlink(dir.Sub("db/CURRENT"), dir.Sub("current-link"));
  EXPECT_EQ(db->Export(dir.Sub("current-link"), nullptr, nullptr).code(), Code::kInvalidArgument);
  fs::remove(dir.Sub("current-link"));
  EXPECT_EQ(Names(dir.Sub("db")), names);
  EXPECT_EQ(Names(dir.path()), (std::vector<std::string>{"db", "link"}));
  EXPECT_EQ(DumpAll(db.get()), before);
  // Beside it is fine, and a name that merely starts like it is beside it.
  EXPECT_TRUE(db->Checkpoint(dir.Sub("db-copy")).ok());
  EXPECT_TRUE(db->Backup(dir.Sub("db2")).ok());
  // A replica's checkpoint folder likewise (refused before etcd is asked).
  EXPECT_TRUE(db->Export(dir.Sub("db.jsonl"), nullptr, nullptr).ok());
  ASSERT_OK(db->Close());
  ASSERT_OK(Db::Open(Options(), dir.Sub("db"), &db));  // still opens
  ASSERT_OK(db->Close());
  Options o;
  o.replication.etcd_endpoints = {"http://127.0.0.1:1"};
  o.replication.checkpoint_dir = dir.Sub("db/checkpoints");
  std::unique_ptr<Db> replica;
  Status s = Db::Open(o, dir.Sub("db"), &replica);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("checkpoint_dir"), std::string::npos) << s.ToString();
  EXPECT_FALSE(fs::exists(dir.Sub("db/checkpoints")));
}

// Two calls writing the same new folder at once: one writes it, the other
// is AlreadyExists, as if the folder had been there first (the loser's
// rename used to fail with an IOError, "Directory not empty").
TEST(Backup, TwoCopiesIntoOneFolderAtOnceLeaveOneAndSayAlreadyExists) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  MakeAccount(db.get(), "acme");
  ASSERT_OK(db->Backup(dir.Sub("b")));
  for (int round = 0; round < 5; ++round) {
    const std::string restored = dir.Sub("r" + std::to_string(round));
    const std::string backup = dir.Sub("b" + std::to_string(round));
    Status got[4];
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        got[i] = i < 2 ? Db::Restore(dir.Sub("b"), restored) : db->Backup(backup).status();
      });
    }
    for (auto& t : threads) t.join();
    for (int pair = 0; pair < 2; ++pair) {
      const Status& a = got[2 * pair];
      const Status& b = got[2 * pair + 1];
      EXPECT_NE(a.ok(), b.ok()) << a.ToString() << " / " << b.ToString();
      const Status& loser = a.ok() ? b : a;
      EXPECT_EQ(loser.code(), Code::kAlreadyExists) << loser.ToString();
    }
    EXPECT_TRUE(fs::exists(restored + "/CURRENT"));
    EXPECT_TRUE(fs::exists(backup + "/CURRENT"));
  }
  // Nothing but the folders written: no scratch copy stays.
  std::vector<std::string> names = Names(dir.path());
  for (const std::string& n : names) EXPECT_EQ(n.find(".partial-"), std::string::npos) << n;
}

TEST(Restore, BadInputsAreRefusedAndLeaveNothing) {
  TempDir dir;
  {
    auto db = OpenDb(dir.Sub("db"));
    MakeAccount(db.get(), "acme");
    ASSERT_OK(db->Backup(dir.Sub("good")));
  }
  auto expect = [&](const Status& s, Code code, const std::string& words) {
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(words), std::string::npos) << s.ToString();
  };
  // Empty arguments, a missing backup, a file as the backup.
  expect(Db::Restore("", dir.Sub("t")), Code::kInvalidArgument, "backup folder is empty");
  expect(Db::Restore(dir.Sub("good"), ""), Code::kInvalidArgument, "restore folder is empty");
  expect(Db::Restore(dir.Sub("missing"), dir.Sub("t")), Code::kNotFound,
         "backup '" + dir.Sub("missing") + "' does not exist");
  std::ofstream(dir.Sub("a-file")) << "not a folder";
  expect(Db::Restore(dir.Sub("a-file"), dir.Sub("t")), Code::kInvalidArgument, "is not a folder");
  // A target that is not empty, or not a folder: untouched.
  fs::create_directories(dir.Sub("full"));
  std::ofstream(dir.Sub("full/keep.txt")) << "mine";
  expect(Db::Restore(dir.Sub("good"), dir.Sub("full")), Code::kAlreadyExists, "is not empty");
  EXPECT_EQ(Names(dir.Sub("full")), std::vector<std::string>{"keep.txt"});
  expect(Db::Restore(dir.Sub("good"), dir.Sub("a-file")), Code::kAlreadyExists, "is not a folder");
  expect(Db::Restore(dir.Sub("good"), dir.Sub("db")), Code::kAlreadyExists, "is not empty");
  // A database this process has open is refused (it changes under the
  // copy), and asking leaves its lock in place: a second open still fails.
  {
    auto open = OpenDb(dir.Sub("db"));
    expect(Db::Restore(dir.Sub("db"), dir.Sub("t")), Code::kFailedPrecondition,
           "is a database that is open, not a backup");
    EXPECT_FALSE(fs::exists(dir.Sub("t")));
    std::unique_ptr<Db> second;
    EXPECT_FALSE(Db::Open(Options(), dir.Sub("db"), &second).ok());
  }
  // A symbolic link inside a backup is named as itself, a link (it was
  // named by what it points to, a regular file, "neither a file nor a
  // folder"); nothing is left behind.
  fs::copy(dir.Sub("good"), dir.Sub("linked"), fs::copy_options::recursive);
  std::ofstream(dir.Sub("real.txt")) << "x";
  fs::create_symlink(dir.Sub("real.txt"), dir.Sub("linked/alias"));
  expect(Db::Restore(dir.Sub("linked"), dir.Sub("t")), Code::kInvalidArgument,
         "holds 'alias', a symbolic link");
  EXPECT_FALSE(fs::exists(dir.Sub("t")));
  fs::remove_all(dir.Sub("linked"));
  fs::remove(dir.Sub("real.txt"));
  // Closed, its folder restores like a backup.
  ASSERT_OK(Db::Restore(dir.Sub("db"), dir.Sub("from-closed")));
  fs::remove_all(dir.Sub("from-closed"));
  // A folder that is no database.
  fs::create_directories(dir.Sub("notes"));
  std::ofstream(dir.Sub("notes/readme.txt")) << "hello";
  expect(Db::Restore(dir.Sub("notes"), dir.Sub("t")), Code::kCorruption,
         "backup '" + dir.Sub("notes") + "' does not open as a Canopy database");
  fs::create_directories(dir.Sub("hollow"));
  expect(Db::Restore(dir.Sub("hollow"), dir.Sub("t")), Code::kCorruption, "does not open");
  // Told before any byte is copied: no scratch copy was made beside it.
  expect(Db::Restore(dir.Sub("notes"), dir.Sub("t")), Code::kCorruption, "it has no CURRENT file");
  EXPECT_FALSE(fs::exists(dir.Sub("t")));
  // A damaged backup: every table file overwritten in its middle.
  fs::copy(dir.Sub("good"), dir.Sub("damaged"));
  int tables = 0;
  for (const auto& e : fs::directory_iterator(dir.Sub("damaged"))) {
    if (e.path().extension() != ".sst") continue;
    ++tables;
    const auto size = fs::file_size(e.path());
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 4));
    const std::string junk(static_cast<size_t>(size / 2), '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  ASSERT_GT(tables, 0);
  const Status damaged = Db::Restore(dir.Sub("damaged"), dir.Sub("t"));
  EXPECT_EQ(damaged.code(), Code::kCorruption) << damaged.ToString();
  EXPECT_NE(damaged.message().find("backup '" + dir.Sub("damaged") + "'"), std::string::npos)
      << damaged.ToString();

  // Nothing was made: no target, no scratch copy beside it.
  EXPECT_EQ(Names(dir.path()), (std::vector<std::string>{"a-file", "damaged", "db", "full", "good",
                                                         "hollow", "notes"}));
  // The good backup still restores.
  ASSERT_OK(Db::Restore(dir.Sub("good"), dir.Sub("t")));
  EXPECT_TRUE(OpenDb(dir.Sub("t"))->FindAccount("acme").ok());
}

// One byte flipped in any one table file of a backup, wherever no read
// of the integrity check's would go (a bloom filter, a key space it does
// not scan): the restore is refused all the same, naming the backup's own
// file (never the scratch copy it removes), and nothing is made.
TEST(Restore, ADamagedByteInAnyTableFileIsRefused) {
  TempDir dir;
  {
    auto db = OpenDb(dir.Sub("db"));
    const AccountId acme = MakeAccount(db.get(), "acme");
    const AccountId a = MakeAccount(db.get(), "acme-a", acme);
    for (int i = 0; i < 50; ++i) MakeDevice(db.get(), "d" + std::to_string(i), i % 2 ? a : acme);
    testing::MakeUser(db.get(), "u@acme", a);
    ASSERT_OK(db->Backup(dir.Sub("good")));
  }
  std::vector<std::string> tables;
  for (const auto& e : fs::directory_iterator(dir.Sub("good"))) {
    if (e.path().extension() == ".sst") tables.push_back(e.path().filename().string());
  }
  ASSERT_GT(tables.size(), 3u);
  for (const std::string& table : tables) {
    for (const double at : {0.3, 0.5, 0.7}) {
      SCOPED_TRACE(table + " at " + std::to_string(at));
      fs::remove_all(dir.Sub("bad"));
      fs::copy(dir.Sub("good"), dir.Sub("bad"));  // a copy: the backup's files are links
      const std::string path = dir.Sub("bad") + "/" + table;
      const auto size = fs::file_size(path);
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      const auto offset = static_cast<std::streamoff>(static_cast<double>(size) * at);
      f.seekg(offset);
      char c = 0;
      f.get(c);
      f.seekp(offset);
      f.put(static_cast<char>(c ^ 0x20));
      f.close();
      const Status s = Db::Restore(dir.Sub("bad"), dir.Sub("t"));
      EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
      EXPECT_NE(s.message().find("backup '" + dir.Sub("bad") + "'"), std::string::npos)
          << s.ToString();
      EXPECT_EQ(s.message().find(".partial-"), std::string::npos) << s.ToString();
      EXPECT_EQ(s.message().find("(0 problem(s))"), std::string::npos) << s.ToString();
      EXPECT_FALSE(fs::exists(dir.Sub("t")));
    }
  }
  fs::remove_all(dir.Sub("bad"));
  EXPECT_EQ(Names(dir.path()), (std::vector<std::string>{"db", "good"}));
}

// engine::ExchangeFolders swaps two folders in one step; with one of them
// missing it is an error naming both, and nothing moved.
TEST(ExchangeFoldersTest, SwapsTwoFoldersOrMovesNothing) {
  TempDir dir;
  fs::create_directories(dir.Sub("a"));
  fs::create_directories(dir.Sub("b"));
  std::ofstream(dir.Sub("a") + "/from-a").put('a');
  std::ofstream(dir.Sub("b") + "/from-b").put('b');
  ASSERT_OK(engine::ExchangeFolders(dir.Sub("a"), dir.Sub("b")));
  EXPECT_TRUE(fs::exists(dir.Sub("a") + "/from-b"));
  EXPECT_TRUE(fs::exists(dir.Sub("b") + "/from-a"));
  EXPECT_FALSE(fs::exists(dir.Sub("a") + "/from-a"));
  Status s = engine::ExchangeFolders(dir.Sub("a"), dir.Sub("missing"));
  EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("cannot swap '" + dir.Sub("a") + "' and '" + dir.Sub("missing")),
            std::string::npos)
      << s.ToString();
  EXPECT_TRUE(fs::exists(dir.Sub("a") + "/from-b"));
  EXPECT_FALSE(fs::exists(dir.Sub("missing")));
}

// engine::DatabaseLock is RocksDB's own lock on a folder: refused while
// another process has the database open (so that a folder is never
// replaced or removed under it), taken when nobody has, and "taken" for a
// folder where no database was ever opened.
TEST(DatabaseLockTest, IsRefusedWhileAnotherProcessHasTheDatabaseOpen) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer cannot run a child forked from a process with threads.
  GTEST_SKIP() << "fork() after threads is not supported under ThreadSanitizer";
#endif
  TempDir dir;
  {
    engine::DatabaseLock none;
    EXPECT_TRUE(none.Take(dir.Sub("nothing-here")));
  }
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_NE(db, nullptr);
  // A child process asks while this one has the database open, then after
  // it was closed; it answers through its exit status.
  auto ask_in_child = [&]() {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      engine::DatabaseLock lock;
      _exit(lock.Take(dir.Sub("db") + "/") ? 1 : 0);  // (a trailing '/' names it too)
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  };
  EXPECT_EQ(ask_in_child(), 0) << "the child took the lock of an open database";
  ASSERT_OK(db->Close());
  db.reset();
  EXPECT_EQ(ask_in_child(), 1) << "the child could not take the lock of a closed database";
  // Held here, it keeps a child's open of the database out.
  engine::DatabaseLock held;
  ASSERT_TRUE(held.Take(dir.Sub("db")));
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    engine::DatabaseLock lock;
    _exit(lock.Take(dir.Sub("db")) ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "two processes held the lock at once";
}

}  // namespace
}  // namespace canopy
