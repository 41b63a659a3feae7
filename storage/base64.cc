// Copyright (c) Canopy authors.

#include "storage/base64.h"

#include <cstdint>

namespace canopy::storage {

namespace {

const char* Alphabet(Base64 form) {
  return form == Base64::kStandardPadded
             ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

int Sextet(char c, Base64 form) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  const bool standard = form == Base64::kStandardPadded;
  if (c == (standard ? '+' : '-')) return 62;
  if (c == (standard ? '/' : '_')) return 63;
  return -1;
}

}  // namespace

void AppendBase64(std::string* out, std::string_view in, Base64 form) {
  const char* alphabet = Alphabet(form);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  out->reserve(out->size() + (n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    for (int s = 18; s >= 0; s -= 6) out->push_back(alphabet[(v >> s) & 63]);
  }
  const size_t rest = n - i;
  if (rest == 0) return;
  uint32_t v = uint32_t{p[i]} << 16;
  if (rest == 2) v |= uint32_t{p[i + 1]} << 8;
  // One byte gives two characters, two bytes three.
  for (size_t k = 0; k <= rest; ++k) out->push_back(alphabet[(v >> (18 - 6 * k)) & 63]);
  if (form == Base64::kStandardPadded) out->append(3 - rest, '=');
}

bool DecodeBase64(std::string_view in, Base64 form, std::string* out) {
  out->clear();
  if (form == Base64::kStandardPadded) {
    if (in.size() % 4 != 0) return false;
    // '=' pads only the last group, at most twice.
    size_t pad = 0;
    while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
    in.remove_suffix(pad);
  }
  if (in.size() % 4 == 1) return false;
  out->reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = Sextet(c, form);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero in a canonical encoding.
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace canopy::storage
