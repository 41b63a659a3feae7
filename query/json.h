// Copyright (c) Canopy authors.
//
// Minimal JSON output helpers (input is parsed with simdjson).

#ifndef CANOPY_QUERY_JSON_H_
#define CANOPY_QUERY_JSON_H_

#include <string>
#include <string_view>

namespace canopy::query {

// Appends `s` as a JSON string literal (quotes included). `s` is UTF-8;
// control characters, quotes and backslashes are escaped.
void AppendJsonString(std::string* out, std::string_view s);

inline std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

}  // namespace canopy::query

#endif  // CANOPY_QUERY_JSON_H_
