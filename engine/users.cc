// Copyright (c) Canopy authors.
//
// Users, memberships and roles, with the no-escalation rules: an actor can
// only hand on permissions it holds itself on that scope.

#include <algorithm>

#include "engine/db_impl.h"
#include "engine/rules.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/json.h"
#include "storage/records.h"

namespace canopy::engine {

using query::AccountNode;
using query::Catalog;
using query::MembershipNode;
using query::Perm;
using query::Quote;
using query::Require;
using query::RoleNode;
using query::UserNode;

using storage::RoleNameKey;

// ---- Users ------------------------------------------------------------

StatusOr<UserId> DbImpl::CreateUser(const Actor& actor, const UserSpec& spec) {
  UserId created = kNoId;
  Status s = Mutate(actor, "user.create", [&](Txn* txn) -> Status {
    txn->arguments =
        query::JsonObject().Str("login", spec.login).Str("name", spec.name).Uint("account", spec.account).str();
    CANOPY_RETURN_IF_ERROR(CheckKey("login", spec.login));
    CANOPY_RETURN_IF_ERROR(CheckText("user name", spec.name));
    const AccountNode* a = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, spec.account, "user account", &a));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *a));
    bool taken = false;
    CANOPY_RETURN_IF_ERROR(store_->Exists(storage::kUserLogins, spec.login, &taken));
    if (taken) return Status::AlreadyExists("login '" + spec.login + "' is taken");
    uint64_t next = 0;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(cat().last_user_id, "user", &next));
    const UserId id(next);
    User u;
    u.id = id;
    u.login = spec.login;
    u.name = spec.name;
    u.account = a->id;
    u.created_us = u.updated_us = NowMicros();
    txn->User(nullptr, &u);
    txn->Meta(storage::kSeqUser, cat().last_user_id, id);
    created = id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return created;
}

StatusOr<User> DbImpl::GetUser(UserId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  User u;
  CANOPY_RETURN_IF_ERROR(LoadUser(id, &u));
  return u;
}

StatusOr<User> DbImpl::GetUser(const Actor& viewer, UserId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const UserNode* n = cat().user(id);
  if (n == nullptr || !query::SeesUser(cat(), viewer, *n)) {
    return Status::NotFound("no user with id " + std::to_string(id));
  }
  User u;
  CANOPY_RETURN_IF_ERROR(LoadUser(id, &u));
  return u;
}

StatusOr<User> DbImpl::FindUser(std::string_view login) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  std::string v;
  Status s = store_->Get(storage::kUserLogins, login, &v, snap());
  if (s.IsNotFound()) return Status::NotFound("no user with login '" + std::string(login) + "'");
  CANOPY_RETURN_IF_ERROR(s);
  if (v.size() != 8) return Status::Corruption("login index entry is damaged");
  User u;
  CANOPY_RETURN_IF_ERROR(LoadUser(storage::DecodeFixed64BE(v.data()), &u));
  return u;
}

StatusOr<User> DbImpl::FindUser(const Actor& viewer, std::string_view login) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));  // first: see FindAccount
  auto u = FindUser(login);
  if (!u.ok()) return u;
  const UserNode* n = cat().user(u->id);
  if (n == nullptr || !query::SeesUser(cat(), viewer, *n)) {
    return Status::NotFound("no user with login '" + std::string(login) + "'");
  }
  return u;
}

StatusOr<std::vector<User>> DbImpl::UsersOf(AccountId account) const {
  return UsersOf(Actor::System(), account);
}

StatusOr<std::vector<User>> DbImpl::UsersOf(const Actor& viewer, AccountId account) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* a = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, account, "users of", &a));
  std::vector<User> out;
  std::string prefix = storage::IdKey(account);
  auto it = store_->NewIterator(storage::kUserHomes, snap(), prefix,
                                storage::PrefixSuccessor(prefix));
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    if ((*it)->key().size() != 16) return Status::Corruption("a user home index entry is damaged");
    const UserId id = storage::DecodeFixed64BE((*it)->key().data() + 8);
    const UserNode* n = cat().user(id);
    if (n != nullptr && !query::SeesUser(cat(), viewer, *n)) continue;
    User u;
    CANOPY_RETURN_IF_ERROR(LoadUser(id, &u));
    out.push_back(std::move(u));
  }
  CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "list users"));
  return out;
}

