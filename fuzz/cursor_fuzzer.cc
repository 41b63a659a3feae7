// Copyright (c) Canopy authors.
//
// Cursor tokens (query/cursor.h) and the base64 codec under them
// (storage/base64.h). On every input:
//  - the bytes as a token of each kind: DecodeToken never crashes, refuses
//    with InvalidArgument and a message, and a token it accepts is exactly
//    what EncodeToken makes of the payload (one spelling per cursor);
//  - the bytes as base64 of either form: a string DecodeBase64 accepts
//    re-encodes to itself (strict decoding);
//  - the bytes as a payload (the first byte picks the kind): its token
//    decodes to it under its own kind only, and a token with one character
//    changed is refused; the payload is then read as the engine reads a
//    visible cursor's (an index key after 24 bytes), which must round-trip.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "query/cursor.h"
#include "storage/base64.h"
#include "storage/keys.h"

namespace {

using canopy::Code;
using canopy::Status;
using canopy::query::DecodeToken;
using canopy::query::EncodeToken;
using canopy::query::TokenType;
using canopy::storage::Base64;

constexpr TokenType kTypes[] = {TokenType::kVisible, TokenType::kWhoCan, TokenType::kTable};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // As a token.
  for (TokenType t : kTypes) {
    std::string payload;
    const Status s = DecodeToken(in, t, &payload);
    if (s.ok()) {
      FUZZ_CHECK(EncodeToken(t, payload) == in, "an accepted token is not the encoding of its payload");
    } else {
      FUZZ_CHECK(s.code() == Code::kInvalidArgument && !s.message().empty(), s.ToString());
    }
  }

  // As base64.
  for (Base64 form : {Base64::kUrlUnpadded, Base64::kStandardPadded}) {
    std::string raw;
    if (canopy::storage::DecodeBase64(in, form, &raw)) {
      FUZZ_CHECK(canopy::storage::EncodeBase64(raw, form) == in, "base64 decoding is not strict");
    }
  }

  // As a payload.
  if (size == 0) return 0;
  const TokenType type = kTypes[data[0] % 3];
  const std::string_view payload = in.substr(1);
  const std::string token = EncodeToken(type, payload);
  for (TokenType t : kTypes) {
    std::string back;
    const Status s = DecodeToken(token, t, &back);
    if (t == type) {
      FUZZ_CHECK(s.ok() && back == payload, s.ToString());
    } else {
      FUZZ_CHECK(s.code() == Code::kInvalidArgument);
    }
  }
  if (size >= 2 && token.size() <= 4096) {
    std::string altered = token;
    const size_t at = data[1] % altered.size();
    altered[at] = altered[at] == 'A' ? 'B' : 'A';
    std::string back;
    FUZZ_CHECK(!DecodeToken(altered, type, &back).ok(), "an altered token was accepted");
  }
  // A visible cursor's payload: instance, view, fingerprint (8 bytes each),
  // then the index key of the last item returned.
  if (payload.size() >= 24) {
    uint8_t kind = 0;
    std::string_view label;
    uint64_t entity = 0;
    const std::string_view key = payload.substr(24);
    if (canopy::storage::DecodeIndexKey(key, &kind, &label, &entity)) {
      FUZZ_CHECK(canopy::storage::IndexKey(kind, label, entity) == key,
                 "an accepted index key is not the encoding of its parts");
    }
  }
  return 0;
}
