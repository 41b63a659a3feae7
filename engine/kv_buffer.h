// Copyright (c) Canopy authors.
//
// KvBuffer: key/value pairs of one key space for bulk writes (imports),
// kept back to back in one arena instead of two heap strings per pair, and
// sorted by key through an index whose entries carry the first 16 key bytes
// inline — so most comparisons touch no key bytes at all.

#ifndef CANOPY_ENGINE_KV_BUFFER_H_
#define CANOPY_ENGINE_KV_BUFFER_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace canopy::engine {

class KvBuffer {
 public:
  void Reserve(size_t entries, size_t bytes) {
    entries_.reserve(entries);
    data_.reserve(bytes);
    // Large imports fill hundreds of MB here: ask for transparent huge
    // pages, or every 4 KiB page costs a fault on first write.
    AdviseHugePages(entries_.data(), entries_.capacity() * sizeof(Entry));
    AdviseHugePages(data_.data(), data_.capacity());
  }

  // Adds a pair; `suffix`, when given, is appended to the value (a tag the
  // reader strips, e.g. the import's line number).
  void Add(std::string_view key, std::string_view value, std::string_view suffix = {}) {
    Entry e;
    e.prefix[0] = Word(key, 0);
    e.prefix[1] = Word(key, 8);
    e.offset = data_.size();
    e.key_len = static_cast<uint32_t>(key.size());
    e.value_len = static_cast<uint32_t>(value.size() + suffix.size());
    data_.append(key);
    data_.append(value);
    data_.append(suffix);
    entries_.push_back(e);
  }

  size_t size() const { return entries_.size(); }
  size_t bytes() const { return data_.size(); }
  bool empty() const { return entries_.empty(); }
  std::string_view key(size_t i) const {
    const Entry& e = entries_[i];
    return std::string_view(data_.data() + e.offset, e.key_len);
  }
  std::string_view value(size_t i) const {
    const Entry& e = entries_[i];
    return std::string_view(data_.data() + e.offset + e.key_len, e.value_len);
  }

  // Hints that entry i's key and value will be read soon (after a sort the
  // entries point all over the arena; reading them in order otherwise
  // waits on a cache miss per entry).
  void Prefetch(size_t i) const {
    if (i < entries_.size()) __builtin_prefetch(data_.data() + entries_[i].offset);
  }

  // Sorts by key (bytewise); pairs with equal keys keep the order they were
  // added in. Cheap when already sorted.
  void Sort() {
    auto less = [this](const Entry& a, const Entry& b) {
      const int c = Compare(a, b);
      return c < 0 || (c == 0 && a.offset < b.offset);  // offsets grow as pairs are added
    };
    if (!std::is_sorted(entries_.begin(), entries_.end(), less)) {
      std::sort(entries_.begin(), entries_.end(), less);
    }
  }

  // Forgets every pair, keeping the memory for reuse.
  void Clear() {
    data_.clear();
    entries_.clear();
  }
  // The memory the pairs take (bytes and index entries).
  size_t memory() const { return data_.size() + entries_.size() * sizeof(Entry); }
  // The memory it holds, used or not.
  size_t capacity() const { return data_.capacity() + entries_.capacity() * sizeof(Entry); }

  // The first 16 bytes of key i, big-endian and zero padded (word 0 or 1):
  // comparing them orders most keys without touching their bytes.
  uint64_t prefix(size_t i, int word) const { return entries_[i].prefix[word]; }

  // The same prefix words for any key.
  static uint64_t Word(std::string_view key, size_t at) {
    uint64_t w = 0;
    if (key.size() >= at + 8) {
      std::memcpy(&w, key.data() + at, 8);
      return __builtin_bswap64(w);
    }
    for (size_t i = 0; i < 8; ++i) {
      w <<= 8;
      if (at + i < key.size()) w |= static_cast<uint8_t>(key[at + i]);
    }
    return w;
  }
  // Bytewise order of two keys given with their prefix words.
  static int CompareKeys(uint64_t a0, uint64_t a1, std::string_view a, uint64_t b0, uint64_t b1,
                         std::string_view b) {
    if (a0 != b0) return a0 < b0 ? -1 : 1;
    if (a1 != b1) return a1 < b1 ? -1 : 1;
    if (a.size() <= 16 || b.size() <= 16) {
      // Equal (zero padded) first 16 bytes and one key is no longer: the
      // shorter key is the smaller.
      return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
    }
    const size_t n = std::min(a.size(), b.size());
    const int c = std::memcmp(a.data() + 16, b.data() + 16, n - 16);
    if (c != 0) return c;
    return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
  }

 private:
  struct Entry {
    uint64_t prefix[2];  // the first 16 key bytes, big-endian, zero padded
    uint64_t offset;     // key at data_[offset], value right after it
    uint32_t key_len;
    uint32_t value_len;
  };

  // madvise(MADV_HUGEPAGE) on the 2 MiB-aligned interior of [p, p + n);
  // a hint only (ignored where unsupported).
  static void AdviseHugePages(const void* p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr uintptr_t kHuge = uintptr_t{2} << 20;
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
    if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
  }

  int Compare(const Entry& a, const Entry& b) const {
    return CompareKeys(a.prefix[0], a.prefix[1], std::string_view(data_.data() + a.offset, a.key_len),
                       b.prefix[0], b.prefix[1], std::string_view(data_.data() + b.offset, b.key_len));
  }

  std::string data_;
  std::vector<Entry> entries_;
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_KV_BUFFER_H_
