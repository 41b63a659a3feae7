// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h): groups (docs/model.md, "Groups"), their
// all-or-nothing member batches with their report, and group grants.

#include <cstring>
#include <new>

#include "bindings/c/c_api_internal.h"

using canopy::Status;
using canopy::c_api::At;
using canopy::c_api::Call;
using canopy::c_api::Guard;
using canopy::c_api::ItemReportFor;
using canopy::c_api::ToActor;

static_assert(CANOPY_GROUP_DEVICE == static_cast<int>(canopy::GroupKind::kDevice));
static_assert(CANOPY_GROUP_ASSET == static_cast<int>(canopy::GroupKind::kAsset));
static_assert(CANOPY_GROUP_DASHBOARD == static_cast<int>(canopy::GroupKind::kDashboard));
static_assert(CANOPY_GROUP_ENTITY_VIEW == static_cast<int>(canopy::GroupKind::kEntityView));
static_assert(CANOPY_GROUP_USER == static_cast<int>(canopy::GroupKind::kUser));
static_assert(CANOPY_GROUP_ACCOUNT == static_cast<int>(canopy::GroupKind::kAccount));
static_assert(CANOPY_MEMBER_DONE == static_cast<int>(canopy::GroupMemberItem::Outcome::kDone));
static_assert(CANOPY_MEMBER_UNCHANGED ==
              static_cast<int>(canopy::GroupMemberItem::Outcome::kUnchanged));
static_assert(CANOPY_MEMBER_UNKNOWN ==
              static_cast<int>(canopy::GroupMemberItem::Outcome::kUnknown));
static_assert(CANOPY_MEMBER_DENIED == static_cast<int>(canopy::GroupMemberItem::Outcome::kDenied));
static_assert(CANOPY_MEMBER_DUPLICATE ==
              static_cast<int>(canopy::GroupMemberItem::Outcome::kDuplicate));

namespace {

Status ToGroupKind(const Call& call, int kind, canopy::GroupKind* out) {
  if (kind < CANOPY_GROUP_DEVICE || kind > CANOPY_GROUP_ACCOUNT) {
    return call.Invalid("unknown group kind " + std::to_string(kind) +
                        " (expected CANOPY_GROUP_DEVICE..CANOPY_GROUP_ACCOUNT)");
  }
  *out = static_cast<canopy::GroupKind>(kind);
  return Status::Ok();
}

Status HandList(canopy::StatusOr<std::vector<canopy::Group>> found, canopy_groups_t** groups) {
  CANOPY_RETURN_IF_ERROR(found.status());
  auto out = std::make_unique<canopy_groups_t>();
  for (canopy::Group& g : *found) out->items.push_back(canopy_group_t{std::move(g)});
  *groups = out.release();
  return Status::Ok();
}

const canopy::GroupMemberItem* Item(const canopy_group_members_report_t* report, size_t i) {
  return report != nullptr ? At(report->report.items, i) : nullptr;
}

const canopy::GroupGrant* Grant(const canopy_group_grants_t* grants, size_t i) {
  return grants != nullptr ? At(grants->items, i) : nullptr;
}

using Batch = Status (canopy::Db::*)(const canopy::Actor&, canopy::GroupId,
                                     canopy::Span<uint64_t>, canopy::GroupMembersReport*);

canopy_code_t MembersImpl(const char* function, Batch batch, canopy_db_t* db, uint64_t actor,
                          uint64_t id, const uint64_t* members, size_t n,
                          canopy_group_members_report_t** report, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (report != nullptr) *report = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_ARRAY(call, members, n);
    std::vector<uint64_t> items(members, members + n);
    auto out = std::make_unique<canopy_group_members_report_t>();
    Status s = ((*db->db).*batch)(ToActor(actor), id, items, &out->report);
    if (report != nullptr && ItemReportFor(s, out->report, items.size())) {
      *report = out.release();
    }
    return s;
  });
}

