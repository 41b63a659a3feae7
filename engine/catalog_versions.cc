// Copyright (c) Canopy authors.

#include "engine/catalog_versions.h"

#include <chrono>
#include <exception>
#include <thread>

namespace canopy::engine {

CatalogVersions::Pin& CatalogVersions::Pin::operator=(Pin&& o) noexcept {
  if (this != &o) {
    Release();
    side_ = o.side_;
    o.side_ = nullptr;
  }
  return *this;
}

void CatalogVersions::Pin::Release() {
  if (side_ != nullptr) side_->readers.fetch_sub(1, std::memory_order_seq_cst);
  side_ = nullptr;
}

CatalogVersions::Pin CatalogVersions::Enter() const {
  for (;;) {
    const int i = current_.load(std::memory_order_seq_cst);
    sides_[i].readers.fetch_add(1, std::memory_order_seq_cst);
    // Still the published copy after announcing ourselves: the writer will
    // see our count before it changes this copy.
    if (current_.load(std::memory_order_seq_cst) == i) return Pin(&sides_[i]);
    sides_[i].readers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void CatalogVersions::NoteApplied(std::shared_ptr<const storage::ChangeSet> changes) {
  if (!replaced_) pending_.push_back(std::move(changes));
}

void CatalogVersions::NoteReplaced() {
  replaced_ = true;
  pending_.clear();
}

Status CatalogVersions::Publish(SharedSnapshot snapshot, uint64_t revision) {
  FinishCopy();
  const int w = 1 - current_.load();
  Side& next = sides_[w];
  Side& old = sides_[1 - w];
  next.snapshot = std::move(snapshot);
  next.revision = revision;
  current_.store(w, std::memory_order_seq_cst);
  // Wait for the readers that entered the old copy before the switch:
  // spin briefly (they usually only plan), then back off.
  for (int spins = 0; old.readers.load(std::memory_order_seq_cst) != 0; ++spins) {
    if (spins < 4) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(spins < 1024 ? 20 : 500));
    }
  }
  old.snapshot.reset();
  Status s = Status::Ok();
  if (replaced_) {
    // Copied on a thread of its own; until it ends, only readers use the
    // published side (the copier reads it too), and nothing the other.
    copy_owed_ = true;
    copy_done_ = false;
    try {
      copier_ = std::thread([this, &old, &next] {
        try {
          copy_done_ = old.catalog.CopyFrom(next.catalog, &stop_copy_);
        } catch (const std::exception&) {
          old.catalog = query::Catalog();  // FinishCopy copies again
        }
      });
    } catch (...) {
      // No thread to be had: FinishCopy copies on the writer's next step.
    }
  } else {
    try {
      for (const auto& changes : pending_) {
        s = old.catalog.Apply(*changes);
        if (!s.ok()) break;
      }
    } catch (const std::exception& e) {  // out of memory midway
      s = Status::Internal(std::string("replaying onto the other copy: ") + e.what());
    }
    // Level again: the pages either copy wrote are shared once more, so
    // the two copies cost one catalog between publications.
    if (s.ok()) ShareLevelPages(&old.catalog, &next.catalog);
  }
  old.revision = revision;
  pending_.clear();
  replaced_ = false;
  if (!s.ok()) return Status::Internal("catalog copies diverged: " + s.message());
  return s;
}

Status CatalogVersions::DiscardPending() {
  FinishCopy();
  if (!HasPending()) return Status::Ok();
  const int c = current_.load();
  if (!replaced_) {
    // Each change set taken back, newest first: costs what applying them
    // cost. A set that cannot be taken back (or a failure midway) leaves
    // the copy below to do it.
    Status s = Status::Ok();
    try {
      for (auto it = pending_.rbegin(); it != pending_.rend() && s.ok(); ++it) {
        s = sides_[1 - c].catalog.Undo(**it);
      }
    } catch (const std::exception& e) {
      s = Status::Internal(e.what());
    }
    if (s.ok()) {
      pending_.clear();
      ShareLevelPages(&sides_[1 - c].catalog, &sides_[c].catalog);
      undone_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  copied_back_.fetch_add(1, std::memory_order_relaxed);
  try {
    sides_[1 - c].catalog = sides_[c].catalog;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("taking back unpublished changes: ") + e.what());
  }
  pending_.clear();
  replaced_ = false;
  return Status::Ok();
}

void CatalogVersions::ShareLevelPages(query::Catalog* level, query::Catalog* with) {
  try {
    level->ShareChangedFrom(*with);
  } catch (const std::exception&) {
    // Out of memory for a page index: the copies stay equal, only apart.
  }
}

void CatalogVersions::FinishCopy() const {
  if (!copy_owed_) return;
  if (copier_.joinable()) copier_.join();
  if (!copy_done_) {
    const int c = current_.load();
    Side& other = const_cast<Side&>(sides_[1 - c]);
    other.catalog = query::Catalog();
    other.catalog = sides_[c].catalog;
  }
  copy_owed_ = false;
}

void CatalogVersions::StopCopy() {
  if (!copier_.joinable()) return;
  stop_copy_.store(true);
  copier_.join();
  stop_copy_.store(false);
  if (!copy_done_) sides_[1 - current_.load()].catalog = query::Catalog();
  // Still owed when stopped: should the writer's copy be wanted after all,
  // FinishCopy makes it then.
}

query::Catalog& CatalogVersions::LatestToReplace() {
  StopCopy();
  copy_owed_ = false;
  return sides_[1 - current_.load()].catalog;
}

void CatalogVersions::Freeze(query::Catalog catalog, SharedSnapshot snapshot,
                             uint64_t revision) {
  StopCopy();
  copy_owed_ = false;
  sides_[1 - current_.load()].catalog = query::Catalog();  // the writer's copy stays empty
  Side& side = sides_[current_.load()];
  side.catalog = std::move(catalog);
  side.snapshot = std::move(snapshot);
  side.revision = revision;
  pending_.clear();
  replaced_ = false;
}

void CatalogVersions::DropSnapshots() {
  sides_[0].snapshot.reset();
  sides_[1].snapshot.reset();
}

}  // namespace canopy::engine