Status DbImpl::UpdateUser(const Actor& actor, UserId id, const UserPatch& patch) {
  return Mutate(actor, "user.update", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).str();
    if (patch.name) CANOPY_RETURN_IF_ERROR(CheckText("user name", *patch.name));
    const UserNode* un = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireUser(actor, id, &un));
    CANOPY_RETURN_IF_ERROR(query::RequireOverUser(cat(), actor, Perm::kUserUpdate, *un,
                                                  "cannot update user '" + un->login + "'"));
    if (!patch.name) return Status::Ok();
    User u;
    CANOPY_RETURN_IF_ERROR(LoadUser(id, &u));
    const User before = u;
    if (u.name == *patch.name) return Status::Ok();  // nothing to commit
    u.name = *patch.name;
    Touch(&u, NowMicros());
    txn->User(&before, &u);
    return Status::Ok();
  });
}

Status DbImpl::SetUserDisabled(const Actor& actor, UserId id, bool disabled) {
  return Mutate(actor, "user.set_disabled", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).Bool("disabled", disabled).str();
    const UserNode* un = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireUser(actor, id, &un));
    CANOPY_RETURN_IF_ERROR(query::RequireOverUser(
        cat(), actor, Perm::kUserUpdate, *un,
        std::string(disabled ? "cannot disable" : "cannot enable") + " user '" + un->login + "'"));
    if (un->disabled == disabled) return Status::Ok();
    User u;
    CANOPY_RETURN_IF_ERROR(LoadUser(id, &u));
    const User before = u;
    u.disabled = disabled;
    Touch(&u, NowMicros());
    txn->User(&before, &u);
    return Status::Ok();
  });
}

Status DbImpl::RemoveUser(const Actor& actor, UserId id) {
  return Mutate(actor, "user.remove", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).str();
    const UserNode* un = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireUser(actor, id, &un));
    CANOPY_RETURN_IF_ERROR(query::RequireOverUser(cat(), actor, Perm::kUserRemove, *un,
                                                  "cannot remove user '" + un->login + "'"));
    for (const MembershipNode& m : un->memberships) {
      Membership mem;
      CANOPY_RETURN_IF_ERROR(LoadMembership(id, m.account, &mem));
      txn->Membership(&mem, nullptr);
    }
    GroupEdits edits;
    CANOPY_RETURN_IF_ERROR(DropMemberships(storage::kMemberUser, id, kNoId, &edits, txn));
    CANOPY_RETURN_IF_ERROR(EmitGroupEdits(edits, txn));
    User u;
    CANOPY_RETURN_IF_ERROR(LoadUser(id, &u));
    txn->User(&u, nullptr);
    return Status::Ok();
  });
}

// ---- Memberships --------------------------------------------------------

Status DbImpl::Invite(const Actor& actor, UserId user, AccountId account, RoleId role,
                      std::optional<bool> branch) {
  return Mutate(actor, "membership.invite", [&](Txn* txn) -> Status {
    query::JsonObject args;
    args.Uint("user", user).Uint("account", account).Uint("role", role);
    if (branch) args.Bool("branch", *branch);
    txn->arguments = args.str();
    const UserNode* un = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireUser(actor, user, &un));
    const AccountNode* a = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, account, "invite", &a));
    const RoleNode* r = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireRole(actor, role, &r));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *a));
    const AccountNode* home = cat().account(un->home);
    CANOPY_RETURN_IF_ERROR(rules::MembershipInReach(un->login, query::QuoteFor(cat(), actor, *home),
                                                    home->label, a->key, a->label));
    if (!r->builtin && r->tenant != a->tenant) {
      return Status::FailedPrecondition("custom role '" + r->name +
                                        "' belongs to another root tenant than account " +
                                        Quote(*a));
    }
    bool b = false;
    CANOPY_RETURN_IF_ERROR(rules::MembershipBranch(a->settings, branch, a->key, &b));
    CANOPY_RETURN_IF_ERROR(query::RequireHolds(cat(), actor, r->perms, b, *a,
                                               "cannot grant role " + r->name));
    if (cat().membership(user, account) != nullptr) {
      return Status::AlreadyExists("user '" + un->login + "' is already a member of account " +
                                   Quote(*a) + "; change its role instead");
    }
    Membership m;
    m.user = user;
    m.account = account;
    m.role = role;
    m.branch = b;
    m.created_us = NowMicros();
    txn->Membership(nullptr, &m);
    return Status::Ok();
  });
}

