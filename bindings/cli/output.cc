// Copyright (c) Canopy authors.

#include "bindings/cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "query/json.h"

namespace canopy::cli {

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    char buf[8];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(s[i + 1]));
      out += buf;
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {
  for (const auto& h : headers_) widths_.push_back(DisplayWidth(h));
}

void Table::Add(std::vector<std::string> row) {
  row.resize(headers_.size());
  for (auto& cell : row) cell = Printable(cell);
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
