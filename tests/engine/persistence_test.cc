// Copyright (c) Canopy authors.
//
// Persistence and crash safety: close/reopen gives back exactly what was
// written; a process killed with SIGKILL in the middle of a stream of
// mutations reopens with every mutation wholly there or wholly absent.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "engine/db_impl.h"
#include "storage/forks.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::KeysIn;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::OpenDb;
using testing::TempDir;

using testing::kForkAlone;

TEST(Persistence, CloseAndReopenGiveEqualState) {
  TempDir dir;
  testing::Dump before;
  {
    auto db = OpenDb(dir.Sub("db"));
    AccountId root = MakeAccount(db.get(), "acme");
    AccountId a = MakeAccount(db.get(), "a", root);
    AccountId b = MakeAccount(db.get(), "b", root);
    for (int i = 0; i < 50; ++i) MakeDevice(db.get(), "d" + std::to_string(i), i % 2 ? a : b);
    ASSERT_OK(db->MoveAccount(Actor::System(), a, b));
    before = DumpAll(db.get());
    ASSERT_OK(db->Close());
    EXPECT_EQ(db->GetAccount(root).status().code(), Code::kFailedPrecondition);
    EXPECT_OK(db->Close());  // idempotent
  }
  auto db = OpenDb(dir.Sub("db"));
  EXPECT_EQ(before, DumpAll(db.get()));
  EXPECT_OK(db->CheckIntegrity(nullptr));
  EXPECT_EQ(KeysIn(db.get(), db->FindAccount("b")->id).size(), 50u);
  // Ids keep counting after a reopen.
  AccountId c = MakeAccount(db.get(), "c", db->FindAccount("acme")->id);
  EXPECT_GT(c, db->FindAccount("b")->id);
}

TEST(Persistence, OpenRejectsBadOptions) {
  TempDir dir;
  std::unique_ptr<Db> db;
  Options o;
  o.max_depth = 0;
  EXPECT_EQ(Db::Open(o, dir.Sub("db"), &db).code(), Code::kInvalidArgument);
  EXPECT_EQ(db, nullptr);
  EXPECT_EQ(Db::Open(Options(), "", &db).code(), Code::kInvalidArgument);
  EXPECT_EQ(Db::Open(Options(), dir.Sub("db"), nullptr).code(), Code::kInvalidArgument);
}

// A deterministic stream of account and device mutations, and the state it
// leads to after each step, as (key -> parent key) and (device -> owner).
class Workload {
 public:
  explicit Workload(uint64_t seed) : rng_(seed) {}
  struct State {
    std::map<std::string, std::string> parents;  // account -> parent ("" root)
    std::map<std::string, std::string> owners;   // device -> account
    bool operator==(const State&) const = default;
  };
  // Applies the next step to `db` (when non-null) and to the state.
  Status Step(Db* db) {
    std::vector<std::string> accounts;
    for (auto& [k, p] : state_.parents) accounts.push_back(k);
    std::string op_account = accounts.empty() ? "" : accounts[rng_() % accounts.size()];
    int choice = accounts.size() < 3 ? 0 : static_cast<int>(rng_() % 10);
    ++n_;
    if (choice <= 1) {
      std::string key = "acc-" + std::to_string(n_);
      std::string parent = accounts.empty() || rng_() % 8 == 0 ? "" : op_account;
      if (db) {
        AccountSpec s;
        s.key = key;
        s.name = key;
        s.settings.sub_account_management = true;
        if (!parent.empty()) s.parent = db->FindAccount(parent)->id;
        CANOPY_RETURN_IF_ERROR(db->CreateAccount(Actor::System(), s).status());
      }
      state_.parents[key] = parent;
    } else if (choice <= 6) {
      std::string key = "dev-" + std::to_string(n_);
      if (db) {
        EntitySpec s;
        s.key = key;
        s.name = key;
        s.owner = db->FindAccount(op_account)->id;
        CANOPY_RETURN_IF_ERROR(db->CreateEntity(Actor::System(), s).status());
      }
      state_.owners[key] = op_account;
    } else if (choice == 7 && !state_.owners.empty()) {
      auto it = std::next(state_.owners.begin(), static_cast<long>(rng_() % state_.owners.size()));
      std::vector<std::string> refs{it->first};
      if (db) {
        CANOPY_RETURN_IF_ERROR(db->ReassignEntities(Actor::System(), EntityKind::kDevice,
                                                    EntityRef::kKey, refs,
                                                    db->FindAccount(op_account)->id, nullptr));
      }
      it->second = op_account;
    } else if (choice == 8) {
      std::string target = accounts[rng_() % accounts.size()];
      if (state_.parents[op_account].empty() || InSubtree(target, op_account)) return Status::Ok();
      if (db) {
        CANOPY_RETURN_IF_ERROR(db->MoveAccount(Actor::System(), db->FindAccount(op_account)->id,
                                               db->FindAccount(target)->id));
      }
      state_.parents[op_account] = target;
    } else if (!state_.owners.empty()) {
      auto it = std::next(state_.owners.begin(), static_cast<long>(rng_() % state_.owners.size()));
      if (db) {
        CANOPY_RETURN_IF_ERROR(db->DeleteEntity(
            Actor::System(), db->FindEntity(EntityKind::kDevice, it->first)->id));
      }
      state_.owners.erase(it);
    }
    return Status::Ok();
  }
  const State& state() const { return state_; }

