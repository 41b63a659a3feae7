// Copyright (c) Canopy authors.

#include "engine/catalog_versions.h"

#include <chrono>
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
    old.catalog = next.catalog;
  } else {
    for (const auto& changes : pending_) {
      s = old.catalog.Apply(*changes);
      if (!s.ok()) break;
    }
  }
  old.revision = revision;
  pending_.clear();
  replaced_ = false;
  if (!s.ok()) return Status::Internal("catalog copies diverged: " + s.message());
  return s;
}

void CatalogVersions::Freeze(query::Catalog catalog, SharedSnapshot snapshot,
                             uint64_t revision) {
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
