// Copyright (c) Canopy authors.
//
// Label grammar (persisted; see labels.h and docs/format.md):
//   label   := ordinal+
//   ordinal := short | long
//   short   := 0x01..0xF7                  value = byte - 0x01 (0..246)
//   long    := (0xF8 + m) byte{m + 1}      value = big-endian bytes,
//                                          m + 1 minimal, value >= 247

#include "storage/labels.h"

namespace canopy::storage {

namespace {
constexpr uint8_t kShortMax = 0xF6;  // largest ordinal in one byte
constexpr uint8_t kLongBase = 0xF8;
}  // namespace

void AppendOrdinal(std::string* label, uint64_t k) {
  if (k <= kShortMax) {
    label->push_back(static_cast<char>(0x01 + k));
    return;
  }
  int bytes = 1;
  while (bytes < 8 && (k >> (8 * bytes)) != 0) ++bytes;
  label->push_back(static_cast<char>(kLongBase + (bytes - 1)));
  for (int i = bytes - 1; i >= 0; --i) label->push_back(static_cast<char>((k >> (8 * i)) & 0xff));
}

bool DecodeLabel(std::string_view label, std::vector<uint64_t>* ordinals) {
  ordinals->clear();
  if (label.empty()) return false;
  size_t i = 0;
  while (i < label.size()) {
    uint8_t b = static_cast<uint8_t>(label[i++]);
    if (b == 0x00) return false;
    if (b < kLongBase) {
      ordinals->push_back(b - 0x01);
      continue;
    }
    size_t bytes = static_cast<size_t>(b - kLongBase) + 1;
    if (i + bytes > label.size()) return false;
    uint64_t k = 0;
    for (size_t j = 0; j < bytes; ++j) k = (k << 8) | static_cast<uint8_t>(label[i + j]);
    i += bytes;
    // Minimal: a long ordinal is > kShortMax and uses the fewest bytes.
    if (k <= kShortMax) return false;
    if (bytes > 1 && (k >> (8 * (bytes - 1))) == 0) return false;
    ordinals->push_back(k);
  }
  return true;
}

uint32_t LabelDepth(std::string_view label) {
  std::vector<uint64_t> ordinals;
  if (!DecodeLabel(label, &ordinals)) return 0;
  return static_cast<uint32_t>(ordinals.size());
}

std::string LabelToString(std::string_view label) {
  std::vector<uint64_t> ordinals;
  if (!DecodeLabel(label, &ordinals)) return "<bad label>";
  std::string out;
  for (size_t i = 0; i < ordinals.size(); ++i) {
    if (i) out.push_back('.');
    out += std::to_string(ordinals[i]);
  }
  return out;
}

}  // namespace canopy::storage
