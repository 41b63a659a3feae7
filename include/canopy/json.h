// Copyright (c) Canopy authors.
//
// JSON output helpers: the one JSON writer of Canopy, used for the change
// log's records, the export, the C API's JSON results and the `canopy`
// command line's --json output, public so that programs built on the C++
// API print the same shapes. Input is not parsed here.
//
// Every string goes in as UTF-8 and comes out as a JSON string literal:
// quotes and backslashes are escaped, control characters (U+0000..U+001F)
// become \n, \t, ... or \u00XX, the characters some readers take for a
// line's end (U+0085, U+2028, U+2029) \u0085, \u2028 and \u2029, other
// well-formed UTF-8 is copied as it is, and
// a byte that is not part of well-formed UTF-8 becomes U+FFFD (so the
// output is always valid JSON).
//
// Thread safety: plain functions and values.

#ifndef CANOPY_JSON_H_
#define CANOPY_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/changes.h"
#include "canopy/types.h"

namespace canopy {

// Appends `s` as a JSON string literal, quotes included. A byte that is
// not part of well-formed UTF-8 (stored text never has one; an error
// message may echo one from the input) is written as U+FFFD, so the output
// is always valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

// The length (1 to 4) of the well-formed UTF-8 character that `s` starts
// with, or 0 when it starts with none: empty, a stray continuation byte, an
// overlong form, a surrogate, a code point past U+10FFFF, or cut short.
size_t Utf8CharLength(std::string_view s);

// `s` as a JSON string literal, quotes included: JsonString("a\"b") is
// the six characters "a\"b" with the quotes.
inline std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// Builds one JSON object; fields appear in the order they are added (a key
// added twice appears twice: the caller keeps keys distinct).
//   JsonObject().Str("key", "acme").Int("depth", 1).str()  ->  {"key":"acme","depth":1}
class JsonObject {
 public:
  JsonObject() = default;
  // Room for `capacity` bytes up front, for a caller that knows about how
  // long the object will be (it still grows past that as needed).
  explicit JsonObject(size_t capacity) { body_.reserve(capacity); }
  JsonObject& Str(std::string_view key, std::string_view value);
  JsonObject& Int(std::string_view key, int64_t value);
  JsonObject& Uint(std::string_view key, uint64_t value);
  // NaN and infinities, which JSON cannot hold, are written as 0.
  JsonObject& Real(std::string_view key, double value);
  JsonObject& Bool(std::string_view key, bool value);
  // `json` must already be valid JSON (an array, an object, null...).
  JsonObject& Raw(std::string_view key, std::string_view json);
  // The object, "{...}" without a newline.
  std::string str() const { return body_ + "}"; }
  // The same, leaving the builder empty (no copy).
  std::string Take() {
    body_.push_back('}');
    std::string out = std::move(body_);
    body_ = "{";
    return out;
  }

 private:
  void Key(std::string_view key);
  std::string body_ = "{";
};

// A JSON array of strings: ["a","b"].
std::string JsonStrings(const std::vector<std::string>& values);
// A JSON array of unsigned numbers: [1,2].
std::string JsonNumbers(const std::vector<uint64_t>& values);
// A JSON object of string attributes, in key order: {"vin":"V1"}.
std::string JsonAttributes(const Attributes& attributes);
// A replica's status (Db::GetReplicaStatus) as one JSON object: replicated,
// replica_id, applied, head, lag, last_contact_us, apply_delay_us,
// checkpoint, log_first, error and members (each: endpoint, reachable,
// has_leader, version, error); head, lag, checkpoint and log_first are null
// while etcd never answered (last_contact_us 0). The shape of `canopy
// replica status --json` and of canopy_db_replica_status.
std::string ReplicaStatusJson(const ReplicaStatus& status);

// One change-log entry (Db::ReadChanges) as one JSON object: revision,
// time_us, actor (null when none), operation, arguments (null when the
// audit view hides them) and changes (each: type, action, id, and the
// records before and after, null when absent). The shape of `canopy log
// --json` and of `canopy ui`'s audit log (docs/changes.md).
std::string ChangeEntryJson(const ChangeEntry& entry);

}  // namespace canopy

#endif  // CANOPY_JSON_H_