  static State Read(Db* db) {
    State s;
    std::vector<AccountId> stack = db->Roots();
    std::map<AccountId, std::string> keys;
    for (AccountId r : stack) {
      auto a = db->GetAccount(r);
      keys[r] = a->key;
      s.parents[a->key] = "";
      auto desc = db->Descendants(r, 0);
      EXPECT_OK(desc);
      for (const auto& d : *desc) {
        keys[d.id] = d.key;
        s.parents[d.key] = keys[d.parent];
      }
    }
    VisibleRequest req{Actor::System()};
    std::unique_ptr<VisibleIterator> it;
    EXPECT_OK(db->NewVisibleIterator(req, &it));
    for (; it->Valid(); it->Next()) s.owners[std::string(it->key())] = keys[it->owner()];
    return s;
  }

 private:
  bool InSubtree(std::string node, const std::string& root) const {
    while (!node.empty()) {
      if (node == root) return true;
      node = state_.parents.at(node);
    }
    return false;
  }
  std::mt19937_64 rng_;
  State state_;
  uint64_t n_ = 0;
};

TEST(Persistence, SigkillMidStreamLeavesEveryMutationWholeOrAbsent) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer cannot run a child forked from a process with threads
  // (RocksDB's); the Release and ASan runs cover it.
  GTEST_SKIP() << "fork() after threads is not supported under ThreadSanitizer";
