// Copyright (c) Canopy authors.
//
// IdTable<K, T>: the catalog's nodes by id (of type K), for ids handed out in sequence
// from 1 (accounts, users). Slots sit in pages of kPageSize, indexed by
// id / kPageSize, allocated when the first node of a page arrives and freed
// when its last one goes: no allocation or hashing per node, and a look-up
// is two array reads. Deleted ids leave holes only within pages that still
// hold a node. Ids from 2^28 up (far beyond any sequence seen in practice,
// but a damaged record may carry one) go to an ordered map beside the
// pages, so no id makes the page index larger than 32 MiB.
//
// Like std::unordered_map: a node's address stays put while it lives
// (pages never move); iteration is in id order. Copying copies every node
// (CopyFrom: one that can be stopped midway).
//
// Thread safety: none (the catalog's rules apply).

#ifndef CANOPY_QUERY_ID_TABLE_H_
#define CANOPY_QUERY_ID_TABLE_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace canopy::query {

template <typename K, typename T>
class IdTable {
 public:
  static constexpr uint64_t kPageBits = 6;
  static constexpr uint64_t kPageSize = uint64_t{1} << kPageBits;
  static constexpr uint64_t kDenseIds = uint64_t{1} << 28;  // ids below: in pages

  IdTable() = default;
  IdTable(const IdTable& o) { *this = o; }
  IdTable& operator=(const IdTable& o) {
    if (this != &o) CopyFrom(o, nullptr);
    return *this;
  }
  // Makes this a copy of `o` a page at a time, checking `stop` (when not
  // null) between pages: false, and this table left empty, when it was
  // set before the copy ended. `o` must not change meanwhile (other
  // threads may read it). Should a node's copy throw, this table is left
  // empty.
  bool CopyFrom(const IdTable& o, const std::atomic<bool>* stop) {
    clear();
    IdTable t;
    t.pages_.resize(o.pages_.size());
    for (size_t i = 0; i < o.pages_.size(); ++i) {
      if (stop != nullptr && i % 64 == 0 && stop->load(std::memory_order_relaxed)) return false;
      if (o.pages_[i]) t.pages_[i] = std::make_unique<Page>(*o.pages_[i]);
    }
    t.sparse_ = o.sparse_;
    t.size_ = o.size_;
    *this = std::move(t);
    return true;
  }
  IdTable(IdTable&& o) noexcept { *this = std::move(o); }
  IdTable& operator=(IdTable&& o) noexcept {
    if (this == &o) return *this;
    pages_ = std::move(o.pages_);
    sparse_ = std::move(o.sparse_);
    size_ = std::exchange(o.size_, 0);
    o.pages_.clear();
    o.sparse_.clear();
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  T* find(uint64_t id) {
    if (id >= kDenseIds) {
      auto it = sparse_.find(id);
      return it == sparse_.end() ? nullptr : &it->second;
    }
    const uint64_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return nullptr;
    Page& page = *pages_[p];
    const uint64_t slot = id & (kPageSize - 1);
    return page.present[slot] ? &page.slots[slot] : nullptr;
  }
  const T* find(uint64_t id) const { return const_cast<IdTable*>(this)->find(id); }

  // Inserts `value` under `id` unless a node is there: {node, inserted}.
  std::pair<T*, bool> emplace(uint64_t id, T value) {
    if (id >= kDenseIds) {
      auto [it, inserted] = sparse_.emplace(id, std::move(value));
      size_ += inserted ? 1 : 0;
      return {&it->second, inserted};
    }
    const uint64_t p = id >> kPageBits;
    if (p >= pages_.size()) pages_.resize(std::max<uint64_t>(p + 1, pages_.size() * 5 / 4));
    if (!pages_[p]) pages_[p] = std::make_unique<Page>();
    Page& page = *pages_[p];
    const uint64_t slot = id & (kPageSize - 1);
    if (page.present[slot]) return {&page.slots[slot], false};
    page.slots[slot] = std::move(value);
    page.present[slot] = true;
    ++page.live;
    ++size_;
    return {&page.slots[slot], true};
  }

  // Removes the node of `id`; false when there is none.
  bool erase(uint64_t id) {
    if (id >= kDenseIds) {
      const bool erased = sparse_.erase(id) != 0;
      size_ -= erased ? 1 : 0;
      return erased;
    }
    const uint64_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return false;
    Page& page = *pages_[p];
    const uint64_t slot = id & (kPageSize - 1);
    if (!page.present[slot]) return false;
    page.present[slot] = false;
    page.slots[slot] = T();
    --size_;
    if (--page.live == 0) pages_[p].reset();
    return true;
  }

  void clear() {
    pages_.clear();
    pages_.shrink_to_fit();
    sparse_.clear();
    size_ = 0;
  }

  // Iteration in id order: each element is {id, node}, as a map's.
  template <bool kConst>
  class Iter {
   public:
    using Table = std::conditional_t<kConst, const IdTable, IdTable>;
    using Node = std::conditional_t<kConst, const T, T>;
    struct Entry {
      K first;
      Node& second;
    };
    Iter(Table* t, bool at_end) : t_(t), done_(at_end) {
      if (!done_) Settle();
    }
    Entry operator*() const { return Entry{K(id_), *t_->find(id_)}; }
    Iter& operator++() {
      if (id_ == ~uint64_t{0}) {
        done_ = true;
      } else {
        ++id_;
        Settle();
      }
      return *this;
    }
    bool operator==(const Iter& o) const { return done_ == o.done_ && (done_ || id_ == o.id_); }
    bool operator!=(const Iter& o) const { return !(*this == o); }

   private:
    // Moves to the first present id from id_ on (the end when none).
    void Settle() {
      while (id_ < kDenseIds) {
        const uint64_t p = id_ >> kPageBits;
        if (p >= t_->pages_.size()) {
          id_ = kDenseIds;
          break;
        }
        if (!t_->pages_[p]) {
          id_ = (p + 1) << kPageBits;
          continue;
        }
        if (t_->pages_[p]->present[id_ & (kPageSize - 1)]) return;
        ++id_;
      }
      auto it = t_->sparse_.lower_bound(id_);
      if (it == t_->sparse_.end()) {
        done_ = true;
      } else {
        id_ = it->first;
      }
    }
    Table* t_;
    uint64_t id_ = 0;
    bool done_ = false;
  };

  Iter<false> begin() { return Iter<false>(this, false); }
  Iter<false> end() { return Iter<false>(this, true); }
  Iter<true> begin() const { return Iter<true>(this, false); }
  Iter<true> end() const { return Iter<true>(this, true); }

 private:
  struct Page {
    std::array<T, kPageSize> slots{};
    std::bitset<kPageSize> present;
    uint32_t live = 0;
  };
  std::vector<std::unique_ptr<Page>> pages_;
  std::map<uint64_t, T> sparse_;  // ids from kDenseIds up (ordered: iteration)
  size_t size_ = 0;
};

}  // namespace canopy::query

#endif  // CANOPY_QUERY_ID_TABLE_H_
