// Copyright (c) Canopy authors.
//
// CatalogVersions: two copies of the catalog, so that readers never wait
// for a writer ("left-right").
//
//   published  the copy readers enter: the state of the last published
//              revision, with a RocksDB snapshot of exactly that state.
//   latest     the copy the (single, serialised) writer authorises against
//              and changes; it may hold mutations not yet published (with
//              sync on: not yet durable).
//
// Publish() makes the latest copy the published one (one atomic store),
// waits until no reader is left in the other copy, then replays onto it the
// changes made since the previous publication, so both copies are equal
// again and the other copy becomes the writer's. A reader pins a copy by
// bumping the copy's reader count and re-checking that it is still the
// published one; it never blocks. A writer waits only for readers that
// entered the old copy before the switch, and only as long as they stay in
// it (readers leave once they have planned; see DbImpl::ReadScope).
//
// A publication after the latest copy was replaced wholesale (a load at
// open, after an import, a follower's catch-up) copies it onto the other
// side on a thread of its own, so that Db::Open returns without waiting
// for the copy: the writer waits for it (FinishCopy) before it next
// touches its copy or publishes, and Freeze and the destructor stop it
// midway.
//
// Memory: one catalog, and the account and user pages written since the
// last publication. The copies share their pages (query/id_table.h): a
// write copies the pages it changes on the writer's side, and once the
// other copy is level the two share them again. A copy onto the other
// side copies page references, not nodes, and the rest of the catalog
// (roles, groups, roots, sequences) whole.
//
// Thread safety: Enter() and Pin from any thread;
// everything else by the single writer (the engine's write mutex).

#ifndef CANOPY_ENGINE_CATALOG_VERSIONS_H_
#define CANOPY_ENGINE_CATALOG_VERSIONS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "canopy/status.h"
#include "query/catalog.h"
#include "storage/changes.h"

namespace rocksdb {
class Snapshot;
}

namespace canopy::engine {

using SharedSnapshot = std::shared_ptr<const rocksdb::Snapshot>;

class CatalogVersions {
  struct Side {
    query::Catalog catalog;
    SharedSnapshot snapshot;  // null before the first publication
    uint64_t revision = 0;
    mutable std::atomic<int64_t> readers{0};
  };

 public:
  // A reader's hold on the published copy; movable, released on
  // destruction or Release().
  class Pin {
   public:
    Pin() = default;
    explicit Pin(const Side* side) : side_(side) {}
    Pin(Pin&& o) noexcept : side_(o.side_) { o.side_ = nullptr; }
    Pin& operator=(Pin&& o) noexcept;
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    ~Pin() { Release(); }
    void Release();
    bool held() const { return side_ != nullptr; }
    const query::Catalog& catalog() const { return side_->catalog; }
    const SharedSnapshot& snapshot() const { return side_->snapshot; }
    uint64_t revision() const { return side_->revision; }

   private:
    const Side* side_ = nullptr;
  };

  CatalogVersions() = default;
  CatalogVersions(const CatalogVersions&) = delete;
  CatalogVersions& operator=(const CatalogVersions&) = delete;
  ~CatalogVersions() { StopCopy(); }

  // Pins the published copy. Never blocks (it retries only when a
  // publication switches copies between its two steps).
  Pin Enter() const;

  // ---- The writer's side (serialised by the caller) ----

  // The copy mutations authorise against and change (waits for the
  // background copy onto it, if one is under way).
  query::Catalog& latest() {
    FinishCopy();
    return sides_[1 - current_.load()].catalog;
  }
  const query::Catalog& latest() const {
    FinishCopy();
    return sides_[1 - current_.load()].catalog;
  }
  // latest(), to be replaced wholesale (loaded, then NoteReplaced): a
  // background copy onto it is stopped and dropped instead of waited for.
  query::Catalog& LatestToReplace();
  // Records that `changes` were applied to latest().
  void NoteApplied(std::shared_ptr<const storage::ChangeSet> changes);
  // Records that latest() was reloaded (or otherwise changed wholesale):
  // the next publication copies it instead of replaying change sets.
  void NoteReplaced();
  // Takes back the changes applied to latest() since the last publication
  // (a replica's group of writes that etcd refused), so that latest()
  // equals the published copy again: by undoing their change sets newest
  // first (query::Catalog::Undo; costs what applying them cost), or, when
  // one cannot be undone (an account deletion) or latest() was replaced,
  // by copying the published copy (costs a copy of the catalog).
  // Internal when the copy fails (the caller must stop serving).
  Status DiscardPending();
  // How many DiscardPending calls undid their changes and how many copied
  // the catalog instead (any thread may read them).
  uint64_t undone() const { return undone_.load(std::memory_order_relaxed); }
  uint64_t copied_back() const { return copied_back_.load(std::memory_order_relaxed); }
  // Are there changes in latest() that readers do not see yet?
  bool HasPending() const { return replaced_ || !pending_.empty(); }
  // Makes latest() the published copy at `revision`, read on `snapshot`
  // (of exactly its state), then brings the other copy level with it.
  // Internal when a replay fails (the copies then differ: the caller must
  // stop serving). Publishing with nothing pending only renews the
  // snapshot and revision.
  Status Publish(SharedSnapshot snapshot, uint64_t revision);
  // Makes `catalog` the published copy at `revision`, read on `snapshot`,
  // for a Db that never writes (a snapshot view, a read-only Db; `catalog`
  // may be moved out of latest()): the writer's copy stays empty, so a
  // frozen Db holds one catalog, not two.
  void Freeze(query::Catalog catalog, SharedSnapshot snapshot, uint64_t revision);
  // Drops both copies' snapshots (before the store closes).
  void DropSnapshots();
  // Stops a background copy midway and frees what it made (a Db that
  // closes no longer needs the writer's copy); latest() would copy anew.
  void StopCopy();
  // In a forked child (storage/forks.h): lets go of a background copy's
  // thread, which the child does not have, instead of waiting for it.
  void LetGoOfCopierAfterFork() {
    if (copier_.joinable()) copier_.detach();
  }

 private:
  // `level`, equal to `with`, takes `with`'s pages where it holds copies
  // of them (query::Catalog::ShareChangedFrom); saves memory only, so a
  // failure leaves the copies apart.
  static void ShareLevelPages(query::Catalog* level, query::Catalog* with);
  // Waits for the background copy; when it stopped or failed, copies here
  // (which may throw: the copy then stays owed).
  void FinishCopy() const;

  Side sides_[2];
  std::atomic<int> current_{0};  // the side readers enter
  std::vector<std::shared_ptr<const storage::ChangeSet>> pending_;
  bool replaced_ = false;
  std::atomic<uint64_t> undone_{0};
  std::atomic<uint64_t> copied_back_{0};
  // The background copy: from the published side onto the other one.
  mutable std::thread copier_;
  mutable bool copy_owed_ = false;  // the other side is not a copy yet
  bool copy_done_ = false;          // set by the copier before it ends
  std::atomic<bool> stop_copy_{false};
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_CATALOG_VERSIONS_H_
