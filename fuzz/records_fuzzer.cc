// Copyright (c) Canopy authors.
//
// Every decoder of stored bytes: the FlatBuffers records (storage/records.h),
// change-log entries and their framing (storage/changes.h), and the small
// key and value codecs (storage/keys.h, storage/counters.h). The first byte
// picks the decoder (low nibble) and whether the bytes are handed over at
// an odd address (0x80, as values read from RocksDB blocks can be); the
// rest are the stored bytes. On every input:
//  - a decoder never crashes and refuses with Corruption and a message;
//  - a record it accepts re-encodes to bytes that decode to the same
//    record, and its JSON view (the change log's) agrees: accepted with the
//    record, and valid JSON;
//  - a change-log entry is checked twice: as given (the checksum refuses
//    almost everything) and with a correct checksum appended, so that the
//    FlatBuffers verifier and the record decoders behind it are reached.

#include <simdjson.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "storage/changes.h"
#include "storage/coding.h"
#include "storage/counters.h"
#include "storage/keys.h"
#include "storage/records.h"

namespace {

using canopy::Code;
using canopy::Status;
namespace st = canopy::storage;

void CheckRefusal(const Status& s) {
  FUZZ_CHECK(s.code() == Code::kCorruption && !s.message().empty(), s.ToString());
}

// The JSON view of an accepted record parses, as an object.
void CheckJson(const std::string& json) {
  static simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const auto err = parser.parse(json).get(doc);
  // A record that passes verification may still hold text that is not
  // UTF-8 (the verifier does not look): the view copies it as it is.
  if (err == simdjson::UTF8_ERROR) return;
  FUZZ_CHECK(!err && doc.is_object(), json);
}

// Decode, and for an accepted record: encode(decode(x)) decodes, and
// encodes again to the same bytes; the JSON view is accepted exactly when
// the decoder accepts.
template <typename R, typename Enc, typename Dec, typename Json>
void Record(std::string_view bytes, Enc encode, Dec decode, Json json) {
  R r;
  const Status s = decode(bytes, &r);
  std::string view;
  const Status j = json(bytes, &view);
  FUZZ_CHECK(s.ok() == j.ok(), "the decoder and the JSON view disagree: " + s.ToString() + " / " + j.ToString());
  if (!s.ok()) {
    CheckRefusal(s);
    CheckRefusal(j);
    return;
  }
  CheckJson(view);
  const std::string once = encode(r);
  R again;
  const Status s2 = decode(once, &again);
  FUZZ_CHECK(s2.ok(), s2.ToString());
  FUZZ_CHECK(encode(again) == once, "a decoded record does not survive encode/decode");
}

// Accounts and users also decode in the catalog's detail (no names, no
// attributes): it accepts exactly what the full decode accepts, and agrees
// with it on every field it keeps.
Status DecodeAccountBoth(std::string_view bytes, st::AccountRecord* r) {
  const Status s = st::DecodeAccount(bytes, r);
  st::AccountRecord lean;
  const Status l = st::DecodeAccount(bytes, &lean, st::RecordDetail::kCatalog);
  FUZZ_CHECK(s.ok() == l.ok(), "full and catalog decodes disagree: " + s.ToString() + " / " +
                                   l.ToString());
  if (s.ok()) {
    const canopy::Account& a = r->account;
    const canopy::Account& b = lean.account;
    FUZZ_CHECK(a.id == b.id && a.key == b.key && a.parent == b.parent && a.depth == b.depth &&
                   a.created_us == b.created_us && a.updated_us == b.updated_us &&
                   a.settings.sub_account_management == b.settings.sub_account_management &&
                   a.settings.sub_account_access == b.settings.sub_account_access &&
                   a.settings.group_sharing == b.settings.group_sharing &&
                   r->label == lean.label && r->next_child_ordinal == lean.next_child_ordinal &&
                   b.name.empty() && b.attributes.empty(),
               "the catalog decode of an account differs from the full one");
  }
  return s;
}

Status DecodeUserBoth(std::string_view bytes, canopy::User* u) {
  const Status s = st::DecodeUser(bytes, u);
  canopy::User lean;
  const Status l = st::DecodeUser(bytes, &lean, st::RecordDetail::kCatalog);
  FUZZ_CHECK(s.ok() == l.ok(), "full and catalog decodes disagree: " + s.ToString() + " / " +
                                   l.ToString());
  if (s.ok()) {
    FUZZ_CHECK(u->id == lean.id && u->login == lean.login && u->account == lean.account &&
                   u->disabled == lean.disabled && u->created_us == lean.created_us &&
                   u->updated_us == lean.updated_us && lean.name.empty(),
               "the catalog decode of a user differs from the full one");
  }
  return s;
}

void LogEntry(std::string_view bytes) {
  st::LogEntry e;
  const Status s = st::DecodeLogEntry(bytes, &e);
  if (!s.ok()) {
    CheckRefusal(s);
    return;
  }
  const std::string once = st::EncodeLogEntry(e);
  st::LogEntry again;
  const Status s2 = st::DecodeLogEntry(once, &again);
  FUZZ_CHECK(s2.ok(), s2.ToString());
  FUZZ_CHECK(st::EncodeLogEntry(again) == once, "a decoded log entry does not survive encode/decode");
  // The records it carries, as a follower and the change log read them.
  const Status r = st::DecodeRecords(&e.changes);
  if (!r.ok()) {
    CheckRefusal(r);
    return;
  }
  for (const st::RecordChange& c : e.changes.records) {
    for (const std::string* side : {&c.before, &c.after}) {
      if (side->empty()) continue;
      std::string json;
      Status v;
      switch (c.type) {
        case st::RecordType::kAccount: v = st::AccountJson(*side, &json); break;
        case st::RecordType::kEntity: v = st::EntityJson(*side, &json); break;
        case st::RecordType::kUser: v = st::UserJson(*side, &json); break;
        case st::RecordType::kMembership:
          v = st::MembershipJson(*side, st::DecodeFixed64BE(c.key.data()),
                                 st::DecodeFixed64BE(c.key.data() + 8), &json);
          break;
        case st::RecordType::kRole: v = st::RoleJson(*side, &json); break;
        case st::RecordType::kGroup: v = st::GroupJson(*side, &json); break;
        case st::RecordType::kGroupMember:  // DecodeRecords checked the key's size
          v = st::GroupMemberJson(*side, st::DecodeFixed64BE(c.key.data()),
                                  st::DecodeFixed64BE(c.key.data() + 8), &json);
          break;
        case st::RecordType::kGroupGrant:
          v = st::GroupGrantJson(*side, st::DecodeFixed64BE(c.key.data()),
                                 st::DecodeFixed64BE(c.key.data() + 8),
                                 st::DecodeFixed64BE(c.key.data() + 16), &json);
          break;
        case st::RecordType::kGroupMembers:
          v = st::GroupMembersJson(*side, st::DecodeFixed64BE(c.key.data()), &json);
          break;
        case st::RecordType::kMeta: continue;
      }
      FUZZ_CHECK(v.ok(), "a record DecodeRecords accepted has no JSON view: " + v.ToString());
      CheckJson(json);
    }
  }
}

void Keys(std::string_view bytes) {
  uint64_t revision = 0, a = 0, b = 0;
  int64_t chunk = 0;
  if (st::DecodeLogKey(bytes, &revision, &chunk)) {
    const std::string back = chunk < 0 ? st::LogKey(revision)
                                       : st::LogChunkKey(revision, static_cast<uint32_t>(chunk));
    FUZZ_CHECK(back == bytes);
  }
  if (st::DecodeEntityKeyValue(bytes, &a, &b)) FUZZ_CHECK(st::EntityKeyValue(a, b) == bytes);
  uint8_t kind = 0;
  std::string_view label;
  if (st::DecodeIndexKey(bytes, &kind, &label, &a)) FUZZ_CHECK(st::IndexKey(kind, label, a) == bytes);
  st::IndexValue v;
  if (st::DecodeIndexValue(bytes, &v)) {
    std::string once;
    st::EncodeIndexValue(&once, v.owner, v.key, v.name, v.type);
    st::IndexValue w;
    FUZZ_CHECK(st::DecodeIndexValue(once, &w));
    FUZZ_CHECK(w.owner == v.owner && w.key == v.key && w.name == v.name && w.type == v.type);
  }
  int64_t counter = 0;
  if (st::DecodeCounter(bytes, &counter)) FUZZ_CHECK(st::CounterValue(counter) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  // libFuzzer's buffer is malloc'd (aligned); 0x80 shifts it to an odd address.
  std::vector<char> buffer(size + 1);
  const size_t offset = (selector & 0x80) ? 1 : 0;
  std::memcpy(buffer.data() + offset, data + 1, size - 1);
  const std::string_view bytes(buffer.data() + offset, size - 1);

  switch (selector & 0x0f) {
    case 0:
      Record<st::AccountRecord>(bytes, st::EncodeAccount, DecodeAccountBoth, st::AccountJson);
      break;
    case 1:
      Record<canopy::Entity>(bytes, st::EncodeEntity, st::DecodeEntity, st::EntityJson);
      break;
    case 2:
      Record<canopy::User>(bytes, st::EncodeUser, DecodeUserBoth, st::UserJson);
      break;
    case 3:
      Record<canopy::Membership>(bytes, st::EncodeMembership, st::DecodeMembership,
                                 [](std::string_view b, std::string* out) {
                                   return st::MembershipJson(b, 1, 2, out);
                                 });
      break;
    case 4:
      Record<canopy::Role>(bytes, st::EncodeRole, st::DecodeRole, st::RoleJson);
      break;
    case 5:
      Record<st::FormatRecord>(bytes, st::EncodeFormat, st::DecodeFormat,
                               [](std::string_view b, std::string* out) {
                                 st::FormatRecord f;
                                 Status s = st::DecodeFormat(b, &f);
                                 *out = "{}";  // no JSON view: agrees by construction
                                 return s;
                               });
      break;
    case 6:
      LogEntry(bytes);
      break;
    case 7: {
      std::string sealed(bytes);
      st::PutFixed64BE(&sealed, XXH3_64bits(bytes.data(), bytes.size()));
      LogEntry(sealed);
      break;
    }
    case 8: {
      std::string_view entry, input;
      const Status s = st::UnframeLogEntry(bytes, &entry, &input);
      if (!s.ok()) {
        CheckRefusal(s);
        break;
      }
      FUZZ_CHECK(st::FrameLogEntry(entry, input) == bytes);
      LogEntry(entry);
      break;
    }
    default:
      Keys(bytes);
      break;
  }
  return 0;
}
