// Copyright (c) Canopy authors.

#include "bindings/cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "query/json.h"

namespace canopy::cli {

void JsonObject::Key(std::string_view key) {
  if (body_.size() > 1) body_.push_back(',');
  query::AppendJsonString(&body_, key);
  body_.push_back(':');
}

JsonObject& JsonObject::Str(std::string_view key, std::string_view value) {
  Key(key);
  query::AppendJsonString(&body_, value);
  return *this;
}

JsonObject& JsonObject::Int(std::string_view key, int64_t value) {
  Key(key);
  body_.append(std::to_string(value));
  return *this;
}

JsonObject& JsonObject::Real(std::string_view key, double value) {
  Key(key);
  // JSON has no NaN or infinity; a rate over zero time is reported as 0.
  if (!std::isfinite(value)) value = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  body_.append(buf);
  return *this;
}

JsonObject& JsonObject::Bool(std::string_view key, bool value) {
  Key(key);
  body_.append(value ? "true" : "false");
  return *this;
}

JsonObject& JsonObject::Raw(std::string_view key, std::string_view json) {
  Key(key);
  body_.append(json);
  return *this;
}

std::string JsonStrings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    query::AppendJsonString(&out, values[i]);
  }
  return out + "]";
}

std::string JsonAttributes(const Attributes& attributes) {
  JsonObject o;
  for (const auto& [k, v] : attributes) o.Str(k, v);
  return o.str();
}

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {
  for (const auto& h : headers_) widths_.push_back(DisplayWidth(h));
}

void Table::Add(std::vector<std::string> row) {
  row.resize(headers_.size());
  for (size_t i = 0; i < row.size(); ++i) widths_[i] = std::max(widths_[i], DisplayWidth(row[i]));
  pending_.push_back(std::move(row));
  ++total_;
}

void Table::Flush(std::ostream& out) {
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths_[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    // Cells may be empty at the end of a row: no trailing blanks.
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << "\n";
  };
  if (!header_printed_) {
    print(headers_);
    header_printed_ = true;
  }
  for (const auto& row : pending_) print(row);
  pending_.clear();
}

}  // namespace canopy::cli
