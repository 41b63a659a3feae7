// Copyright (c) Canopy authors.
//
// fork(): a child of a process that had opened a database cannot open, use
// or close one (the storage engine's threads stay in the parent): each call
// is FailedPrecondition naming the fork, destroying the parent's Db lets go
// of it untouched, and the child's exit() returns instead of waiting for
// ever on threads it does not have. The parent goes on unharmed.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "canopy/db.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::TempDir;

// Runs `child` in a forked process that then ends with exit(), the way a
// program returns from main; returns its exit status, or -1 when it did
// not end within 30 s (it is then killed). `child` returns 0 when every
// check held, else the number of the first that failed.
template <typename Child>
int RunForked(Child&& child) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -2;
  if (pid == 0) std::exit(child());
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

bool RefusedForFork(const Status& s) {
  if (s.code() == Code::kFailedPrecondition && s.message().find("forked") != std::string::npos) {
    return true;
  }
  std::fprintf(stderr, "fork_test child: expected a refusal naming the fork, got %s\n",
               s.ToString().c_str());
  return false;
}

// The sanitizers cannot run a child forked from a process with threads:
// ThreadSanitizer refuses it, and AddressSanitizer's allocator (GCC 12's
// libasan) takes no lock around fork(), so the child can deadlock in its
// first malloc when one of the parent's threads (RocksDB's) was inside the
// allocator at that moment (a CI run saw exactly that). The Release run
// covers these; glibc's malloc is fork-safe.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CANOPY_SKIP_FORK_AFTER_THREADS() \
  GTEST_SKIP() << "fork() after threads is not fork-safe under this sanitizer"
#else
#define CANOPY_SKIP_FORK_AFTER_THREADS() (void)0
#endif

TEST(ForkTest, ChildOfAnOpenDatabaseIsRefusedEverythingAndExits) {
  CANOPY_SKIP_FORK_AFTER_THREADS();
  TempDir dir;
  std::unique_ptr<Db> db = testing::OpenDb(dir.Sub("db"));
  const AccountId t = testing::MakeAccount(db.get(), "t");
  for (int i = 0; i < 200; ++i) testing::MakeDevice(db.get(), "d" + std::to_string(i), t);
  const std::string other = dir.Sub("other");
  // A stream made before the fork: the child cannot step it either.
  std::unique_ptr<VisibleIterator> it;
  ASSERT_OK(db->NewVisibleIterator(VisibleRequest(Actor::System()), &it));
  ASSERT_TRUE(it->Valid());

  const int status = RunForked([&]() -> int {
    if (it->Valid() || !RefusedForFork(it->status())) return 7;
    it->Next();  // nothing happens
    if (it->Valid()) return 7;
    if (!RefusedForFork(db->GetAccount(t).status())) return 1;
    if (!RefusedForFork(db->Count(VisibleRequest(Actor::System())).status())) return 2;
    EntitySpec e;
    e.key = "from-child";
    e.name = "from child";
    e.owner = t;
    if (!RefusedForFork(db->CreateEntity(Actor::System(), e).status())) return 3;
    std::unique_ptr<Db> second;
    if (!RefusedForFork(Db::Open(Options(), other, &second)) || second != nullptr) return 4;
    if (std::filesystem::exists(other)) return 5;
    if (!RefusedForFork(db->Close())) return 6;
    db.reset();  // lets go of the parent's database: returns
    return 0;
  });
  ASSERT_EQ(status, 0) << "-1: the child hung; 1..7: the check that failed (see its stderr)";

  // The parent is unharmed: its stream goes on; it reads, writes and
  // closes; nothing of the child is in the database.
  size_t streamed = 0;
  for (; it->Valid(); it->Next()) ++streamed;
  ASSERT_OK(it->status());
  EXPECT_EQ(streamed, 200u);
  it.reset();
  ASSERT_TRUE(db->GetAccount(t).ok());
  testing::MakeDevice(db.get(), "after-fork", t);
  ASSERT_OK(db->Close());
  db = testing::OpenDb(dir.Sub("db"));
  EXPECT_TRUE(db->FindEntity(EntityKind::kDevice, "after-fork").ok());
  EXPECT_TRUE(db->FindEntity(EntityKind::kDevice, "from-child").status().IsNotFound());
  auto n = db->Count(VisibleRequest(Actor::System()));
  ASSERT_OK(n.status());
  EXPECT_EQ(*n, 201u);
}

TEST(ForkTest, ChildOfAProcessThatClosedItsDatabaseCannotOpenOneAndExits) {
  CANOPY_SKIP_FORK_AFTER_THREADS();
  TempDir dir;
  {
    std::unique_ptr<Db> db = testing::OpenDb(dir.Sub("db"));
    testing::MakeAccount(db.get(), "t");
    ASSERT_OK(db->Close());
  }
  // The engine's threads outlive the closed database: a child opening the
  // same database (or another) would wait on them for ever.
  const int status = RunForked([&]() -> int {
    std::unique_ptr<Db> db;
    if (!RefusedForFork(Db::Open(Options(), dir.Sub("db"), &db)) || db != nullptr) return 1;
    return 0;
  });
  EXPECT_EQ(status, 0) << "-1: the child hung; 1: the check that failed (see its stderr)";
  std::unique_ptr<Db> db = testing::OpenDb(dir.Sub("db"));  // the parent still can
  EXPECT_TRUE(db->FindAccount("t").ok());
}

}  // namespace
}  // namespace canopy
