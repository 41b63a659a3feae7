// Copyright (c) Canopy authors.

#include "storage/forks.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace canopy::storage {
namespace {

// Set in the child by the fork handler (a lock-free atomic store is safe
// there); inherited by the child's own children.
std::atomic<bool> forked_child{false};
// The process that first opened a store, for the refusal's message.
std::atomic<pid_t> opener{0};

void AtExit(int status, void* /*arg*/) {
  std::fflush(nullptr);
  _exit(status);
}

// Registered in the child, so it is the child's last exit handler and runs
// first: handlers run in the reverse order of registration, and the
// engine's own (its thread pools, its timer) were registered before the
// fork, some of them after the first open.
void AfterForkInChild() {
  forked_child.store(true, std::memory_order_relaxed);
  on_exit(&AtExit, nullptr);
}

}  // namespace

void WatchForks() {
  static std::once_flag once;
  std::call_once(once, [] {
    opener.store(getpid());
    pthread_atfork(nullptr, nullptr, &AfterForkInChild);
  });
}

bool OpenedAStore() { return opener.load() != 0; }  // a child inherits it

bool InForkedChild() { return forked_child.load(std::memory_order_relaxed); }

Status ForkedChildRefusal(const std::string& what) {
  return Status::FailedPrecondition(
      "cannot " + what + " in a process forked from one that had opened a database (process " +
      std::to_string(opener.load()) +
      "): the storage engine's background threads were not copied by fork(); open databases "
      "only in processes that did not fork from such a process (fork before the first open, "
      "or start the process with exec: Python's multiprocessing 'spawn' or 'forkserver')");
}

}  // namespace canopy::storage
