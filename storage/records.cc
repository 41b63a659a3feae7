// Copyright (c) Canopy authors.
//
// FlatBuffers <-> in-memory records. Every decode verifies the buffer and
// its file identifier before reading a field.

#include "storage/records.h"

#include <flatbuffers/flatbuffers.h>

#include "storage/json.h"

#include "storage/schema/account_generated.h"
#include "storage/schema/entity_generated.h"
#include "storage/schema/group_generated.h"
#include "storage/schema/group_grant_generated.h"
#include "storage/schema/group_member_generated.h"
#include "storage/schema/group_members_generated.h"
#include "storage/schema/membership_generated.h"
#include "storage/schema/meta_generated.h"
#include "storage/schema/role_generated.h"
#include "storage/schema/user_generated.h"

namespace canopy::storage {

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

std::string Finish(FlatBufferBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

// `kvs`: scratch for the offsets, cleared first (a caller encoding many
// records keeps one).
Offset<flatbuffers::Vector<Offset<fb::KeyValue>>> BuildAttributes(
    FlatBufferBuilder& b, const Attributes& attrs, std::vector<Offset<fb::KeyValue>>* kvs) {
  kvs->clear();
  kvs->reserve(attrs.size());
  for (const auto& [k, v] : attrs) {
    kvs->push_back(fb::CreateKeyValue(b, b.CreateString(k), b.CreateString(v)));
  }
  return b.CreateVector(*kvs);
}

void ReadAttributes(const flatbuffers::Vector<Offset<fb::KeyValue>>* kvs, Attributes* out) {
  out->clear();
  if (kvs == nullptr) return;
  for (const auto* kv : *kvs) out->emplace(kv->key()->str(), kv->value()->str());
}

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// FlatBuffers reads scalars in place, so the buffer must be aligned to the
// widest scalar (8 bytes). Values read through RocksDB iterators point into
// blocks at any offset: those are copied into this thread's scratch buffer
// first (a std::string's buffer is suitably aligned; kept between calls, so
// a decode allocates only for a record longer than any before it, and let
// go after one over 1 MiB when a small one follows). The
// record returned may point into that buffer: read it before the thread's
// next Verified call (every caller reads it to the end first).
std::string& Scratch() {
  thread_local std::string scratch;
  return scratch;
}

template <typename T>
const T* Verified(std::string_view bytes, const char* identifier,
                  bool (*verify)(flatbuffers::Verifier&), const char* what, Status* status) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    std::string& scratch = Scratch();
    if (scratch.capacity() > (size_t{1} << 20) && bytes.size() < (size_t{1} << 16)) {
      std::string().swap(scratch);  // a huge record's buffer does not stay
    }
    scratch.assign(bytes.data(), bytes.size());
    bytes = scratch;
  }
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  flatbuffers::Verifier verifier(data, bytes.size());
  if (bytes.size() < 8 || !flatbuffers::BufferHasIdentifier(data, identifier) ||
      !verify(verifier)) {
    *status = Status::Corruption(std::string("stored ") + what + " record is damaged (" +
                                 std::to_string(bytes.size()) + " bytes fail verification)");
    return nullptr;
  }
  return flatbuffers::GetRoot<T>(data);
}

}  // namespace

std::string EncodeAccount(const AccountRecord& r) {
  FlatBufferBuilder b(256);
  const Account& a = r.account;
  auto key = b.CreateString(a.key);
  auto name = b.CreateString(a.name);
  auto label = b.CreateVector(reinterpret_cast<const uint8_t*>(r.label.data()), r.label.size());
  std::vector<Offset<fb::KeyValue>> kvs;
  auto attrs = BuildAttributes(b, a.attributes, &kvs);
  fb::AccountRecordBuilder rb(b);
  rb.add_id(a.id);
  rb.add_key(key);
  rb.add_name(name);
  rb.add_parent(a.parent);
  rb.add_label(label);
  rb.add_depth(a.depth);
  rb.add_next_child_ordinal(r.next_child_ordinal);
  rb.add_created_us(a.created_us);
  rb.add_updated_us(a.updated_us);
  rb.add_attributes(attrs);
  rb.add_sub_account_management(a.settings.sub_account_management);
  rb.add_sub_account_access(static_cast<uint8_t>(a.settings.sub_account_access));
  rb.add_group_sharing(a.settings.group_sharing);
  b.Finish(rb.Finish(), fb::AccountRecordIdentifier());
  return Finish(b);
}

