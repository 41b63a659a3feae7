// Copyright (c) Canopy authors.
//
// Key and value codecs of the key spaces; grammar in keys.h and
// docs/format.md.

#include "storage/keys.h"

namespace canopy::storage {

const char* CfName(int cf) {
  // Persisted: never rename or reorder.
  static const char* const kNames[kNumCfs] = {
      "default",  "meta",        "accounts",   "account_keys", "tree",        "entities",
      "entity_keys", "unit_ids", "visibility", "counters",     "users",       "user_logins",
      "user_homes",  "memberships", "members",  "roles",        "role_names",  "changes",
      "groups"};
  return (cf >= 0 && cf < kNumCfs) ? kNames[cf] : "?";
}

MemberClass MemberClassOf(uint8_t group_kind) {
  if (group_kind == 5) return kMemberUser;
  if (group_kind == 6) return kMemberAccount;
  return kMemberEntity;
}

std::string GroupKey(uint64_t group) {
  std::string k(1, kGroupPrefix);
  PutFixed64BE(&k, group);
  return k;
}

std::string GroupMemberKey(uint64_t group, uint64_t member) {
  std::string k = GroupMembersPrefix(group);
  PutFixed64BE(&k, member);
  return k;
}

std::string GroupMembersPrefix(uint64_t group) {
  std::string k(1, kGroupMemberPrefix);
  PutFixed64BE(&k, group);
  return k;
}

std::string MemberGroupKey(MemberClass c, uint64_t member, uint64_t group) {
  std::string k = MemberGroupsPrefix(c, member);
  PutFixed64BE(&k, group);
  return k;
}

std::string MemberGroupsPrefix(MemberClass c, uint64_t member) {
  std::string k(1, kMemberGroupPrefix);
  k.push_back(static_cast<char>(c));
  PutFixed64BE(&k, member);
  return k;
}

std::string GroupGrantKey(uint64_t user_group, uint64_t role, uint64_t target) {
  std::string k(1, kGroupGrantPrefix);
  PutFixed64BE(&k, user_group);
  PutFixed64BE(&k, role);
  PutFixed64BE(&k, target);
  return k;
}

bool DecodeEntityKeyValue(std::string_view v, uint64_t* entity, uint64_t* owner) {
  if (v.size() != 16) return false;
  *entity = DecodeFixed64BE(v.data());
  *owner = DecodeFixed64BE(v.data() + 8);
  return true;
}

void IndexKeyTo(std::string* k, uint8_t kind, std::string_view label, uint64_t entity) {
  k->clear();
  k->push_back(static_cast<char>(kind));
  k->append(label);
  k->push_back('\0');
  PutFixed64BE(k, entity);
}

std::string IndexKey(uint8_t kind, std::string_view label, uint64_t entity) {
  std::string k;
  k.reserve(label.size() + 10);
  IndexKeyTo(&k, kind, label, entity);
  return k;
}

std::string IndexRangeStart(uint8_t kind, std::string_view label, bool branch) {
  std::string k;
  k.push_back(static_cast<char>(kind));
  k.append(label);
  if (!branch) k.push_back('\0');
  return k;
}

std::string IndexRangeLimit(uint8_t kind, std::string_view label, bool branch) {
  std::string k;
  k.push_back(static_cast<char>(kind));
  k.append(label);
  if (!branch) {
    k.push_back('\x01');  // just past "label 0x00 *": before any child label
    return k;
  }
  // kind is 1..4, so a successor always exists.
  return PrefixSuccessor(k);
}

bool DecodeIndexKey(std::string_view key, uint8_t* kind, std::string_view* label,
                    uint64_t* entity) {
  if (key.size() < 1 + 1 + 1 + 8) return false;
  if (key[key.size() - 9] != '\0') return false;
  *kind = static_cast<uint8_t>(key[0]);
  *label = key.substr(1, key.size() - 10);
  *entity = DecodeFixed64BE(key.data() + key.size() - 8);
  return true;
}

void EncodeIndexValue(std::string* dst, uint64_t owner, std::string_view key,
                      std::string_view name, std::string_view type) {
  dst->clear();
  PutVarint64(dst, owner);
  PutLengthPrefixed(dst, key);
  PutLengthPrefixed(dst, name);
  PutLengthPrefixed(dst, type);
}

bool DecodeIndexValue(std::string_view v, IndexValue* out) {
  return GetVarint64(&v, &out->owner) && GetLengthPrefixed(&v, &out->key) &&
         GetLengthPrefixed(&v, &out->name) && GetLengthPrefixed(&v, &out->type) && v.empty();
}

}  // namespace canopy::storage