#endif
  // A child of a process that has opened a database cannot open one
  // (storage/forks.h): every child is forked before this test opens any.
  if (storage::OpenedAStore()) GTEST_SKIP() << kForkAlone;
  const std::vector<uint64_t> seeds = {11, 12, 13};
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<uint64_t> done_steps;
  for (uint64_t seed : seeds) {
    dirs.push_back(std::make_unique<TempDir>());
    const std::string db_path = dirs.back()->Sub("db");
    const std::string progress = dirs.back()->Sub("progress");
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Child: mutate forever, recording each step that returned.
      Options o;
      o.sync = false;  // a process crash must not lose returned writes anyway
      std::unique_ptr<Db> db;
      if (Status s = Db::Open(o, db_path, &db); !s.ok()) {
        std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
        _exit(2);
      }
      Workload w(seed);
      for (uint64_t i = 1;; ++i) {
        if (!w.Step(db.get()).ok()) _exit(3);
        std::ofstream(progress + ".tmp", std::ios::trunc) << i;
        std::rename((progress + ".tmp").c_str(), progress.c_str());  // atomic
      }
    }
    // Parent: let it run, then kill it mid-stream.
    auto steps_done = [&] {
      std::ifstream in(progress);
      uint64_t n = 0;
      in >> n;
      return n;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (steps_done() < 300 + seed * 37 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);
    done_steps.push_back(steps_done());
    ASSERT_GT(done_steps.back(), 0u);
  }
  for (size_t k = 0; k < seeds.size(); ++k) {
    const uint64_t seed = seeds[k];
    const uint64_t done = done_steps[k];
    TempDir& dir = *dirs[k];
    const std::string db_path = dir.Sub("db");
    auto db = OpenDb(db_path);
    ASSERT_NE(db, nullptr);
    std::vector<std::string> problems;
    EXPECT_OK(db->CheckIntegrity(&problems));
    for (const auto& p : problems) ADD_FAILURE() << p;
    // The log and the data agree: replaying the recovered log into an
    // empty database gives exactly the recovered keys (no entry without its
    // writes, no writes without their entry).
    {
      auto follower = OpenDb(dir.Sub("follower"));
      std::vector<std::string> entries;
      ASSERT_OK(db->ReadLogEntries(1, 100000, &entries));
      ASSERT_EQ(entries.size(), db->Revision());
      ASSERT_OK(follower->ApplyChanges(entries, nullptr));
      canopy::testing::Dump want = canopy::testing::DumpReplicated(db.get());
      canopy::testing::Dump got = canopy::testing::DumpReplicated(follower.get());
      ASSERT_TRUE(want == got) << canopy::testing::DescribeDiff(want, got);
    }
    Workload::State actual = Workload::Read(db.get());
    // The state is that after `done` steps, or after one more (in flight).
    Workload model(seed);
    for (uint64_t i = 0; i < done; ++i) ASSERT_OK(model.Step(nullptr));
    if (actual == model.state()) continue;
    ASSERT_OK(model.Step(nullptr));
    EXPECT_TRUE(actual == model.state())
        << "seed " << seed << ": state is neither after step " << done << " nor " << done + 1;
  }
}

}  // namespace
}  // namespace canopy

namespace canopy {
namespace {

// Writes `n` durable accounts in a child process that then dies by SIGKILL,
// so the writes live only in the write-ahead log (no flush, no clean close).
// The caller has opened no database yet (see kForkAlone).
void WriteThenDie(const std::string& path, int n) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Options o;
    o.sync = true;
    std::unique_ptr<Db> db;
    if (Status s = Db::Open(o, path, &db); !s.ok()) {
      std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
      _exit(2);
    }
    for (int i = 0; i < n; ++i) {
      AccountSpec spec;
      spec.key = "acc-" + std::to_string(i);
      spec.name = "Account " + std::to_string(i);
      if (!db->CreateAccount(Actor::System(), spec).ok()) _exit(3);
    }
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited with " << WEXITSTATUS(status);
}

// The largest write-ahead log file of a database folder.
std::string LargestWal(const std::string& path) {
  std::string best;
  uintmax_t size = 0;
  for (const auto& f : std::filesystem::directory_iterator(path)) {
    if (f.path().extension() == ".log" && f.file_size() > size) {
      size = f.file_size();
      best = f.path().string();
    }
  }
  return best;
}

TEST(Persistence, ADamagedWalRecordIsCorruptionNotASilentLoss) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "fork() after threads is not supported under ThreadSanitizer";
#endif
  if (storage::OpenedAStore()) GTEST_SKIP() << kForkAlone;
  TempDir dir;
  const std::string path = dir.Sub("db");
  WriteThenDie(path, 200);
  const std::string wal = LargestWal(path);
  ASSERT_FALSE(wal.empty());
  const auto size = std::filesystem::file_size(wal);
  ASSERT_GT(size, 4096u);
  // One byte flipped in the middle of the log: a record before the tail.
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  std::unique_ptr<Db> db;
  Status s = Db::Open(Options(), path, &db);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_EQ(db, nullptr);
  // The message names the damaged log (RocksDB's own does not).
  const std::string name = std::filesystem::path(wal).filename().string();
  EXPECT_NE(s.message().find("(in the write-ahead log replayed on open: "), std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find(name), std::string::npos) << s.ToString();
  Options ro;
  ro.read_only = true;
  s = Db::Open(ro, path, &db);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find(name), std::string::npos) << s.ToString();
}

