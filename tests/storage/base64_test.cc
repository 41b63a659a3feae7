// Copyright (c) Canopy authors.

#include "storage/base64.h"

#include <gtest/gtest.h>

namespace canopy::storage {
namespace {

TEST(Base64, RoundTripsEveryLengthInBothForms) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (Base64 form : {Base64::kStandardPadded, Base64::kUrlUnpadded}) {
    for (size_t n = 0; n <= bytes.size(); n += (n < 8 ? 1 : 37)) {
      const std::string in = bytes.substr(0, n);
      std::string out;
      ASSERT_TRUE(DecodeBase64(EncodeBase64(in, form), form, &out)) << n;
      EXPECT_EQ(out, in);
    }
  }
}

TEST(Base64, KnownVectors) {
  EXPECT_EQ(EncodeBase64("", Base64::kStandardPadded), "");
  EXPECT_EQ(EncodeBase64("f", Base64::kStandardPadded), "Zg==");
  EXPECT_EQ(EncodeBase64("fo", Base64::kStandardPadded), "Zm8=");
  EXPECT_EQ(EncodeBase64("foo", Base64::kStandardPadded), "Zm9v");
  EXPECT_EQ(EncodeBase64("\xfb\xff", Base64::kStandardPadded), "+/8=");
  EXPECT_EQ(EncodeBase64("\xfb\xff", Base64::kUrlUnpadded), "-_8");
}

TEST(Base64, RefusesWhatIsNotItsForm) {
  std::string out;
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zg=A", "Zm9v=", "-_8=", "Zh==", "Zm9*"}) {
    EXPECT_FALSE(DecodeBase64(bad, Base64::kStandardPadded, &out)) << bad;
  }
  for (const char* bad : {"Zg==", "+/8", "Z", "Zh", "Zm9v_"}) {
    EXPECT_FALSE(DecodeBase64(bad, Base64::kUrlUnpadded, &out)) << bad;
  }
}

}  // namespace
}  // namespace canopy::storage
