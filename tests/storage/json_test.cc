// Copyright (c) Canopy authors.
//
// The JSON writer (include/canopy/json.h): string escaping against a
// byte-by-byte oracle of its documented rules, objects, and the change-log
// entry shape.

#include "canopy/json.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>

namespace canopy {
namespace {

// The rules as the header states them, one byte or character at a time:
// quote and backslash escaped, U+0000..U+001F as \n, \t, ... or \u00XX,
// U+0085, U+2028 and U+2029 as \u0085, \u2028, \u2029, other well-formed
// UTF-8 copied, every other byte U+FFFD.
std::string Oracle(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      const size_t n = Utf8CharLength(s.substr(i));
      const std::string_view ch = s.substr(i, n);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
      } else if (ch == "\xC2\x85" || ch == "\xE2\x80\xA8" || ch == "\xE2\x80\xA9") {
        out += ch == "\xC2\x85" ? "\\u0085" : ch == "\xE2\x80\xA8" ? "\\u2028" : "\\u2029";
        i += n;
        continue;
      } else {
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
    }
    ++i;
  }
  return out + "\"";
}

TEST(JsonTest, StringsAreEscapedAsDocumented) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("acme"), "\"acme\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("l1\nl2\r\t\b\f"), "\"l1\\nl2\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonString(std::string_view("\x00\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
  EXPECT_EQ(JsonString("\x7f"), "\"\x7f\"");  // DEL is not a control character in JSON
  EXPECT_EQ(JsonString("Zürich 東京 🌲"), "\"Zürich 東京 🌲\"");
  // What some readers take for a line's end, so that a record of JSON
  // Lines stays on its line; neighbours of the same lead bytes are copied.
  EXPECT_EQ(JsonString("a\xC2\x85" "b\xE2\x80\xA8" "c\xE2\x80\xA9" "d\xE2\x80\xAA\xC2\x84"),
            "\"a\\u0085b\\u2028c\\u2029d\xE2\x80\xAA\xC2\x84\"");
  // Not well-formed UTF-8: a stray continuation byte, a cut-short character,
  // an overlong form, a surrogate.
  EXPECT_EQ(JsonString("a\x80z"), "\"a\xEF\xBF\xBDz\"");
  EXPECT_EQ(JsonString("\xC3"), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(JsonString("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  // The oracle below takes well-formedness from Utf8CharLength: its edges.
  EXPECT_EQ(Utf8CharLength("\xC2\x80"), 2u);          // U+0080
  EXPECT_EQ(Utf8CharLength("\xC1\xBF"), 0u);          // overlong
  EXPECT_EQ(Utf8CharLength("\xE0\xA0\x80"), 3u);      // U+0800
  EXPECT_EQ(Utf8CharLength("\xE0\x9F\xBF"), 0u);      // overlong
  EXPECT_EQ(Utf8CharLength("\xED\x9F\xBF"), 3u);      // U+D7FF
  EXPECT_EQ(Utf8CharLength("\xF0\x90\x80\x80"), 4u);  // U+10000
  EXPECT_EQ(Utf8CharLength("\xF0\x8F\xBF\xBF"), 0u);  // overlong
  EXPECT_EQ(Utf8CharLength("\xF4\x8F\xBF\xBF"), 4u);  // U+10FFFF
  EXPECT_EQ(Utf8CharLength("\xF4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(Utf8CharLength("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(Utf8CharLength("\xE6\x9D"), 0u);          // cut short
  EXPECT_EQ(Utf8CharLength(""), 0u);
}

// Plain text takes a fast path and text needing escapes a slow one; both
// agree with the oracle wherever the first special byte falls, and the
// output is appended to what the string held.
TEST(JsonTest, RandomStringsMatchTheOracle) {
  std::mt19937_64 rng(7);
  const std::string alphabet[] = {"a", "Z", "0", " ", "\"", "\\", "\n", "\x01", "\x7f",
                                  "\xC3\xA9", "\xE6\x9D\xB1", "\xF0\x9F\x8C\xB2", "\x80",
                                  "\xC3", "\xED\xA0\x80", "\xF5", "\xC2\x85", "\xE2\x80\xA8",
                                  "\xE2\x80\xA9", "\xE2\x80\xAE"};
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const size_t len = rng() % 24;
    const bool plain = rng() % 2 == 0;
    for (size_t i = 0; i < len; ++i) s += alphabet[rng() % (plain ? 4 : std::size(alphabet))];
    std::string out = "prefix";
    AppendJsonString(&out, s);
    ASSERT_EQ(out, "prefix" + Oracle(s)) << "input of " << s.size() << " bytes, round " << round;
  }
}

TEST(JsonTest, ObjectsKeepFieldOrderAndTheirRoomDoesNotShowInTheOutput) {
  for (size_t room : {size_t{0}, size_t{3}, size_t{4096}}) {
    JsonObject o(room);
    o.Str("key", "ac\"me").Int("depth", -1).Uint("id", 18446744073709551615u).Bool("on", true)
        .Real("rate", 1.5).Raw("tags", "[1,2]");
    EXPECT_EQ(o.Take(),
              "{\"key\":\"ac\\\"me\",\"depth\":-1,\"id\":18446744073709551615,\"on\":true,"
              "\"rate\":1.5,\"tags\":[1,2]}");
    EXPECT_EQ(o.Str("again", "x").str(), "{\"again\":\"x\"}");  // Take left it empty
  }
  EXPECT_EQ(JsonObject().str(), "{}");
}

TEST(JsonTest, AChangeEntryHasItsDocumentedShape) {
  ChangeEntry e;
  e.revision = 12;
  e.time_us = 1700000000000000;
  e.actor = "ops\"lead";
  e.operation = "entity.reassign";
  e.arguments = "{\"to\":2}";
  RecordChangeView created{"entity", "created", "5", "", "{\"id\":5}"};
  RecordChangeView changed{"account", "changed", "2", "{\"id\":2,\"name\":\"a\"}",
                           "{\"id\":2,\"name\":\"b\"}"};
  e.changes = {created, changed};
  EXPECT_EQ(ChangeEntryJson(e),
            "{\"revision\":12,\"time_us\":1700000000000000,\"actor\":\"ops\\\"lead\","
            "\"operation\":\"entity.reassign\",\"arguments\":{\"to\":2},\"changes\":["
            "{\"type\":\"entity\",\"action\":\"created\",\"id\":\"5\",\"before\":null,"
            "\"after\":{\"id\":5}},"
            "{\"type\":\"account\",\"action\":\"changed\",\"id\":\"2\","
            "\"before\":{\"id\":2,\"name\":\"a\"},\"after\":{\"id\":2,\"name\":\"b\"}}]}");
  ChangeEntry hidden;  // an audit view's entry: no actor, no arguments, no changes
  hidden.revision = 1;
  EXPECT_EQ(ChangeEntryJson(hidden),
            "{\"revision\":1,\"time_us\":0,\"actor\":null,\"operation\":\"\","
            "\"arguments\":null,\"changes\":[]}");
}

}  // namespace
}  // namespace canopy
