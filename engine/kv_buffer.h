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

  void Add(std::string_view key, std::string_view value) {
    Entry e;
    e.prefix[0] = Word(key, 0);
    e.prefix[1] = Word(key, 8);
    e.offset = data_.size();
    e.key_len = static_cast<uint32_t>(key.size());
    e.value_len = static_cast<uint32_t>(value.size());
    data_.append(key);
    data_.append(value);
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

  // Sorts by key (bytewise); cheap when already sorted.
  void Sort() {
    auto less = [this](const Entry& a, const Entry& b) { return Compare(a, b) < 0; };
    if (!std::is_sorted(entries_.begin(), entries_.end(), less)) {
      std::sort(entries_.begin(), entries_.end(), less);
    }
  }

  // Puts the entries in the order given by `order` (a permutation of
  // 0..size()-1, e.g. a known sorted order); the key/value bytes stay put.
  void Permute(const std::vector<uint32_t>& order) {
    std::vector<Entry> permuted;
    permuted.reserve(order.size());
    for (uint32_t i : order) permuted.push_back(entries_[i]);
    entries_.swap(permuted);
  }

  // After Sort(): the index of the first entry whose key equals the one
  // before it, or size() when all keys are distinct.
  size_t FindDuplicate() const {
    for (size_t i = 1; i < entries_.size(); ++i) {
      if (Compare(entries_[i - 1], entries_[i]) == 0) return i;
    }
    return entries_.size();
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

  static uint64_t Word(std::string_view key, size_t at) {
    uint64_t w = 0;
    for (size_t i = 0; i < 8; ++i) {
      w <<= 8;
      if (at + i < key.size()) w |= static_cast<uint8_t>(key[at + i]);
    }
    return w;
  }

  int Compare(const Entry& a, const Entry& b) const {
    if (a.prefix[0] != b.prefix[0]) return a.prefix[0] < b.prefix[0] ? -1 : 1;
    if (a.prefix[1] != b.prefix[1]) return a.prefix[1] < b.prefix[1] ? -1 : 1;
    // Equal first 16 bytes (zero padded): compare the whole keys.
    size_t n = std::min(a.key_len, b.key_len);
    int c = std::memcmp(data_.data() + a.offset, data_.data() + b.offset, n);
    if (c != 0) return c;
    return a.key_len < b.key_len ? -1 : a.key_len > b.key_len ? 1 : 0;
  }

  std::string data_;
  std::vector<Entry> entries_;
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_KV_BUFFER_H_
