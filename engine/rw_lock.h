// Copyright (c) Canopy authors.
//
// A writer-preferring reader/writer lock. glibc's default rwlock prefers
// readers, so a steady stream of queries could starve a mutation forever;
// this one lets a waiting writer in before new readers.

#ifndef CANOPY_ENGINE_RW_LOCK_H_
#define CANOPY_ENGINE_RW_LOCK_H_

#include <pthread.h>

namespace canopy::engine {

class RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_RW_LOCK_H_
