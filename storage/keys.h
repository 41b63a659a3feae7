// Copyright (c) Canopy authors.
//
// The key spaces (RocksDB column families) and their key and value codecs.
// Persisted: names and encodings are frozen (docs/format.md). Integers in
// keys are 8-byte big-endian, so byte order is numeric order.
//
//   column family  key                                   value
//   meta           "format" | "seq.<name>" | "ingest.*"  FormatRecord | u64 BE
//   accounts       account id                            AccountRecord
//   account_keys   external key                          account id
//   tree           label                                 account id
//   entities       entity id                             EntityRecord
//   entity_keys    kind(1) external key                  entity id, owner id
//   unit_ids       unit id                               entity id
//   visibility     kind(1) label 0x00 entity id          IndexValue
//   counters       account id, counter(1)                i64 BE (merge: add)
//   users          user id                               UserRecord
//   user_logins    login                                 user id
//   user_homes     account id, user id                   (empty)
//   memberships    user id, account id                   MembershipRecord
//   members        account id, user id                   (empty)
//   roles          role id                               RoleRecord
//   role_names     tenant id, name                       role id
//   changes        revision [, chunk]                    LogEntry (storage/changes.h)
//   groups         'g' group id                          GroupRecord       (since format 3)
//                  'm' group id, member id               GroupMemberRecord
//                  'r' class(1), member id, group id     (empty): member -> its groups
//                  'a' user group, role, target group    GroupGrantRecord

#ifndef CANOPY_STORAGE_KEYS_H_
#define CANOPY_STORAGE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/coding.h"

