// Copyright (c) Canopy authors.
//
// Base64 (RFC 4648), in the two forms Canopy speaks: the standard alphabet
// with '=' padding (etcd's JSON gateway) and the URL-safe alphabet without
// padding (cursor tokens). Decoding is strict: only the form's alphabet,
// the right length, and canonical trailing bits.

#ifndef CANOPY_STORAGE_BASE64_H_
#define CANOPY_STORAGE_BASE64_H_

#include <string>
#include <string_view>

namespace canopy::storage {

enum class Base64 { kStandardPadded, kUrlUnpadded };

void AppendBase64(std::string* out, std::string_view in, Base64 form);
inline std::string EncodeBase64(std::string_view in, Base64 form) {
  std::string out;
  AppendBase64(&out, in, form);
  return out;
}
// False (and *out unspecified) when `in` is not valid in `form`.
bool DecodeBase64(std::string_view in, Base64 form, std::string* out);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_BASE64_H_