namespace {
// Loads a membership for a change by `actor`; NotFound names user and
// account. What the actor cannot see (query::Sees*) is reported as missing:
// a membership on an account where it holds no user.* permission reads
// "not a member" whether it exists or not.
Status FindMembership(const Catalog& c, const Actor& actor, UserId user, AccountId account,
                      const UserNode** un, const AccountNode** a, const MembershipNode** m) {
  *un = c.user(user);
  if (*un == nullptr || !query::SeesUser(c, actor, **un)) {
    return Status::NotFound("no user with id " + std::to_string(user));
  }
  *a = c.account(account);
  if (*a == nullptr || !query::SeesAccount(c, actor, **a)) {
    return Status::NotFound("no account with id " + std::to_string(account));
  }
  *m = c.membership(user, account);
  if (*m == nullptr || !query::SeesMembership(c, actor, **un, **a)) {
    return Status::NotFound("user '" + (*un)->login + "' is not a member of account " +
                            Quote(**a));
  }
  return Status::Ok();
}
}  // namespace

Status DbImpl::ChangeRole(const Actor& actor, UserId user, AccountId account, RoleId role) {
  return Mutate(actor, "membership.change_role", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("user", user).Uint("account", account).Uint("role", role).str();
    const UserNode* un;
    const AccountNode* a;
    const MembershipNode* m;
    CANOPY_RETURN_IF_ERROR(FindMembership(cat(), actor, user, account, &un, &a, &m));
    const RoleNode* r = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireRole(actor, role, &r));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *a));
    if (!r->builtin && r->tenant != a->tenant) {
      return Status::FailedPrecondition("custom role '" + r->name +
                                        "' belongs to another root tenant than account " +
                                        Quote(*a));
    }
    const RoleNode* old = cat().role(m->role);
    CANOPY_RETURN_IF_ERROR(query::RequireHoldsMembership(cat(), actor, *un, *m,
                                                         "cannot change role " + query::NameRole(cat(), actor, *old)));
    CANOPY_RETURN_IF_ERROR(query::RequireHolds(cat(), actor, r->perms, m->branch, *a,
                                               "cannot grant role " + r->name));
    if (m->role == role) return Status::Ok();
    Membership mem;
    CANOPY_RETURN_IF_ERROR(LoadMembership(user, account, &mem));
    const Membership before = mem;
    mem.role = role;
    txn->Membership(&before, &mem);
    return Status::Ok();
  });
}

Status DbImpl::SetBranchAccess(const Actor& actor, UserId user, AccountId account, bool branch) {
  return Mutate(actor, "membership.set_branch", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("user", user).Uint("account", account).Bool("branch", branch).str();
    const UserNode* un;
    const AccountNode* a;
    const MembershipNode* m;
    CANOPY_RETURN_IF_ERROR(FindMembership(cat(), actor, user, account, &un, &a, &m));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccessGrant, *a));
    const RoleNode* r = cat().role(m->role);
    CANOPY_RETURN_IF_ERROR(query::RequireHoldsMembership(
        cat(), actor, *un, *m,
        "cannot change the branch access of a member with role " +
            query::NameRole(cat(), actor, *r)));
    if (!branch && a->settings.sub_account_access == SubAccountAccess::kAlwaysOn) {
      return Status::FailedPrecondition("account " + Quote(*a) +
                                        " has sub-account access always_on; access to its "
                                        "sub-accounts cannot be revoked");
    }
    if (branch) {
      CANOPY_RETURN_IF_ERROR(query::RequireHolds(cat(), actor, r->perms, true, *a,
                                                 "cannot give role " + query::NameRole(cat(), actor, *r) +
                                                     " on sub-accounts"));
    }
    if (m->branch == branch) return Status::Ok();
    Membership mem;
    CANOPY_RETURN_IF_ERROR(LoadMembership(user, account, &mem));
    const Membership before = mem;
    mem.branch = branch;
    txn->Membership(&before, &mem);
    return Status::Ok();
  });
}

Status DbImpl::RemoveMembership(const Actor& actor, UserId user, AccountId account) {
  return Mutate(actor, "membership.remove", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("user", user).Uint("account", account).str();
    const UserNode* un;
    const AccountNode* a;
    const MembershipNode* m;
    CANOPY_RETURN_IF_ERROR(FindMembership(cat(), actor, user, account, &un, &a, &m));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserRemove, *a));
    const RoleNode* r = cat().role(m->role);
    CANOPY_RETURN_IF_ERROR(query::RequireHoldsMembership(
        cat(), actor, *un, *m, "cannot remove a member with role " + query::NameRole(cat(), actor, *r)));
    Membership mem;
    CANOPY_RETURN_IF_ERROR(LoadMembership(user, account, &mem));
    txn->Membership(&mem, nullptr);
    return Status::Ok();
  });
}

