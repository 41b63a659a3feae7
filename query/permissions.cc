// Copyright (c) Canopy authors.

#include "query/permissions.h"

#include <algorithm>
#include <array>

namespace canopy::query {

namespace {

constexpr std::array<const char*, static_cast<int>(Perm::kFirstEntityPerm)> kAccountPermNames = {
    "account.read",   "account.create", "account.update",
    "account.delete", "account.move",   "account.manage_sub_accounts",
    "access.grant",   "user.read",      "user.invite",
    "user.update",    "user.remove",    "role.manage",
    "audit.read",     "group.read",     "group.write",
    "group.share"};
constexpr std::array<const char*, 4> kActionNames = {"read", "write", "assign", "delete"};

struct FronteggName {
  const char* name;
  PermSet perms;
};

const std::vector<FronteggName>& FronteggNames() {
  static const std::vector<FronteggName> names = {
      {"fe.account-hierarchy.read.subAccount", PermSet::Of({Perm::kAccountRead})},
      {"fe.account-hierarchy.write.subAccount",
       PermSet::Of({Perm::kAccountCreate, Perm::kAccountUpdate})},
      {"fe.account-hierarchy.delete.subAccount", PermSet::Of({Perm::kAccountDelete})},
      {"fe.account-hierarchy.write.subAccountAccess", PermSet::Of({Perm::kAccessGrant})},
      {"fe.account-hierarchy.write.sub-account-management",
       PermSet::Of({Perm::kAccountManageSubAccounts})},
  };
  return names;
}

}  // namespace

std::string PermName(Perm p) {
  int i = static_cast<int>(p);
  if (i < static_cast<int>(Perm::kFirstEntityPerm)) return kAccountPermNames[i];
  EntityKind kind;
  EntityAction action;
  if (!IsEntityPerm(p, &kind, &action)) return "unknown";
  return std::string(EntityKindName(kind)) + "." + kActionNames[static_cast<int>(action)];
}

Perm EntityPerm(EntityKind kind, EntityAction action) {
  int base = static_cast<int>(Perm::kFirstEntityPerm);
  return static_cast<Perm>(base + 4 * (static_cast<int>(kind) - 1) + static_cast<int>(action));
}

bool IsEntityPerm(Perm p, EntityKind* kind, EntityAction* action) {
  int i = static_cast<int>(p) - static_cast<int>(Perm::kFirstEntityPerm);
  if (i < 0 || i >= 16) return false;
  *kind = static_cast<EntityKind>(i / 4 + 1);
  *action = static_cast<EntityAction>(i % 4);
  return true;
}

std::optional<Perm> ParsePerm(std::string_view name) {
  // Checks parse a permission on every call: look it up in a table built
  // once instead of formatting every name.
  static const std::vector<std::pair<std::string, Perm>> table = [] {
    std::vector<std::pair<std::string, Perm>> t;
    for (int i = 0; i < kNumPerms; ++i) t.emplace_back(PermName(static_cast<Perm>(i)), static_cast<Perm>(i));
    std::sort(t.begin(), t.end());
    return t;
  }();
  auto it = std::lower_bound(table.begin(), table.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it == table.end() || it->first != name) return std::nullopt;
  return it->second;
}

Status ParsePermNames(const std::vector<std::string>& names, PermSet* out) {
  PermSet set;
  for (const auto& name : names) {
    if (auto p = ParsePerm(name)) {
      set.Add(*p);
      continue;
    }
    bool found = false;
    for (const auto& fe : FronteggNames()) {
      if (name == fe.name) {
        set.AddAll(fe.perms);
        found = true;
      }
    }
    if (!found) return Status::InvalidArgument("unknown permission '" + name + "'");
  }
  *out = set;
  return Status::Ok();
}

std::vector<std::string> PermSet::Names() const {
  std::vector<std::string> names;
  for (int i = 0; i < kNumPerms; ++i) {
    if (Has(static_cast<Perm>(i))) names.push_back(PermName(static_cast<Perm>(i)));
  }
  std::sort(names.begin(), names.end());  // Role::permissions promises sorted names
  return names;
}

const std::vector<BuiltinRole>& BuiltinRoles() {
  static const std::vector<BuiltinRole> roles = [] {
    PermSet entity_all, entity_read;
    for (EntityKind k : kAllEntityKinds) {
      for (int a = 0; a < 4; ++a) entity_all.Add(EntityPerm(k, static_cast<EntityAction>(a)));
      entity_read.Add(EntityPerm(k, EntityAction::kRead));
    }
    PermSet manager = entity_all;
    manager.AddAll(PermSet::Of({Perm::kAccountRead, Perm::kUserRead}));
    PermSet viewer = entity_read;
    viewer.AddAll(PermSet::Of({Perm::kAccountRead, Perm::kUserRead}));
    return std::vector<BuiltinRole>{
        {kRoleAccountAdmin, "account_admin", "Account Administration", PermSet::All()},
        {kRoleDeviceManager, "device_manager", "Device Manager", manager},
        {kRoleViewer, "viewer", "Viewer", viewer},
    };
  }();
  return roles;
}

const BuiltinRole* FindBuiltinRole(std::string_view name) {
  for (const auto& r : BuiltinRoles()) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

Status CheckCustomRoleName(std::string_view name, bool exact_only) {
  auto lower = [](char ch) {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
  };
  for (const auto& r : BuiltinRoles()) {
    const std::string_view builtin = r.name;
    if (name == builtin) {
      return Status::AlreadyExists("role name '" + std::string(name) + "' is a built-in role");
    }
    if (exact_only || name.size() != builtin.size()) continue;
    if (std::equal(name.begin(), name.end(), builtin.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); })) {
      return Status::AlreadyExists("role name '" + std::string(name) +
                                   "' differs only in case from the built-in role '" +
                                   std::string(builtin) + "'");
    }
  }
  return Status::Ok();
}

}  // namespace canopy::query
