// Copyright (c) Canopy authors.

#include "engine/validate.h"

#include <string>

namespace canopy::engine {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;                          // surrogate
    if (cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
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

Status CheckText(std::string_view what, std::string_view s, bool allow_empty) {
  if (s.empty() && !allow_empty) return Status::InvalidArgument(std::string(what) + " is empty");
  return CheckBytes(what, s, kMaxNameBytes);
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
    CANOPY_RETURN_IF_ERROR(
        CheckBytes(std::string(owner) + " attribute '" + k + "'", v, kMaxAttributeValueBytes));
  }
  return Status::Ok();
}

}  // namespace canopy::engine