Status DecodeAccount(std::string_view bytes, AccountRecord* r, RecordDetail detail) {
  Status s;
  const auto* fr = Verified<fb::AccountRecord>(bytes, fb::AccountRecordIdentifier(),
                                               fb::VerifyAccountRecordBuffer, "account", &s);
  if (!fr) return s;
  if (fr->sub_account_access() > static_cast<uint8_t>(SubAccountAccess::kAlwaysOn)) {
    return Status::Corruption("stored account record has an unknown sub_account_access value");
  }
  Account& a = r->account;
  a.id = fr->id();
  a.key = fr->key()->str();
  a.name = detail == RecordDetail::kFull ? fr->name()->str() : std::string();
  a.parent = fr->parent();
  a.depth = fr->depth();
  a.created_us = fr->created_us();
  a.updated_us = fr->updated_us();
  if (detail == RecordDetail::kFull) {
    ReadAttributes(fr->attributes(), &a.attributes);
  } else {
    a.attributes.clear();
  }
  a.settings.sub_account_management = fr->sub_account_management();
  a.settings.sub_account_access = static_cast<SubAccountAccess>(fr->sub_account_access());
  a.settings.group_sharing = fr->group_sharing();
  r->label.assign(reinterpret_cast<const char*>(fr->label()->data()), fr->label()->size());
  r->next_child_ordinal = fr->next_child_ordinal();
  return Status::Ok();
}

std::string EncodeEntity(const Entity& e) { return std::string(EncodeEntityInPlace(e)); }

uint64_t EntityBytesAtLeast(const Entity& e) {
  // What EncodeEntity's buffer holds at least (vtables and padding left
  // out): its root offset and identifier (8); the table's vtable offset,
  // id and owner (20; the times and the kind may be defaults, left out);
  // for each string set, its offset in its table, its length and its
  // terminator (9 beyond its bytes); for attributes, their vector's offset
  // and length (8), and per pair its offset there and a table of a vtable
  // offset and two string offsets (16).
  auto text = [](const std::string& t) -> uint64_t { return 9 + t.size(); };
  uint64_t bytes = 28 + text(e.key) + text(e.name);
  if (!e.unit_id.empty()) bytes += text(e.unit_id);
  if (!e.type.empty()) bytes += text(e.type);
  if (!e.attributes.empty()) bytes += 8;
  for (const auto& [k, v] : e.attributes) bytes += 16 + text(k) + text(v);
  return bytes;
}

