// Copyright (c) Canopy authors.
//
// Minimal JSON output helpers (input is parsed with simdjson): string
// literals, and objects built field by field — used for the change log's
// records and arguments and by the command line's --json output.

#ifndef CANOPY_STORAGE_JSON_H_
#define CANOPY_STORAGE_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/changes.h"
#include "canopy/types.h"

namespace canopy::storage {

// Appends `s` as a JSON string literal (quotes included). `s` is UTF-8;
// control characters, quotes and backslashes are escaped.
void AppendJsonString(std::string* out, std::string_view s);

inline std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// Builds one JSON object; fields appear in the order they are added.
class JsonObject {
 public:
  JsonObject& Str(std::string_view key, std::string_view value);
  JsonObject& Int(std::string_view key, int64_t value);
  JsonObject& Uint(std::string_view key, uint64_t value);
  JsonObject& Real(std::string_view key, double value);
  JsonObject& Bool(std::string_view key, bool value);
  // `json` must already be valid JSON (an array, an object...).
  JsonObject& Raw(std::string_view key, std::string_view json);
  // The object, "{...}" without a newline.
  std::string str() const { return body_ + "}"; }
  // The same, leaving the builder empty (no copy).
  std::string Take() {
    body_.push_back('}');
    std::string out = std::move(body_);
    body_ = "{";
    return out;
  }

 private:
  void Key(std::string_view key);
  std::string body_ = "{";
};

// A JSON array of strings.
std::string JsonStrings(const std::vector<std::string>& values);
// A JSON array of unsigned numbers.
std::string JsonNumbers(const std::vector<uint64_t>& values);
// A JSON object of string attributes.
std::string JsonAttributes(const Attributes& attributes);
// A replica's status as one JSON object (the CLI's and the C API's shape).
std::string ReplicaStatusJson(const ReplicaStatus& status);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_JSON_H_
