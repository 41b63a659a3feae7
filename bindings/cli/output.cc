// Copyright (c) Canopy authors.

#include "output.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace canopy::cli {

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

namespace {

// The code point of one well-formed UTF-8 character (Utf8CharLength bytes).
uint32_t CodePoint(std::string_view c) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(c[i])); };
  switch (c.size()) {
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    case 4: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    default: return b(0);
  }
}

// The characters that reorder text around them or end its line: the
// bidirectional marks, embeddings, overrides and isolates ("Trojan
// Source"), and the Unicode line and paragraph separators.
bool ReordersOrBreaks(uint32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

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
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (const size_t n = Utf8CharLength(s.substr(i)); n == 0) {
      // Not UTF-8 (echoed from the input: stored text is always UTF-8); a
      // lone 0x9b is a terminal's CSI.
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else if (c == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      // A C1 control (U+0080..U+009F).
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(s[i + 1]));
      out += buf;
      ++i;
    } else if (const uint32_t cp = CodePoint(s.substr(i, n)); ReordersOrBreaks(cp)) {
      // A bidirectional control or a line/paragraph separator: it could
      // reorder what a row shows, or break it, on the terminal.
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
      i += n - 1;
    } else {
      out.append(s.data() + i, n);
      i += n - 1;
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

CsvWriter::CsvWriter(std::ostream& out, std::vector<std::string> header)
    : out_(out), header_(std::move(header)) {}

std::string CsvWriter::Field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

void CsvWriter::Line(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(',');
    line += Field(fields[i]);
  }
  out_ << line << "\r\n";
}

void CsvWriter::Row(const std::vector<std::string>& fields) {
  if (!header_written_) Finish();
  Line(fields);
}

void CsvWriter::Finish() {
  if (header_written_) return;
  Line(header_);
  header_written_ = true;
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  constexpr int kWidth = 30;
  // An unknown total (0: a pipe) shows the count alone; a count past its
  // total (a file that grew) shows as done, never a bar past its end.
  if (total == 0) {
    err_ << (lines_ ? "" : "\r") << label_ << " " << done << " " << unit_ << note_
         << (lines_ ? "\n" : "") << std::flush;
    drawn_ = !lines_;
    return;
  }
  const double frac =
      std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  char pct[16];
  std::snprintf(pct, sizeof(pct), "%3.0f%%", frac * 100);
  if (lines_) {
    err_ << label_ << " " << pct << " (" << done << "/" << total << " " << unit_ << ")" << note_
         << "\n" << std::flush;
    return;
  }
  const int filled = std::clamp(static_cast<int>(frac * kWidth), 0, kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  err_ << "\r" << label_ << " [" << bar << "] " << pct << " (" << done << "/" << total << " "
       << unit_ << ")" << note_ << std::flush;
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (drawn_) err_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace canopy::cli
