// Copyright (c) Canopy authors.

#include "engine/validate.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "canopy/query.h"

namespace canopy::engine {

bool IsValidUtf8(std::string_view s) {
  // simdjson's validator (the JSON parser's own): rejects overlong forms,
  // surrogates, code points past U+10FFFF and truncated sequences.
  return simdjson::validate_utf8(s.data(), s.size());
}

namespace {
// The checks of CheckBytes, without building a message: imports check
// millions of values, and the messages are only needed when one fails.
bool BytesOk(std::string_view s, size_t max) {
  return s.size() <= max && s.find('\0') == std::string_view::npos && IsValidUtf8(s);
}

Status CheckBytes(std::string_view what, std::string_view s, size_t max) {
  if (s.size() > max) {
    return Status::InvalidArgument(std::string(what) + " is " + std::to_string(s.size()) +
                                   " bytes long; the limit is " + std::to_string(max));
  }
  if (s.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " contains a NUL byte");
  }
  if (!IsValidUtf8(s)) return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
  return Status::Ok();
}
}  // namespace

Status CheckAttributeValue(std::string_view what, std::string_view value) {
  return CheckBytes(what, value, kMaxAttributeValueBytes);
}

Status CheckText(std::string_view what, std::string_view s, bool allow_empty) {
  if (s.empty() && !allow_empty) return Status::InvalidArgument(std::string(what) + " is empty");
  return CheckBytes(what, s, kMaxNameBytes);
}

namespace {
// The code point at s[*at] (valid UTF-8), moving *at past it.
char32_t NextCodePoint(std::string_view s, size_t* at) {
  const auto b = static_cast<unsigned char>(s[*at]);
  const int n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (int i = 1; i < n; ++i) c = (c << 6) | (static_cast<unsigned char>(s[*at + i]) & 0x3F);
  *at += n;
  return c;
}
bool IsControl(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }
// Characters that show as nothing (or turn the text around it): format
// characters, bidirectional controls, line and paragraph separators.
bool IsInvisible(char32_t c) {
  return c == 0xAD || c == 0x34F || c == 0x61C || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFFF9 && c <= 0xFFFB);
}
bool IsSpace(char32_t c) {
  return c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}
std::string CodePointName(char32_t c) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(c));
  return buf;
}
}  // namespace

Status CheckIdentifier(std::string_view what, std::string_view s) {
  // Printable ASCII with no space at either end, as most are: no decoding
  // (imports check millions).
  if (s.size() <= kMaxNameBytes &&
      std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; }) &&
      (s.empty() || (s.front() != ' ' && s.back() != ' '))) {
    return Status::Ok();
  }
  CANOPY_RETURN_IF_ERROR(CheckBytes(what, s, kMaxNameBytes));
  char32_t first = 0, last = 0;
  for (size_t at = 0; at < s.size();) {
    const char32_t c = NextCodePoint(s, &at);
    if (last == 0) first = c;  // (no NUL: CheckBytes)
    last = c;
    if (IsControl(c)) {
      return Status::InvalidArgument(std::string(what) + " contains a control character (" +
                                     CodePointName(c) + ")");
    }
    if (IsInvisible(c)) {
      return Status::InvalidArgument(std::string(what) + " contains an invisible character (" +
                                     CodePointName(c) + ")");
    }
  }
  const bool begins = IsSpace(first);  // (false for empty text: first is 0)
  if (begins || IsSpace(last)) {
    return Status::InvalidArgument(std::string(what) + (begins ? " begins" : " ends") +
                                   " with a space (" + CodePointName(begins ? first : last) + ")");
  }
  return Status::Ok();
}

Status CheckKey(std::string_view what, std::string_view s, bool replayed) {
  CANOPY_RETURN_IF_ERROR(CheckText(what, s));
  // An import replayed from the change log was accepted under the rules
  // of its day.
  if (replayed) return Status::Ok();
  if (s == kHidden) {
    return Status::InvalidArgument(std::string(what) + " '" + kHidden +
                                   "' is reserved: it stands for a name out of the reader's sight");
  }
  return CheckIdentifier(what, s);
}

Status CheckAttributes(std::string_view owner, const Attributes& attributes) {
  if (attributes.size() > kMaxAttributes) {
    return Status::InvalidArgument(std::string(owner) + " has " +
                                   std::to_string(attributes.size()) +
                                   " attributes; the limit is " + std::to_string(kMaxAttributes));
  }
  for (const auto& [k, v] : attributes) {
    if (!k.empty() && BytesOk(k, kMaxNameBytes) && BytesOk(v, kMaxAttributeValueBytes)) continue;
    CANOPY_RETURN_IF_ERROR(CheckText(std::string(owner) + " attribute name", k));
    CANOPY_RETURN_IF_ERROR(CheckAttributeValue(std::string(owner) + " attribute '" + k + "'", v));
  }
  return Status::Ok();
}

}  // namespace canopy::engine