TEST(Persistence, ATornLastWalRecordIsTolerated) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "fork() after threads is not supported under ThreadSanitizer";
#endif
  if (storage::OpenedAStore()) GTEST_SKIP() << kForkAlone;
  TempDir dir;
  const std::string path = dir.Sub("db");
  WriteThenDie(path, 50);
  const std::string wal = LargestWal(path);
  ASSERT_FALSE(wal.empty());
  // A crash mid-write leaves half a record at the end: cut the last bytes.
  const auto size = std::filesystem::file_size(wal);
  std::filesystem::resize_file(wal, size - 7);
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  // Every write but the torn last one is there, and the state is whole.
  EXPECT_GE(db->Revision(), 49u);
  std::vector<std::string> problems;
  EXPECT_OK(db->CheckIntegrity(&problems));
}

TEST(Persistence, CloseRefusesWhileAnIteratorIsOpen) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  AccountId root = testing::MakeAccount(db.get(), "acme");
  testing::MakeDevice(db.get(), "d1", root);
  std::unique_ptr<VisibleIterator> it;
  ASSERT_OK(db->NewVisibleIterator(VisibleRequest{Actor::System()}, &it));
  ASSERT_TRUE(it->Valid());
  Status s = db->Close();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("1 visible iterator"), std::string::npos);
  EXPECT_EQ(it->key(), "d1");  // still usable: nothing was closed
  EXPECT_OK(db->FindAccount("acme"));
  it.reset();
  EXPECT_OK(db->Close());
}

// Close is not starved by calls that keep coming: eight threads (more than
// a usual machine's cores) call Count, Check and FindAccount back to back,
// with no pause, while Close waits for the calls under way. Once
// Close has begun, new calls are refused ("closing" or "closed") instead of
// queueing ahead of it, so it returns while they go on; every call either
// answered correctly or was refused, and the data is all there after a
// reopen.
TEST(Persistence, CloseIsNotStarvedByCallsThatKeepComing) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  AccountId root = testing::MakeAccount(db.get(), "acme");
  for (int i = 0; i < 50; ++i) testing::MakeDevice(db.get(), "d" + std::to_string(i), root);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> answered{0}, refused{0}, wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (uint64_t i = 0; !stop.load(); ++i) {
        Status s;
        switch ((i + static_cast<uint64_t>(t)) % 3) {
          case 0: {
            auto n = db->Count(VisibleRequest{Actor::System()});
            if (n.ok() && *n != 50) ++wrong;
            s = n.status();
            break;
          }
          case 1: {
            auto ok = db->Check(kNoId, "device.read", "d7");
            if (ok.ok() && !*ok) ++wrong;
            s = ok.status();
            break;
          }
          default:
            s = db->FindAccount("acme").status();
        }
        if (s.ok()) {
          ++answered;
        } else if (s.code() == Code::kFailedPrecondition) {
          ++refused;
        } else {
          ++wrong;
        }
      }
    });
  }
  const auto warm_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (answered.load() < 2000 && wrong.load() == 0 && std::chrono::steady_clock::now() < warm_up) {
    std::this_thread::yield();
  }
  ASSERT_GE(answered.load(), 2000u) << "the callers did not get going (" << wrong.load()
                                    << " wrong answers)";
  // Close on a thread of its own, so that a starved Close fails the test
  // (the callers then stop, letting it finish) instead of hanging it.
  std::atomic<bool> returned{false};
  Status closed;
  std::thread closer([&] {
    closed = db->Close();
    returned = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!returned.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool in_time = returned.load();
  // The callers go on after Close returned: each is refused now.
  const uint64_t refused_at_close = refused.load();
  while (in_time && refused.load() < refused_at_close + 1000) std::this_thread::yield();
  stop = true;
  for (auto& c : callers) c.join();
  closer.join();
  EXPECT_TRUE(in_time) << "Close waited over 30 s behind a stream of new calls";
  EXPECT_OK(closed);
  EXPECT_EQ(wrong.load(), 0u);
  db.reset();
  db = testing::OpenDb(dir.Sub("db"));
  EXPECT_EQ(*db->Count(VisibleRequest{Actor::System()}), 50u);
}

// A file system whose write-ahead-log files fail to sync while `fail` is
// set: the fsync failure a full or failing disk gives.
class FailingWalSyncFs : public rocksdb::FileSystemWrapper {
 public:
  explicit FailingWalSyncFs(const std::shared_ptr<rocksdb::FileSystem>& base)
      : rocksdb::FileSystemWrapper(base) {}
  static const char* kClassName() { return "FailingWalSyncFs"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* out,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, out, dbg);
    if (s.ok() && name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) {
      *out = std::make_unique<File>(std::move(*out), &fail);
    }
    return s;
  }

  std::atomic<bool> fail{false};

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& f, std::atomic<bool>* fail)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(f)), fail_(fail) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (*fail_) return rocksdb::IOStatus::IOError("injected sync failure");
      return target()->Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (*fail_) return rocksdb::IOStatus::IOError("injected sync failure");
      return target()->Fsync(o, d);
    }

   private:
    std::atomic<bool>* fail_;
  };
};