canopy_code_t GetImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t id,
                      canopy_group_t** group, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (group != nullptr) *group = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, group);
    auto found = db->db->GetGroup(ToActor(viewer), id);
    CANOPY_RETURN_IF_ERROR(found.status());
    *group = new canopy_group_t{std::move(found).value()};
    return Status::Ok();
  });
}

canopy_code_t FindImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t owner,
                       int kind, const char* name, canopy_group_t** group, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (group != nullptr) *group = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, name);
    CANOPY_C_REQUIRE(call, group);
    canopy::GroupKind k;
    CANOPY_RETURN_IF_ERROR(ToGroupKind(call, kind, &k));
    auto found = db->db->FindGroup(ToActor(viewer), owner, k, name);
    CANOPY_RETURN_IF_ERROR(found.status());
    *group = new canopy_group_t{std::move(found).value()};
    return Status::Ok();
  });
}

canopy_code_t ListImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t owner,
                       canopy_groups_t** groups, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (groups != nullptr) *groups = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, groups);
    return HandList(db->db->GroupsOf(ToActor(viewer), owner), groups);
  });
}

canopy_code_t ByMemberImpl(const char* function, canopy_db_t* db, uint64_t viewer, int kind,
                           uint64_t member, canopy_groups_t** groups, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (groups != nullptr) *groups = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, groups);
    canopy::GroupKind k;
    CANOPY_RETURN_IF_ERROR(ToGroupKind(call, kind, &k));
    return HandList(db->db->GroupsOfMember(ToActor(viewer), k, member), groups);
  });
}

canopy_code_t MembersListImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t id,
                              uint64_t after, size_t limit, uint64_t** members, size_t* count,
                              uint64_t* next, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (members != nullptr) *members = nullptr;
    if (count != nullptr) *count = 0;
    if (next != nullptr) *next = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, members);
    CANOPY_C_REQUIRE(call, count);
    canopy::GroupMembersPage page;
    CANOPY_RETURN_IF_ERROR(db->db->GroupMembers(ToActor(viewer), id, after, limit, &page));
    if (!page.members.empty()) {
      const size_t bytes = page.members.size() * sizeof(uint64_t);
      auto* out = static_cast<uint64_t*>(std::malloc(bytes));
      if (out == nullptr) throw std::bad_alloc();
      std::memcpy(out, page.members.data(), bytes);
      *members = out;
      *count = page.members.size();
    }
    if (next != nullptr) *next = page.next;
    return Status::Ok();
  });
}

canopy_code_t GrantListImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t id,
                            canopy_group_grants_t** grants, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (grants != nullptr) *grants = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, grants);
    auto found = db->db->GroupGrants(ToActor(viewer), id);
    CANOPY_RETURN_IF_ERROR(found.status());
    *grants = new canopy_group_grants_t{std::move(found).value()};
    return Status::Ok();
  });
}

}  // namespace

extern "C" {

// ---- Builders -------------------------------------------------------------------

canopy_group_spec_t* canopy_group_spec_create(void) {
  return new (std::nothrow) canopy_group_spec_t();
}

void canopy_group_spec_destroy(canopy_group_spec_t* spec) { delete spec; }

canopy_code_t canopy_group_spec_set_kind(canopy_group_spec_t* spec, int kind, char** errmsg) {
  return Guard("canopy_group_spec_set_kind", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    return ToGroupKind(call, kind, &spec->spec.kind);
  });
}

canopy_code_t canopy_group_spec_set_name(canopy_group_spec_t* spec, const char* name,
                                         char** errmsg) {
  return Guard("canopy_group_spec_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, name);
    spec->spec.name = name;
    return Status::Ok();
  });
}

canopy_code_t canopy_group_spec_set_owner(canopy_group_spec_t* spec, uint64_t owner,
                                          char** errmsg) {
  return Guard("canopy_group_spec_set_owner", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->spec.owner = owner;
    return Status::Ok();
  });
}