namespace canopy::storage {

// Column family indexes into Store::cf(); the names are persisted.
enum Cf : int {
  kDefault = 0,
  kMeta,
  kAccounts,
  kAccountKeys,
  kTree,
  kEntities,
  kEntityKeys,
  kUnitIds,
  kVisibility,
  kCounters,
  kUsers,
  kUserLogins,
  kUserHomes,
  kMemberships,
  kMembers,
  kRoles,
  kRoleNames,
  kChanges,  // the change log (storage/changes.h); since format 2
  kGroups,   // groups, their members and grants; since format 3
  kNumCfs,
};
const char* CfName(int cf);

// The key spaces whose writes include range deletions (BatchSink::
// DeleteRange): the visibility index (a subtree's keys moved under a new
// label), the change log (its trimmed head) and, in databases of format 1,
// the tree. Reads of every other key space ignore range deletions: RocksDB
// 7.8 then steps from one table file into the next without the step that
// drops a read error there (Store::NewIterator).
constexpr bool RangeDeletesIn(int cf) { return cf == kVisibility || cf == kChanges || cf == kTree; }

// meta keys.
inline constexpr std::string_view kFormatKey = "format";
inline constexpr std::string_view kSeqAccount = "seq.account";
inline constexpr std::string_view kSeqUser = "seq.user";
inline constexpr std::string_view kSeqEntity = "seq.entity";
inline constexpr std::string_view kSeqRole = "seq.role";
inline constexpr std::string_view kSeqRootOrdinal = "seq.root_ordinal";
inline constexpr std::string_view kSeqGroup = "seq.group";
// "log.id", "log.first": see storage/changes.h.

// Meta keys that let a reader tell that it missed an import. An import's
// files, ingested without a write-ahead log record, carry kMetaIngested
// (u64: the import's revision); the writer's next logged write carries
// kMetaIngestSeen (the same revision). A reader that read RocksDB's
// MANIFEST before the files were ingested, and then replayed that later
// write from the log, holds seen > ingested: a write without the import
// before it (Store::Open and CatchUpWithPrimary read again).
inline constexpr std::string_view kMetaIngested = "ingest.last";
inline constexpr std::string_view kMetaIngestSeen = "ingest.seen";

// The *To forms write the same key into *k (its old contents replaced), so
// that a caller writing millions of them (an import) reuses one buffer.
inline void IdKeyTo(std::string* k, uint64_t id) {
  k->resize(8);
  EncodeFixed64BE(k->data(), id);
}
inline std::string IdKey(uint64_t id) {
  std::string k;
  IdKeyTo(&k, id);
  return k;
}
inline void PairKeyTo(std::string* k, uint64_t a, uint64_t b) {
  k->resize(16);
  EncodeFixed64BE(k->data(), a);
  EncodeFixed64BE(k->data() + 8, b);
}
inline std::string PairKey(uint64_t a, uint64_t b) {
  std::string k;
  PairKeyTo(&k, a, b);
  return k;
}

// groups: one key space, four kinds of key told apart by their first byte.
inline constexpr char kGroupPrefix = 'g';
inline constexpr char kGroupMemberPrefix = 'm';
inline constexpr char kMemberGroupPrefix = 'r';
inline constexpr char kGroupGrantPrefix = 'a';
// The id space of a member ('r' keys): entity, user or account.
enum MemberClass : uint8_t { kMemberEntity = 1, kMemberUser = 2, kMemberAccount = 3 };
MemberClass MemberClassOf(uint8_t group_kind);
std::string GroupKey(uint64_t group);
std::string GroupMemberKey(uint64_t group, uint64_t member);
// The first key of `group`'s members (all share this prefix).
std::string GroupMembersPrefix(uint64_t group);
std::string MemberGroupKey(MemberClass c, uint64_t member, uint64_t group);
// The prefix of every 'r' key of one member.
std::string MemberGroupsPrefix(MemberClass c, uint64_t member);
std::string GroupGrantKey(uint64_t user_group, uint64_t role, uint64_t target);

// entity_keys: kind(1) key.
inline void EntityKeyKeyTo(std::string* k, uint8_t kind, std::string_view key) {
  k->clear();
  k->push_back(static_cast<char>(kind));
  k->append(key);
}
inline std::string EntityKeyKey(uint8_t kind, std::string_view key) {
  std::string k;
  k.reserve(1 + key.size());
  EntityKeyKeyTo(&k, kind, key);
  return k;
}
// entity_keys value: entity id, owner id (both u64 BE).
inline void EntityKeyValueTo(std::string* v, uint64_t entity, uint64_t owner) {
  PairKeyTo(v, entity, owner);
}
inline std::string EntityKeyValue(uint64_t entity, uint64_t owner) { return PairKey(entity, owner); }
bool DecodeEntityKeyValue(std::string_view v, uint64_t* entity, uint64_t* owner);

// visibility: kind(1) label 0x00 entity-id(8).
std::string IndexKey(uint8_t kind, std::string_view label, uint64_t entity);
void IndexKeyTo(std::string* k, uint8_t kind, std::string_view label, uint64_t entity);
// The first key of the entities of `kind` owned by the subtree of `label`
// (branch) or by the account itself (!branch); Upper is exclusive.
std::string IndexRangeStart(uint8_t kind, std::string_view label, bool branch);
std::string IndexRangeLimit(uint8_t kind, std::string_view label, bool branch);
// Splits an index key. False when malformed.
bool DecodeIndexKey(std::string_view key, uint8_t* kind, std::string_view* label,
                    uint64_t* entity);

// The visibility index value: the few fields a list view needs, so a page
// costs no extra look-ups. Not a FlatBuffer (size and scan speed; see
// docs/format.md):
//   IndexValue := varint(owner id) lp(key) lp(name) lp(type)
//   lp(s)      := varint(len(s)) s
struct IndexValue {
  uint64_t owner = 0;
  std::string_view key;
  std::string_view name;
  std::string_view type;
};
void EncodeIndexValue(std::string* dst, uint64_t owner, std::string_view key,
                      std::string_view name, std::string_view type);
bool DecodeIndexValue(std::string_view v, IndexValue* out);

// counters: account id(8) counter(1). Counter codes are persisted.
enum CounterCode : uint8_t {
  // 0x01..0x04: entities of that kind owned directly by the account.
  // 0x81..0x84: entities of that kind owned by the account's subtree.
  kCounterSubtreeBit = 0x80,
  kCounterDescendants = 0x10,  // sub-accounts at every level below
  kCounterMembers = 0x11,      // memberships on the account (its users)
};
inline std::string CounterKey(uint64_t account, uint8_t counter) {
  std::string k = Fixed64BE(account);
  k.push_back(static_cast<char>(counter));
  return k;
}
inline std::string CounterValue(int64_t v) { return Fixed64BE(static_cast<uint64_t>(v)); }

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_KEYS_H_