// With Options::sync, a mutation whose write-ahead-log sync fails returns
// IOError saying the change is applied but maybe not durable, and every
// later write returns it until the database is reopened; reads go on from
// the state published before it, which lacks the change; closing succeeds.
// After a reopen the change is there and the database is whole.
TEST(Persistence, FailedWalSyncStopsTheDbUntilReopened) {
  TempDir dir;
  auto fs = std::make_shared<FailingWalSyncFs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  Options options;
  options.sync = true;
  {
    storage::StoreOptions so;
    so.env = env.get();
    std::unique_ptr<storage::Store> store;
    ASSERT_OK(storage::Store::Open(so, dir.Sub("db"), &store));
    auto db = std::make_unique<engine::DbImpl>(options, std::move(store));
    ASSERT_OK(db->Init());
    ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "before", .name = "Before"}));
    fs->fail = true;
    auto r = db->CreateAccount(Actor::System(), {.key = "during", .name = "During"});
    ASSERT_EQ(r.status().code(), Code::kIOError) << r.status().ToString();
    EXPECT_NE(r.status().message().find("may not be durable"), std::string::npos)
        << r.status().ToString();
    fs->fail = false;  // the disk recovers; the Db stays stopped
    auto later = db->CreateAccount(Actor::System(), {.key = "after", .name = "After"});
    EXPECT_EQ(later.status().code(), Code::kIOError) << later.status().ToString();
    EXPECT_OK(db->FindAccount("before"));
    EXPECT_EQ(db->FindAccount("during").status().code(), Code::kNotFound);
    EXPECT_OK(db->Close());
  }
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_NE(db, nullptr);
  EXPECT_OK(db->FindAccount("before"));
  EXPECT_OK(db->FindAccount("during"));  // applied, and the process did not crash
  EXPECT_EQ(db->FindAccount("after").status().code(), Code::kNotFound);
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// ---- Read-only opens ---------------------------------------------------------

