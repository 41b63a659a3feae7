// Copyright (c) Canopy authors.
//
// Stored records (FlatBuffers, schemas in storage/schema/) and their
// in-memory forms. Decoding verifies the buffer first: bytes that are not a
// record Canopy wrote give Corruption, never a crash or a misread.

#ifndef CANOPY_STORAGE_RECORDS_H_
#define CANOPY_STORAGE_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy::storage {

// How much of a record a decode fills in: all of it, or only what the
// in-memory catalog keeps (no names, no attributes: left empty), for
// loading millions of them.
enum class RecordDetail { kFull, kCatalog };

struct AccountRecord {
  Account account;
  std::string label;
  uint64_t next_child_ordinal = 0;
};
std::string EncodeAccount(const AccountRecord& r);
Status DecodeAccount(std::string_view bytes, AccountRecord* r,
                     RecordDetail detail = RecordDetail::kFull);

std::string EncodeEntity(const Entity& e);
// The same bytes, in a buffer of this thread's that the next call on the
// thread overwrites (no allocation: imports encode millions).
std::string_view EncodeEntityInPlace(const Entity& e);
Status DecodeEntity(std::string_view bytes, Entity* e);
// A lower bound of EncodeEntity(e).size() (its strings and scalars), for
// judging a call's size before encoding anything.
uint64_t EntityBytesAtLeast(const Entity& e);

std::string EncodeUser(const User& u);
Status DecodeUser(std::string_view bytes, User* u, RecordDetail detail = RecordDetail::kFull);

// The membership record holds role, branch and time; user and account are
// its key.
std::string EncodeMembership(const Membership& m);
Status DecodeMembership(std::string_view bytes, Membership* m);

std::string EncodeRole(const Role& r);
Status DecodeRole(std::string_view bytes, Role* r);

// A stored record as a JSON object (the change log's view of it; fields in
// docs/changes.md), read straight from its verified buffer. Corruption as
// for the decoders. A membership's user and account come from its key.
Status AccountJson(std::string_view bytes, std::string* out);
Status EntityJson(std::string_view bytes, std::string* out);
Status UserJson(std::string_view bytes, std::string* out);
Status MembershipJson(std::string_view bytes, uint64_t user, uint64_t account, std::string* out);
Status RoleJson(std::string_view bytes, std::string* out);

std::string EncodeGroup(const Group& g);
Status DecodeGroup(std::string_view bytes, Group* g);

// A group member: group and member are its key; the record names the
// group's kind (so the member's id space) and the time it was added.
struct GroupMemberRecord {
  GroupId group = kNoId;
  uint64_t member = 0;
  GroupKind kind = GroupKind::kDevice;
  int64_t created_us = 0;
};
std::string EncodeGroupMember(const GroupMemberRecord& m);
Status DecodeGroupMember(std::string_view bytes, GroupMemberRecord* m);

// A batch of members joining one group: the change-log form of a batch
// add (one record instead of one per member). The group is its key; each
// member is stored as a GroupMemberRecord{kind, created_us}.
struct GroupMembersRecord {
  GroupId group = kNoId;
  GroupKind kind = GroupKind::kDevice;
  int64_t created_us = 0;
  std::vector<uint64_t> members;  // ascending, each once
};
std::string EncodeGroupMembers(const GroupMembersRecord& m);
// Corruption also when the members are not ascending and distinct.
Status DecodeGroupMembers(std::string_view bytes, GroupMembersRecord* m);

// A group grant: user group, role and target are its key.
std::string EncodeGroupGrant(const GroupGrant& g);
Status DecodeGroupGrant(std::string_view bytes, GroupGrant* g);

Status GroupJson(std::string_view bytes, std::string* out);
Status GroupMemberJson(std::string_view bytes, uint64_t group, uint64_t member, std::string* out);
Status GroupMembersJson(std::string_view bytes, uint64_t group, std::string* out);
Status GroupGrantJson(std::string_view bytes, uint64_t user_group, uint64_t role,
                      uint64_t target, std::string* out);

struct FormatRecord {
  std::string magic;
  uint32_t version = 0;
  uint32_t max_depth = 0;
  int64_t created_us = 0;
  std::string library_version;
};
inline constexpr std::string_view kMagic = "canopy-db";
std::string EncodeFormat(const FormatRecord& f);
Status DecodeFormat(std::string_view bytes, FormatRecord* f);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_RECORDS_H_
