// Copyright (c) Canopy authors.
//
// Tree labels (storage/labels.h). Two properties on every input:
//  - its bytes, read as a stored label: DecodeLabel never crashes, agrees
//    with LabelDepth and LabelToString, and a label it accepts is the one
//    encoding of its ordinals (re-encoding gives the same bytes);
//  - its bytes, read as two ordinal paths: their labels decode back to the
//    paths, compare like the paths (pre-order) and are prefixes of one
//    another exactly when the paths are (the subtree ranges).

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "storage/labels.h"

namespace {

using canopy::storage::AppendOrdinal;
using canopy::storage::DecodeLabel;

std::string Encode(const std::vector<uint64_t>& path) {
  std::string label;
  for (uint64_t k : path) AppendOrdinal(&label, k);
  return label;
}

// An ordinal path, biased towards the short/long boundaries (0xF6, 0xF7,
// 256, 2^k) by shifting a random 64-bit value.
std::vector<uint64_t> TakePath(FuzzedDataProvider& p) {
  std::vector<uint64_t> path;
  const size_t n = p.ConsumeIntegralInRange<size_t>(1, 40);
  for (size_t i = 0; i < n && p.remaining_bytes() > 0; ++i) {
    const uint64_t v = p.ConsumeIntegral<uint64_t>();
    path.push_back(v >> p.ConsumeIntegralInRange<int>(0, 63));
  }
  if (path.empty()) path.push_back(0);
  return path;
}

int Compare(std::string_view a, std::string_view b) { return a < b ? -1 : (a == b ? 0 : 1); }
int Compare(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  return a < b ? -1 : (a == b ? 0 : 1);
}
bool IsProperPrefix(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  return a.size() < b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  // Stored bytes.
  std::vector<uint64_t> ordinals;
  const bool ok = DecodeLabel(raw, &ordinals);
  const uint32_t depth = canopy::storage::LabelDepth(raw);
  const std::string text = canopy::storage::LabelToString(raw);
  if (ok) {
    FUZZ_CHECK(!ordinals.empty());
    FUZZ_CHECK(depth == ordinals.size());
    FUZZ_CHECK(text != "<bad label>");
    FUZZ_CHECK(Encode(ordinals) == raw, "a label decodes but is not the minimal encoding of its ordinals");
  } else {
    FUZZ_CHECK(depth == 0);
    FUZZ_CHECK(text == "<bad label>");
  }

  // Ordinal paths.
  FuzzedDataProvider p(data, size);
  const std::vector<uint64_t> a = TakePath(p);
  const std::vector<uint64_t> b = TakePath(p);
  const std::string la = Encode(a), lb = Encode(b);
  std::vector<uint64_t> back;
  FUZZ_CHECK(DecodeLabel(la, &back) && back == a);
  FUZZ_CHECK(DecodeLabel(lb, &back) && back == b);
  FUZZ_CHECK(la[0] != '\0');
  FUZZ_CHECK(Compare(la, lb) == Compare(a, b), "labels do not sort like their paths");
  FUZZ_CHECK(canopy::storage::IsProperAncestorLabel(la, lb) == IsProperPrefix(a, b));
  FUZZ_CHECK(canopy::storage::IsSelfOrAncestorLabel(la, lb) == (a == b || IsProperPrefix(a, b)));
  // `label 0x00` (an account's own index entries) sorts before every child.
  std::string own = la;
  own.push_back('\0');
  if (IsProperPrefix(a, b)) FUZZ_CHECK(own < lb);
  return 0;
}
