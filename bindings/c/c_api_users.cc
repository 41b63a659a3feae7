// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h): users, memberships and roles.

#include <new>

#include "bindings/c/c_api_internal.h"

using canopy::Status;
using canopy::c_api::At;
using canopy::c_api::Call;
using canopy::c_api::Guard;
using canopy::c_api::ToActor;

namespace {

Status HandUser(canopy::StatusOr<canopy::User> found, canopy_user_t** user) {
  CANOPY_RETURN_IF_ERROR(found.status());
  *user = new canopy_user_t{std::move(found).value()};
  return Status::Ok();
}

Status HandRole(canopy::StatusOr<canopy::Role> found, canopy_role_t** role) {
  CANOPY_RETURN_IF_ERROR(found.status());
  *role = new canopy_role_t{std::move(found).value()};
  return Status::Ok();
}

Status HandMemberships(canopy::StatusOr<std::vector<canopy::Membership>> found,
                       canopy_memberships_t** memberships) {
  CANOPY_RETURN_IF_ERROR(found.status());
  *memberships = new canopy_memberships_t{std::move(found).value()};
  return Status::Ok();
}

const canopy::Membership* MembershipAt(const canopy_memberships_t* memberships, size_t i) {
  return memberships != nullptr ? At(memberships->items, i) : nullptr;
}

}  // namespace

extern "C" {

// ---- Builders -------------------------------------------------------------------

canopy_user_spec_t* canopy_user_spec_create(void) {
  return new (std::nothrow) canopy_user_spec_t();
}

void canopy_user_spec_destroy(canopy_user_spec_t* spec) { delete spec; }

canopy_code_t canopy_user_spec_set_login(canopy_user_spec_t* spec, const char* login,
                                         char** errmsg) {
  return Guard("canopy_user_spec_set_login", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, login);
    spec->spec.login = login;
    return Status::Ok();
  });
}

canopy_code_t canopy_user_spec_set_name(canopy_user_spec_t* spec, const char* name, char** errmsg) {
  return Guard("canopy_user_spec_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, name);
    spec->spec.name = name;
    return Status::Ok();
  });
}

canopy_code_t canopy_user_spec_set_account(canopy_user_spec_t* spec, uint64_t account,
                                           char** errmsg) {
  return Guard("canopy_user_spec_set_account", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->spec.account = account;
    return Status::Ok();
  });
}

canopy_user_patch_t* canopy_user_patch_create(void) {
  return new (std::nothrow) canopy_user_patch_t();
}

void canopy_user_patch_destroy(canopy_user_patch_t* patch) { delete patch; }

canopy_code_t canopy_user_patch_set_name(canopy_user_patch_t* patch, const char* name,
                                         char** errmsg) {
  return Guard("canopy_user_patch_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, name);
    patch->patch.name = name;
    return Status::Ok();
  });
}

// ---- Users ------------------------------------------------------------------

canopy_code_t canopy_user_create(canopy_db_t* db, uint64_t actor, const canopy_user_spec_t* spec,
                                 uint64_t* id, char** errmsg) {
  return Guard("canopy_user_create", errmsg, [&](const Call& call) -> Status {
    if (id != nullptr) *id = CANOPY_NO_ID;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, spec);
    auto created = db->db->CreateUser(ToActor(actor), spec->spec);
    CANOPY_RETURN_IF_ERROR(created.status());
    if (id != nullptr) *id = *created;
    return Status::Ok();
  });
}

static canopy_code_t canopy_user_getImpl(const char* function, canopy_db_t* db, uint64_t viewer,
                                         uint64_t id, canopy_user_t** user, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (user != nullptr) *user = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, user);
    return HandUser(db->db->GetUser(ToActor(viewer), id), user);
  });
}

canopy_code_t canopy_user_get(canopy_db_t* db, uint64_t id, canopy_user_t** user, char** errmsg) {
  return canopy_user_getImpl("canopy_user_get", db, CANOPY_SYSTEM_ACTOR, id, user, errmsg);
}

canopy_code_t canopy_user_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                 canopy_user_t** user, char** errmsg) {
  return canopy_user_getImpl("canopy_user_get_as", db, viewer, id, user, errmsg);
}

static canopy_code_t canopy_user_findImpl(const char* function, canopy_db_t* db, uint64_t viewer, const char* login, canopy_user_t** user, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (user != nullptr) *user = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, login);
    CANOPY_C_REQUIRE(call, user);
    return HandUser(db->db->FindUser(ToActor(viewer), login), user);
  });
}

