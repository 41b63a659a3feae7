// Copyright (c) Canopy authors.
//
// Permissions and the built-in roles. Permissions are stable strings
// ("device.assign"); in memory a role's permissions are a bit set. The bit
// positions are NOT persisted (roles store names), so they may change.

#ifndef CANOPY_QUERY_PERMISSIONS_H_
#define CANOPY_QUERY_PERMISSIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy::query {

enum class Perm : uint8_t {
  kAccountRead,
  kAccountCreate,
  kAccountUpdate,
  kAccountDelete,
  kAccountMove,
  kAccountManageSubAccounts,
  kAccessGrant,
  kUserRead,
  kUserInvite,
  kUserUpdate,
  kUserRemove,
  kRoleManage,
  kAuditRead,  // read the change log's entries touching the account (audit)
  kGroupRead,   // see the account's groups, their members and grants
  kGroupWrite,  // create, rename, delete the account's groups; add and remove members
  kGroupShare,  // share the account's groups down to user groups of sub-accounts
  kFirstEntityPerm,  // then 4 per entity kind: read, write, assign, delete
};

enum class EntityAction : uint8_t { kRead = 0, kWrite = 1, kAssign = 2, kDelete = 3 };

inline constexpr int kNumPerms = static_cast<int>(Perm::kFirstEntityPerm) + 4 * 4;

// A set of permissions.
class PermSet {
 public:
  constexpr PermSet() = default;
  static constexpr PermSet All() { return PermSet((uint64_t{1} << kNumPerms) - 1); }
  static PermSet Of(std::initializer_list<Perm> perms) {
    PermSet s;
    for (Perm p : perms) s.Add(p);
    return s;
  }
  void Add(Perm p) { bits_ |= Bit(p); }
  void AddAll(PermSet o) { bits_ |= o.bits_; }
  bool Has(Perm p) const { return (bits_ & Bit(p)) != 0; }
  bool Contains(PermSet o) const { return (o.bits_ & ~bits_) == 0; }
  PermSet Minus(PermSet o) const { return PermSet(bits_ & ~o.bits_); }
  bool empty() const { return bits_ == 0; }
  bool operator==(const PermSet&) const = default;
  // Canonical names, sorted.
  std::vector<std::string> Names() const;

 private:
  constexpr explicit PermSet(uint64_t bits) : bits_(bits) {}
  static constexpr uint64_t Bit(Perm p) { return uint64_t{1} << static_cast<int>(p); }
  uint64_t bits_ = 0;
};

// The canonical name of a permission, e.g. "device.assign".
std::string PermName(Perm p);

// The permission of `action` on entities of `kind`.
Perm EntityPerm(EntityKind kind, EntityAction action);
// For entity permissions: their kind and action.
bool IsEntityPerm(Perm p, EntityKind* kind, EntityAction* action);

// A canonical permission name.
std::optional<Perm> ParsePerm(std::string_view name);
// A canonical or Frontegg name ("fe.account-hierarchy.write.subAccount"
// means account.create and account.update), as a set. InvalidArgument names
// an unknown permission.
Status ParsePermNames(const std::vector<std::string>& names, PermSet* out);

// Built-in roles. Their ids are reserved (custom roles start above them).
inline constexpr RoleId kRoleAccountAdmin = 1;
inline constexpr RoleId kRoleDeviceManager = 2;
inline constexpr RoleId kRoleViewer = 3;
inline constexpr RoleId kFirstCustomRoleId = 100;

struct BuiltinRole {
  RoleId id;
  const char* name;
  const char* title;
  PermSet perms;
};
const std::vector<BuiltinRole>& BuiltinRoles();
const BuiltinRole* FindBuiltinRole(std::string_view name);
// May a custom role be named `name`? Not a built-in role's name, nor one
// but for ASCII case ("Viewer" would be listed beside "viewer" as its
// twin): AlreadyExists naming the built-in. `exact_only` (a replayed
// import, which keeps the rules of its day) refuses the exact name only.
Status CheckCustomRoleName(std::string_view name, bool exact_only = false);

}  // namespace canopy::query

#endif  // CANOPY_QUERY_PERMISSIONS_H_
