// Copyright (c) Canopy authors.
//
// Byte codecs shared by the key spaces: big-endian fixed-width integers (so
// byte order is numeric order in keys) and LEB128 varints (for values).

#ifndef CANOPY_STORAGE_CODING_H_
#define CANOPY_STORAGE_CODING_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace canopy::storage {

// Writes v as 8 big-endian bytes at p (the caller provides the room).
inline void EncodeFixed64BE(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline void PutFixed64BE(std::string* dst, uint64_t v) {
  char buf[8];
  EncodeFixed64BE(buf, v);
  dst->append(buf, 8);
}

// Reads 8 big-endian bytes at p (the caller checks the length).
inline uint64_t DecodeFixed64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline std::string Fixed64BE(uint64_t v) {
  std::string s;
  PutFixed64BE(&s, v);
  return s;
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

// Reads a varint from the front of *in and advances it. False when the
// input ends early or the varint is longer than 10 bytes.
inline bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s.data(), s.size());
}

inline bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t n = 0;
  if (!GetVarint64(in, &n) || n > in->size()) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// The smallest string greater than every string starting with `prefix`, or
// "" when none exists (prefix empty or all 0xff).
inline std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    uint8_t last = static_cast<uint8_t>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_CODING_H_