// A read-only open beside a writer that holds the folder: it reads what the
// writer had committed when it opened (its synced log too), refuses every
// write with a message naming read-only, changes nothing, and a new open
// sees later writes.
TEST(Persistence, ReadOnlyOpenBesideAWriter) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  std::unique_ptr<Db> writer = OpenDb(path);
  const AccountId acme = MakeAccount(writer.get(), "acme");
  MakeDevice(writer.get(), "d1", acme);
  UserId u = testing::MakeUser(writer.get(), "u@acme", acme);

  Options ro;
  ro.read_only = true;
  std::unique_ptr<Db> reader;
  ASSERT_OK(Db::Open(ro, path, &reader));
  EXPECT_EQ(reader->Revision(), writer->Revision());
  EXPECT_EQ(KeysIn(reader.get(), acme), std::vector<std::string>{"d1"});
  std::vector<std::string> problems;
  EXPECT_OK(reader->CheckIntegrity(&problems));

  const auto before = DumpAll(writer.get());
  auto refused = [](const Status& s) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.ToString();
  };
  refused(reader->CreateAccount(Actor::System(), {.key = "x", .name = "X"}).status());
  refused(reader->CreateEntity(Actor::System(), {.key = "d2", .name = "D2", .owner = acme}).status());
  refused(reader->SetUserDisabled(Actor::System(), u, true));
  std::ofstream(dir.Sub("in.jsonl")) << "{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\"}\n";
  refused(reader->Import(Actor::System(), dir.Sub("in.jsonl"), ImportOptions(), nullptr));
  EXPECT_TRUE(before == DumpAll(writer.get()));
  // A checkpoint (so a backup) is a copy of its view, key by key.
  auto cp = reader->Checkpoint(dir.Sub("cp"));
  ASSERT_OK(cp);
  EXPECT_EQ(*cp, reader->Revision());
  {
    std::unique_ptr<Db> copy = testing::OpenDb(dir.Sub("cp"));
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(copy->Revision(), *cp);
    EXPECT_TRUE(DumpAll(copy.get()) == before);
    EXPECT_EQ(copy->LogId(), writer->LogId());
    ASSERT_OK(copy->Close());
  }
  EXPECT_EQ(reader->Checkpoint(dir.Sub("cp")).status().code(), Code::kAlreadyExists);
  // A name with a trailing slash is the folder's name; the copy was made
  // under a scratch name beside it, which is gone.
  std::filesystem::create_directory_symlink(dir.Sub("nowhere"), dir.Sub("dangling"));
  EXPECT_EQ(reader->Checkpoint(dir.Sub("dangling")).status().code(), Code::kAlreadyExists);
  for (Db* db : {reader.get(), writer.get()}) {
    const std::string named = dir.Sub(db == writer.get() ? "cp-w" : "cp-r");
    auto slashed = db->Checkpoint(named + "/");
    ASSERT_OK(slashed);
    std::unique_ptr<Db> copy = testing::OpenDb(named);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(copy->Revision(), *slashed);
    ASSERT_OK(copy->Close());
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
  }

  // A fixed view: the writer goes on; the reader sees it after a new open.
  MakeDevice(writer.get(), "d3", acme);
  EXPECT_EQ(KeysIn(reader.get(), acme), std::vector<std::string>{"d1"});
  ASSERT_OK(reader->Close());
  reader.reset();
  ASSERT_OK(Db::Open(ro, path, &reader));
  EXPECT_EQ(KeysIn(reader.get(), acme), (std::vector<std::string>{"d1", "d3"}));
  ASSERT_OK(reader->Close());
  // The writer was never disturbed.
  MakeDevice(writer.get(), "d4", acme);
  ASSERT_OK(writer->Close());
}

// A table file really gone (nothing writes): after its attempts a
// read-only open is Corruption naming the file, never Unavailable ("try
// again"), which is kept for files a busy writer replaced meanwhile.
TEST(Persistence, ReaderOpenOfADatabaseMissingATableFileIsCorruption) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  {
    std::unique_ptr<Db> writer = OpenDb(path);
    const AccountId acme = MakeAccount(writer.get(), "acme");
    MakeDevice(writer.get(), "d1", acme);
    ASSERT_OK(writer->Close());
  }
  std::string gone;
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    if (e.path().extension() == ".sst") gone = e.path().filename().string();
  }
  ASSERT_FALSE(gone.empty());
  std::filesystem::remove(path + "/" + gone);
  Options o;
  o.read_only = true;
  std::unique_ptr<Db> db;
  const Status s = Db::Open(o, path, &db);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  // (RocksDB names the file by its number, as .sst or its old name .ldb.)
  EXPECT_NE(s.message().find(gone.substr(0, gone.size() - 4)), std::string::npos)
      << s.ToString();
  EXPECT_EQ(db, nullptr);
}

TEST(Persistence, ReadOnlyOpenRefusals) {
  TempDir dir;
  Options ro;
  ro.read_only = true;
  std::unique_ptr<Db> db;
  // Nothing is created.
  Status s = Db::Open(ro, dir.Sub("none"), &db);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("none")));
  // A creation a crash interrupted is not a database yet.
  std::filesystem::create_directories(dir.Sub("half"));
  std::ofstream(dir.Sub("half") + "/" + std::string(storage::kCreatingMarker)) << "x";
  s = Db::Open(ro, dir.Sub("half"), &db);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("never fully created"), std::string::npos) << s.ToString();
  // A replica applies its log: it cannot be read-only.
  Options both = ro;
  both.replication.etcd_endpoints = {"http://127.0.0.1:1"};
  s = Db::Open(both, dir.Sub("none"), &db);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
}

}  // namespace
}  // namespace canopy
