// Copyright (c) Canopy authors.
//
// IdTable<K, T>: the catalog's nodes by id (of type K), for ids handed out in sequence
// from 1 (accounts, users). Slots sit in pages of kPageSize, indexed by
// id / kPageSize, allocated when the first node of a page arrives and freed
// when its last one goes: no allocation or hashing per node, and a look-up
// is two array reads. Deleted ids leave holes only within pages that still
// hold a node. Ids from 2^26 up (far beyond any sequence seen in practice,
// but a damaged record may carry one) go to an ordered map beside the
// pages, so no id makes the page index larger than 32 MiB.
//
// Copies share pages (copy on write): copying a table copies its page
// index, not its nodes, and a page is copied only when one of the tables
// holding it is about to change it (find() for writing, emplace, erase,
// iteration for writing). So the engine's two copies of the catalog (one
// readers use, one the writer changes) cost one catalog and the pages
// written since they were last made equal; ShareChangedFrom makes them
// share those pages again. A page a table holds alone is changed in place.
//
// Like std::unordered_map: a node's address stays put while it lives and
// its table is not copied (pages never move); a pointer read through the
// const find() of a table that shares the node's page goes stale, but stays
// readable, once that table writes to the page. ShareChangedFrom replaces
// pages, and frees those no other table holds: a pointer into a table is
// good until its next ShareChangedFrom. Iteration is in id order.
//
// Thread safety: none (the catalog's rules apply), with one exception: a
// table may be copied, changed and destroyed on one thread while other
// threads read (const) another table sharing its pages, since shared pages
// are never changed.
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

// How many values a write to a copy of `node` would copy: the length of
// its longest list that copies share (query/compact_vector.h). Nodes with
// such lists overload it (ADL); a node without any costs nothing.
template <typename T>
size_t ValuesCopiedOnWrite(const T&) {
  return 0;
}

template <typename K, typename T>
class IdTable {
 public:
  static constexpr uint64_t kPageBits = 4;
  static constexpr uint64_t kPageSize = uint64_t{1} << kPageBits;
  static constexpr uint64_t kDenseIds = uint64_t{1} << 26;  // ids below: in pages

