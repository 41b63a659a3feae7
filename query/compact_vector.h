// Copyright (c) Canopy authors.
//
// CompactVector<T>: a vector of trivially copyable values (ids, membership
// entries) that costs one pointer in its owner: the size and a reference
// count live in the same allocation as the values, the capacity is the
// allocation's usable size, and an empty one allocates nothing.
// The catalog holds several lists per account and user, most of them empty
// or short, so this halves what std::vector's three words would cost.
//
// Copies share the values (copy on write): copying a vector adds a
// reference to its allocation, and the first change through a copy that
// shares it copies the values (O(size) once). So copying a catalog node,
// which a page of the catalog's copy-on-write tables does when it is
// written, costs the same for a list of a million ids as for an empty one.
//
// Iterators are plain pointers; anything that changes the size may move
// the values (as std::vector), and so may the first non-const access
// (begin(), data(), operator[]...) to values another copy shares: take
// iterators for writing after that access, not before.
//
// Thread safety: none, but copies that share values may live on
// different threads: shared values are never changed, and the last
// reference frees them.

#ifndef CANOPY_QUERY_COMPACT_VECTOR_H_
#define CANOPY_QUERY_COMPACT_VECTOR_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace canopy::query {

template <typename T>
class CompactVector {
  static_assert(std::is_trivially_copyable_v<T>, "CompactVector holds plain values");
  static_assert(alignof(T) <= 8, "CompactVector aligns values to 8 bytes");

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<T*>;
  using const_reverse_iterator = std::reverse_iterator<const T*>;

  CompactVector() = default;
  CompactVector(const CompactVector& o) : block_(o.block_) { Ref(); }
  CompactVector(CompactVector&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  CompactVector(std::initializer_list<T> l) { assign(l.begin(), l.end()); }
  explicit CompactVector(const std::vector<T>& v) { assign(v.data(), v.data() + v.size()); }
  CompactVector& operator=(const CompactVector& o) {
    if (block_ != o.block_) {
      Unref();
      block_ = o.block_;
      Ref();
    }
    return *this;
  }
  CompactVector& operator=(CompactVector&& o) noexcept {
    if (this != &o) {
      Unref();
      block_ = std::exchange(o.block_, nullptr);
    }
    return *this;
  }
  ~CompactVector() { Unref(); }

  operator std::vector<T>() const { return std::vector<T>(begin(), end()); }  // NOLINT

  size_t size() const { return block_ == nullptr ? 0 : block_->size; }
  bool empty() const { return size() == 0; }
  // From the allocation's usable size (glibc's malloc_usable_size): the
  // capacity costs no room of its own.
  size_t capacity() const {
    return block_ == nullptr ? 0 : (malloc_usable_size(block_) - sizeof(Block)) / sizeof(T);
  }

  // Non-const access is for writing: it first copies values another copy
  // shares.
  T* data() {
    Own();
    return block_ == nullptr ? nullptr : block_->values();
  }
  const T* data() const { return block_ == nullptr ? nullptr : block_->values(); }
  T* begin() { return data(); }
  T* end() {
    T* d = data();
    return d + size();
  }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  const T* cbegin() const { return data(); }
  const T* cend() const { return end(); }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }
  T& back() { return data()[size() - 1]; }
  const T& back() const { return data()[size() - 1]; }

  void reserve(size_t n) {
    if (n > capacity()) {
      Grow(n);
    } else {
      Own(n);
    }
  }
  void push_back(const T& v) {
    const T copy = v;  // v may be one of ours, and growing moves them
    if (size() == capacity()) {
      Grow(size() + 1);
    } else {
      Own(size() + 1);
    }
    block_->values()[block_->size++] = copy;
  }
  iterator insert(const_iterator pos, const T& v) {
    // The position counts from the values it was taken from, which may be
    // the shared ones Own() is about to leave.
    const size_t at = static_cast<size_t>(pos - cbegin());
    const T copy = v;  // v may be one of ours
    if (size() == capacity()) {
      Grow(size() + 1);
    } else {
      Own(size() + 1);
    }
    T* p = block_->values();
    std::memmove(static_cast<void*>(p + at + 1), p + at, (block_->size - at) * sizeof(T));
    p[at] = copy;
    ++block_->size;
    return p + at;
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    const size_t at = static_cast<size_t>(first - cbegin());
    const size_t n = static_cast<size_t>(last - first);
    if (n == 0) return begin() + at;
    if (n == size()) {
      clear();
      return begin();
    }
    Own();
    T* p = block_->values();
    std::memmove(static_cast<void*>(p + at), p + at + n, (block_->size - at - n) * sizeof(T));
    block_->size -= static_cast<uint32_t>(n);
    return begin() + at;
  }
  void resize(size_t n) {
    if (n == 0) {
      clear();
      return;
    }
    reserve(n);
    for (size_t i = size(); i < n; ++i) block_->values()[i] = T();
    block_->size = static_cast<uint32_t>(n);
  }
  void clear() {
    Unref();
    block_ = nullptr;
  }
  // Do this vector and `o` share their values (for tests)?
  bool SharesValuesWith(const CompactVector& o) const {
    return block_ != nullptr && block_ == o.block_;
  }

  friend bool operator==(const CompactVector& a, const CompactVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  struct Block {
    uint32_t size;
    std::atomic<uint32_t> refs;  // vectors sharing these values
    T* values() { return reinterpret_cast<T*>(this + 1); }
  };
  static_assert(sizeof(Block) == 8);

  void Ref() {
    if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  void Unref() {
    if (block_ != nullptr && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::free(block_);
    }
  }
  // Shared values (acquire: the other holders' reads happened before they
  // let go).
  bool Shared() const {
    return block_ != nullptr && block_->refs.load(std::memory_order_acquire) != 1;
  }
  // Values of our own, with room for `room` values (at least): copies
  // shared ones.
  void Own(size_t room = 0) {
    if (Shared()) Reallocate(std::max<size_t>({block_->size, room, 1}));
  }
  // Moves the values into a new allocation of `cap` (>= size) values.
  void Reallocate(size_t cap) {
    auto* b = static_cast<Block*>(std::malloc(sizeof(Block) + cap * sizeof(T)));
    if (b == nullptr) throw std::bad_alloc();
    const uint32_t n = block_ == nullptr ? 0 : block_->size;
    b->size = n;
    new (&b->refs) std::atomic<uint32_t>(1);
    if (n != 0) std::memcpy(static_cast<void*>(b->values()), block_->values(), n * sizeof(T));
    Unref();
    block_ = b;
  }

  void assign(const T* first, const T* last) {
    clear();
    const size_t n = static_cast<size_t>(last - first);
    if (n == 0) return;
    Grow(n);
    std::memcpy(static_cast<void*>(block_->values()), first, n * sizeof(T));
    block_->size = static_cast<uint32_t>(n);
  }
  // Room for at least n values (and values of our own): exact for the
  // first few, then 1.5x.
  void Grow(size_t n) {
    if (n > UINT32_MAX) throw std::bad_alloc();
    size_t cap = capacity();
    cap = std::min<size_t>(std::max(n, cap < 4 ? cap + 1 : cap + cap / 2), UINT32_MAX);
    if (block_ == nullptr || Shared()) {
      Reallocate(cap);
      return;
    }
    void* b = std::realloc(block_, sizeof(Block) + cap * sizeof(T));
    if (b == nullptr) throw std::bad_alloc();
    block_ = static_cast<Block*>(b);
  }

  Block* block_ = nullptr;
};

}  // namespace canopy::query

#endif  // CANOPY_QUERY_COMPACT_VECTOR_H_
