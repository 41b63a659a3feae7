// Copyright (c) Canopy authors.
//
// CompactVector<T>: a vector of trivially copyable values (ids, membership
// entries) that costs one pointer in its owner: size and capacity live in
// the same allocation as the values, and an empty one allocates nothing.
// The catalog holds several lists per account and user, most of them empty
// or short, so this halves what std::vector's three words would cost.
//
// Iterators are plain pointers; anything that changes the size may move
// the values (as std::vector). Copying copies the values.
//
// Thread safety: none.

#ifndef CANOPY_QUERY_COMPACT_VECTOR_H_
#define CANOPY_QUERY_COMPACT_VECTOR_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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
  CompactVector(const CompactVector& o) { assign(o.begin(), o.end()); }
  CompactVector(CompactVector&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  CompactVector(std::initializer_list<T> l) { assign(l.begin(), l.end()); }
  explicit CompactVector(const std::vector<T>& v) { assign(v.data(), v.data() + v.size()); }
  CompactVector& operator=(const CompactVector& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  CompactVector& operator=(CompactVector&& o) noexcept {
    if (this != &o) {
      std::free(block_);
      block_ = std::exchange(o.block_, nullptr);
    }
    return *this;
  }
  ~CompactVector() { std::free(block_); }

  operator std::vector<T>() const { return std::vector<T>(begin(), end()); }  // NOLINT

  size_t size() const { return block_ == nullptr ? 0 : block_->size; }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return block_ == nullptr ? 0 : block_->capacity; }

  T* data() { return block_ == nullptr ? nullptr : block_->values(); }
  const T* data() const { return block_ == nullptr ? nullptr : block_->values(); }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
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
    if (n > capacity()) Grow(n);
  }
  void push_back(const T& v) {
    const T copy = v;  // v may be one of ours, and growing moves them
    if (size() == capacity()) Grow(size() + 1);
    block_->values()[block_->size++] = copy;
  }
  iterator insert(const_iterator pos, const T& v) {
    const size_t at = static_cast<size_t>(pos - begin());
    const T copy = v;  // v may be one of ours
    if (size() == capacity()) Grow(size() + 1);
    T* p = block_->values();
    std::memmove(static_cast<void*>(p + at + 1), p + at, (block_->size - at) * sizeof(T));
    p[at] = copy;
    ++block_->size;
    return p + at;
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    const size_t at = static_cast<size_t>(first - begin());
    const size_t n = static_cast<size_t>(last - first);
    if (n == 0) return begin() + at;
    T* p = block_->values();
    std::memmove(static_cast<void*>(p + at), p + at + n, (block_->size - at - n) * sizeof(T));
    block_->size -= static_cast<uint32_t>(n);
    if (block_->size == 0) clear();
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
    std::free(block_);
    block_ = nullptr;
  }

  friend bool operator==(const CompactVector& a, const CompactVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  struct Block {
    uint32_t size;
    uint32_t capacity;
    T* values() { return reinterpret_cast<T*>(this + 1); }
  };
  static_assert(sizeof(Block) == 8);

  void assign(const T* first, const T* last) {
    clear();
    const size_t n = static_cast<size_t>(last - first);
    if (n == 0) return;
    Grow(n);
    std::memcpy(static_cast<void*>(block_->values()), first, n * sizeof(T));
    block_->size = static_cast<uint32_t>(n);
  }
  // Room for at least n values: exact for the first few, then 1.5x.
  void Grow(size_t n) {
    if (n > UINT32_MAX) throw std::bad_alloc();
    size_t cap = capacity();
    cap = std::min<size_t>(std::max(n, cap < 4 ? cap + 1 : cap + cap / 2), UINT32_MAX);
    void* b = std::realloc(block_, sizeof(Block) + cap * sizeof(T));
    if (b == nullptr) throw std::bad_alloc();
    const bool fresh = block_ == nullptr;
    block_ = static_cast<Block*>(b);
    if (fresh) block_->size = 0;
    block_->capacity = static_cast<uint32_t>(cap);
  }

  Block* block_ = nullptr;
};

}  // namespace canopy::query

#endif  // CANOPY_QUERY_COMPACT_VECTOR_H_