canopy_group_grant_spec_t* canopy_group_grant_spec_create(void) {
  return new (std::nothrow) canopy_group_grant_spec_t();
}

void canopy_group_grant_spec_destroy(canopy_group_grant_spec_t* spec) { delete spec; }

canopy_code_t canopy_group_grant_spec_set_user_group(canopy_group_grant_spec_t* spec,
                                                     uint64_t user_group, char** errmsg) {
  return Guard("canopy_group_grant_spec_set_user_group", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->grant.user_group = user_group;
    return Status::Ok();
  });
}

canopy_code_t canopy_group_grant_spec_set_role(canopy_group_grant_spec_t* spec, uint64_t role,
                                               char** errmsg) {
  return Guard("canopy_group_grant_spec_set_role", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->grant.role = role;
    return Status::Ok();
  });
}

canopy_code_t canopy_group_grant_spec_set_target(canopy_group_grant_spec_t* spec, uint64_t target,
                                                 char** errmsg) {
  return Guard("canopy_group_grant_spec_set_target", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->grant.target = target;
    return Status::Ok();
  });
}

canopy_code_t canopy_group_grant_spec_set_branch(canopy_group_grant_spec_t* spec, int on,
                                                 char** errmsg) {
  return Guard("canopy_group_grant_spec_set_branch", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->grant.branch = on != 0;
    return Status::Ok();
  });
}

// ---- Mutations ------------------------------------------------------------------

canopy_code_t canopy_group_create(canopy_db_t* db, uint64_t actor, const canopy_group_spec_t* spec,
                                  uint64_t* id, char** errmsg) {
  return Guard("canopy_group_create", errmsg, [&](const Call& call) -> Status {
    if (id != nullptr) *id = CANOPY_NO_ID;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, spec);
    auto created = db->db->CreateGroup(ToActor(actor), spec->spec);
    CANOPY_RETURN_IF_ERROR(created.status());
    if (id != nullptr) *id = *created;
    return Status::Ok();
  });
}

canopy_code_t canopy_group_rename(canopy_db_t* db, uint64_t actor, uint64_t id, const char* name,
                                  char** errmsg) {
  return Guard("canopy_group_rename", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, name);
    return db->db->RenameGroup(ToActor(actor), id, name);
  });
}

canopy_code_t canopy_group_delete(canopy_db_t* db, uint64_t actor, uint64_t id, char** errmsg) {
  return Guard("canopy_group_delete", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->DeleteGroup(ToActor(actor), id);
  });
}

canopy_code_t canopy_group_members_add(canopy_db_t* db, uint64_t actor, uint64_t id,
                                       const uint64_t* members, size_t n,
                                       canopy_group_members_report_t** report, char** errmsg) {
  return MembersImpl("canopy_group_members_add", &canopy::Db::AddGroupMembers, db, actor, id,
                     members, n, report, errmsg);
}

canopy_code_t canopy_group_members_remove(canopy_db_t* db, uint64_t actor, uint64_t id,
                                          const uint64_t* members, size_t n,
                                          canopy_group_members_report_t** report, char** errmsg) {
  return MembersImpl("canopy_group_members_remove", &canopy::Db::RemoveGroupMembers, db, actor,
                     id, members, n, report, errmsg);
}

canopy_code_t canopy_group_grant(canopy_db_t* db, uint64_t actor,
                                 const canopy_group_grant_spec_t* spec, char** errmsg) {
  return Guard("canopy_group_grant", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, spec);
    return db->db->GrantGroup(ToActor(actor), spec->grant);
  });
}

canopy_code_t canopy_group_revoke(canopy_db_t* db, uint64_t actor, uint64_t user_group,
                                  uint64_t role, uint64_t target, char** errmsg) {
  return Guard("canopy_group_revoke", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->RevokeGroup(ToActor(actor), user_group, role, target);
  });
}

// ---- Reads ----------------------------------------------------------------------

