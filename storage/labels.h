// Copyright (c) Canopy authors.
//
// Interval labels of the account tree (docs/format.md, "Labels: the tree as intervals";
// grammar in docs/format.md).
//
// label(root)  = Ordinal(k)               k = the root's ordinal among roots
// label(child) = label(parent) Ordinal(k) k = its ordinal among siblings
//
// Ordinal(k) = byte(0x01 + k)                 when k <= 0xF6
//            | byte(0xF8 + m) BE(k, m + 1)    otherwise; m + 1 = the fewest
//                                             bytes that hold k (m in 0..7)
//
// Ordinals are order-preserving and prefix-free and never start with 0x00,
// so labels compare like the tree's pre-order, the subtree of A is exactly
// the labels that start with label(A), and `label(A) 0x00` ends A's own
// entries in the visibility index before any child's. Ordinals come from a
// per-parent counter and are never reused, so an insert never relabels.

#ifndef CANOPY_STORAGE_LABELS_H_
#define CANOPY_STORAGE_LABELS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::storage {

// Appends the encoding of ordinal k to *label.
void AppendOrdinal(std::string* label, uint64_t k);

// Splits a label into its ordinals (root first). False when the bytes are
// not a well-formed label (empty, truncated, a 0x00 byte, or a non-minimal
// multi-byte ordinal).
bool DecodeLabel(std::string_view label, std::vector<uint64_t>* ordinals);

// The number of levels in a well-formed label (its depth); 0 if malformed.
uint32_t LabelDepth(std::string_view label);

// True when `ancestor` is a proper prefix of `label` (a proper ancestor in
// the tree, for well-formed labels).
inline bool IsProperAncestorLabel(std::string_view ancestor, std::string_view label) {
  return ancestor.size() < label.size() && label.substr(0, ancestor.size()) == ancestor;
}

// True when `ancestor` is a prefix of (or equal to) `label`.
inline bool IsSelfOrAncestorLabel(std::string_view ancestor, std::string_view label) {
  return ancestor.size() <= label.size() && label.substr(0, ancestor.size()) == ancestor;
}

// Human-readable form for messages and tools: ordinals joined by '.', e.g.
// "1.0.3"; "<bad label>" if malformed.
std::string LabelToString(std::string_view label);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_LABELS_H_