canopy_code_t canopy_user_find(canopy_db_t* db, const char* login, canopy_user_t** user, char** errmsg) {
  return canopy_user_findImpl("canopy_user_find", db, CANOPY_SYSTEM_ACTOR, login, user, errmsg);
}

canopy_code_t canopy_user_find_as(canopy_db_t* db, uint64_t viewer, const char* login, canopy_user_t** user, char** errmsg) {
  return canopy_user_findImpl("canopy_user_find_as", db, viewer, login, user, errmsg);
}

static canopy_code_t canopy_user_listImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t account, canopy_users_t** users, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (users != nullptr) *users = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, users);
    auto list = db->db->UsersOf(ToActor(viewer), account);
    CANOPY_RETURN_IF_ERROR(list.status());
    auto out = std::make_unique<canopy_users_t>();
    out->items.reserve(list->size());
    for (auto& u : *list) out->items.push_back(canopy_user_t{std::move(u)});
    *users = out.release();
    return Status::Ok();
  });
}

canopy_code_t canopy_user_list(canopy_db_t* db, uint64_t account, canopy_users_t** users, char** errmsg) {
  return canopy_user_listImpl("canopy_user_list", db, CANOPY_SYSTEM_ACTOR, account, users, errmsg);
}

canopy_code_t canopy_user_list_as(canopy_db_t* db, uint64_t viewer, uint64_t account, canopy_users_t** users, char** errmsg) {
  return canopy_user_listImpl("canopy_user_list_as", db, viewer, account, users, errmsg);
}

canopy_code_t canopy_user_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                 const canopy_user_patch_t* patch, char** errmsg) {
  return Guard("canopy_user_update", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, patch);
    return db->db->UpdateUser(ToActor(actor), id, patch->patch);
  });
}

canopy_code_t canopy_user_set_disabled(canopy_db_t* db, uint64_t actor, uint64_t id, int disabled,
                                       char** errmsg) {
  return Guard("canopy_user_set_disabled", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->SetUserDisabled(ToActor(actor), id, disabled != 0);
  });
}

canopy_code_t canopy_user_remove(canopy_db_t* db, uint64_t actor, uint64_t id, char** errmsg) {
  return Guard("canopy_user_remove", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->RemoveUser(ToActor(actor), id);
  });
}

void canopy_user_destroy(canopy_user_t* user) { delete user; }

uint64_t canopy_user_id(const canopy_user_t* user) { return user != nullptr ? user->user.id : canopy::kNoId; }

const char* canopy_user_login(const canopy_user_t* user) {
  return user != nullptr ? user->user.login.c_str() : nullptr;
}

const char* canopy_user_name(const canopy_user_t* user) {
  return user != nullptr ? user->user.name.c_str() : nullptr;
}

uint64_t canopy_user_account(const canopy_user_t* user) {
  return user != nullptr ? user->user.account : canopy::kNoId;
}

int canopy_user_disabled(const canopy_user_t* user) {
  return user != nullptr && user->user.disabled ? 1 : 0;
}

int64_t canopy_user_created_us(const canopy_user_t* user) {
  return user != nullptr ? user->user.created_us : 0;
}

int64_t canopy_user_updated_us(const canopy_user_t* user) {
  return user != nullptr ? user->user.updated_us : 0;
}

void canopy_users_destroy(canopy_users_t* users) { delete users; }

size_t canopy_users_count(const canopy_users_t* users) {
  return users != nullptr ? users->items.size() : 0;
}

const canopy_user_t* canopy_users_at(const canopy_users_t* users, size_t i) {
  return users != nullptr ? At(users->items, i) : nullptr;
}

// ---- Memberships --------------------------------------------------------------

canopy_code_t canopy_membership_invite(canopy_db_t* db, uint64_t actor, uint64_t user,
                                       uint64_t account, uint64_t role, int branch, char** errmsg) {
  return Guard("canopy_membership_invite", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    std::optional<bool> b;
    if (branch == 0 || branch == 1) {
      b = branch == 1;
    } else if (branch != CANOPY_BRANCH_DEFAULT) {
      return call.Invalid("branch must be 0, 1 or CANOPY_BRANCH_DEFAULT, not " +
                          std::to_string(branch));
    }
    return db->db->Invite(ToActor(actor), user, account, role, b);
  });
}

canopy_code_t canopy_membership_change_role(canopy_db_t* db, uint64_t actor, uint64_t user,
                                            uint64_t account, uint64_t role, char** errmsg) {
  return Guard("canopy_membership_change_role", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->ChangeRole(ToActor(actor), user, account, role);
  });
}