canopy_code_t canopy_group_get(canopy_db_t* db, uint64_t id, canopy_group_t** group,
                               char** errmsg) {
  return GetImpl("canopy_group_get", db, CANOPY_SYSTEM_ACTOR, id, group, errmsg);
}

canopy_code_t canopy_group_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                  canopy_group_t** group, char** errmsg) {
  return GetImpl("canopy_group_get_as", db, viewer, id, group, errmsg);
}

canopy_code_t canopy_group_find(canopy_db_t* db, uint64_t owner, int kind, const char* name,
                                canopy_group_t** group, char** errmsg) {
  return FindImpl("canopy_group_find", db, CANOPY_SYSTEM_ACTOR, owner, kind, name, group, errmsg);
}

canopy_code_t canopy_group_find_as(canopy_db_t* db, uint64_t viewer, uint64_t owner, int kind,
                                   const char* name, canopy_group_t** group, char** errmsg) {
  return FindImpl("canopy_group_find_as", db, viewer, owner, kind, name, group, errmsg);
}

canopy_code_t canopy_group_list(canopy_db_t* db, uint64_t owner, canopy_groups_t** groups,
                                char** errmsg) {
  return ListImpl("canopy_group_list", db, CANOPY_SYSTEM_ACTOR, owner, groups, errmsg);
}

canopy_code_t canopy_group_list_as(canopy_db_t* db, uint64_t viewer, uint64_t owner,
                                   canopy_groups_t** groups, char** errmsg) {
  return ListImpl("canopy_group_list_as", db, viewer, owner, groups, errmsg);
}

canopy_code_t canopy_group_list_by_member(canopy_db_t* db, int kind, uint64_t member,
                                          canopy_groups_t** groups, char** errmsg) {
  return ByMemberImpl("canopy_group_list_by_member", db, CANOPY_SYSTEM_ACTOR, kind, member, groups,
                      errmsg);
}

canopy_code_t canopy_group_list_by_member_as(canopy_db_t* db, uint64_t viewer, int kind,
                                             uint64_t member, canopy_groups_t** groups,
                                             char** errmsg) {
  return ByMemberImpl("canopy_group_list_by_member_as", db, viewer, kind, member, groups, errmsg);
}

canopy_code_t canopy_group_members_list(canopy_db_t* db, uint64_t id, uint64_t after,
                                        size_t limit, uint64_t** members, size_t* count,
                                        uint64_t* next, char** errmsg) {
  return MembersListImpl("canopy_group_members_list", db, CANOPY_SYSTEM_ACTOR, id, after, limit,
                         members, count, next, errmsg);
}

canopy_code_t canopy_group_members_list_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                           uint64_t after, size_t limit, uint64_t** members,
                                           size_t* count, uint64_t* next, char** errmsg) {
  return MembersListImpl("canopy_group_members_list_as", db, viewer, id, after, limit, members,
                         count, next, errmsg);
}

canopy_code_t canopy_group_grant_list(canopy_db_t* db, uint64_t id,
                                      canopy_group_grants_t** grants, char** errmsg) {
  return GrantListImpl("canopy_group_grant_list", db, CANOPY_SYSTEM_ACTOR, id, grants, errmsg);
}

canopy_code_t canopy_group_grant_list_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                         canopy_group_grants_t** grants, char** errmsg) {
  return GrantListImpl("canopy_group_grant_list_as", db, viewer, id, grants, errmsg);
}

// ---- Group handles and lists ------------------------------------------------------

void canopy_group_destroy(canopy_group_t* group) { delete group; }

uint64_t canopy_group_id(const canopy_group_t* group) {
  return group != nullptr ? group->group.id.value() : 0;
}

int canopy_group_kind(const canopy_group_t* group) {
  return group != nullptr ? static_cast<int>(group->group.kind) : 0;
}

const char* canopy_group_name(const canopy_group_t* group) {
  return group != nullptr ? group->group.name.c_str() : nullptr;
}

uint64_t canopy_group_owner(const canopy_group_t* group) {
  return group != nullptr ? group->group.owner.value() : 0;
}