std::string_view EncodeEntityInPlace(const Entity& e) {
  // Imports encode millions of entities: reuse one builder per thread
  // (one look-up of the thread's storage per record).
  struct Build {
    FlatBufferBuilder b{256};
    std::vector<Offset<fb::KeyValue>> kvs;
  };
  thread_local Build build;
  FlatBufferBuilder& b = build.b;
  b.Clear();
  auto key = b.CreateString(e.key);
  auto unit = e.unit_id.empty() ? Offset<flatbuffers::String>() : b.CreateString(e.unit_id);
  auto name = b.CreateString(e.name);
  auto type = e.type.empty() ? Offset<flatbuffers::String>() : b.CreateString(e.type);
  auto attrs = e.attributes.empty() ? Offset<flatbuffers::Vector<Offset<fb::KeyValue>>>()
                                    : BuildAttributes(b, e.attributes, &build.kvs);
  fb::EntityRecordBuilder rb(b);
  rb.add_id(e.id);
  rb.add_kind(static_cast<uint8_t>(e.kind));
  rb.add_key(key);
  if (!e.unit_id.empty()) rb.add_unit_id(unit);
  rb.add_name(name);
  if (!e.type.empty()) rb.add_type(type);
  rb.add_owner(e.owner);
  rb.add_created_us(e.created_us);
  rb.add_updated_us(e.updated_us);
  if (!e.attributes.empty()) rb.add_attributes(attrs);
  b.Finish(rb.Finish(), fb::EntityRecordIdentifier());
  return std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Status DecodeEntity(std::string_view bytes, Entity* e) {
  Status s;
  const auto* fr = Verified<fb::EntityRecord>(bytes, fb::EntityRecordIdentifier(),
                                              fb::VerifyEntityRecordBuffer, "entity", &s);
  if (!fr) return s;
  if (fr->kind() < 1 || fr->kind() > 4) {
    return Status::Corruption("stored entity record has unknown kind " +
                              std::to_string(fr->kind()));
  }
  e->id = fr->id();
  e->kind = static_cast<EntityKind>(fr->kind());
  e->key = fr->key()->str();
  e->unit_id = Str(fr->unit_id());
  e->name = fr->name()->str();
  e->type = Str(fr->type());
  e->owner = fr->owner();
  e->created_us = fr->created_us();
  e->updated_us = fr->updated_us();
  ReadAttributes(fr->attributes(), &e->attributes);
  return Status::Ok();
}

std::string EncodeUser(const User& u) {
  FlatBufferBuilder b(128);
  auto login = b.CreateString(u.login);
  auto name = b.CreateString(u.name);
  fb::UserRecordBuilder rb(b);
  rb.add_id(u.id);
  rb.add_login(login);
  rb.add_name(name);
  rb.add_account(u.account);
  rb.add_disabled(u.disabled);
  rb.add_created_us(u.created_us);
  rb.add_updated_us(u.updated_us);
  b.Finish(rb.Finish(), fb::UserRecordIdentifier());
  return Finish(b);
}

Status DecodeUser(std::string_view bytes, User* u, RecordDetail detail) {
  Status s;
  const auto* fr = Verified<fb::UserRecord>(bytes, fb::UserRecordIdentifier(),
                                            fb::VerifyUserRecordBuffer, "user", &s);
  if (!fr) return s;
  u->id = fr->id();
  u->login = fr->login()->str();
  u->name = detail == RecordDetail::kFull ? fr->name()->str() : std::string();
  u->account = fr->account();
  u->disabled = fr->disabled();
  u->created_us = fr->created_us();
  u->updated_us = fr->updated_us();
  return Status::Ok();
}

std::string EncodeMembership(const Membership& m) {
  FlatBufferBuilder b(64);
  fb::MembershipRecordBuilder rb(b);
  rb.add_role(m.role);
  rb.add_branch(m.branch);
  rb.add_created_us(m.created_us);
  b.Finish(rb.Finish(), fb::MembershipRecordIdentifier());
  return Finish(b);
}

Status DecodeMembership(std::string_view bytes, Membership* m) {
  Status s;
  const auto* fr = Verified<fb::MembershipRecord>(bytes, fb::MembershipRecordIdentifier(),
                                                  fb::VerifyMembershipRecordBuffer,
                                                  "membership", &s);
  if (!fr) return s;
  m->role = fr->role();
  m->branch = fr->branch();
  m->created_us = fr->created_us();
  return Status::Ok();
}

std::string EncodeRole(const Role& r) {
  FlatBufferBuilder b(256);
  auto name = b.CreateString(r.name);
  auto perms = b.CreateVectorOfStrings(r.permissions);
  fb::RoleRecordBuilder rb(b);
  rb.add_id(r.id);
  rb.add_tenant(r.tenant);
  rb.add_name(name);
  rb.add_permissions(perms);
  b.Finish(rb.Finish(), fb::RoleRecordIdentifier());
  return Finish(b);
}

Status DecodeRole(std::string_view bytes, Role* r) {
  Status s;
  const auto* fr = Verified<fb::RoleRecord>(bytes, fb::RoleRecordIdentifier(),
                                            fb::VerifyRoleRecordBuffer, "role", &s);
  if (!fr) return s;
  r->id = fr->id();
  r->tenant = fr->tenant();
  r->name = fr->name()->str();
  r->permissions.clear();
  if (fr->permissions()) {
    for (const auto* p : *fr->permissions()) r->permissions.push_back(p->str());
  }
  r->builtin = false;
  return Status::Ok();
}

std::string EncodeGroup(const Group& g) {
  FlatBufferBuilder b(128);
  auto name = b.CreateString(g.name);
  fb::GroupRecordBuilder rb(b);
  rb.add_id(g.id);
  rb.add_owner(g.owner);
  rb.add_kind(static_cast<uint8_t>(g.kind));
  rb.add_name(name);
  rb.add_size(g.size);
  rb.add_created_us(g.created_us);
  rb.add_updated_us(g.updated_us);
  rb.add_overlap(g.overlap);
  b.Finish(rb.Finish(), fb::GroupRecordIdentifier());
  return Finish(b);
}

namespace {
bool ValidGroupKind(uint8_t k) { return k >= 1 && k <= 6; }
}  // namespace

Status DecodeGroup(std::string_view bytes, Group* g) {
  Status s;
  const auto* fr = Verified<fb::GroupRecord>(bytes, fb::GroupRecordIdentifier(),
                                             fb::VerifyGroupRecordBuffer, "group", &s);
  if (!fr) return s;
  if (!ValidGroupKind(fr->kind())) return Status::Corruption("stored group record has an unknown kind");
  g->id = fr->id();
  g->owner = fr->owner();
  g->kind = static_cast<GroupKind>(fr->kind());
  g->name = fr->name()->str();
  g->size = fr->size();
  g->created_us = fr->created_us();
  g->updated_us = fr->updated_us();
  g->overlap = fr->overlap();
  if (g->overlap > g->size) return Status::Corruption("stored group record has overlap > size");
  return Status::Ok();
}

std::string EncodeGroupMember(const GroupMemberRecord& m) {
  FlatBufferBuilder b(64);
  fb::GroupMemberRecordBuilder rb(b);
  rb.add_kind(static_cast<uint8_t>(m.kind));
  rb.add_created_us(m.created_us);
  b.Finish(rb.Finish(), fb::GroupMemberRecordIdentifier());
  return Finish(b);
}

Status DecodeGroupMember(std::string_view bytes, GroupMemberRecord* m) {
  Status s;
  const auto* fr = Verified<fb::GroupMemberRecord>(bytes, fb::GroupMemberRecordIdentifier(),
                                                   fb::VerifyGroupMemberRecordBuffer,
                                                   "group member", &s);
  if (!fr) return s;
  if (!ValidGroupKind(fr->kind())) {
    return Status::Corruption("stored group member record has an unknown kind");
  }
  m->kind = static_cast<GroupKind>(fr->kind());
  m->created_us = fr->created_us();
  return Status::Ok();
}

std::string EncodeGroupMembers(const GroupMembersRecord& m) {
  FlatBufferBuilder b(64 + 8 * m.members.size());
  auto members = b.CreateVector(m.members);
  fb::GroupMembersRecordBuilder rb(b);
  rb.add_kind(static_cast<uint8_t>(m.kind));
  rb.add_created_us(m.created_us);
  rb.add_members(members);
  b.Finish(rb.Finish(), fb::GroupMembersRecordIdentifier());
  return Finish(b);
}

Status DecodeGroupMembers(std::string_view bytes, GroupMembersRecord* m) {
  Status s;
  const auto* fr = Verified<fb::GroupMembersRecord>(bytes, fb::GroupMembersRecordIdentifier(),
                                                    fb::VerifyGroupMembersRecordBuffer,
                                                    "group members", &s);
  if (!fr) return s;
  if (!ValidGroupKind(fr->kind())) {
    return Status::Corruption("stored group members record has an unknown kind");
  }
  m->kind = static_cast<GroupKind>(fr->kind());
  m->created_us = fr->created_us();
  m->members.clear();
  if (fr->members() != nullptr) {
    m->members.assign(fr->members()->begin(), fr->members()->end());
  }
  for (size_t i = 1; i < m->members.size(); ++i) {
    if (m->members[i] <= m->members[i - 1]) {
      return Status::Corruption("stored group members record lists its members out of order");
    }
  }
  return Status::Ok();
}

std::string EncodeGroupGrant(const GroupGrant& g) {
  FlatBufferBuilder b(64);
  fb::GroupGrantRecordBuilder rb(b);
  rb.add_branch(g.branch);
  rb.add_created_us(g.created_us);
  b.Finish(rb.Finish(), fb::GroupGrantRecordIdentifier());
  return Finish(b);
}

Status DecodeGroupGrant(std::string_view bytes, GroupGrant* g) {
  Status s;
  const auto* fr = Verified<fb::GroupGrantRecord>(bytes, fb::GroupGrantRecordIdentifier(),
                                                  fb::VerifyGroupGrantRecordBuffer,
                                                  "group grant", &s);
  if (!fr) return s;
  g->branch = fr->branch();
  g->created_us = fr->created_us();
  return Status::Ok();
}

std::string EncodeFormat(const FormatRecord& f) {
  FlatBufferBuilder b(128);
  auto magic = b.CreateString(f.magic);
  auto lib = b.CreateString(f.library_version);
  fb::FormatRecordBuilder rb(b);
  rb.add_magic(magic);
  rb.add_version(f.version);
  rb.add_max_depth(f.max_depth);
  rb.add_created_us(f.created_us);
  rb.add_library_version(lib);
  b.Finish(rb.Finish(), fb::FormatRecordIdentifier());
  return Finish(b);
}

Status DecodeFormat(std::string_view bytes, FormatRecord* f) {
  Status s;
  const auto* fr = Verified<fb::FormatRecord>(bytes, fb::FormatRecordIdentifier(),
                                              fb::VerifyFormatRecordBuffer, "format", &s);
  if (!fr) return s;
  f->magic = fr->magic()->str();
  f->version = fr->version();
  f->max_depth = fr->max_depth();
  f->created_us = fr->created_us();
  f->library_version = Str(fr->library_version());
  return Status::Ok();
}

// ---- JSON views ------------------------------------------------------------

namespace {

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

// Room for a record's JSON, so that its string is allocated once, not
// grown midway: field names and numbers in text take more than the stored
// record's vtable, offsets and padding (a device: 141 bytes stored, 202 of
// JSON, on the benchmarks' trees).
size_t JsonRoom(std::string_view bytes) { return bytes.size() * 3 / 2 + 32; }

void AttributesJson(JsonObject* o, const flatbuffers::Vector<Offset<fb::KeyValue>>* kvs) {
  std::string attrs = "{";
  if (kvs != nullptr) {
    for (const auto* kv : *kvs) {
      if (attrs.size() > 1) attrs.push_back(',');
      AppendJsonString(&attrs, View(kv->key()));
      attrs.push_back(':');
      AppendJsonString(&attrs, View(kv->value()));
    }
  }
  attrs.push_back('}');
  o->Raw("attributes", attrs);
}

}  // namespace

Status AccountJson(std::string_view bytes, std::string* out) {
  Status s;
  const auto* fr = Verified<fb::AccountRecord>(bytes, fb::AccountRecordIdentifier(),
                                               fb::VerifyAccountRecordBuffer, "account", &s);
  if (!fr) return s;
  if (fr->sub_account_access() > static_cast<uint8_t>(SubAccountAccess::kAlwaysOn)) {
    return Status::Corruption("stored account record has an unknown sub_account_access value");
  }
  JsonObject o(JsonRoom(bytes));
  o.Uint("id", fr->id())
      .Str("key", View(fr->key()))
      .Str("name", View(fr->name()))
      .Uint("parent", fr->parent())
      .Uint("depth", fr->depth())
      .Bool("sub_account_management", fr->sub_account_management())
      .Str("sub_account_access",
           SubAccountAccessName(static_cast<SubAccountAccess>(fr->sub_account_access())));
  if (fr->group_sharing()) o.Bool("group_sharing", true);
  AttributesJson(&o, fr->attributes());
  o.Int("created_us", fr->created_us()).Int("updated_us", fr->updated_us());
  *out = o.Take();
  return Status::Ok();
}

Status EntityJson(std::string_view bytes, std::string* out) {
  Status s;
  const auto* fr = Verified<fb::EntityRecord>(bytes, fb::EntityRecordIdentifier(),
                                              fb::VerifyEntityRecordBuffer, "entity", &s);
  if (!fr) return s;
  if (fr->kind() < 1 || fr->kind() > 4) {
    return Status::Corruption("stored entity record has unknown kind " +
                              std::to_string(fr->kind()));
  }
  JsonObject o(JsonRoom(bytes));
  o.Uint("id", fr->id())
      .Str("kind", EntityKindName(static_cast<EntityKind>(fr->kind())))
      .Str("key", View(fr->key()));
  if (fr->unit_id() != nullptr && fr->unit_id()->size() > 0) o.Str("unit_id", View(fr->unit_id()));
  o.Str("name", View(fr->name())).Str("type", View(fr->type())).Uint("owner", fr->owner());
  AttributesJson(&o, fr->attributes());
  o.Int("created_us", fr->created_us()).Int("updated_us", fr->updated_us());
  *out = o.Take();
  return Status::Ok();
}

Status UserJson(std::string_view bytes, std::string* out) {
  Status s;
  const auto* fr = Verified<fb::UserRecord>(bytes, fb::UserRecordIdentifier(),
                                            fb::VerifyUserRecordBuffer, "user", &s);
  if (!fr) return s;
  JsonObject o(JsonRoom(bytes));
  o.Uint("id", fr->id())
      .Str("login", View(fr->login()))
      .Str("name", View(fr->name()))
      .Uint("account", fr->account())
      .Bool("disabled", fr->disabled())
      .Int("created_us", fr->created_us())
      .Int("updated_us", fr->updated_us());
  *out = o.Take();
  return Status::Ok();
}

Status MembershipJson(std::string_view bytes, uint64_t user, uint64_t account, std::string* out) {
  Status s;
  const auto* fr = Verified<fb::MembershipRecord>(bytes, fb::MembershipRecordIdentifier(),
                                                  fb::VerifyMembershipRecordBuffer, "membership",
                                                  &s);
  if (!fr) return s;
  JsonObject o(JsonRoom(bytes));
  o.Uint("user", user)
      .Uint("account", account)
      .Uint("role", fr->role())
      .Bool("branch", fr->branch())
      .Int("created_us", fr->created_us());
  *out = o.Take();
  return Status::Ok();
}

Status RoleJson(std::string_view bytes, std::string* out) {
  Status s;
  const auto* fr = Verified<fb::RoleRecord>(bytes, fb::RoleRecordIdentifier(),
                                            fb::VerifyRoleRecordBuffer, "role", &s);
  if (!fr) return s;
  std::string perms = "[";
  if (fr->permissions() != nullptr) {
    for (const auto* p : *fr->permissions()) {
      if (perms.size() > 1) perms.push_back(',');
      AppendJsonString(&perms, View(p));
    }
  }
  perms.push_back(']');
  JsonObject o(JsonRoom(bytes));
  o.Uint("id", fr->id()).Uint("tenant", fr->tenant()).Str("name", View(fr->name()));
  o.Raw("permissions", perms);
  *out = o.Take();
  return Status::Ok();
}

Status GroupJson(std::string_view bytes, std::string* out) {
  Group g;
  CANOPY_RETURN_IF_ERROR(DecodeGroup(bytes, &g));
  JsonObject o(JsonRoom(bytes));
  o.Uint("id", g.id)
      .Str("kind", GroupKindName(g.kind))
      .Str("name", g.name)
      .Uint("owner", g.owner)
      .Uint("size", g.size)
      .Uint("overlap", g.overlap)
      .Int("created_us", g.created_us)
      .Int("updated_us", g.updated_us);
  *out = o.Take();
  return Status::Ok();
}

Status GroupMemberJson(std::string_view bytes, uint64_t group, uint64_t member, std::string* out) {
  GroupMemberRecord m;
  CANOPY_RETURN_IF_ERROR(DecodeGroupMember(bytes, &m));
  JsonObject o(JsonRoom(bytes));
  o.Uint("group", group)
      .Uint("member", member)
      .Str("kind", GroupKindName(m.kind))
      .Int("created_us", m.created_us);
  *out = o.Take();
  return Status::Ok();
}

Status GroupMembersJson(std::string_view bytes, uint64_t group, std::string* out) {
  GroupMembersRecord m;
  CANOPY_RETURN_IF_ERROR(DecodeGroupMembers(bytes, &m));
  JsonObject o(JsonRoom(bytes));
  o.Uint("group", group)
      .Str("kind", GroupKindName(m.kind))
      .Int("created_us", m.created_us)
      .Raw("members", JsonNumbers(m.members));
  *out = o.Take();
  return Status::Ok();
}

Status GroupGrantJson(std::string_view bytes, uint64_t user_group, uint64_t role,
                      uint64_t target, std::string* out) {
  GroupGrant g;
  CANOPY_RETURN_IF_ERROR(DecodeGroupGrant(bytes, &g));
  JsonObject o(JsonRoom(bytes));
  o.Uint("user_group", user_group)
      .Uint("role", role)
      .Uint("target", target)
      .Bool("branch", g.branch)
      .Int("created_us", g.created_us);
  *out = o.Take();
  return Status::Ok();
}

}  // namespace canopy::storage