StatusOr<std::vector<Membership>> DbImpl::MembershipsOf(UserId user) const {
  return MembershipsOf(Actor::System(), user);
}

StatusOr<std::vector<Membership>> DbImpl::MembershipsOf(const Actor& viewer, UserId user) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const UserNode* un = cat().user(user);
  if (un == nullptr || !query::SeesUser(cat(), viewer, *un)) {
    return Status::NotFound("no user with id " + std::to_string(user));
  }
  std::vector<Membership> out;
  for (const auto& m : un->memberships) {
    if (!query::SeesMembership(cat(), viewer, *un, *cat().account(m.account))) continue;
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(
        store_->Get(storage::kMemberships, storage::PairKey(user, m.account), &bytes, snap()));
    Membership mem;
    CANOPY_RETURN_IF_ERROR(storage::DecodeMembership(bytes, &mem));
    mem.user = user;
    mem.account = m.account;
    out.push_back(mem);
  }
  return out;
}

StatusOr<std::vector<Membership>> DbImpl::MembersOf(AccountId account) const {
  return MembersOf(Actor::System(), account);
}

StatusOr<std::vector<Membership>> DbImpl::MembersOf(const Actor& viewer, AccountId account) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* a = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, account, "members of", &a));
  std::vector<Membership> out;
  for (UserId uid : a->members) {
    if (!query::SeesMembership(cat(), viewer, *cat().user(uid), *a)) continue;
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(
        store_->Get(storage::kMemberships, storage::PairKey(uid, account), &bytes, snap()));
    Membership mem;
    CANOPY_RETURN_IF_ERROR(storage::DecodeMembership(bytes, &mem));
    mem.user = uid;
    mem.account = account;
    out.push_back(mem);
  }
  return out;
}

// ---- Roles ----------------------------------------------------------------

namespace {
Role ToRole(const RoleNode& r) {
  Role out;
  out.id = r.id;
  out.tenant = r.tenant;
  out.name = r.name;
  out.permissions = r.perms.Names();
  out.builtin = r.builtin;
  return out;
}
}  // namespace

StatusOr<RoleId> DbImpl::CreateRole(const Actor& actor, AccountId tenant, std::string_view name,
                                    const std::vector<std::string>& permissions) {
  RoleId created = kNoId;
  Status s = Mutate(actor, "role.create", [&](Txn* txn) -> Status {
    txn->arguments =
        query::JsonObject().Uint("tenant", tenant).Str("name", name).Raw("permissions", query::JsonStrings(permissions)).str();
    CANOPY_RETURN_IF_ERROR(CheckKey("role name", name));
    query::PermSet perms;
    CANOPY_RETURN_IF_ERROR(query::ParsePermNames(permissions, &perms));
    const AccountNode* t = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, tenant, "role tenant", &t));
    if (t->parent != kNoId) {
      return Status::InvalidArgument("custom roles belong to a root tenant; account " + Quote(*t) +
                                     " is not one");
    }
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kRoleManage, *t));
    CANOPY_RETURN_IF_ERROR(query::RequireHolds(cat(), actor, perms, true, *t,
                                               "cannot define role '" + std::string(name) + "'"));
    CANOPY_RETURN_IF_ERROR(query::CheckCustomRoleName(name));
    bool taken = false;
    CANOPY_RETURN_IF_ERROR(store_->Exists(storage::kRoleNames, RoleNameKey(tenant, name), &taken));
    if (taken) {
      return Status::AlreadyExists("tenant " + Quote(*t) + " already has a role named '" +
                                   std::string(name) + "'");
    }
    uint64_t next = 0;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(cat().last_role_id, "role", &next));
    const RoleId id(next);
    Role r;
    r.id = id;
    r.tenant = tenant;
    r.name = std::string(name);
    r.permissions = perms.Names();
    txn->Role(nullptr, &r);
    txn->Meta(storage::kSeqRole, cat().last_role_id, id);
    created = id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return created;
}

Status DbImpl::UpdateRole(const Actor& actor, RoleId id,
                          const std::vector<std::string>& permissions) {
  return Mutate(actor, "role.update", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).Raw("permissions", query::JsonStrings(permissions)).str();
    query::PermSet perms;
    CANOPY_RETURN_IF_ERROR(query::ParsePermNames(permissions, &perms));
    const RoleNode* r = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireRole(actor, id, &r));
    if (r->builtin) {
      return Status::FailedPrecondition("built-in role '" + r->name + "' cannot be changed");
    }
    const AccountNode* t = cat().account(r->tenant);
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kRoleManage, *t));
    CANOPY_RETURN_IF_ERROR(query::RequireHolds(cat(), actor, perms.Minus(r->perms), true, *t,
                                               "cannot widen role '" + r->name + "'"));
    CANOPY_RETURN_IF_ERROR(query::RequireHolds(cat(), actor, r->perms.Minus(perms), true, *t,
                                               "cannot narrow role '" + r->name + "'"));
    if (perms == r->perms) return Status::Ok();
    Role role;
    CANOPY_RETURN_IF_ERROR(LoadRole(id, &role));
    const Role before = role;
    role.permissions = perms.Names();
    txn->Role(&before, &role);
    return Status::Ok();
  });
}

