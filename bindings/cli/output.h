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
#include "query/json.h"

namespace canopy::cli {

// JSON objects, string arrays and attribute maps: the library's builders.
using query::JsonAttributes;
using query::JsonObject;
using query::JsonStrings;

// `s` safe to print on a terminal: control characters (C0, DEL and the
// C1 range U+0080..U+009F) are written as escapes (\n, \r, \t, \x1b,
// \u009b), so a stored name can neither forge a row nor move the cursor.
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

// "yes" / "no".
inline const char* YesNo(bool b) { return b ? "yes" : "no"; }
// "on" / "off".
inline const char* OnOff(bool b) { return b ? "on" : "off"; }

}  // namespace canopy::cli

#endif  // CANOPY_BINDINGS_CLI_OUTPUT_H_
