// Copyright (c) Canopy authors.

#include "canopy/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace canopy {

size_t Utf8CharLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  }
  return n;
}

namespace {
// Bytes copied as they are inside a JSON string: printable ASCII other than
// the quote and the backslash. Everything else takes the slow path below.
struct PlainBytes {
  bool plain[256];
  constexpr PlainBytes() : plain() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainBytes kPlain;
}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  const size_t n = s.size();
  size_t i = 0;
  while (i < n && kPlain.plain[static_cast<unsigned char>(s[i])]) ++i;
  if (i == n) {  // the common case: nothing to escape or check
    const size_t at = out->size();
    out->resize(at + n + 2);
    char* p = out->data() + at;
    p[0] = '"';
    if (n > 0) std::memcpy(p + 1, s.data(), n);
    p[n + 1] = '"';
    return;
  }
  out->push_back('"');
  // Runs of characters that need no escape are copied at once.
  size_t run = 0;
  for (; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (kPlain.plain[c]) continue;
    if (c >= 0x80) {
      const size_t len = Utf8CharLength(s.substr(i));
      // U+0085, U+2028 and U+2029 end a line for some readers (Python's
      // splitlines, JavaScript before ES2019): escaped, so that a record
      // stays on its one line of JSON Lines.
      const bool line_end = (len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) == 0x85) ||
                            (len == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                             (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8);
      if (len > 0 && !line_end) {
        i += len - 1;
        continue;
      }
      if (line_end) {
        out->append(s.data() + run, i - run);
        run = i + len;
        out->append(len == 2 ? "\\u0085" : s[i + 2] == '\xA8' ? "\\u2028" : "\\u2029");
        i += len - 1;
        continue;
      }
      out->append(s.data() + run, i - run);
      run = i + 1;
      out->append("\xEF\xBF\xBD");  // U+FFFD
      continue;
    }
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + run, n - run);
  out->push_back('"');
}

}  // namespace canopy

namespace canopy {

namespace {
template <typename T>
void AppendNumber(std::string* out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}
}  // namespace

void JsonObject::Key(std::string_view key) {
  if (body_.size() > 1) body_.push_back(',');
  AppendJsonString(&body_, key);
  body_.push_back(':');
}

JsonObject& JsonObject::Str(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(&body_, value);
  return *this;
}

JsonObject& JsonObject::Int(std::string_view key, int64_t value) {
  Key(key);
  AppendNumber(&body_, value);
  return *this;
}

JsonObject& JsonObject::Uint(std::string_view key, uint64_t value) {
  Key(key);
  AppendNumber(&body_, value);
  return *this;
}

JsonObject& JsonObject::Real(std::string_view key, double value) {
  Key(key);
  // JSON has no NaN or infinity; a rate over zero time is reported as 0.
  if (!std::isfinite(value)) value = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  body_.append(buf);
  return *this;
}

JsonObject& JsonObject::Bool(std::string_view key, bool value) {
  Key(key);
  body_.append(value ? "true" : "false");
  return *this;
}

JsonObject& JsonObject::Raw(std::string_view key, std::string_view json) {
  Key(key);
  body_.append(json);
  return *this;
}

std::string JsonStrings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(&out, values[i]);
  }
  return out + "]";
}

std::string JsonNumbers(const std::vector<uint64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    AppendNumber(&out, values[i]);
  }
  return out + "]";
}

std::string JsonAttributes(const Attributes& attributes) {
  if (attributes.empty()) return "{}";
  JsonObject o;
  for (const auto& [k, v] : attributes) o.Str(k, v);
  return o.str();
}

std::string ReplicaStatusJson(const ReplicaStatus& st) {
  std::string members = "[";
  for (size_t i = 0; i < st.members.size(); ++i) {
    const EtcdMemberView& m = st.members[i];
    if (i > 0) members += ",";
    members += JsonObject()
                   .Str("endpoint", m.endpoint)
                   .Bool("reachable", m.reachable)
                   .Bool("has_leader", m.has_leader)
                   .Str("version", m.version)
                   .Str("error", m.error)
                   .str();
  }
  members += "]";
  // What only etcd can tell is null until it has answered once.
  const bool heard = st.last_contact_us != 0;
  auto from_etcd = [heard](uint64_t v) { return heard ? std::to_string(v) : std::string("null"); };
  return JsonObject()
      .Bool("replicated", st.replicated)
      .Str("replica_id", st.replica_id)
      .Uint("applied", st.applied)
      .Raw("head", from_etcd(st.head))
      .Raw("lag", from_etcd(st.lag))
      .Int("last_contact_us", st.last_contact_us)
      .Int("apply_delay_us", st.apply_delay_us)
      .Raw("checkpoint", from_etcd(st.checkpoint))
      .Raw("log_first", from_etcd(st.log_first))
      .Str("error", st.error)
      .Raw("members", members)
      .str();
}

std::string ChangeEntryJson(const ChangeEntry& e) {
  // Each string is allocated once at about its final size (a log read
  // prints millions of them).
  auto room_of = [](const RecordChangeView& c) {
    constexpr size_t kFields = 80;  // the field names, quotes, commas
    return kFields + c.type.size() + c.action.size() + c.id.size() + c.before.size() +
           c.after.size();
  };
  size_t room = 2;
  for (const RecordChangeView& c : e.changes) room += room_of(c);
  std::string changes;
  changes.reserve(room);
  changes.push_back('[');
  for (size_t i = 0; i < e.changes.size(); ++i) {
    const RecordChangeView& c = e.changes[i];
    if (i > 0) changes.push_back(',');
    changes += JsonObject(room_of(c))
                   .Str("type", c.type)
                   .Str("action", c.action)
                   .Str("id", c.id)
                   .Raw("before", c.before.empty() ? "null" : c.before)
                   .Raw("after", c.after.empty() ? "null" : c.after)
                   .Take();
  }
  changes.push_back(']');
  return JsonObject(changes.size() + e.actor.size() + e.operation.size() + e.arguments.size() +
                    128)
      .Int("revision", static_cast<int64_t>(e.revision))
      .Int("time_us", e.time_us)
      .Raw("actor", e.actor.empty() ? "null" : JsonString(e.actor))
      .Str("operation", e.operation)
      .Raw("arguments", e.arguments.empty() ? "null" : e.arguments)
      .Raw("changes", changes)
      .Take();
}

}  // namespace canopy
