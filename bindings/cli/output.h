// Copyright (c) Canopy authors.
//
// Output helpers of the `canopy` command line: JSON objects built field by
// field (one per line under --json) and plain-text tables whose columns line
// up by code point, so UTF-8 names do not skew them.

#ifndef CANOPY_BINDINGS_CLI_OUTPUT_H_
#define CANOPY_BINDINGS_CLI_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/types.h"
#include "canopy/json.h"

namespace canopy::cli {

// JSON output uses the library's writer (canopy/json.h): JsonObject,
// JsonString, JsonStrings, JsonAttributes.

// `s` safe to print on a terminal: control characters (C0, DEL and the
// C1 range U+0080..U+009F) are written as escapes (\n, \r, \t, \x1b,
// \u009b), and so are bytes that are not UTF-8 (\x9b: only given text
// has them), so a stored name can neither forge a row nor move the cursor.
// Every human-readable output prints stored or given text through it
// (tables do it for their cells); JSON output escapes by itself.
std::string Printable(std::string_view s);

// Code points in a UTF-8 string (for column widths).
size_t DisplayWidth(std::string_view s);

// A text table. Rows are buffered until Flush, which prints the header (the
// first time) and the buffered rows with every column as wide as its widest
// cell so far; streaming callers flush every few thousand rows, keeping
// memory bounded while columns stay mostly aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void Add(std::vector<std::string> row);
  void Flush(std::ostream& out);
  // Rows added so far (flushed or not).
  size_t rows() const { return total_; }

 private:
  std::vector<std::string> headers_;
  std::vector<size_t> widths_;
  std::vector<std::vector<std::string>> pending_;
  bool header_printed_ = false;
  size_t total_ = 0;
};

// CSV (RFC 4180) for the listings under --csv: a header row, then one row
// per item; every line ends with CRLF, and a field holding a comma, a
// double quote, CR or LF is enclosed in double quotes, its quotes doubled.
// Text is written exactly (like --json; no Printable escapes). The header
// is written with the first row, or by Finish when there is none.
class CsvWriter {
 public:
  CsvWriter(std::ostream& out, std::vector<std::string> header);
  void Row(const std::vector<std::string>& fields);
  void Finish();

  // One field, quoted when it must be.
  static std::string Field(std::string_view s);

 private:
  void Line(const std::vector<std::string>& fields);
  std::ostream& out_;
  std::vector<std::string> header_;
  bool header_written_ = false;
};

// "true" / "false", as in JSON and CSV.
inline const char* TrueFalse(bool b) { return b ? "true" : "false"; }

// Whether stderr is a terminal (where progress is drawn by default).
bool StderrIsTerminal();

// Progress of a long command on stderr: on a terminal one line redrawn in
// place ('\r'), otherwise one line per update (`lines`); silent when not
// enabled.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, bool enabled, bool lines, std::string label, std::string unit)
      : err_(err), enabled_(enabled), lines_(lines), label_(std::move(label)), unit_(std::move(unit)) {}

  void Update(uint64_t done, uint64_t total);
  // Text drawn after the figures from the next Update on (e.g. a phase).
  void SetNote(std::string note) { note_ = std::move(note); }
  // Ends the bar's line so the summary starts on a fresh one.
  void Finish();

 private:
  std::ostream& err_;
  bool enabled_;
  bool lines_;
  std::string label_;
  std::string unit_;
  std::string note_;
  bool drawn_ = false;
};

// "yes" / "no".
inline const char* YesNo(bool b) { return b ? "yes" : "no"; }
// "on" / "off".
inline const char* OnOff(bool b) { return b ? "on" : "off"; }

}  // namespace canopy::cli

#endif  // CANOPY_BINDINGS_CLI_OUTPUT_H_