uint64_t canopy_group_size(const canopy_group_t* group) {
  return group != nullptr ? group->group.size : 0;
}

uint64_t canopy_group_overlap(const canopy_group_t* group) {
  return group != nullptr ? group->group.overlap : 0;
}

int64_t canopy_group_created_us(const canopy_group_t* group) {
  return group != nullptr ? group->group.created_us : 0;
}

int64_t canopy_group_updated_us(const canopy_group_t* group) {
  return group != nullptr ? group->group.updated_us : 0;
}

void canopy_groups_destroy(canopy_groups_t* groups) { delete groups; }

size_t canopy_groups_count(const canopy_groups_t* groups) {
  return groups != nullptr ? groups->items.size() : 0;
}

const canopy_group_t* canopy_groups_at(const canopy_groups_t* groups, size_t i) {
  return groups != nullptr ? At(groups->items, i) : nullptr;
}

// ---- Group members reports --------------------------------------------------------

void canopy_group_members_report_destroy(canopy_group_members_report_t* report) { delete report; }

size_t canopy_group_members_report_count(const canopy_group_members_report_t* report) {
  return report != nullptr ? report->report.items.size() : 0;
}

size_t canopy_group_members_report_total(const canopy_group_members_report_t* report,
                                         int outcome) {
  if (report == nullptr) return 0;
  switch (outcome) {
    case CANOPY_MEMBER_DONE:
      return report->report.done;
    case CANOPY_MEMBER_UNCHANGED:
      return report->report.unchanged;
    case CANOPY_MEMBER_UNKNOWN:
      return report->report.unknown;
    case CANOPY_MEMBER_DENIED:
      return report->report.denied;
    case CANOPY_MEMBER_DUPLICATE:
      return report->report.duplicate;
    default:
      return 0;
  }
}

uint64_t canopy_group_members_report_member(const canopy_group_members_report_t* report,
                                            size_t i) {
  const canopy::GroupMemberItem* item = Item(report, i);
  return item != nullptr ? item->member : 0;
}

int canopy_group_members_report_outcome(const canopy_group_members_report_t* report, size_t i) {
  const canopy::GroupMemberItem* item = Item(report, i);
  return item != nullptr ? static_cast<int>(item->outcome) : -1;
}

const char* canopy_group_members_report_message(const canopy_group_members_report_t* report,
                                                size_t i) {
  const canopy::GroupMemberItem* item = Item(report, i);
  return item != nullptr ? item->message.c_str() : nullptr;
}

// ---- Group grant lists --------------------------------------------------------------

void canopy_group_grants_destroy(canopy_group_grants_t* grants) { delete grants; }

size_t canopy_group_grants_count(const canopy_group_grants_t* grants) {
  return grants != nullptr ? grants->items.size() : 0;
}

uint64_t canopy_group_grants_user_group(const canopy_group_grants_t* grants, size_t i) {
  const canopy::GroupGrant* g = Grant(grants, i);
  return g != nullptr ? g->user_group.value() : 0;
}

uint64_t canopy_group_grants_role(const canopy_group_grants_t* grants, size_t i) {
  const canopy::GroupGrant* g = Grant(grants, i);
  return g != nullptr ? g->role.value() : 0;
}

uint64_t canopy_group_grants_target(const canopy_group_grants_t* grants, size_t i) {
  const canopy::GroupGrant* g = Grant(grants, i);
  return g != nullptr ? g->target.value() : 0;
}

int canopy_group_grants_branch(const canopy_group_grants_t* grants, size_t i) {
  const canopy::GroupGrant* g = Grant(grants, i);
  return g != nullptr && g->branch ? 1 : 0;
}

int64_t canopy_group_grants_created_us(const canopy_group_grants_t* grants, size_t i) {
  const canopy::GroupGrant* g = Grant(grants, i);
  return g != nullptr ? g->created_us : 0;
}

}  // extern "C"