Status DbImpl::DeleteRole(const Actor& actor, RoleId id) {
  return Mutate(actor, "role.delete", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).str();
    const RoleNode* r = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireRole(actor, id, &r));
    if (r->builtin) {
      return Status::FailedPrecondition("built-in role '" + r->name + "' cannot be deleted");
    }
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kRoleManage, *cat().account(r->tenant)));
    if (r->uses > 0) {
      return Status::FailedPrecondition("role '" + r->name + "' is used by " +
                                        std::to_string(r->uses) + " membership(s) or group grant(s)");
    }
    Role role;
    CANOPY_RETURN_IF_ERROR(LoadRole(id, &role));
    txn->Role(&role, nullptr);
    return Status::Ok();
  });
}

StatusOr<Role> DbImpl::GetRole(RoleId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  const RoleNode* r = cat().role(id);
  if (r == nullptr) return Status::NotFound("no role with id " + std::to_string(id));
  return ToRole(*r);
}

StatusOr<Role> DbImpl::GetRole(const Actor& viewer, RoleId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const RoleNode* r = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireRole(viewer, id, &r));
  return ToRole(*r);
}

StatusOr<Role> DbImpl::FindRole(AccountId tenant, std::string_view name) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  // An unknown tenant is NotFound whatever the name, as ListRoles has it
  // (kNoId asks for a built-in role only).
  const AccountNode* a = tenant == kNoId ? nullptr : cat().account(tenant);
  if (tenant != kNoId && a == nullptr) {
    return Status::NotFound("no account with id " + std::to_string(tenant));
  }
  if (const auto* b = query::FindBuiltinRole(name)) return ToRole(*cat().role(b->id));
  if (a == nullptr) return Status::NotFound("no built-in role '" + std::string(name) + "'");
  std::string v;
  Status s = store_->Get(storage::kRoleNames, RoleNameKey(a->tenant, name), &v, snap());
  if (s.IsNotFound()) {
    return Status::NotFound("no role '" + std::string(name) + "' in the tenant of account " +
                            Quote(*a));
  }
  CANOPY_RETURN_IF_ERROR(s);
  if (v.size() != 8) return Status::Corruption("role name index entry is damaged");
  const RoleNode* r = cat().role(storage::DecodeFixed64BE(v.data()));
  if (r == nullptr) return Status::Corruption("role name index points at a missing role");
  return ToRole(*r);
}

StatusOr<std::vector<Role>> DbImpl::ListRoles(const Actor& viewer, AccountId tenant) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* a = tenant == kNoId ? nullptr : cat().account(tenant);
  if (tenant != kNoId && (a == nullptr || !query::SeesAccount(cat(), viewer, *a))) {
    return Status::NotFound("no account with id " + std::to_string(tenant));
  }
  // Only the custom roles the viewer sees (query::SeesRole, as GetRole):
  // below a root tenant out of its sight, the built-ins only.
  std::vector<Role> out = RolesOf(a == nullptr ? kNoId : a->tenant);
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](const Role& r) {
                             return !query::SeesRole(cat(), viewer, *cat().role(r.id));
                           }),
            out.end());
  return out;
}

StatusOr<std::vector<Role>> DbImpl::ListRoles(AccountId tenant) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  AccountId root = kNoId;
  if (tenant != kNoId) {
    const AccountNode* a = cat().account(tenant);
    if (a == nullptr) return Status::NotFound("no account with id " + std::to_string(tenant));
    root = a->tenant;
  }
  return RolesOf(root);
}

std::vector<Role> DbImpl::RolesOf(AccountId root) const {
  std::vector<Role> out;
  for (const auto& [id, r] : cat().roles) {
    if (r.builtin || (root != kNoId && r.tenant == root)) out.push_back(ToRole(r));
  }
  std::sort(out.begin(), out.end(), [](const Role& a, const Role& b) { return a.id < b.id; });
  return out;
}

}  // namespace canopy::engine