  IdTable() = default;
  IdTable(const IdTable& o) { *this = o; }
  IdTable& operator=(const IdTable& o) {
    if (this != &o) CopyFrom(o, nullptr);
    return *this;
  }
  // Makes this a copy of `o` (sharing its pages), checking `stop` (when
  // not null) as it goes: false, and this table left empty, when it was
  // set before the copy ended. `o` must not change meanwhile (other
  // threads may read it).
  bool CopyFrom(const IdTable& o, const std::atomic<bool>* stop) {
    clear();
    IdTable t;
    t.pages_.resize(o.pages_.size());
    for (size_t i = 0; i < o.pages_.size(); ++i) {
      if (stop != nullptr && i % 4096 == 0 && stop->load(std::memory_order_relaxed)) return false;
      t.pages_[i] = o.pages_[i];
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
    changed_ = std::move(o.changed_);
    size_ = std::exchange(o.size_, 0);
    o.pages_.clear();
    o.sparse_.clear();
    o.changed_.clear();
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // For reading: never copies a page.
  const T* find(uint64_t id) const {
    if (id >= kDenseIds) {
      auto it = sparse_.find(id);
      return it == sparse_.end() ? nullptr : &it->second;
    }
    const uint64_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return nullptr;
    const Page& page = *pages_[p];
    const uint64_t slot = id & (kPageSize - 1);
    return page.present[slot] ? &page.slots[slot] : nullptr;
  }
  // For writing: copies the node's page first if another table shares it.
  T* find(uint64_t id) {
    if (id >= kDenseIds) {
      auto it = sparse_.find(id);
      return it == sparse_.end() ? nullptr : &it->second;
    }
    const uint64_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return nullptr;
    const uint64_t slot = id & (kPageSize - 1);
    if (!pages_[p]->present[slot]) return nullptr;
    return &Own(p)->slots[slot];
  }

  // Inserts `value` under `id` unless a node is there: {node, inserted}.
  std::pair<T*, bool> emplace(uint64_t id, T value) {
    if (id >= kDenseIds) {
      auto [it, inserted] = sparse_.emplace(id, std::move(value));
      size_ += inserted ? 1 : 0;
      return {&it->second, inserted};
    }
    const uint64_t p = id >> kPageBits;
    if (p >= pages_.size()) pages_.resize(std::max<uint64_t>(p + 1, pages_.size() * 5 / 4));
    if (!pages_[p]) {
      changed_.push_back(static_cast<uint32_t>(p));  // first: nothing changed if it throws
      pages_[p] = PageRef::Make();
    }
    const uint64_t slot = id & (kPageSize - 1);
    if (pages_[p]->present[slot]) return {find(id), false};
    Page& page = *Own(p);
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
    const uint64_t slot = id & (kPageSize - 1);
    if (!pages_[p]->present[slot]) return false;
    if (pages_[p]->live == 1) {  // its last node: the page goes (no copy)
      changed_.push_back(static_cast<uint32_t>(p));
      pages_[p] = PageRef();
      --size_;
      return true;
    }
    Page& page = *Own(p);
    page.present[slot] = false;
    page.slots[slot] = T();
    --page.live;
    --size_;
    return true;
  }

  void clear() {
    pages_.clear();
    pages_.shrink_to_fit();
    sparse_.clear();
    changed_.clear();
    changed_.shrink_to_fit();
    size_ = 0;
  }

  // Shares again the pages this table and `o` hold copies of: every page
  // either of them copied, made or dropped since they last shared (or
  // were copied). Requires both to hold the same nodes (the writer's copy
  // of the catalog brought level with the published one); other threads
  // may read `o` meanwhile, not this table.
  //
  // A page holding a node with a long list (ValuesCopiedOnWrite(node) of
  // kPrivateValues or more: a tenant with thousands of sub-accounts) is
  // left as two copies instead: shared, its next write would copy the list
  // (O(its length) for an append); kept apart, each table changes its own
  // copy in place, as a catalog without shared pages would.
  void ShareChangedFrom(IdTable& o) {
    auto share = [&](size_t p) {
      if (pages_[p].get() == o.pages_[p].get()) return;
      if (o.pages_[p] && pages_[p] && HasLongList(*o.pages_[p])) return;
      pages_[p] = o.pages_[p];
    };
    if (pages_.size() != o.pages_.size()) {
      // Rare (a write that grew one index, taken back): every page. Past
      // `o`'s end neither holds a node, so those pages are empty.
      pages_.resize(o.pages_.size());
      for (size_t p = 0; p < pages_.size(); ++p) share(p);
    } else {
      for (uint32_t p : changed_) share(p);
      for (uint32_t p : o.changed_) share(p);
    }
    changed_.clear();
    o.changed_.clear();
  }
  static constexpr size_t kPrivateValues = 1024;
  // How many pages this table holds, and how many of them it shares with
  // `o` (the same page, not an equal one): for tests and memory reports.
  size_t pages() const {
    size_t n = 0;
    for (const PageRef& p : pages_) n += p ? 1 : 0;
    return n;
  }
  size_t SharedPages(const IdTable& o) const {
    size_t n = 0;
    for (size_t i = 0; i < pages_.size() && i < o.pages_.size(); ++i) {
      n += pages_[i] && pages_[i].get() == o.pages_[i].get() ? 1 : 0;
    }
    return n;
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
    Page() = default;
    Page(const Page& o) : slots(o.slots), present(o.present), live(o.live) {}  // refs: 1
    Page& operator=(const Page&) = delete;
    std::array<T, kPageSize> slots{};
    std::bitset<kPageSize> present;
    uint32_t live = 0;
    std::atomic<uint32_t> refs{1};  // tables holding the page
  };
  // A counted reference to a page (a pointer's size: the page index of a
  // large table stays small). A page is changed only while its count is 1,
  // so tables sharing it on other threads only ever read it.
  class PageRef {
   public:
    PageRef() = default;
    static PageRef Make() { return PageRef(new Page()); }
    static PageRef CopyOf(const Page& p) { return PageRef(new Page(p)); }
    PageRef(const PageRef& o) : p_(o.p_) {
      if (p_ != nullptr) p_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    PageRef(PageRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    PageRef& operator=(PageRef o) noexcept {
      std::swap(p_, o.p_);
      return *this;
    }
    ~PageRef() {
      if (p_ != nullptr && p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete p_;
    }
    explicit operator bool() const { return p_ != nullptr; }
    Page* get() const { return p_; }
    Page& operator*() const { return *p_; }
    Page* operator->() const { return p_; }
    // Held by this reference alone (acquire: the other holders' reads of
    // the page happened before they let go of it).
    bool unique() const { return p_->refs.load(std::memory_order_acquire) == 1; }

   private:
    explicit PageRef(Page* p) : p_(p) {}
    Page* p_ = nullptr;
  };

  static bool HasLongList(const Page& page) {
    for (uint64_t i = 0; i < kPageSize; ++i) {
      if (page.present[i] && ValuesCopiedOnWrite(page.slots[i]) >= kPrivateValues) return true;
    }
    return false;
  }

  // Page `p` (present), copied first when another table shares it.
  Page* Own(uint64_t p) {
    if (!pages_[p].unique()) {
      PageRef copy = PageRef::CopyOf(*pages_[p]);
      changed_.push_back(static_cast<uint32_t>(p));  // before the swap: neither throws after
      pages_[p] = std::move(copy);
    }
    return pages_[p].get();
  }

  std::vector<PageRef> pages_;
  std::map<uint64_t, T> sparse_;  // ids from kDenseIds up (ordered: iteration)
  // Pages copied, made or dropped since the last ShareChangedFrom (may
  // repeat a page).
  std::vector<uint32_t> changed_;
  size_t size_ = 0;
};

}  // namespace canopy::query

#endif  // CANOPY_QUERY_ID_TABLE_H_
