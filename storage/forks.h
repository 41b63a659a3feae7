// Copyright (c) Canopy authors.
//
// fork() and the storage engine. RocksDB runs its flushes and compactions on
// background threads that belong to the process (they outlive a closed
// database). fork() copies the process but not its threads, so a child of a
// process that has opened a store cannot open, use or close one: work handed
// to those threads would never run, and tearing them down would wait for
// them forever. These functions let the layers above refuse in such a child
// instead of hanging or writing to the parent's files.
//
// Thread safety: all functions are safe to call from any thread.

#ifndef CANOPY_STORAGE_FORKS_H_
#define CANOPY_STORAGE_FORKS_H_

#include <string>

#include "canopy/status.h"

namespace canopy::storage {

// Called by Store::Open before the first store opens (once per process;
// later calls do nothing). From then on, a process forked from this one:
//  - answers true to InForkedChild(), and
//  - ends as if by _exit() when it calls exit() (or returns from main),
//    after flushing stdio streams: the storage engine's teardown, which
//    waits for threads the child does not have, is skipped (other exit
//    handlers registered before the first open are skipped with it).
void WatchForks();

// True in a process forked (directly or not) from one that had opened a
// store before the fork.
bool InForkedChild();

// True once this process has opened a store (its children could not).
// For tests that open databases in forked children.
bool OpenedAStore();

// The refusal for `what` in such a child: FailedPrecondition naming the
// process that opened databases and what to do instead.
Status ForkedChildRefusal(const std::string& what);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_FORKS_H_
