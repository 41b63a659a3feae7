// Copyright (c) Canopy authors.

#include "engine/validate.h"

#include <simdjson.h>

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

Status CheckKey(std::string_view what, std::string_view s, bool replayed) {
  CANOPY_RETURN_IF_ERROR(CheckText(what, s));
  if (!replayed && s == kHidden) {
    return Status::InvalidArgument(std::string(what) + " '" + kHidden +
                                   "' is reserved: it stands for a name out of the reader's sight");
  }
  return Status::Ok();
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