canopy_code_t canopy_membership_set_branch(canopy_db_t* db, uint64_t actor, uint64_t user,
                                           uint64_t account, int branch, char** errmsg) {
  return Guard("canopy_membership_set_branch", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->SetBranchAccess(ToActor(actor), user, account, branch != 0);
  });
}

canopy_code_t canopy_membership_remove(canopy_db_t* db, uint64_t actor, uint64_t user,
                                       uint64_t account, char** errmsg) {
  return Guard("canopy_membership_remove", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->RemoveMembership(ToActor(actor), user, account);
  });
}

static canopy_code_t canopy_membership_list_by_userImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t user, canopy_memberships_t** memberships, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (memberships != nullptr) *memberships = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, memberships);
    return HandMemberships(db->db->MembershipsOf(ToActor(viewer), user), memberships);
  });
}

canopy_code_t canopy_membership_list_by_user(canopy_db_t* db, uint64_t user, canopy_memberships_t** memberships, char** errmsg) {
  return canopy_membership_list_by_userImpl("canopy_membership_list_by_user", db, CANOPY_SYSTEM_ACTOR, user, memberships, errmsg);
}

canopy_code_t canopy_membership_list_by_user_as(canopy_db_t* db, uint64_t viewer, uint64_t user, canopy_memberships_t** memberships, char** errmsg) {
  return canopy_membership_list_by_userImpl("canopy_membership_list_by_user_as", db, viewer, user, memberships, errmsg);
}

static canopy_code_t canopy_membership_list_by_accountImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t account, canopy_memberships_t** memberships, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (memberships != nullptr) *memberships = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, memberships);
    return HandMemberships(db->db->MembersOf(ToActor(viewer), account), memberships);
  });
}

canopy_code_t canopy_membership_list_by_account(canopy_db_t* db, uint64_t account, canopy_memberships_t** memberships, char** errmsg) {
  return canopy_membership_list_by_accountImpl("canopy_membership_list_by_account", db, CANOPY_SYSTEM_ACTOR, account, memberships, errmsg);
}

canopy_code_t canopy_membership_list_by_account_as(canopy_db_t* db, uint64_t viewer, uint64_t account, canopy_memberships_t** memberships, char** errmsg) {
  return canopy_membership_list_by_accountImpl("canopy_membership_list_by_account_as", db, viewer, account, memberships, errmsg);
}

void canopy_memberships_destroy(canopy_memberships_t* memberships) { delete memberships; }

size_t canopy_memberships_count(const canopy_memberships_t* memberships) {
  return memberships != nullptr ? memberships->items.size() : 0;
}

uint64_t canopy_memberships_user(const canopy_memberships_t* memberships, size_t i) {
  const canopy::Membership* m = MembershipAt(memberships, i);
  return m != nullptr ? m->user : canopy::kNoId;
}

uint64_t canopy_memberships_account(const canopy_memberships_t* memberships, size_t i) {
  const canopy::Membership* m = MembershipAt(memberships, i);
  return m != nullptr ? m->account : canopy::kNoId;
}

uint64_t canopy_memberships_role(const canopy_memberships_t* memberships, size_t i) {
  const canopy::Membership* m = MembershipAt(memberships, i);
  return m != nullptr ? m->role : canopy::kNoId;
}

int canopy_memberships_branch(const canopy_memberships_t* memberships, size_t i) {
  const canopy::Membership* m = MembershipAt(memberships, i);
  return m != nullptr && m->branch ? 1 : 0;
}

int64_t canopy_memberships_created_us(const canopy_memberships_t* memberships, size_t i) {
  const canopy::Membership* m = MembershipAt(memberships, i);
  return m != nullptr ? m->created_us : 0;
}

// ---- Roles ----------------------------------------------------------------------

canopy_code_t canopy_role_create(canopy_db_t* db, uint64_t actor, uint64_t tenant, const char* name,
                                 const char* const* permissions, size_t n, uint64_t* id,
                                 char** errmsg) {
  return Guard("canopy_role_create", errmsg, [&](const Call& call) -> Status {
    if (id != nullptr) *id = CANOPY_NO_ID;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, name);
    std::vector<std::string> perms;
    CANOPY_RETURN_IF_ERROR(
        canopy::c_api::ToStrings(call, permissions, n, "permissions", "n", &perms));
    auto created = db->db->CreateRole(ToActor(actor), tenant, name, perms);
    CANOPY_RETURN_IF_ERROR(created.status());
    if (id != nullptr) *id = *created;
    return Status::Ok();
  });
}

