// Copyright (c) Canopy authors.
//
// Status keeps its whole message; ShortMessage is how it is shown to a
// person (the C API, the command line, the HTTP API): never a huge input
// quoted back whole.

#include "canopy/status.h"

#include <gtest/gtest.h>

#include <string>

namespace canopy {
namespace {

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST(Status, AShortMessageIsShownWhole) {
  const std::string m = "no device with key '" + std::string(900, 'k') + "'";
  EXPECT_EQ(ShortMessage(m), m);
  EXPECT_EQ(ShortMessage(std::string(1024, 'x')).size(), 1024u);
  EXPECT_EQ(ShortMessage(""), "");
}

// A message quotes input back; shown (C API, command line, HTTP), it is
// always valid UTF-8: a byte that is not part of a well-formed sequence is
// written \xNN, and well-formed text (any script) is kept as it is.
TEST(Status, AShownMessageIsValidUtf8WhateverTheInputWas) {
  EXPECT_EQ(ShortMessage("no account with key '\xff\xfe\xc3'"),
            "no account with key '\\xff\\xfe\\xc3'");
  const std::string text = "k\xc3\xa9y \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5";
  EXPECT_EQ(ShortMessage(text), text);
  // Overlong forms, surrogates, past U+10FFFF, cut short.
  EXPECT_EQ(ShortMessage("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(ShortMessage("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(ShortMessage("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(ShortMessage("ok \xe2\x82"), "ok \\xe2\\x82");
  // A long one with bad bytes is cut on characters all the same.
  const std::string shown = ShortMessage(std::string(2000, '\xff'));
  EXPECT_LT(shown.size(), 2000u);
  EXPECT_EQ(shown.find('\xff'), std::string::npos);
}

TEST(Status, AHugeInputQuotedBackKeepsBeginningAndEndAndSaysWhatWasLeftOut) {
  const std::string key(1 << 20, 'a');
  Status s = Status::NotFound("no device with key '" + key + "'; nothing was changed");
  // The status itself keeps it all (callers may look for text in it).
  EXPECT_EQ(s.message().size(), key.size() + 42);
  const std::string m = ShortMessage(s.message());
  EXPECT_LT(m.size(), 1100u);
  EXPECT_EQ(m.rfind("no device with key 'aaa", 0), 0u) << m.substr(0, 40);
  EXPECT_NE(m.find("[1047658 bytes left out]"), std::string::npos) << m.substr(760, 60);
  EXPECT_EQ(m.substr(m.size() - 22), "'; nothing was changed");
}

TEST(Status, ShorteningNeverCutsACharacter) {
  // Two-, three- and four-byte characters at every alignment of the cuts.
  for (const std::string ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x8C\xB3"}) {
    for (size_t pad = 0; pad < 4; ++pad) {
      std::string m(pad, 'p');
      while (m.size() < 5000) m += ch;
      const std::string shown = ShortMessage(m);
      EXPECT_TRUE(ValidUtf8(shown)) << "pad " << pad << " char " << ch.size();
      EXPECT_LT(shown.size(), 1100u);
    }
  }
}

}  // namespace
}  // namespace canopy