canopy_code_t canopy_role_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                 const char* const* permissions, size_t n, char** errmsg) {
  return Guard("canopy_role_update", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    std::vector<std::string> perms;
    CANOPY_RETURN_IF_ERROR(
        canopy::c_api::ToStrings(call, permissions, n, "permissions", "n", &perms));
    return db->db->UpdateRole(ToActor(actor), id, perms);
  });
}

canopy_code_t canopy_role_delete(canopy_db_t* db, uint64_t actor, uint64_t id, char** errmsg) {
  return Guard("canopy_role_delete", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->DeleteRole(ToActor(actor), id);
  });
}

static canopy_code_t canopy_role_getImpl(const char* function, canopy_db_t* db, uint64_t viewer,
                                         uint64_t id, canopy_role_t** role, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (role != nullptr) *role = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, role);
    return HandRole(db->db->GetRole(ToActor(viewer), id), role);
  });
}

canopy_code_t canopy_role_get(canopy_db_t* db, uint64_t id, canopy_role_t** role, char** errmsg) {
  return canopy_role_getImpl("canopy_role_get", db, CANOPY_SYSTEM_ACTOR, id, role, errmsg);
}

canopy_code_t canopy_role_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                 canopy_role_t** role, char** errmsg) {
  return canopy_role_getImpl("canopy_role_get_as", db, viewer, id, role, errmsg);
}

canopy_code_t canopy_role_find(canopy_db_t* db, uint64_t tenant, const char* name,
                               canopy_role_t** role, char** errmsg) {
  return Guard("canopy_role_find", errmsg, [&](const Call& call) -> Status {
    if (role != nullptr) *role = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, name);
    CANOPY_C_REQUIRE(call, role);
    return HandRole(db->db->FindRole(tenant, name), role);
  });
}

static canopy_code_t canopy_role_listImpl(const char* function, canopy_db_t* db, uint64_t viewer,
                                          uint64_t tenant, canopy_roles_t** roles,
                                          char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (roles != nullptr) *roles = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, roles);
    auto list = db->db->ListRoles(ToActor(viewer), tenant);
    CANOPY_RETURN_IF_ERROR(list.status());
    auto out = std::make_unique<canopy_roles_t>();
    out->items.reserve(list->size());
    for (auto& r : *list) out->items.push_back(canopy_role_t{std::move(r)});
    *roles = out.release();
    return Status::Ok();
  });
}

canopy_code_t canopy_role_list(canopy_db_t* db, uint64_t tenant, canopy_roles_t** roles,
                               char** errmsg) {
  return canopy_role_listImpl("canopy_role_list", db, CANOPY_SYSTEM_ACTOR, tenant, roles, errmsg);
}

canopy_code_t canopy_role_list_as(canopy_db_t* db, uint64_t viewer, uint64_t tenant,
                                  canopy_roles_t** roles, char** errmsg) {
  return canopy_role_listImpl("canopy_role_list_as", db, viewer, tenant, roles, errmsg);
}

void canopy_role_destroy(canopy_role_t* role) { delete role; }

uint64_t canopy_role_id(const canopy_role_t* role) { return role != nullptr ? role->role.id : canopy::kNoId; }

uint64_t canopy_role_tenant(const canopy_role_t* role) {
  return role != nullptr ? role->role.tenant : canopy::kNoId;
}

const char* canopy_role_name(const canopy_role_t* role) {
  return role != nullptr ? role->role.name.c_str() : nullptr;
}

int canopy_role_builtin(const canopy_role_t* role) {
  return role != nullptr && role->role.builtin ? 1 : 0;
}

size_t canopy_role_permission_count(const canopy_role_t* role) {
  return role != nullptr ? role->role.permissions.size() : 0;
}

const char* canopy_role_permission(const canopy_role_t* role, size_t i) {
  const std::string* p = role != nullptr ? At(role->role.permissions, i) : nullptr;
  return p != nullptr ? p->c_str() : nullptr;
}

void canopy_roles_destroy(canopy_roles_t* roles) { delete roles; }

size_t canopy_roles_count(const canopy_roles_t* roles) {
  return roles != nullptr ? roles->items.size() : 0;
}

const canopy_role_t* canopy_roles_at(const canopy_roles_t* roles, size_t i) {
  return roles != nullptr ? At(roles->items, i) : nullptr;
}

}  // extern "C"
